// Run folders protect their owner (issue 19): one run at a time (a lock), an earlier run is continued or deliberately
// replaced but never mixed with a new one, an unreadable newest checkpoint falls back to the previous one, weights
// that are not finite are never saved, outputs are never renamed over something that is not a regular file.

import Foundation
import Layers
import Methods
import Testing
import TensorCore
import TestSupport
import Training

@Suite struct RunFolderTests {
    func quiet(_ config: RunConfig, _ folder: URL) throws -> Trainer {
        let trainer = try Trainer(config: config, directory: folder)
        trainer.output = { _ in }
        return trainer
    }

    @Test func aFolderInUseIsRefused() throws {
        let folder = temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        // Another process's lock, taken the way cpc train takes it (flock conflicts across open files).
        let descriptor = open(folder.appendingPathComponent(".lock").path, O_RDWR | O_CREAT, 0o644)
        #expect(descriptor >= 0 && flock(descriptor, LOCK_EX | LOCK_NB) == 0)
        _ = "4242\n".withCString { write(descriptor, $0, 5) }
        #expect { try quiet(tinyRunConfig(steps: 2), folder).run(resume: false) } throws: { error in
            "\(error)".contains("in use by another cpc train (process 4242)")
        }
        close(descriptor)
        #expect(try quiet(tinyRunConfig(steps: 2), folder).run(resume: false).completedSteps == 2)
    }

    @Test func anEarlierRunIsNeitherMixedNorSilentlyReplaced() throws {
        let folder = temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        var long = tinyRunConfig(steps: 6)
        long.training.checkpointEvery = 2
        _ = try quiet(long, folder).run(resume: false)
        let before = try Data(contentsOf: folder.appendingPathComponent("final.safetensors"))
        // A new run without --resume or --overwrite: refused, nothing touched.
        #expect { try quiet(tinyRunConfig(steps: 3), folder).run(resume: false) } throws: { error in
            let text = "\(error)"
            return text.contains("holds an earlier run (a log to step 6, 3 checkpoints (newest: step 6), a final model)")
                && text.contains("--resume") && text.contains("--overwrite")
        }
        #expect(try Data(contentsOf: folder.appendingPathComponent("final.safetensors")) == before)
        // --overwrite: the earlier run's later checkpoints go too, so a later --resume cannot continue from them.
        var short = tinyRunConfig(steps: 3)
        short.training.checkpointEvery = 2
        _ = try quiet(short, folder).run(resume: false, overwrite: true)
        let checkpoints = try FileManager.default.contentsOfDirectory(atPath: folder.appendingPathComponent("checkpoints").path)
            .filter { $0.hasSuffix(".json") }.sorted()
        #expect(checkpoints == ["step-2.json", "step-3.json"])
        let steps = try String(contentsOf: folder.appendingPathComponent("log.jsonl"), encoding: .utf8).split(separator: "\n")
            .compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["step"] as? Int }
        #expect(steps == [1, 2, 3])
    }

    @Test func resumeFallsBackToThePreviousCheckpointWhenTheNewestIsUnreadable() throws {
        let straight = temporaryFolder(), damaged = temporaryFolder()
        defer {
            try? FileManager.default.removeItem(at: straight)
            try? FileManager.default.removeItem(at: damaged)
        }
        var config = tinyRunConfig(steps: 6)
        config.training.checkpointEvery = 2
        _ = try quiet(config, straight).run(resume: false)
        let first = try quiet(config, damaged)
        first.stopAfterSteps = 4
        _ = try first.run(resume: false)
        // The newest checkpoint is cut short (a crash while copying it, a full disk); a torn log line is added.
        let newest = damaged.appendingPathComponent("checkpoints/step-4.safetensors")
        try Data(try Data(contentsOf: newest).prefix(100)).write(to: newest)
        let log = damaged.appendingPathComponent("log.jsonl")
        try (try String(contentsOf: log, encoding: .utf8) + "{\"step\": 5, \"loss\": 1.2").write(to: log, atomically: true, encoding: .utf8)
        var messages: [String] = []
        let second = try Trainer(config: config, directory: damaged)
        second.output = { messages.append($0) }
        _ = try second.run(resume: true)
        #expect(messages.contains { $0.contains("step-4.safetensors") && $0.contains("trying the previous one") }, "\(messages)")
        #expect(messages.contains { $0.contains("resuming from") && $0.contains("step-2.safetensors") })
        #expect(try Data(contentsOf: straight.appendingPathComponent("final.safetensors"))
                == Data(contentsOf: damaged.appendingPathComponent("final.safetensors")))
        let aside = try String(contentsOf: damaged.appendingPathComponent("log.unreadable.jsonl"), encoding: .utf8)
        #expect(aside.contains("{\"step\": 5, \"loss\": 1.2"))
    }

    @Test func nonFiniteWeightsAreNeverSavedNorLoaded() throws {
        let folder = temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        var config = try tinyViewRunConfig(method: "simclr", corpus: try tinyImageCorpus(), steps: 2)
        (config.training.validationBatches, config.training.spectrumImages) = (0, 0)
        let trainer = try quiet(config, folder)
        // A running statistic that is NaN leaves the training loss finite (batch statistics are used) but not the model.
        let buffer = try #require(trainer.method.model.buffers.first { $0.name == "backbone.bn1.running_mean" })
        buffer.tensor.withUnsafeMutableBufferPointer { $0[0] = .nan }
        #expect { try trainer.run(resume: false) } throws: { error in
            "\(error)".contains("backbone.bn1.running_mean holds a non-finite value") && "\(error)".contains("nothing was saved")
        }
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("final.safetensors").path))
        // A checkpoint file holding NaN (written by something else) is refused on load, naming the tensor.
        let path = folder.appendingPathComponent("nan.safetensors").path
        try SafeTensors.write([("w", Tensor([1, .nan, 3], shape: [3]))], to: path)
        var generator = RandomGenerator(seed: 1)
        let layer = Linear(inputSize: 3, outputSize: 1, generator: &generator)
        #expect { try Checkpoint.loadModel(layer, from: path) } throws: {
            "\($0)".contains("nan.safetensors") && "\($0)".contains("tensor 'w' holds nan at index 1")
        }
    }

    @Test func initFromStartsANewRunFromACheckpointsWeights() throws {
        let source = temporaryFolder(), tuned = temporaryFolder(), fresh = temporaryFolder(), other = temporaryFolder()
        defer { for folder in [source, tuned, fresh, other] { try? FileManager.default.removeItem(at: folder) } }
        _ = try quiet(tinyRunConfig(steps: 4), source).run(resume: false)
        let trained = source.appendingPathComponent("final.safetensors").path
        // One step whose learning rate is 0 (the first of the warm-up) leaves the starting weights as they were.
        var config = tinyRunConfig(steps: 1)
        config.training.initFrom = trained
        config.optimizer.learningRate = 5e-4
        config.model[as: CPCConfig.self].negativeSampling = .sameSpeaker
        _ = try quiet(config, tuned).run(resume: false)
        let weights = { (folder: URL) in try SafeTensors.read(folder.appendingPathComponent("final.safetensors").path).tensors
            .map { "\($0.0) \($0.1.scalars)" } }
        let expected = try SafeTensors.read(trained).tensors.map { "\($0.0) \($0.1.scalars)" }
        #expect(try weights(tuned) == expected)
        config.training.initFrom = nil
        _ = try quiet(config, fresh).run(resume: false)
        #expect(try weights(fresh) != expected)
        // A checkpoint of another model: refused, naming the file and a tensor whose shape differs.
        var wider = tinyRunConfig(steps: 1)
        wider.model[as: CPCConfig.self].encoder.channels = 16
        wider.training.initFrom = trained
        #expect { try quiet(wider, other).run(resume: false) } throws: { error in
            "\(error)".contains(trained) && "\(error)".contains("shape")
        }
        wider.training.initFrom = source.appendingPathComponent("missing.safetensors").path
        #expect { try quiet(wider, other).run(resume: false, overwrite: true) } throws: { error in
            "\(error)".contains("missing.safetensors")
        }
    }

    @Test func outputsAreNeverRenamedOverSomethingThatIsNotAFile() throws {
        let folder = temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("sub"), withIntermediateDirectories: true)
        #expect { try SafeTensors.writeAtomically(Data("x".utf8), to: folder.appendingPathComponent("sub").path) } throws: {
            "\($0)".contains("is a directory; refusing to replace it")
        }
        #expect(throws: (any Error).self) { try SafeTensors.writeAtomically(Data("x".utf8), to: "/dev/null") }
        var status = stat()
        #expect(stat("/dev/null", &status) == 0 && status.st_mode & S_IFMT == S_IFCHR)
        // A symbolic link to a file: the file gets the data, the link stays a link.
        let target = folder.appendingPathComponent("target.txt"), link = folder.appendingPathComponent("link.txt")
        try Data("old".utf8).write(to: target)
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: target)
        try SafeTensors.writeAtomically(Data("new".utf8), to: link.path)
        #expect(try String(contentsOf: target, encoding: .utf8) == "new")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link.path) == target.path)
    }
}

