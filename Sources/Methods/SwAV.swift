// SwAV (Caron et al. 2020, "Unsupervised Learning of Visual Features by Contrasting Cluster Assignments"): crops
// are projected onto the unit sphere and scored against K prototypes (a bias-free linear layer whose rows are kept
// at unit length); the codes of the two global crops come from Sinkhorn-Knopp equipartition of their scores
// (without gradient), and every other crop predicts them (the swapped prediction). Multi-crop: views after the first
// two are local crops (smaller; never coded). At small batches a queue of past global projections joins the
// Sinkhorn problem, from a configurable step on; the prototypes are frozen for the first steps. Probes read the
// backbone.
//
// Glossary: N images, V crops (2 global + M local), D backbone width, P projection width, K prototypes, Q queue rows.

import Foundation
import Layers
import Objectives
import TensorCore

/// SwAV's networks, prototypes and codes. Defaults: solo-learn's CIFAR settings (T 0.1, ε 0.05, 3 Sinkhorn
/// iterations, 128-d projections) with K and widths scaled to Fashion-MNIST and a 2-core budget (solo-learn: 3000
/// prototypes, a 2048-wide projector, the queue of 3840 from epoch 50 of 1000, prototypes frozen for 2 epochs).
public struct SwAVConfig: ImagePairConfig {
    /// The backbone: a CIFAR-style ResNet (`backbone:` in the config).
    public var backbone = ResNetConfig()
    /// The projector MLP: backbone features `[N, D]` → embeddings `[N, P]`.
    public var projector = HeadConfig(hidden: [512], output: 128, batchNorm: true)
    /// K: the number of prototypes.
    public var prototypes = 100
    /// The softmax temperature of the loss.
    public var temperature: Float = 0.1
    /// Sinkhorn-Knopp's ε (the codes' sharpness).
    public var epsilon: Float = 0.05
    /// Sinkhorn-Knopp iterations; 0 turns the equipartition off (codes = softmax(scores/ε)), only to show the
    /// collapse it prevents.
    public var sinkhornIterations = 3
    /// Steps during which the prototypes get no update.
    public var freezePrototypesSteps = 100
    /// Rows of past global projections per global crop added to the Sinkhorn problem (0: no queue), used from
    /// step `queue_start_step` on once the queue is full.
    public var queueSize = 0
    /// The step the queue starts to feed Sinkhorn (it fills from the start).
    public var queueStartStep = 0
    /// Whether a linear probe learns the labels from detached backbone features as the method trains (`online_accuracy`).
    public var onlineProbe = true

    public var heads: [HeadConfig] { get { [projector] } set { projector = newValue[0] } }

    /// The defaults above.
    public init() {}
    enum CodingKeys: String, CodingKey, CaseIterable {
        case backbone, projector, prototypes, temperature, epsilon
        case sinkhornIterations = "sinkhorn_iterations", freezePrototypesSteps = "freeze_prototypes_steps"
        case queueSize = "queue_size", queueStartStep = "queue_start_step", onlineProbe = "online_probe"
    }
    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = SwAVConfig()
        backbone = try c.value(.backbone, default: d.backbone)
        projector = try c.value(.projector, default: d.projector)
        prototypes = try c.value(.prototypes, default: d.prototypes)
        temperature = try c.value(.temperature, default: d.temperature)
        epsilon = try c.value(.epsilon, default: d.epsilon)
        sinkhornIterations = try c.value(.sinkhornIterations, default: d.sinkhornIterations)
        freezePrototypesSteps = try c.value(.freezePrototypesSteps, default: d.freezePrototypesSteps)
        queueSize = try c.value(.queueSize, default: d.queueSize)
        queueStartStep = try c.value(.queueStartStep, default: d.queueStartStep)
        onlineProbe = try c.value(.onlineProbe, default: d.onlineProbe)
        if prototypes < 2 || prototypes > 65536 { throw decoder.invalid("prototypes", "must be in 2...65536, found \(prototypes)") }
        for (key, value) in [("temperature", temperature), ("epsilon", epsilon)] where !(value > 0 && value.isFinite) {
            throw decoder.invalid(key, "must be positive and finite, found \(value)")
        }
        if sinkhornIterations < 0 || sinkhornIterations > 1000 {
            throw decoder.invalid("sinkhorn_iterations", "must be in 0...1000, found \(sinkhornIterations)")
        }
        for (key, value) in [("freeze_prototypes_steps", freezePrototypesSteps), ("queue_start_step", queueStartStep)] where value < 0 {
            throw decoder.invalid(key, "must be 0 or more, found \(value)")
        }
        if queueSize < 0 || queueSize > 1 << 20 { throw decoder.invalid("queue_size", "must be in 0...\(1 << 20), found \(queueSize)") }
    }
}

