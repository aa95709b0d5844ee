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

/// Reads float32, C-order `.npy` files (as `NPYWriter` and NumPy write them).
public enum NPYReader {
    public static func read(_ path: String) throws -> Tensor {
        let data = try CorpusError.contents(of: path)
        guard data.count >= 10, Array(data.prefix(6)) == [0x93] + Array("NUMPY".utf8) else {
            throw CorpusError(path: path, problem: "not a .npy file")
        }
        let version = data[data.startIndex + 6]
        guard [1, 2, 3].contains(version), data.count >= (version == 1 ? 10 : 12) else {
            throw CorpusError(path: path, problem: "unsupported .npy version \(version) or truncated header")
        }
        let bytes = [UInt8](data.prefix(12))
        let headerLength = version == 1 ? Int(bytes[8]) | (Int(bytes[9]) << 8)
            : Int(bytes[8]) | (Int(bytes[9]) << 8) | (Int(bytes[10]) << 16) | (Int(bytes[11]) << 24)
        let start = (version == 1 ? 10 : 12) + headerLength
        guard start <= data.count else { throw CorpusError(path: path, problem: "truncated .npy header") }
        let header = String(decoding: data[(version == 1 ? 10 : 12)..<start], as: UTF8.self)
        guard header.contains("'descr': '<f4'"), header.contains("'fortran_order': False"),
              let open = header.range(of: "'shape': ("), let close = header[open.upperBound...].firstIndex(of: ")") else {
            throw CorpusError(path: path, problem: "expected a little-endian float32 C-order array, found header \(header)")
        }
        let fields = header[open.upperBound..<close].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let shape = fields.compactMap { Int($0) }
        guard shape.count == fields.count, shape.count <= 8, let count = Tensor.checkedElementCount(shape, limit: (data.count - start) / 4) else {
            throw CorpusError(path: path, problem: "shape (\(fields.joined(separator: ", "))) does not fit the file's \(data.count - start) data bytes")
        }
        guard data.count - start == count * 4 else {
            throw CorpusError(path: path, problem: "\(data.count - start) data bytes for shape \(shape)")
        }
        let values = data[start...].withUnsafeBytes { raw in (0..<count).map { raw.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) } }
        return Tensor(values, shape: shape)
    }
}

extension FrameFeatures {
    /// Like `extract`, but keeps the features in `directory` as `<hash>.npy` plus `<hash>.index.tsv` (the `cpc embed`
    /// format) and reuses them when present. The hash covers `key` (which must identify the extractor by content:
    /// kind, checkpoint bytes, config), the labels file's content, and each utterance's id and audio bytes, so that
    /// changed audio or labels under the same names are never served stale features.
    public static func extract(corpus: Corpus, ids: [String], extractor: any FrameFeatureExtractor, labels: PhoneLabels?,
                               cache: AudioCache, directory: String?, key: String) throws -> FrameSet {
        guard let directory else {
            return try extract(corpus: corpus, ids: ids, extractor: extractor, labels: labels, cache: cache)
        }
        var hash = ContentHash()
        hash.add(key)
        if let labels { try hash.add(fileAt: labels.path) } else { hash.add("unlabelled") }
        for id in ids {
            hash.add(id)
            if let utterance = corpus.utterance(id) { try hash.add(fileAt: utterance.path) }
        }
        let stem = URL(fileURLWithPath: directory).appendingPathComponent(hash.hex).path
        let arrayPath = stem + ".npy", indexPath = stem + ".index.tsv"
        if FileManager.default.fileExists(atPath: arrayPath), let index = try? String(contentsOfFile: indexPath, encoding: .utf8) {
            let features = try NPYReader.read(arrayPath)
            var frameLabels: [Int] = [], ranges: [(id: String, start: Int, count: Int, speaker: Int)] = []
            for line in index.split(separator: "\n").dropFirst() {
                let fields = line.split(separator: "\t")
                guard fields.count == 3, let start = Int(fields[1]), let count = Int(fields[2]),
                      let utterance = corpus.utterance(String(fields[0])) else {
                    throw CorpusError(path: indexPath, problem: "bad index line '\(line)'")
                }
                if let labels {
                    guard let phones = labels.labels[utterance.id], phones.count >= count else {
                        throw CorpusError(path: indexPath, problem: "cached frames of '\(utterance.id)' do not fit its labels")
                    }
                    frameLabels += phones.prefix(count)
                }
                ranges.append((utterance.id, start, count, corpus.speakerIndex(utterance.speaker)!))
            }
            return FrameSet(features: features, labels: frameLabels, utterances: ranges)
        }
        let set = try extract(corpus: corpus, ids: ids, extractor: extractor, labels: labels, cache: cache)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        _ = try write(set, to: arrayPath)
        return set
    }

    /// Writes the features as `.npy` at `path` and the index (utterance, first row, frames) beside it as
    /// `.index.tsv`, the format of `cpc embed`; returns the index path.
    @discardableResult
    public static func write(_ set: FrameSet, to path: String) throws -> String {
        try NPYWriter.write(set.features, to: path)
        let index = "utterance\tstart\tframes\n" + set.utterances.map { "\($0.id)\t\($0.start)\t\($0.count)" }.joined(separator: "\n") + "\n"
        let indexPath = (path.hasSuffix(".npy") ? String(path.dropLast(4)) : path) + ".index.tsv"
        try SafeTensors.writeAtomically(Data(index.utf8), to: indexPath)
        return indexPath
    }
}
