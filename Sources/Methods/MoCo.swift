// MoCo v2 (He et al. 2020, "Momentum Contrast for Unsupervised Visual Representation Learning"; Chen et al. 2020,
// "Improved Baselines with Momentum Contrastive Learning"): queries from the online backbone and MLP projector,
// keys from a momentum (EMA) copy of both, and a queue of past keys as negatives. By default the loss is
// symmetrised over the two views (both views are queries once; solo-learn's mocov2plus), and τ of the EMA rises
// from `momentum` to `final_momentum` on a half cosine. Probes read the online backbone.
//
// Across the ranks of a data-parallel run the queue takes every rank's keys (gathered), so it is the same on every
// rank and equal to one process's on the global batch; each rank's queries are scored against it.
//
// Glossary: N images, D backbone width, P projection width, K queue length.

import Layers
import Objectives
import TensorCore

/// MoCo's networks, queue and loss. Defaults: MoCo v2's τ = 0.2 and an MLP head, a queue and momentum sized for
/// Fashion-MNIST on 2 cores (solo-learn's CIFAR settings use K = 32768 and momentum 0.99).
public struct MoCoConfig: ImagePairConfig {
    /// The backbone: a CIFAR-style ResNet (`backbone:` in the config).
    public var backbone = ResNetConfig()
    /// The projector MLP: backbone features `[N, D]` → embeddings `[N, P]`.
    public var projector = HeadConfig(hidden: [512], output: 128, batchNorm: false)
    /// The softmax temperature of the loss.
    public var temperature: Float = 0.2
    /// K: keys kept as negatives.
    public var queueSize = 4096
    /// The EMA momentum at the start and at the end of training.
    public var momentum: Float = 0.99
    /// τ at the end of training (the cosine schedule goes from `momentum` to it).
    public var finalMomentum: Float = 1
    /// Both views as queries (the mean of the two losses), enqueueing both views' keys.
    public var symmetric = true
    /// Whether a linear probe learns the labels from detached backbone features as the method trains (`online_accuracy`).
    public var onlineProbe = true

    public var heads: [HeadConfig] { get { [projector] } set { projector = newValue[0] } }

    /// The defaults above.
    public init() {}
    enum CodingKeys: String, CodingKey, CaseIterable {
        case backbone, projector, temperature, momentum, symmetric
        case queueSize = "queue_size", finalMomentum = "final_momentum", onlineProbe = "online_probe"
    }
    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = MoCoConfig()
        backbone = try c.value(.backbone, default: d.backbone)
        projector = try c.value(.projector, default: d.projector)
        temperature = try c.value(.temperature, default: d.temperature)
        queueSize = try c.value(.queueSize, default: d.queueSize)
        momentum = try c.value(.momentum, default: d.momentum)
        finalMomentum = try c.value(.finalMomentum, default: d.finalMomentum)
        symmetric = try c.value(.symmetric, default: d.symmetric)
        onlineProbe = try c.value(.onlineProbe, default: d.onlineProbe)
        if !(temperature > 0 && temperature.isFinite) { throw decoder.invalid("temperature", "must be positive, found \(temperature)") }
        if queueSize < 1 || queueSize > 1 << 20 { throw decoder.invalid("queue_size", "must be in 1...1048576, found \(queueSize)") }
        try MomentumTarget.validate(momentum: momentum, finalMomentum: finalMomentum, decoder: decoder)
    }
}

/// MoCo as a `Method` (registry key `moco`): networks `backbone`, `projector`, `momentum_backbone`,
/// `momentum_projector`, `queue` (buffers `queue`, `queue_ptr`), `online_probe`.
///
/// ### References
/// - He et al. 2020, "Momentum contrast for unsupervised visual representation learning".
/// - Chen et al. 2020, "Improved baselines with momentum contrastive learning" (MoCo v2).
public final class MoCo: Method, MethodSpec {
    public static let key = "moco"
    public static let input = InputKind.imageViews

    public static func validate(_ config: MoCoConfig, input: InputShape) throws { try requireTwoViews(input, method: "MoCo") }

    public static func make(_ config: MoCoConfig, input: InputShape, seed: UInt64) throws -> any Method {
        MoCo(config: config, imageChannels: input.channels, classes: config.onlineProbe ? input.classes : 0, seed: seed)
    }

