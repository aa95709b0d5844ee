// The registry's promise: a method defined outside Methods/ (here, in this test target) plugs in by its key and
// trains, checkpoints and resumes bit-identically with no change to Training/ or Evaluation/; and the image-pair
// methods (SimCLR, MoCo with its queue and momentum encoder) resume bit-identically too.

import Foundation
import ImageFrontEnd
import Layers
import Methods
import Testing
import TensorCore
@testable import Training

/// The toy method's config: one width, decoded strictly like every method config.
struct ToyConfig: MethodConfig {
    var width = 3
    init() {}
    enum CodingKeys: String, CodingKey, CaseIterable { case width }
    init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        width = try c.value(.width, default: 3)
        if width < 1 { throw decoder.invalid("width", "must be positive, found \(width)") }
    }
}

/// A linear map of each view's mean pixel row whose loss pulls the two views together; it counts its after-step
/// hooks and refreshes in buffers, so resume must restore them.
final class ToyMethod: Method, MethodSpec {
    static let key = "toy"
    static let input = InputKind.imageViews
    static func make(_ config: ToyConfig, input: InputShape, seed: UInt64) throws -> any Method {
        ToyMethod(config: config, channels: input.channels, seed: seed)
    }

    final class Networks: Layer {
        let linear: Linear
        let counters = Tensor.zeros([2])   // [after-step hooks, refreshes]
        var isTraining = true
        init(linear: Linear) { self.linear = linear }
        var ownParameters: [(name: String, tensor: Tensor)] { [] }
        var ownBuffers: [(name: String, tensor: Tensor)] { [("counters", counters)] }
        var children: [(name: String, layer: any Layer)] { [("linear", linear)] }
    }

    let networks: Networks
    var model: any Layer { networks }
    var refreshEvery: Int? { 2 }

    init(config: ToyConfig, channels: Int, seed: UInt64) {
        var generator = RandomGenerator(seed: seed, stream: 1)
        networks = Networks(linear: Linear(inputSize: channels, outputSize: config.width, generator: &generator))
    }

    func embed(_ view: Tensor) -> Tensor { networks.linear(view.mean(alongAxes: [1, 2])) }

    func loss(_ batch: Batch, _ context: StepContext) -> StepOutput {
        let a = embed(batch.views[0]), b = embed(batch.views[1])
        let loss = (a - b).squared().mean() + (a.squared().mean() - 1).squared()
        return StepOutput(loss: loss, metrics: ["toy": 1], headline: ("toy", 1), features: a.detached())
    }
    func afterOptimizerStep(_ output: StepOutput, _ context: StepContext) {
        networks.counters.withUnsafeMutableBufferPointer { $0[0] += 1 }
    }
    func refresh(_ context: StepContext, data: any MethodDataSource) throws {
        _ = try data.batch(items: [0, 1])
        networks.counters.withUnsafeMutableBufferPointer { $0[1] += 1 }
    }
    func features(_ inputs: Tensor, _ request: FeatureRequest) -> Tensor? { request == .pooled ? withoutGrad { embed(inputs) } : nil }
}

/// A run of `method` on the tiny image corpus with small views.
func tinyViewRunConfig(method: String, corpus: String, steps: Int = 4) throws -> RunConfig {
    var config = try RunConfig(method: method)
    config.data.views.corpus = corpus
    config.data.views.batchSize = 4
    config.data.views.prefetch = 2
    var view = ViewConfig()
    view.count = 2
    view.size = 8
    view.scale = [0.5, 1]
    config.data.views.views = [view]
    config.optimizer.learningRate = 1e-2
    config.training.steps = steps
    config.training.logEvery = 1
    config.training.validateEvery = 2
    config.training.validationBatches = 1
    config.training.checkpointEvery = 2
    config.training.seed = 9
    return config
}

/// Trains `config` straight, and again stopped after 2 steps and resumed; returns both final checkpoints' bytes.
func trainStraightAndResumed(_ config: RunConfig) throws -> (straight: Data, resumed: Data, log: [[String: Any]], path: String) {
    let straight = FileManager.default.temporaryDirectory.appendingPathComponent("swiftcpc-m-\(UUID().uuidString)")
    let resumed = FileManager.default.temporaryDirectory.appendingPathComponent("swiftcpc-m-\(UUID().uuidString)")
    let uninterrupted = try Trainer(config: config, directory: straight)
    uninterrupted.output = { _ in }
    _ = try uninterrupted.run(resume: false)
    let first = try Trainer(config: config, directory: resumed)
    first.output = { _ in }
    first.stopAfterSteps = 2
    _ = try first.run(resume: false)
    let second = try Trainer(config: config, directory: resumed)
    second.output = { _ in }
    _ = try second.run(resume: true)
    let log = try String(contentsOf: straight.appendingPathComponent("log.jsonl"), encoding: .utf8)
        .split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    return (try Data(contentsOf: straight.appendingPathComponent("final.safetensors")),
            try Data(contentsOf: resumed.appendingPathComponent("final.safetensors")), log,
            straight.appendingPathComponent("final.safetensors").path)
}