/// SwAV as a `Method` (registry key `swav`): networks `backbone`, `projector`, `prototypes`, `queue` (when
/// `queue_size` > 0), `online_probe`.
///
/// ### References
/// - Caron et al. 2020, "Unsupervised learning of visual features by contrasting cluster assignments".
public final class SwAV: Method, MethodSpec {
    public static let key = "swav"
    public static let input = InputKind.imageViews

    public static func validate(_ config: SwAVConfig, input: InputShape) throws {
        guard !input.views.isEmpty else { return }
        if input.views.count < 2 || input.views[0] != input.views[1] {
            throw ConfigError(key: "data.views", message: "SwAV needs two global crops of one size first (then any local crops), found \(input.views.map { "\($0.height)×\($0.width)" })")
        }
    }

    public static func make(_ config: SwAVConfig, input: InputShape, seed: UInt64) throws -> any Method {
        SwAV(config: config, imageChannels: input.channels, classes: config.onlineProbe ? input.classes : 0, seed: seed)
    }

    /// The config the networks were built from.
    public let config: SwAVConfig
    /// The online networks: backbone `[N, H, W, C] → [N, D]`, projector `[N, D] → [N, P]`.
    public let backbone: ResNet, projector: Sequential
    /// The prototypes as the rows of a bias-free linear layer `[K, P]`.
    public let prototypes: Linear
    /// One queue per global crop (`queue.0`, `queue.1`), each `[Q, P]`.
    public let queues: [FeatureQueue]
    /// The online linear probe (nil when switched off or the classes are unknown).
    public let probe: OnlineProbe?
    public let model: any Layer

    /// Builds the networks for images of `imageChannels` channels, with an online probe over `classes` classes (0: none), initialised from `seed`.
    public init(config: SwAVConfig, imageChannels: Int, classes: Int, seed: UInt64) {
        self.config = config
        var generator = RandomGenerator(seed: seed, stream: 1)
        backbone = ResNet(config: config.backbone, imageChannels: imageChannels, generator: &generator)
        projector = config.projector.make(inputSize: config.backbone.outputWidth, generator: &generator)
        prototypes = Linear(inputSize: config.projector.output, outputSize: config.prototypes, bias: false, generator: &generator)
        queues = config.queueSize > 0
            ? (0..<2).map { _ in FeatureQueue(length: config.queueSize, width: config.projector.output, generator: &generator) } : []
        probe = classes > 0 ? OnlineProbe(features: config.backbone.outputWidth, classes: classes, generator: &generator) : nil
        var named: [(name: String, layer: any Layer)] = [("backbone", backbone), ("projector", projector), ("prototypes", prototypes)]
        if !queues.isEmpty { named.append(("queue", MethodNetworks([("0", queues[0]), ("1", queues[1])]))) }
        if let probe { named.append(("online_probe", probe)) }
        model = MethodNetworks(named)
        normalizePrototypes()
    }

    /// Whether the queue joins the Sinkhorn problem at this step: configured, started, and full (the queue takes
    /// N rows per crop at every training step from step 0, so it is full once step·N ≥ Q).
    func queueIsUsable(_ context: StepContext, batchSize: Int) -> Bool {
        !queues.isEmpty && context.step >= config.queueStartStep && context.step * batchSize >= config.queueSize
    }