    /// The config the networks were built from.
    public let config: MoCoConfig
    /// The online networks: backbone `[N, H, W, C] → [N, D]`, projector `[N, D] → [N, P]`.
    public let backbone: ResNet, projector: Sequential
    /// The momentum (EMA) copies of the backbone and projector that give the targets.
    public let target: MomentumTarget
    /// K keys of earlier batches, the negatives.
    public let queue: FeatureQueue
    /// The online linear probe (nil when switched off or the classes are unknown).
    public let probe: OnlineProbe?
    public let model: any Layer

    /// Builds the networks for images of `imageChannels` channels, with an online probe over `classes` classes (0: none), initialised from `seed`.
    public init(config: MoCoConfig, imageChannels: Int, classes: Int, seed: UInt64) {
        self.config = config
        var generator = RandomGenerator(seed: seed, stream: 1)
        let backbone = ResNet(config: config.backbone, imageChannels: imageChannels, generator: &generator)
        let projector = config.projector.make(inputSize: config.backbone.outputWidth, generator: &generator)
        target = MomentumTarget(of: backbone, projector, backbone: config.backbone, projector: config.projector,
                                imageChannels: imageChannels, momentum: config.momentum, finalMomentum: config.finalMomentum)
        queue = FeatureQueue(length: config.queueSize, width: config.projector.output, generator: &generator)
        probe = classes > 0 ? OnlineProbe(features: config.backbone.outputWidth, classes: classes, generator: &generator) : nil
        (self.backbone, self.projector) = (backbone, projector)
        var named: [(name: String, layer: any Layer)] = [("backbone", backbone), ("projector", projector)]
        named += target.networks + [("queue", queue)]
        if let probe { named.append(("online_probe", probe)) }
        model = MethodNetworks(named)
    }

    public func loss(_ batch: Batch, _ context: StepContext) -> StepOutput {
        precondition(batch.views.count == 2, "MoCo needs two views, found \(batch.views.count)")
        let n = batch.count
        let both = Tensor.concatenate(batch.views, alongAxis: 0)
        let features = backbone(both)
        let queries = projector(features)
        // Keys without gradient; the key encoder runs in the mode of the online one (batch statistics in training).
        let keys = withoutGrad { target(both).l2Normalized(alongAxis: 1) }
        let q1 = queries.sliced(alongAxis: 0, start: 0, length: n), q2 = queries.sliced(alongAxis: 0, start: n, length: n)
        let k1 = keys.sliced(alongAxis: 0, start: 0, length: n), k2 = keys.sliced(alongAxis: 0, start: n, length: n)
        let first = QueueContrastive.loss(queries: q1, keys: k2, queue: queue.queue, temperature: config.temperature)
        var loss = first.loss, accuracy = first.accuracy
        // The queue takes every rank's keys, in the order one process on the global batch would enqueue them.
        var enqueue = withoutGrad { context.world.allGathered(k2) }
        if config.symmetric {
            let second = QueueContrastive.loss(queries: q2, keys: k1, queue: queue.queue, temperature: config.temperature)
            loss = (loss + second.loss) * 0.5
            accuracy = (accuracy + second.accuracy) / 2
            enqueue = withoutGrad { Tensor.concatenate([context.world.allGathered(k1), enqueue], alongAxis: 0) }
        }
        var metrics: [String: Float] = ["contrastive_accuracy": accuracy, "ssl_loss": loss.item,
                                        "collapse_std": collapseStandardDeviation(queries.detached()),
                                        "momentum": target.tau(context)]
        let firstFeatures = features.sliced(alongAxis: 0, start: 0, length: n)
        let total = probe?.adding(to: loss, features: firstFeatures, batch: batch, metrics: &metrics) ?? loss
        return StepOutput(loss: total, metrics: metrics, headline: ("acc", accuracy), features: firstFeatures.detached(),
                          state: ["keys": enqueue.detached()])
    }

    /// EMA update of the key encoder with this step's τ, then this batch's keys into the queue.
    public func afterOptimizerStep(_ output: StepOutput, _ context: StepContext) {
        target.update(from: backbone, projector, context)
        if let keys = output.state["keys"] { queue.enqueue(keys) }
    }

    /// `.pooled`: the backbone's pooled output `[N, D]` of images `[N, H, W, C]`; `.projection`: the projector's `[N, P]`.
    public func features(_ inputs: Tensor, _ request: FeatureRequest) -> Tensor? {
        pooledOrProjected(inputs, request, backbone: backbone, projector: projector)
    }
}
