// Probes on synthetic features where the answer is known, the .npy writer, and the run report.

import AudioFrontEnd
import Evaluation
import Foundation
import Testing
import TensorCore
import TestSupport

/// Rows drawn around one centre per class; `spread` controls the overlap.
private func clusters(rows: Int, classes: Int, dimension: Int, spread: Float, seed: UInt64) -> (Tensor, [Int]) {
    var g = RandomGenerator(seed: seed)
    var centreGenerator = RandomGenerator(seed: 99)
    let centres = Tensor.normal([classes, dimension], standardDeviation: 3, generator: &centreGenerator).scalars
    var values: [Float] = [], labels: [Int] = []
    for _ in 0..<rows {
        let label = g.nextInt(below: classes)
        labels.append(label)
        for d in 0..<dimension { values.append(centres[label * dimension + d] + spread * g.nextNormal()) }
    }
    return (Tensor(values, shape: [rows, dimension]), labels)
}

private func quickSettings(hidden: Int? = nil) -> ProbeSettings {
    var settings = ProbeSettings()
    settings.epochs = 40
    settings.batchSize = 64
    settings.patience = 10
    settings.learningRates = [1e-2]
    settings.hidden = hidden
    return settings
}

@Suite struct ProbeTests {
    @Test func separableClassesReachNearlyPerfectAccuracy() {
        let (train, trainLabels) = clusters(rows: 600, classes: 5, dimension: 8, spread: 0.3, seed: 1)
        let (test, testLabels) = clusters(rows: 300, classes: 5, dimension: 8, spread: 0.3, seed: 2)
        let outcome = LinearProbe.run(train: train, trainLabels: trainLabels, trainGroups: (0..<600).map { $0 / 10 },
                                      test: test, testLabels: testLabels, classes: 5, settings: quickSettings())
        #expect(outcome.testAccuracy > 0.98, "accuracy \(outcome.testAccuracy)")
        let mlp = LinearProbe.run(train: train, trainLabels: trainLabels, trainGroups: (0..<600).map { $0 / 10 },
                                  test: test, testLabels: testLabels, classes: 5, settings: quickSettings(hidden: 16))
        #expect(mlp.testAccuracy > 0.98, "one-hidden-layer accuracy \(mlp.testAccuracy)")
    }

    @Test func randomLabelsStayAtChance() {
        var g = RandomGenerator(seed: 3)
        let train = Tensor.normal([800, 8], generator: &g), test = Tensor.normal([800, 8], generator: &g)
        let trainLabels = (0..<800).map { _ in g.nextInt(below: 4) }, testLabels = (0..<800).map { _ in g.nextInt(below: 4) }
        let outcome = LinearProbe.run(train: train, trainLabels: trainLabels, trainGroups: (0..<800).map { $0 / 8 },
                                      test: test, testLabels: testLabels, classes: 4, settings: quickSettings())
        #expect(Swift.abs(outcome.testAccuracy - 0.25) < 0.06, "accuracy \(outcome.testAccuracy) should be near chance")
    }

    @Test func speakerProtocolPoolsWindowsAndUtterances() {
        // Two speakers whose frames differ by a constant offset: pooled features separate them perfectly.
        var g = RandomGenerator(seed: 4)
        func set(_ utterances: Int) -> FrameSet {
            var blocks: [Tensor] = [], ranges: [(id: String, start: Int, count: Int, speaker: Int)] = []
            var row = 0
            for u in 0..<utterances {
                let speaker = u % 2, frames = 300
                blocks.append(Tensor.normal([frames, 4], generator: &g) + Float(speaker) * 2)
                ranges.append(("u\(u)", row, frames, speaker))
                row += frames
            }
            return FrameSet(features: Tensor.concatenate(blocks, alongAxis: 0), labels: [], utterances: ranges)
        }
        let results = Probes.speaker(name: "synthetic", train: set(20), test: set(10), speakers: 2, windowFrames: 128,
                                     settings: quickSettings())
        #expect(results.map(\.task) == ["speaker", "speaker-utterance"])
        #expect(results[0].testItems == 10 * 2, "300 frames give two full windows (the 44-frame tail is dropped)")
        #expect(results[1].testItems == 10)
        #expect(results.allSatisfy { $0.accuracy > 0.95 })
    }