@Suite(.serialized) struct MethodRegistryTests {
    @Test func aToyMethodRegisteredOutsideTrainsChecksAndResumesExactly() throws {
        MethodRegistry.register(ToyMethod.self)
        #expect(MethodRegistry.keys.contains("toy"))
        let corpus = try tinyImageCorpus()
        // Its config decodes strictly through the registry, errors naming the key.
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("swiftcpc-toy-\(UUID().uuidString).yaml")
        try "method: toy\nmodel:\n  width: 0\n".write(to: url, atomically: true, encoding: .utf8)
        #expect { try RunConfig.load(url.path) } throws: { ($0 as? ConfigError)?.key == "model.width" }
        try "method: toy\nmodel:\n  depth: 2\n".write(to: url, atomically: true, encoding: .utf8)
        #expect { try RunConfig.load(url.path) } throws: { ($0 as? ConfigError)?.key == "model.depth" }
        try "method: toy\nmodel:\n  width: 2\ndata:\n  batch_size: 4\n".write(to: url, atomically: true, encoding: .utf8)
        let loaded = try RunConfig.load(url.path)
        #expect(loaded.model[as: ToyConfig.self].width == 2 && loaded.data.views.batchSize == 4)
        #expect(try JSONDecoder().decode(RunConfig.self, from: try loaded.json()) == loaded)

        let config = try tinyViewRunConfig(method: "toy", corpus: corpus)
        let (a, b, log, path) = try trainStraightAndResumed(config)
        #expect(a == b, "final checkpoints must be bit-identical")
        #expect(log.count == 4 && log.last?["toy"] as? Double == 1 && log.last?["validation_loss"] != nil)
        // The hooks ran: 4 after-step calls, refreshes before steps 0 and 2.
        let state = try SafeTensors.read(path).tensors
        let counters = try #require(state.first { $0.0 == "counters" })
        #expect(counters.1.scalars == [4, 2])
    }

    @Test(arguments: ["simclr", "moco", "byol", "simsiam", "swav", "deepcluster", "barlow", "vicreg", "wmse"]) func pairMethodsTrainAndResumeExactly(method: String) throws {
        var config = try tinyViewRunConfig(method: method, corpus: try tinyImageCorpus())
        func tiny<C: ImagePairConfig>(_ c: C) -> AnyMethodConfig {
            var c = c
            c.backbone.width = 2
            c.backbone.blocks = [1, 1]
            c.heads = c.heads.map { var h = HeadConfig(hidden: [8], output: 4, batchNorm: $0.batchNorm); h.outputBatchNorm = $0.outputBatchNorm; return h }
            return AnyMethodConfig(c)
        }
        let pair: any ImagePairConfig = try #require(config.model.value as? any ImagePairConfig)
        config.model = tiny(pair)
        switch method {
        case "moco": config.model[as: MoCoConfig.self].queueSize = 6   // wraps around within the run
        case "swav":
            // Multi-crop (two local 4-pixel crops), a queue that starts within the run, prototypes frozen at first.
            var local = ViewConfig()
            (local.count, local.size, local.scale) = (2, 4, [0.2, 0.5])
            config.data.views.views.append(local)
            config.model[as: SwAVConfig.self].prototypes = 5
            config.model[as: SwAVConfig.self].queueSize = 8
            config.model[as: SwAVConfig.self].queueStartStep = 2
            config.model[as: SwAVConfig.self].freezePrototypesSteps = 1
        case "deepcluster":
            // Refreshes before steps 0 (memory filled, then k-means) and 2 (k-means again, straight after the resume).
            config.model[as: DeepClusterConfig.self].prototypes = [3, 4]
            config.model[as: DeepClusterConfig.self].refreshEvery = 2
            config.model[as: DeepClusterConfig.self].kmeansInitialization = .plusPlus
        case "wmse":
            // Embeddings of 2 whitened over the batch of 4 (the smallest sub-batch W-MSE allows).
            config.model[as: WMSEConfig.self].projector.output = 2
            config.model[as: WMSEConfig.self].whiteningSize = 4
        default: break
        }
        config.optimizer.type = .sgd
        config.optimizer.weightDecay = 1e-4
        let (a, b, log, path) = try trainStraightAndResumed(config)
        #expect(a == b, "final checkpoints must be bit-identical (queue and momentum encoder included)")
        #expect(log.count == 4 && log.allSatisfy { ($0["loss"] as? Double)?.isFinite == true })
        #expect(log.last?["online_accuracy"] != nil && log.last?["collapse_std"] != nil)
        // The dimensional-collapse spectrum of both representations at each validation (4 test images: 4 values).
        #expect(log.last?["effective_rank_backbone"] != nil && log.last?["effective_rank_projector"] != nil)
        #expect((log.last?["spectrum_backbone"] as? [Double])?.count == 4 && log[0]["spectrum_projector"] == nil)
        let names = try SafeTensors.read(path).tensors.map(\.0)
        #expect(names.contains("backbone.conv1.weight") && names.contains("backbone.layer2.0.bn1.running_mean"))
        let expected = ["moco": ["queue.queue", "queue.queue_ptr", "momentum_backbone.conv1.weight"],
                        "byol": ["momentum_projector.0.weight", "predictor.0.weight"], "simsiam": ["predictor.0.weight"],
                        "swav": ["prototypes.weight", "queue.0.queue", "queue.1.queue_ptr"],
                        "deepcluster": ["prototypes.0.weight", "prototypes.1.weight", "memory.embeddings", "memory.assignments"]]
        for name in expected[method] ?? [] { #expect(names.contains(name), "\(method): \(name) is checkpointed") }
        if method == "deepcluster" {
            let state = try SafeTensors.read(path).tensors
            let assignments = try #require(state.first { $0.0 == "memory.assignments" }).1
            #expect(assignments.shape == [2, 16] && assignments.scalars.allSatisfy { $0 >= 0 }, "every training image has a cluster")
        }
    }
}
