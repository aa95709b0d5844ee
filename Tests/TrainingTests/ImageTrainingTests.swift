// Image CPC through the trainer: its config section, a tiny run on a generated IDX corpus, and exact resume.

import Foundation
import ImageFrontEnd
import Layers
import Methods
import Testing
import TensorCore
import TestSupport
import Training

/// A tiny IDX corpus of 12×12 random images (16 train, 4 test, 3 classes) in a new folder.
func tinyImageCorpus() throws -> String {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("swiftcpc-idx-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    var g = RandomGenerator(seed: 21)
    func write(_ name: String, _ shape: [Int], _ bytes: [UInt8]) {
        var data: [UInt8] = [0, 0, 0x08, UInt8(shape.count)]
        for d in shape { data += [0, 0, UInt8(d >> 8), UInt8(d & 255)] }
        FileManager.default.createFile(atPath: "\(folder)/\(name)", contents: Data(data + bytes))
    }
    for (prefix, count) in [("train", 16), ("t10k", 4)] {
        write("\(prefix)-images-idx3-ubyte", [count, 12, 12], (0..<(count * 144)).map { _ in UInt8(g.nextInt(below: 256)) })
        write("\(prefix)-labels-idx1-ubyte", [count], (0..<count).map { UInt8($0 % 3) })
    }
    return folder
}

func tinyImageRunConfig(corpus: String, steps: Int = 4) -> RunConfig {
    var config = try! RunConfig(method: "cpc-image")
    config.data.patches.corpus = corpus
    config.data.patches.patch = 4
    config.data.patches.stride = 4
    config.data.patches.crop = 3
    config.data.patches.batchSize = 4
    config.data.patches.prefetch = 2
    config.model[as: CPCImageConfig.self].channels = [2, 3]
    config.model[as: CPCImageConfig.self].contextHidden = 3
    config.optimizer.learningRate = 1e-3
    config.training.steps = steps
    config.training.logEvery = 1
    config.training.validateEvery = 2
    config.training.validationBatches = 1
    config.training.checkpointEvery = 2
    config.training.seed = 5
    return config
}

@Suite struct ImageTrainingTests {
    @Test func shippedImageConfigLoadsAndRoundTrips() throws {
        let config = try RunConfig.load(repositoryRoot.appendingPathComponent("configs/cpc-image-fashion.yaml").path)
        #expect(config.method == "cpc-image")
        let data = config.data.patches, model = config.model[as: CPCImageConfig.self]
        #expect(data.patch == 8 && data.stride == 4 && data.crop == 7 && model.directions == [.down])
        let decoded = try JSONDecoder().decode(RunConfig.self, from: try config.json())
        #expect(decoded == config)
        // A crop turned off (null) survives the round trip too.
        var noCrop = config
        noCrop.data.patches.crop = nil
        #expect(try JSONDecoder().decode(RunConfig.self, from: try noCrop.json()) == noCrop)
    }

    @Test func imageConfigErrorsNameTheKey() throws {
        func message(_ yaml: String) -> String {
            let url = FileManager.default.temporaryDirectory.appendingPathComponent("swiftcpc-image-\(UUID().uuidString).yaml")
            try? ("method: cpc-image\n" + yaml).write(to: url, atomically: true, encoding: .utf8)
            do {
                _ = try RunConfig.load(url.path)
                return "no error"
            } catch {
                return "\(error)"
            }
        }
        #expect(message("data:\n  crop: 9\n").contains("data.crop"))
        #expect(message("data:\n  window: 20480\n").contains("data.window"))  // an audio key under an image method
        #expect(message("model:\n  normalization: batch\n").contains("model.normalization"))
        #expect(message("data:\n  colour_drop: 2\n").contains("data.colour_drop"))
        #expect(message("data:\n  jitter: 1.5\n").contains("data.jitter"))
        #expect(message("data:\n  contrast: 1\n").contains("data.contrast"))
        #expect(message("model:\n  first_step: 0\n").contains("model.first_step"))
    }

    @Test func tinyImageRunLogsAndResumesExactly() throws {
        let corpus = try tinyImageCorpus()
        let straight = FileManager.default.temporaryDirectory.appendingPathComponent("swiftcpc-img-\(UUID().uuidString)")
        let resumed = FileManager.default.temporaryDirectory.appendingPathComponent("swiftcpc-img-\(UUID().uuidString)")
        let config = tinyImageRunConfig(corpus: corpus)
        let uninterrupted = try Trainer(config: config, directory: straight)
        uninterrupted.output = { _ in }
        let summary = try uninterrupted.run(resume: false)
        #expect(summary.completedSteps == 4 && summary.finalLoss.isFinite)
        let log = try String(contentsOf: straight.appendingPathComponent("log.jsonl"), encoding: .utf8)
        let entries = log.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(entries.count == 4)
        #expect(entries.last?["images_per_second"] != nil && entries.last?["validation_loss"] != nil)
        #expect(entries.last?["accuracy_k1"] != nil)

        let first = try Trainer(config: config, directory: resumed)
        first.output = { _ in }
        first.stopAfterSteps = 2
        _ = try first.run(resume: false)
        let second = try Trainer(config: config, directory: resumed)
        second.output = { _ in }
        _ = try second.run(resume: true)
        let a = try Data(contentsOf: straight.appendingPathComponent("final.safetensors"))
        let b = try Data(contentsOf: resumed.appendingPathComponent("final.safetensors"))
        #expect(a == b, "final checkpoints must be bit-identical")
    }

    @Test func gridShapeNeedsAFittingPatchAndTwoRowsOrColumns() throws {
        var data = ImageDataConfig()
        data.patch = 8
        data.stride = 4
        func set(_ h: Int, _ w: Int) -> ImageSet {
            ImageSet(height: h, width: w, channels: 1, pixels: [UInt8](repeating: 0, count: h * w), labels: [0],
                     classNames: ["x"], sources: ["x"])
        }
        #expect(try data.gridShape(for: set(28, 28)) == (6, 6))
        #expect(try data.gridShape(for: set(8, 12)) == (1, 2))
        #expect(throws: ConfigError.self) { try data.gridShape(for: set(8, 8)) }   // 1 × 1: nothing to predict
        #expect(throws: ConfigError.self) { try data.gridShape(for: set(6, 28)) }  // the patch does not fit the height
    }

    @Test func aGridTooSmallForCPCIsAConfigError() throws {
        var config = tinyImageRunConfig(corpus: try tinyImageCorpus())
        config.data.patches.patch = 12
        config.data.patches.crop = nil
        #expect(throws: ConfigError.self) { _ = try Trainer(config: config, directory: URL(fileURLWithPath: "/tmp/unused")) }
    }
}