    @Test func npyFilesCarryShapeAndData() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("swiftcpc-\(UUID().uuidString).npy").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try NPYWriter.write(Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3]), to: path)
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(Array(data.prefix(8)) == [0x93] + Array("NUMPY".utf8) + [1, 0])
        let headerLength = Int(data[8]) | (Int(data[9]) << 8)
        #expect((10 + headerLength) % 64 == 0)
        let header = String(decoding: data[10..<(10 + headerLength)], as: UTF8.self)
        #expect(header.contains("'descr': '<f4'") && header.contains("'shape': (2, 3)"))
        let values = data[(10 + headerLength)...].withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        #expect(values == [1, 2, 3, 4, 5, 6])
    }

    @Test func reportWritesPlotsAndSummary() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("swiftcpc-report-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let log = (1...5).map { "{\"step\": \($0 * 10), \"loss\": \(5.0 - Double($0) * 0.5), \"accuracy_k1\": \(0.1 * Double($0)), \"elapsed_seconds\": \($0)}" }
        try (log.joined(separator: "\n") + "\n").write(to: folder.appendingPathComponent("log.jsonl"), atomically: true, encoding: .utf8)
        let paths = try RunReport.write(runFolder: folder.path, outFolder: folder.path)
        #expect(paths.count == 3)
        let svg = try String(contentsOfFile: paths[0], encoding: .utf8)
        #expect(svg.hasPrefix("<svg") && svg.contains("polyline") && svg.contains("train loss"))
        let markdown = try String(contentsOfFile: paths[2], encoding: .utf8)
        #expect(markdown.contains("Last logged step 50") && markdown.contains("k=1 0.500"))
    }

    @Test func reportPlotsThePairMethodsOnlineProbeAndCollapseMonitor() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("swiftcpc-report-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let log = (1...4).map { "{\"step\": \($0), \"loss\": 3, \"online_accuracy\": \(0.2 * Double($0)), \"collapse_std\": 0.08, \"contrastive_accuracy\": 0.5"
            + ($0 % 2 == 0 ? ", \"spectrum_backbone\": [4, 2, 1e-9], \"spectrum_projector\": [3, 1], \"effective_rank_backbone\": 1.9" : "") + "}" }
        try (log.joined(separator: "\n") + "\n").write(to: folder.appendingPathComponent("log.jsonl"), atomically: true, encoding: .utf8)
        let paths = try RunReport.write(runFolder: folder.path, outFolder: folder.path)
        #expect(paths.map { URL(fileURLWithPath: $0).lastPathComponent } == ["loss.svg", "accuracy.svg", "collapse.svg", "spectrum.svg", "report.md"])
        #expect(try String(contentsOfFile: paths[1], encoding: .utf8).contains("online linear probe"))
        let spectra = try RunReport.readSpectra(folder.path)
        #expect(spectra.map(\.step) == [2, 2, 4, 4] && spectra.map(\.representation) == ["backbone", "projector", "backbone", "projector"])
        #expect(spectra[0].values == [4, 2, 1e-9])
        let spectrum = try String(contentsOfFile: paths[3], encoding: .utf8)
        #expect(spectrum.contains("backbone: covariance spectrum") && spectrum.contains("projector: covariance spectrum") && spectrum.contains("step 4"))
        let markdown = try String(contentsOfFile: paths[4], encoding: .utf8)
        #expect(markdown.contains("online probe accuracy 0.800") && markdown.contains("collapse monitor 0.080"))
        #expect(markdown.contains("spectrum.svg") && markdown.contains("effective rank of the backbone 1.900"))
    }
}