    public func loss(_ batch: Batch, _ context: StepContext) -> StepOutput {
        precondition(batch.views.count >= 2 && batch.views[0].shape == batch.views[1].shape,
                     "SwAV needs two global crops of one size first, found \(batch.views.map(\.shape))")
        let n = batch.count
        // The backbone runs once per run of crops of one size (batch norm per resolution, as SwAV's multi-crop
        // forward); the projector once over every crop.
        var groups: [[Tensor]] = []
        for view in batch.views {
            if let last = groups.last?.last, last.shape == view.shape { groups[groups.count - 1].append(view) } else { groups.append([view]) }
        }
        let features = Tensor.concatenate(groups.map { backbone(Tensor.concatenate($0, alongAxis: 0)) }, alongAxis: 0)
        let projections = projector(features).l2Normalized(alongAxis: 1)
        let scores = prototypes(projections)
        let crops = batch.views.count
        let perCrop = (0..<crops).map { scores.sliced(alongAxis: 0, start: $0 * n, length: n) }
        let global = (0..<2).map { projections.sliced(alongAxis: 0, start: $0 * n, length: n).detached() }
        let world = context.world
        let useQueue = queueIsUsable(context, batchSize: n * world.size)
        // Sinkhorn over every rank's scores (the equipartition is the global batch's); this rank keeps its rows.
        let codes: [Tensor] = withoutGrad {
            (0..<2).map { g in
                let scores = world.allGathered(perCrop[g].detached())
                let all = Sinkhorn.codes(useQueue ? Tensor.concatenate([scores, prototypes(queues[g].queue)], alongAxis: 0) : scores,
                                         epsilon: config.epsilon, iterations: config.sinkhornIterations)
                return all.sliced(alongAxis: 0, start: world.rank * n, length: n)
            }
        }
        let loss = SwappedPrediction.loss(scores: perCrop, codes: codes, temperature: config.temperature)
        // The collapse monitor: the share of the global crops whose best prototype is the most common one (1/K
        // when spread, 1 when every crop goes to one prototype).
        var counts = [Int](repeating: 0, count: config.prototypes)
        for g in 0..<2 { for best in perCrop[g].argmax(alongAxis: 1) { counts[best] += 1 } }
        var metrics: [String: Float] = ["ssl_loss": loss.item, "collapse_std": collapseStandardDeviation(global[0]),
                                        "prototype_share": Float(counts.max() ?? 0) / Float(2 * n),
                                        "prototypes_used": Float(counts.filter { $0 > 0 }.count),
                                        "queue_used": useQueue ? 1 : 0]
        let firstFeatures = features.sliced(alongAxis: 0, start: 0, length: n)
        let total = probe?.adding(to: loss, features: firstFeatures, batch: batch, metrics: &metrics) ?? loss
        return StepOutput(loss: total, metrics: metrics, headline: ("share", metrics["prototype_share"]!),
                          features: firstFeatures.detached(), state: ["global0": withoutGrad { world.allGathered(global[0]) },
                                                                      "global1": withoutGrad { world.allGathered(global[1]) }])
    }

    /// Prototype freezing: no update for the first `freeze_prototypes_steps` steps.
    public func beforeOptimizerStep(_ context: StepContext) {
        if context.step < config.freezePrototypesSteps { prototypes.weight.grad = nil }
    }

    /// The prototypes back to unit rows; this step's global projections into the queue.
    public func afterOptimizerStep(_ output: StepOutput, _ context: StepContext) {
        normalizePrototypes()
        for (g, queue) in queues.enumerated() { if let keys = output.state["global\(g)"] { queue.enqueue(keys) } }
    }

    func normalizePrototypes() {
        let (k, p) = (prototypes.weight.shape[0], prototypes.weight.shape[1])
        prototypes.weight.withUnsafeMutableBufferPointer { w in
            for row in 0..<k {
                var sum: Float = 0
                for j in 0..<p { sum += w[row * p + j] * w[row * p + j] }
                let scale = 1 / Swift.max(sum.squareRoot(), 1e-12)
                for j in 0..<p { w[row * p + j] *= scale }
            }
        }
    }

    /// `.pooled`: the backbone's pooled output `[N, D]` of images `[N, H, W, C]`; `.projection`: the projector's `[N, P]`.
    public func features(_ inputs: Tensor, _ request: FeatureRequest) -> Tensor? {
        pooledOrProjected(inputs, request, backbone: backbone, projector: projector)
    }
}
