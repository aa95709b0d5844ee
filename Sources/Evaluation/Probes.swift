// The published probe protocols: frame-level phone classification (CPC paper), and speaker classification from
// mean-pooled context features per window and per utterance.

import AudioFrontEnd
import Foundation
import TensorCore

/// One row of a probe table.
public struct ProbeResult: Codable, Sendable {
    public var features: String
    public var task: String
    /// A fraction in [0, 1].
    public var accuracy: Double
    public var classes: Int
    /// Frames (phone) or windows/utterances (speaker) in the test set.
    public var testItems: Int
    public var trainItems: Int
    public var learningRate: Double
    public var epochs: Int
    public var hidden: Int?

    enum CodingKeys: String, CodingKey {
        case features, task, accuracy, classes, hidden, epochs
        case testItems = "test_items", trainItems = "train_items", learningRate = "learning_rate"
    }
}

public enum Probes {
    /// Phone accuracy on the test split's frames of a classifier trained on the train split's frames.
    public static func phone(name: String, train: FrameSet, test: FrameSet, classes: Int,
                             settings: ProbeSettings) -> ProbeResult {
        var groups = [Int](repeating: 0, count: train.labels.count)
        for (u, range) in train.utterances.enumerated() { for r in range.start..<(range.start + range.count) { groups[r] = u } }
        let outcome = LinearProbe.run(train: train.features, trainLabels: train.labels, trainGroups: groups,
                                      test: test.features, testLabels: test.labels, classes: classes, settings: settings)
        return ProbeResult(features: name, task: "phone", accuracy: Double(outcome.testAccuracy), classes: classes,
                           testItems: test.labels.count, trainItems: train.labels.count,
                           learningRate: Double(outcome.learningRate), epochs: outcome.epochs, hidden: settings.hidden)
    }

    /// Mean-pooled rows: one per window of `windowFrames` frames (the tail shorter than half a window is dropped,
    /// an utterance shorter than a window gives one row), or one per utterance when `windowFrames` is nil.
    static func pooled(_ set: FrameSet, windowFrames: Int?) -> (rows: Tensor, speakers: [Int], groups: [Int]) {
        var blocks: [Tensor] = [], speakers: [Int] = [], groups: [Int] = []
        withoutGrad {
            for (u, range) in set.utterances.enumerated() {
                var spans: [(Int, Int)] = []
                if let window = windowFrames, range.count >= window {
                    var start = 0
                    while start + window <= range.count { spans.append((start, window)); start += window }
                    if range.count - start >= window / 2 { spans.append((start, range.count - start)) }
                } else {
                    spans.append((0, range.count))
                }
                for (start, count) in spans {
                    blocks.append(set.features.sliced(alongAxis: 0, start: range.start + start, length: count).mean(alongAxis: 0, keepingDimensions: true))
                    speakers.append(range.speaker)
                    groups.append(u)
                }
            }
        }
        return (withoutGrad { Tensor.concatenate(blocks, alongAxis: 0) }, speakers, groups)
    }

    /// Speaker accuracy on the test split from mean-pooled features, per window and per utterance.
    public static func speaker(name: String, train: FrameSet, test: FrameSet, speakers: Int, windowFrames: Int,
                               settings: ProbeSettings) -> [ProbeResult] {
        var results: [ProbeResult] = []
        for (task, window) in [("speaker", Optional(windowFrames)), ("speaker-utterance", nil)] {
            let trainRows = pooled(train, windowFrames: window), testRows = pooled(test, windowFrames: window)
            let outcome = LinearProbe.run(train: trainRows.rows, trainLabels: trainRows.speakers, trainGroups: trainRows.groups,
                                          test: testRows.rows, testLabels: testRows.speakers, classes: speakers, settings: settings)
            results.append(ProbeResult(features: name, task: task, accuracy: Double(outcome.testAccuracy), classes: speakers,
                                       testItems: testRows.speakers.count, trainItems: trainRows.speakers.count,
                                       learningRate: Double(outcome.learningRate), epochs: outcome.epochs, hidden: settings.hidden))
        }
        return results
    }

    /// A Markdown-style table of results.
    public static func table(_ results: [ProbeResult]) -> String {
        var lines = ["| features | task | accuracy | classes | test items |", "|---|---|---|---|---|"]
        for r in results {
            lines.append(String(format: "| %@ | %@ | %.1f %% | %d | %d |", r.features, r.task, 100 * r.accuracy, r.classes, r.testItems))
        }
        return lines.joined(separator: "\n")
    }
}

/// Writes float32 `.npy` files (NumPy format version 1.0) that `numpy.load` reads.
public enum NPYWriter {
    public static func write(_ tensor: Tensor, to path: String) throws {
        let shape = tensor.shape.map(String.init).joined(separator: ", ") + (tensor.rank == 1 ? "," : "")
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(shape)), }"
        // Magic (6) + version (2) + header length (2) + header, padded with spaces and a newline to 64 bytes.
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        withUnsafeBytes(of: UInt16(header.utf8.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(Data(header.utf8))
        tensor.withUnsafeBufferPointer { data.append(UnsafeBufferPointer(start: $0.baseAddress, count: $0.count)) }
        try SafeTensors.writeAtomically(data, to: path)
    }
}
