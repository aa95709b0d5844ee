// The trainer: config validation, run-folder contents, exact interrupt-and-resume, and the NaN guard.

import Foundation
import Layers
import Methods
import Testing
import TensorCore
import TestSupport
import Training

func temporaryFolder() -> URL {
    FileManager.default.temporaryDirectory.appendingPathComponent("swiftcpc-train-\(UUID().uuidString)")
}

/// A tiny run on the bundled corpus: small enough for a debug build.
func tinyRunConfig(steps: Int = 6) -> RunConfig {
    var config = RunConfig()
    config.data.audio.corpus = repositoryRoot.appendingPathComponent("Corpora/synth-small").path
    config.data.audio.trainSplit = repositoryRoot.appendingPathComponent("Corpora/synth-small/train.txt").path
    config.data.audio.validationSplit = repositoryRoot.appendingPathComponent("Corpora/synth-small/test.txt").path
    config.data.audio.window = 3200
    config.data.audio.batchSize = 3
    config.data.audio.prefetch = 2
    config.model[as: CPCConfig.self].encoder.channels = 8
    config.model[as: CPCConfig.self].encoder.kernels = [10, 8, 4]
    config.model[as: CPCConfig.self].encoder.strides = [5, 4, 2]
    config.model[as: CPCConfig.self].encoder.normalization = .channel
    config.model[as: CPCConfig.self].context.hidden = 8
    config.model[as: CPCConfig.self].predictionSteps = 3
    config.model[as: CPCConfig.self].negatives = 5
    config.optimizer.learningRate = 1e-3
    config.optimizer.warmupSteps = 2
    config.optimizer.schedule = .cosine
    config.optimizer.clipNorm = 5
    config.training.steps = steps
    config.training.logEvery = 1
    config.training.validateEvery = 3
    config.training.validationBatches = 1
    config.training.checkpointEvery = 2
    config.training.seed = 9
    return config
}

private func writeConfig(_ text: String) throws -> String {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("swiftcpc-config-\(UUID().uuidString).yaml")
    try text.write(to: url, atomically: true, encoding: .utf8)
    return url.path
}

@Suite struct TrainingTests {
    @Test func shippedConfigsLoad() throws {
        for name in ["cpc-audio-paper", "cpc-audio-small", "cpc-audio-finetune-samespeaker"] {
            let config = try RunConfig.load(repositoryRoot.appendingPathComponent("configs/\(name).yaml").path)
            #expect(config.method == "cpc")
        }
        let tuning = try RunConfig.load(repositoryRoot.appendingPathComponent("configs/cpc-audio-finetune-samespeaker.yaml").path)
        #expect(tuning.training.initFrom == "models/cpc-audio-pretrained.safetensors")
        #expect(tuning.model[as: CPCConfig.self].negativeSampling == .sameSpeaker)
        let paper = try RunConfig.load(repositoryRoot.appendingPathComponent("configs/cpc-audio-paper.yaml").path)
        #expect(paper.model[as: CPCConfig.self].encoder.channels == 512 && paper.model[as: CPCConfig.self].encoder.kernels == [10, 8, 4, 4, 4])
        #expect(paper.model[as: CPCConfig.self].context.hidden == 256 && paper.model[as: CPCConfig.self].predictionSteps == 12 && paper.data.audio.window == 20480)
        #expect(paper.optimizer.learningRate == 2e-4 && paper.data.audio.batchSize == 8)
    }