/// Counts how often features are computed.
private final class CountingExtractor: FrameFeatureExtractor {
    var calls = 0
    var dimension: Int { 2 }
    func frames(_ audio: [Float]) -> Tensor {
        calls += 1
        let frames = audio.count / 160
        return Tensor((0..<(frames * 2)).map { Float($0 % 7) }, shape: [frames, 2])
    }
}

@Suite struct FeatureCacheTests {
    @Test func cachedFeaturesAreReusedAndIdentical() throws {
        let corpusPath = repositoryRoot.appendingPathComponent("Corpora/synth-small").path
        let corpus = try Corpus.load(corpusPath)
        let labels = try PhoneLabels.read("\(corpusPath)/phones.txt")
        let ids = Array(try SplitFile.read("\(corpusPath)/test.txt").prefix(3))
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("swiftcpc-cache-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let extractor = CountingExtractor()
        let first = try FrameFeatures.extract(corpus: corpus, ids: ids, extractor: extractor, labels: labels, cache: AudioCache(),
                                              directory: folder, key: "counting")
        #expect(extractor.calls == 3)
        let second = try FrameFeatures.extract(corpus: corpus, ids: ids, extractor: extractor, labels: labels, cache: AudioCache(),
                                               directory: folder, key: "counting")
        #expect(extractor.calls == 3, "the second extraction must come from the cache")
        #expect(second.features.scalars == first.features.scalars && second.labels == first.labels)
        #expect(second.utterances.map(\.id) == first.utterances.map(\.id))
        _ = try FrameFeatures.extract(corpus: corpus, ids: ids, extractor: extractor, labels: nil, cache: AudioCache(),
                                      directory: folder, key: "counting")
        #expect(extractor.calls == 6, "unlabelled features are cached separately")
        // Audio replaced under the same name: the cache key follows the content, so the features are recomputed.
        let copies = FileManager.default.temporaryDirectory.appendingPathComponent("swiftcpc-cache-audio-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: copies) }
        try FileManager.default.createDirectory(atPath: copies, withIntermediateDirectories: true)
        var manifest = "path\tspeaker\n"
        for id in ids {
            let source = try #require(corpus.utterance(id))
            let name = URL(fileURLWithPath: source.path).lastPathComponent
            try FileManager.default.copyItem(atPath: source.path, toPath: "\(copies)/\(name)")
            manifest += "\(name)\t\(source.speaker)\n"
        }
        try manifest.write(toFile: copies + "/manifest.tsv", atomically: true, encoding: .utf8)
        let copied = try Corpus.load(copies + "/manifest.tsv")
        let counter = CountingExtractor()
        _ = try FrameFeatures.extract(corpus: copied, ids: ids, extractor: counter, labels: labels, cache: AudioCache(), directory: folder, key: "k")
        _ = try FrameFeatures.extract(corpus: copied, ids: ids, extractor: counter, labels: labels, cache: AudioCache(), directory: folder, key: "k")
        #expect(counter.calls == 3)
        let first0 = try #require(copied.utterance(ids[0])), first1 = try #require(copied.utterance(ids[1]))
        try FileManager.default.removeItem(atPath: first0.path)
        try FileManager.default.copyItem(atPath: first1.path, toPath: first0.path)
        _ = try FrameFeatures.extract(corpus: copied, ids: ids, extractor: counter, labels: labels, cache: AudioCache(), directory: folder, key: "k")
        #expect(counter.calls == 6, "replaced audio must not be served from the cache")
        let path = folder + "/roundtrip.npy"
        try NPYWriter.write(Tensor([1.5, -2, 3], shape: [3, 1]), to: path)
        // A header whose shape overflows or exceeds the data is refused before any allocation.
        var npy = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }"
        npy += Data([UInt8(header.utf8.count), 0]) + Data(header.utf8) + Data(count: 12)
        try npy.write(to: URL(fileURLWithPath: folder + "/huge.npy"))
        #expect { try NPYReader.read(folder + "/huge.npy") } throws: { "\($0)".contains("does not fit the file's 12 data bytes") }
        let read = try NPYReader.read(path)
        #expect(read.shape == [3, 1] && read.scalars == [1.5, -2, 3])
    }
}
