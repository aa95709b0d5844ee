// The supervised reference (method `supervised-phones`): windows carry the label of each aligned frame, the method
// refuses a config without labels, and a short run learns the phones beyond chance.

import AudioFrontEnd
import Foundation
import Layers
import Methods
import Testing
import TensorCore
import TestSupport
import Training

@Suite struct SupervisedPhonesTests {
    @Test func windowFramesTakeTheLabelOfTheir10msCentre() {
        let labels = Array(0..<20)
        // Frame t of a window at `offset` is centred on sample offset + 160·t + 80.
        #expect(WindowSampler.windowFrameLabels(labels, offset: 0, windowLength: 800) == [0, 1, 2, 3, 4])
        #expect(WindowSampler.windowFrameLabels(labels, offset: 79, windowLength: 800) == [0, 1, 2, 3, 4])
        #expect(WindowSampler.windowFrameLabels(labels, offset: 80, windowLength: 800) == [1, 2, 3, 4, 5])
        #expect(WindowSampler.windowFrameLabels(labels, offset: 2900, windowLength: 800) == [18, 19, 19, 19, 19])
    }

    @Test func batchesCarryTheirWindowsFrameLabels() throws {
        let root = repositoryRoot.appendingPathComponent("Corpora/synth-small").path
        let corpus = try Corpus.load(root)
        let labels = try PhoneLabels.read(root + "/phones.txt")
        let ids = Array(corpus.utterances.prefix(6).map(\.id))
        var lengths: [String: Int] = [:]
        for id in ids { lengths[id] = try AudioDecoder.info(corpus.utterance(id)!.path).frames(atRate: 16000) }
        var sampler = try WindowSampler(corpus: corpus, utteranceIDs: ids, lengths: lengths, windowLength: 1600, batchSize: 4,
                                        mode: .mixed, seed: 3)
        #expect(try sampler.batch(0, cache: AudioCache()).frameLabels.isEmpty)
        sampler.frameLabels = labels
        let batch = try sampler.batch(0, cache: AudioCache())
        #expect(batch.frameLabels.count == 4 * 10)
        for row in 0..<4 {
            let utterance = corpus.utterances[batch.utterances[row]]
            let expected = (0..<10).map { labels.labels[utterance.id]![(batch.offsets[row] + 160 * $0 + 80) / 160] }
            #expect(Array(batch.frameLabels[(row * 10)..<(row * 10 + 10)]) == expected)
        }
        #expect(batch.batch.frameLabels == batch.frameLabels)
    }

    func config(steps: Int) throws -> RunConfig {
        var config = try RunConfig(method: SupervisedPhones.key)
        let root = repositoryRoot.appendingPathComponent("Corpora/synth-small").path
        config.data.audio.corpus = root
        config.data.audio.trainSplit = root + "/train.txt"
        config.data.audio.validationSplit = root + "/test.txt"
        config.data.audio.labels = root + "/phones.txt"
        config.data.audio.window = 3200
        config.data.audio.batchSize = 4
        var model = SupervisedPhonesConfig()
        model.encoder.channels = 16
        model.encoder.normalization = .channel
        model.context.hidden = 16
        config.model = AnyMethodConfig(model)
        config.optimizer.learningRate = 3e-3
        config.training.steps = steps
        config.training.logEvery = 1
        config.training.validateEvery = steps
        config.training.validationBatches = 1
        config.training.checkpointEvery = steps
        return config
    }

    @Test func aRunLogsFrameAccuracyAndItsModelGivesAlignedFrames() throws {
        let folder = temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let trainer = try Trainer(config: try config(steps: 6), directory: folder)
        trainer.output = { _ in }
        let summary = try trainer.run(resume: false)
        #expect(summary.completedSteps == 6 && summary.finalLoss.isFinite)
        let lines = try String(contentsOf: folder.appendingPathComponent("log.jsonl"), encoding: .utf8).split(separator: "\n")
        let last = try #require(JSONSerialization.jsonObject(with: Data(lines.last!.utf8)) as? [String: Any])
        #expect(last["frame_accuracy"] != nil && last["validation_loss"] != nil)
        // The trained model's context is what the probes read: aligned frames, one per label.
        let (_, method) = try loadForProbes(folder.appendingPathComponent("final.safetensors").path)
        let frames = try #require(method.features(Tensor.zeros([1, 16077]), .context))
        #expect(frames.shape == [1, 100, 16])
    }

    @Test func theLossFitsOneBatchsLabels() throws {
        let root = repositoryRoot.appendingPathComponent("Corpora/synth-small").path
        let corpus = try Corpus.load(root)
        let ids = Array(corpus.utterances.prefix(4).map(\.id))
        var lengths: [String: Int] = [:]
        for id in ids { lengths[id] = try AudioDecoder.info(corpus.utterance(id)!.path).frames(atRate: 16000) }
        var sampler = try WindowSampler(corpus: corpus, utteranceIDs: ids, lengths: lengths, windowLength: 3200, batchSize: 4,
                                        mode: .mixed, seed: 1)
        sampler.frameLabels = try PhoneLabels.read(root + "/phones.txt")
        let batch = try sampler.batch(0, cache: AudioCache()).batch
        var model = SupervisedPhonesConfig()
        (model.encoder.channels, model.encoder.normalization, model.context.hidden) = (16, .channel, 16)
        let method = SupervisedPhones(config: model, seed: 2)
        let optimizer = Adam(parameters: method.model.parameters, learningRate: 1e-2)
        let first = method.loss(batch).loss.item
        var last = first
        for _ in 0..<60 {
            let output = method.loss(batch)
            optimizer.zeroGrad()
            output.loss.backward()
            optimizer.step()
            last = output.loss.item
        }
        #expect(last < 0.5 * first, "loss \(first) → \(last) on one batch")
    }

    /// The model as the probes rebuild it (from the sidecar).
    func loadForProbes(_ path: String) throws -> (RunConfig, any Method) {
        let config = try JSONDecoder().decode(RunConfig.self, from: JSONEncoder().encode(try Checkpoint.readSidecar(for: path).config!))
        let method = try config.makeMethod(input: config.data.knownShape)
        try Checkpoint.loadModel(method.model, from: path)
        method.model.setTraining(false)
        return (config, method)
    }

    @Test func configsWithoutLabelsAreRefusedByKey() throws {
        var config = try config(steps: 1)
        config.data.audio.labels = nil
        let json = String(decoding: try JSONEncoder().encode(config), as: UTF8.self)
        #expect { try JSONDecoder().decode(RunConfig.self, from: Data(json.utf8)) } throws: { "\($0)".contains("data.labels") }
        let shipped = try RunConfig.load(repositoryRoot.appendingPathComponent("configs/supervised-phones-small.yaml").path)
        #expect(shipped.method == "supervised-phones" && shipped.data.audio.labels != nil)
    }
}