    @Test func unknownKeysAndBadValuesNameTheKey() throws {
        func message(_ yaml: String) throws -> String {
            let path = try writeConfig(yaml)
            do {
                _ = try RunConfig.load(path)
                return "no error"
            } catch let error as ConfigError {
                #expect(error.file == path)
                return error.description
            }
        }
        #expect(try message("model:\n  encoder:\n    chanels: 8\n").contains("key 'model.encoder.chanels': unknown key"))
        #expect(try message("model:\n  prediction_steps: 0\n").contains("key 'model.prediction_steps': must be in 1...1024"))
        #expect(try message("optimizer:\n  learning_rate: -1\n").contains("key 'optimizer.learning_rate'"))
        #expect(try message("training:\n  init_from: \"\"\n").contains("key 'training.init_from': must name a checkpoint file"))
        #expect(try message("data:\n  sampling: sideways\n").contains("data.sampling"))
        #expect(try message("method: no-such-method\n").contains("unknown method 'no-such-method'"))
        #expect(try message("data:\n  window: 1600\n").contains("data.window"))
        #expect(try message("training: [1, 2\n").contains("not valid YAML"))
        #expect(try message("data:\n  augmentation:\n    noise: 1.5\n").contains("key 'data.augmentation.noise': is a probability"))
        #expect(try message("data:\n  augmentation:\n    snr_db: [20, 5]\n").contains("key 'data.augmentation.snr_db': must be [low, high]"))
        #expect(try message("data:\n  augmentation:\n    pitch: 0.5\n").contains("key 'data.augmentation.pitch': unknown key"))
        #expect(try message("model:\n  encoder:\n    padding: [3, 2, 1]\n").contains("key 'model.encoder.padding': needs one value per kernel"))
        // Sizes whose consequences a machine cannot meet are refused at load, naming the key (issue 19).
        #expect(try message("data:\n  batch_size: 1000000000\n").contains("key 'data.batch_size': must be in 1...4096"))
        #expect(try message("model:\n  negatives: 1000000000\n").contains("key 'model.negatives'"))
        #expect(try message("model:\n  encoder:\n    channels: 1000000000\n").contains("key 'model.encoder.channels'"))
        #expect(try message("training:\n  validation_batches: 1000000000\n").contains("key 'training.validation_batches'"))
        #expect(try message("training:\n  threads: 100000\n").contains("key 'training.threads': must be in 1...1024"))
        // A value that is not one of an enumeration's cases lists them.
        #expect(try message("training:\n  loss_scope: everywhere\n")
            .contains("key 'training.loss_scope': 'everywhere' is not one of global, rank"))
        #expect(try message("optimizer:\n  type: adagrad\n").contains("key 'optimizer.type': 'adagrad' is not one of adam, adamw, sgd, lars"))
        let huge = try message("data:\n  batch_size: 4096\n  window: 960000\nmodel:\n  encoder:\n    channels: 8192\n")
        #expect(huge.contains("key 'data.batch_size': a training step of this config needs about") && huge.contains("GiB"), "\(huge)")
        for (key, value) in [("epsilon", ".nan"), ("momentum", "1.5"), ("weight_decay", ".nan"), ("learning_rate", ".inf"),
                             ("final_learning_rate", "-.inf")] {
            #expect(try message("optimizer:\n  \(key): \(value)\n").contains("key 'optimizer.\(key)'"), "\(key)")
        }
        // A window shorter than the encoder's receptive field (465 samples) gives no frame at all.
        #expect(try message("data:\n  window: 400\nmodel:\n  prediction_steps: 1\n").contains("receptive field is 465 samples"))
        // YAML aliases are refused before parsing (a billion-laughs file), quoted and commented stars are not aliases.
        let laughs = "a: &a [x, x, x]\nb: &b [*a, *a, *a]\nmethod: cpc\n"
        #expect(try message(laughs).contains("line 2 uses a YAML alias"))
        #expect(try message("*b : 1\n").contains("line 1 uses a YAML alias"))
        #expect(try message("data:\n  corpus: \"/data/*x\"  # a *comment\n  train_split: '*.txt'\n").contains("alias") == false)
        let big = try writeConfig(String(repeating: "# padding\n", count: 120_000))
        #expect { try RunConfig.load(big) } throws: { "\($0)".contains("a config is at most 1024 KiB") }
    }

    @Test func runFolderHoldsConfigLogAndCheckpoints() throws {
        let folder = temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let trainer = try Trainer(config: tinyRunConfig(steps: 4), directory: folder)
        trainer.output = { _ in }
        let summary = try trainer.run(resume: false)
        #expect(summary.completedSteps == 4 && !summary.interrupted && summary.finalLoss.isFinite)
        let files = Set(try FileManager.default.contentsOfDirectory(atPath: folder.path))
        #expect(files.isSuperset(of: ["config.json", "log.jsonl", "checkpoints", "final.safetensors", "final.json"]))
        let checkpoints = try FileManager.default.contentsOfDirectory(atPath: folder.appendingPathComponent("checkpoints").path)
        #expect(Set(checkpoints).isSuperset(of: ["step-2.safetensors", "step-2.json", "step-2.optimizer.safetensors", "step-4.safetensors"]))
        let lines = try String(contentsOf: folder.appendingPathComponent("log.jsonl"), encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 4)
        let last = try #require(try JSONSerialization.jsonObject(with: Data(lines[3].utf8)) as? [String: Any])
        for key in ["step", "loss", "accuracy_k1", "accuracy_k3", "learning_rate", "samples_per_second", "elapsed_seconds",
                    "validation_loss"] {
            #expect(last[key] != nil, "log line lacks \(key)")
        }
        #expect(last["step"] as? Int == 4)
        let stored = try JSONDecoder().decode(RunConfig.self, from: Data(contentsOf: folder.appendingPathComponent("config.json")))
        #expect(stored == tinyRunConfig(steps: 4))
    }

    @Test func interruptedAndResumedRunEndsWithIdenticalWeights() throws {
        let straight = temporaryFolder(), resumed = temporaryFolder()
        defer {
            try? FileManager.default.removeItem(at: straight)
            try? FileManager.default.removeItem(at: resumed)
        }
        let config = tinyRunConfig(steps: 6)
        let uninterrupted = try Trainer(config: config, directory: straight)
        uninterrupted.output = { _ in }
        _ = try uninterrupted.run(resume: false)

        let first = try Trainer(config: config, directory: resumed)
        first.output = { _ in }
        first.stopAfterSteps = 3  // as if interrupted after step 3 (checkpoint written on stop)
        let partial = try first.run(resume: false)
        #expect(partial.interrupted && partial.completedSteps == 3)
        let second = try Trainer(config: config, directory: resumed)
        second.output = { _ in }
        let rest = try second.run(resume: true)
        #expect(rest.completedSteps == 6)

        for ((name, a), (_, b)) in zip(uninterrupted.method.model.stateDict, second.method.model.stateDict) {
            #expect(a.scalars == b.scalars, "\(name) differs between the uninterrupted and the resumed run")
        }
        let straightFinal = try Data(contentsOf: straight.appendingPathComponent("final.safetensors"))
        let resumedFinal = try Data(contentsOf: resumed.appendingPathComponent("final.safetensors"))
        #expect(straightFinal == resumedFinal, "final checkpoints must be bit-identical")
        let straightLog = try String(contentsOf: straight.appendingPathComponent("log.jsonl"), encoding: .utf8)
        let resumedLog = try String(contentsOf: resumed.appendingPathComponent("log.jsonl"), encoding: .utf8)
        func losses(_ log: String) -> [Double] {
            log.split(separator: "\n").compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["loss"] as? Double }
        }
        #expect(losses(straightLog) == losses(resumedLog))
    }

    @Test func aNonFiniteLossStopsWithAMessageAndKeepsTheLastCheckpoint() throws {
        let folder = temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        var config = tinyRunConfig(steps: 8)
        config.optimizer.learningRate = 1e30  // diverges within a few steps
        config.optimizer.warmupSteps = 0
        config.optimizer.schedule = .constant
        config.optimizer.clipNorm = nil
        config.training.checkpointEvery = 1
        let trainer = try Trainer(config: config, directory: folder)
        trainer.output = { _ in }
        do {
            _ = try trainer.run(resume: false)
            Issue.record("training with a learning rate of 1e30 must stop on a non-finite loss")
        } catch let error as TrainingError {
            #expect(error.message.contains("the loss became"))
            #expect(error.message.contains("last good checkpoint"))
            let kept = try #require(trainer.newestCheckpoint())
            let (tensors, _) = try SafeTensors.read(kept.path)
            #expect(tensors.allSatisfy { $0.1.scalars.allSatisfy(\.isFinite) }, "checkpoints must hold finite weights only")
        }
    }
}