/// Three ranks of which this process is rank 0; every collective is the identity (enough for what the trainer checks
/// before it communicates).
final class ThreeRanks: Collective, @unchecked Sendable {
    let rank = 0, size = 3
    func allReduceSum(_ values: UnsafeMutableBufferPointer<Float>) {}
    func allReduceSum(_ values: UnsafeMutableBufferPointer<Double>) {}
    func allReduceMax(_ values: UnsafeMutableBufferPointer<Double>) {}
    func broadcast(_ values: UnsafeMutableBufferPointer<Float>, root: Int) {}
    func allGather(_ local: UnsafeBufferPointer<Float>, into result: UnsafeMutableBufferPointer<Float>) {}
    func reduceScatterSum(_ values: UnsafeBufferPointer<Float>, into own: UnsafeMutableBufferPointer<Float>) {}
    func barrier() {}
}

@Suite struct DataParallelConfigTests {
    @Test func aGlobalBatchThatDoesNotSplitOverTheRanksIsRefusedByKey() throws {
        var config = tinyRunConfig(steps: 2)
        config.data.audio.batchSize = 4
        #expect { try Trainer(config: config, directory: temporaryFolder(), world: ThreeRanks()) } throws: { error in
            "\(error)".contains("data.batch_size") && "\(error)".contains("3 ranks")
        }
    }
}

/// `cpc train` checks its corpus and splits as `cpc prepare` does (the shared `CorpusValidator`).
@Suite struct TrainingDataChecksTests {
    @Test func trainingMakesPreparesChecksOnItsSplits() throws {
        let folder = temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var config = tinyRunConfig(steps: 2)
        // A validation split that shares an utterance with the training split.
        let train = try String(contentsOfFile: config.data.audio.trainSplit!, encoding: .utf8).split(separator: "\n")
        let overlapping = folder.appendingPathComponent("validation.txt").path
        try "\(train[0])\n".write(toFile: overlapping, atomically: true, encoding: .utf8)
        config.data.audio.validationSplit = overlapping
        #expect { try Trainer(config: config, directory: folder) } throws: { error in
            "\(error)".contains("cannot be trained on") && "\(error)".contains("are in both") && "\(error)".contains("\(train[0])")
        }
    }
}
