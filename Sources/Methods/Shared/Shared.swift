// Pieces the image-pair methods share, each in one place: the projector/predictor MLP config, the momentum
// encoder's cosine τ schedule, the feature queue, the online linear probe, the collapse monitor, and a named
// container that makes a method's networks one checkpointable layer.
//
// Glossary: N items, D feature width, K queue length, L classes.

import Foundation
import Layers
import TensorCore

/// A projector or predictor head: Linear → [BatchNorm or decorrelated batch norm] → ReLU per hidden width, then
/// Linear to `output` (optionally batch-normalised without affine parameters, as SimSiam's projector).
public struct HeadConfig: Codable, Sendable, Equatable {
    /// Hidden widths (one Linear + norm + ReLU each).
    public var hidden: [Int] = [2048]
    /// The output width P.
    public var output = 128
    /// Batch norm after each hidden Linear (the papers' heads).
    public var batchNorm = true
    /// Batch norm (without affine) on the output too, as SimSiam's projector.
    public var outputBatchNorm = false
    /// Decorrelated batch norm (ZCA or PCA whitening, Huang et al. 2018) instead of batch norm after each hidden
    /// Linear; nil: batch norm as `batchNorm` says.
    public var whitening: WhiteningKind?
    /// Channels per whitening group (must divide every hidden width).
    public var whiteningGroup = 16

    /// A head of `hidden` widths and `output` width.
    public init(hidden: [Int] = [2048], output: Int = 128, batchNorm: Bool = true) {
        (self.hidden, self.output, self.batchNorm) = (hidden, output, batchNorm)
    }
    enum CodingKeys: String, CodingKey, CaseIterable {
        case hidden, output, batchNorm = "batch_norm", outputBatchNorm = "output_batch_norm", whitening
        case whiteningGroup = "whitening_group"
    }
    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = HeadConfig()
        hidden = try c.value(.hidden, default: d.hidden)
        output = try c.value(.output, default: d.output)
        batchNorm = try c.value(.batchNorm, default: d.batchNorm)
        outputBatchNorm = try c.value(.outputBatchNorm, default: d.outputBatchNorm)
        if let name = try c.decodeIfPresent(String.self, forKey: .whitening), name != "none" {
            guard let kind = WhiteningKind(rawValue: name) else {
                throw decoder.invalid("whitening", "must be none, zca or pca, found '\(name)'")
            }
            whitening = kind
        }
        whiteningGroup = try c.value(.whiteningGroup, default: d.whiteningGroup)
        if whitening != nil, let width = hidden.first(where: { whiteningGroup < 1 || $0 % whiteningGroup != 0 }) {
            throw decoder.invalid("whitening_group", "must divide every hidden width, found \(whiteningGroup) for a width of \(width)")
        }
        if hidden.contains(where: { $0 < 1 || $0 > 65536 }) { throw decoder.invalid("hidden", "widths must be in 1...65536, found \(hidden)") }
        if output < 1 || output > 65536 { throw decoder.invalid("output", "must be in 1...65536, found \(output)") }
    }

    /// The head as `Sequential` (PyTorch's names for the same `nn.Sequential`).
    public func make(inputSize: Int, generator: inout RandomGenerator) -> Sequential {
        var mlp = makeMLP(inputSize: inputSize, hiddenSizes: hidden, outputSize: output,
                          normalization: batchNorm || whitening != nil ? .batch : .none, generator: &generator)
        if let whitening {
            mlp = Sequential(mlp.layers.map { layer in
                guard let norm = layer as? BatchNorm else { return layer }
                return DecorrelatedBatchNorm(features: norm.runningMean.count, groupSize: whiteningGroup, whitening: whitening)
            })
        }
        guard outputBatchNorm else { return mlp }
        return Sequential(mlp.layers + [BatchNorm(features: output, affine: false)])
    }
}

/// The model config of an image-pair method: a ResNet backbone and MLP heads (projector, then predictor if any).
/// Lets tools and tests size every such method alike.
public protocol ImagePairConfig: MethodConfig {
    var backbone: ResNetConfig { get set }
    /// The method's MLP heads in order (projector first); setting it replaces them in that order.
    var heads: [HeadConfig] { get set }
}

/// The momentum of an EMA target at step k of K, rising from `base` to `final` on a half cosine (BYOL's schedule,
/// used by solo-learn for MoCo too): τ_k = final − (final − base)·(cos(πk/K) + 1)/2.
public func momentumSchedule(step: Int, totalSteps: Int, base: Float, final: Float = 1) -> Float {
    guard totalSteps > 0 else { return base }
    let progress = Double(min(step, totalSteps)) / Double(totalSteps)
    return final - (final - base) * Float((Foundation.cos(Double.pi * progress) + 1) / 2)
}

/// The momentum (EMA) target of an online backbone and projector — MoCo's key encoder, BYOL's target network —
/// whose τ rises from `momentum` to `finalMomentum` on `momentumSchedule`. Its networks are checkpointed as
/// `momentum_backbone` and `momentum_projector`; their parameters never require grad.
///
/// ### References
/// - Grill et al. 2020 (BYOL), the cosine τ schedule.
public final class MomentumTarget {
    /// The EMA copies (`target_backbone`, `target_projector`).
    public let backbone: MomentumCopy<ResNet>, projector: MomentumCopy<Sequential>
    /// τ at the start and at the end of training.
    public let momentum, finalMomentum: Float

    /// EMA copies of the online backbone and projector, built from the same configs.
    public init(of onlineBackbone: ResNet, _ onlineProjector: Sequential, backbone: ResNetConfig, projector: HeadConfig,
                imageChannels: Int, momentum: Float, finalMomentum: Float) {
        var unused = RandomGenerator(seed: 0)
        self.backbone = MomentumCopy(of: onlineBackbone) { ResNet(config: backbone, imageChannels: imageChannels, generator: &unused) }
        self.projector = MomentumCopy(of: onlineProjector) { projector.make(inputSize: backbone.outputWidth, generator: &unused) }
        (self.momentum, self.finalMomentum) = (momentum, finalMomentum)
    }

    /// The named networks, for `MethodNetworks`.
    public var networks: [(name: String, layer: any Layer)] {
        [("momentum_backbone", backbone.target), ("momentum_projector", projector.target)]
    }

    /// The target's projections of `images`, without gradient (in the mode of the online networks).
    public func callAsFunction(_ images: Tensor) -> Tensor { withoutGrad { projector.target(backbone.target(images)) } }

    /// τ at this step.
    public func tau(_ context: StepContext) -> Float {
        momentumSchedule(step: context.step, totalSteps: context.totalSteps, base: momentum, final: finalMomentum)
    }

    /// Moves the target towards the online networks with this step's τ.
    public func update(from onlineBackbone: ResNet, _ onlineProjector: Sequential, _ context: StepContext) {
        let tau = tau(context)
        backbone.update(from: onlineBackbone, momentum: tau)
        projector.update(from: onlineProjector, momentum: tau)
    }

    /// The config check both methods share: `momentum` and `final_momentum` in [0, 1].
    static func validate(momentum: Float, finalMomentum: Float, decoder: Decoder) throws {
        for (key, value) in [("momentum", momentum), ("final_momentum", finalMomentum)] where !(value >= 0 && value <= 1) {
            throw decoder.invalid(key, "must be in [0, 1], found \(value)")
        }
    }
}

/// A first-in first-out queue of L2-normalised keys (MoCo's negatives), as buffers so that checkpoints carry it:
/// `queue` `[K, D]` and `queue_ptr` `[]` (the next row to overwrite).
///
/// ### References
/// - He et al. 2020, "Momentum contrast for unsupervised visual representation learning".
public final class FeatureQueue: Layer {
    /// `[K, D]` unit rows.
    public let queue: Tensor
    /// `[]`: the next row to overwrite.
    public let pointer: Tensor
    public var isTraining = true

    /// Starts as random unit rows (as MoCo), drawn from `generator`.
    public init(length: Int, width: Int, generator: inout RandomGenerator) {
        queue = Tensor.normal([length, width], generator: &generator).l2Normalized(alongAxis: 1)
        pointer = Tensor.zeros([])
    }

    public var ownParameters: [(name: String, tensor: Tensor)] { [] }
    public var ownBuffers: [(name: String, tensor: Tensor)] { [("queue", queue), ("queue_ptr", pointer)] }
    /// K.
    public var length: Int { queue.shape[0] }

    /// Overwrites the oldest rows with `keys` `[B, D]` (wrapping around).
    public func enqueue(_ keys: Tensor) {
        let (k, d) = (queue.shape[0], queue.shape[1])
        precondition(keys.rank == 2 && keys.shape[1] == d, "enqueue expects keys [B, \(d)], found \(keys.shape)")
        var start = Int(pointer.item)
        keys.withUnsafeBufferPointer { source in
            queue.withUnsafeMutableBufferPointer { target in
                for row in 0..<keys.shape[0] {
                    for j in 0..<d { target[start * d + j] = source[row * d + j] }
                    start = (start + 1) % k
                }
            }
        }
        pointer.withUnsafeMutableBufferPointer { $0[0] = Float(start) }
    }
}

/// A linear classifier trained beside the method on detached backbone features (solo-learn's online probe): it
/// shows during pre-training whether the features separate the classes. Its gradient never reaches the backbone.
public final class OnlineProbe: Layer {
    /// `[D] → [classes]`.
    public let classifier: Linear
    public var isTraining = true

    /// A probe from `features` backbone features to `classes` classes.
    public init(features: Int, classes: Int, generator: inout RandomGenerator) {
        classifier = Linear(inputSize: features, outputSize: classes, generator: &generator)
    }

    public var ownParameters: [(name: String, tensor: Tensor)] { [] }
    public var children: [(name: String, layer: any Layer)] { [("classifier", classifier)] }

    /// The cross-entropy on `features` (detached here) and the top-1 accuracy.
    public func loss(_ features: Tensor, labels: [Int]) -> (loss: Tensor, accuracy: Float) {
        let logits = classifier(features.detached())
        let predicted = logits.argmax(alongAxis: 1)
        let correct = zip(predicted, labels).filter { $0 == $1 }.count
        return (crossEntropy(logits: logits, targets: labels), Float(correct) / Float(max(labels.count, 1)))
    }
}

/// The collapse monitor of SimSiam (Chen and He 2021, fig. 2): the standard deviation over the batch of each
/// dimension of the L2-normalised outputs `[N, D]`, averaged over dimensions. About 1/√D for well-spread outputs,
/// 0 when they collapse to one point.
public func collapseStandardDeviation(_ outputs: Tensor) -> Float {
    withoutGrad {
        let z = outputs.l2Normalized(alongAxis: 1)
        let std = z.variance(alongAxis: 0, unbiased: false).sqrt()
        return std.mean().item
    }
}

/// A method's networks as one layer with named children (what the checkpoint stores).
public final class MethodNetworks: Layer {
    /// The networks with their checkpoint names.
    public let named: [(name: String, layer: any Layer)]
    public var isTraining = true

    /// A layer whose children are `named`.
    public init(_ named: [(name: String, layer: any Layer)]) { self.named = named }

    public var ownParameters: [(name: String, tensor: Tensor)] { [] }
    public var children: [(name: String, layer: any Layer)] { named }
}

/// The labels of a batch as probe targets, when every label is a class of the online probe.
func probeLabels(_ batch: Batch, classes: Int) -> [Int]? {
    guard classes > 0, batch.labels.count == batch.count, batch.labels.allSatisfy({ $0 >= 0 && $0 < classes }) else { return nil }
    return batch.labels
}

extension OnlineProbe {
    /// `loss` plus the probe's cross-entropy on the detached `features` of the batch's items, with
    /// `online_accuracy` in `metrics`; `loss` alone when the batch has no usable labels.
    func adding(to loss: Tensor, features: Tensor, batch: Batch, metrics: inout [String: Float]) -> Tensor {
        guard let labels = probeLabels(batch, classes: classifier.weight.shape[0]) else { return loss }
        let (probeLoss, accuracy) = self.loss(features, labels: labels)
        metrics["online_accuracy"] = accuracy
        return loss + probeLoss
    }
}

/// What image-pair methods give probes and the spectrum: `.pooled`, the backbone's output `[N, D]`, and
/// `.projection`, the projector's `[N, P]` (without gradient); nil for other requests.
func pooledOrProjected(_ inputs: Tensor, _ request: FeatureRequest, backbone: ResNet, projector: Sequential) -> Tensor? {
    switch request {
    case .pooled: return withoutGrad { backbone(inputs) }
    case .projection: return withoutGrad { projector(backbone(inputs)) }
    default: return nil
    }
}

/// The check that a method whose loss takes statistics over the batch (Barlow Twins, VICReg) gets at least 2 images.
func requireBatchStatistics(_ input: InputShape, method: String) throws {
    if input.batchSize == 1 {
        throw ConfigError(key: "data.batch_size", message: "\(method) takes statistics over the batch: it needs at least 2 images, found 1")
    }
}

/// The check that a two-view method gets exactly two views (before the data are read, `views` may be empty).
func requireTwoViews(_ input: InputShape, method: String) throws {
    if !input.views.isEmpty && input.views.count != 2 {
        throw ConfigError(key: "data.views", message: "\(method) uses two views per image, found \(input.views.count)")
    }
}

/// The networks SimCLR, Barlow Twins, VICReg and W-MSE share: a backbone, a projector and an optional online probe, drawn in
/// that order from `seed` (stream 1) and named `backbone`, `projector`, `online_probe` for checkpoints.
struct BackboneAndProjector {
    let backbone: ResNet, projector: Sequential, probe: OnlineProbe?, model: MethodNetworks

    init(backbone backboneConfig: ResNetConfig, projector projectorConfig: HeadConfig, imageChannels: Int, classes: Int, seed: UInt64) {
        var generator = RandomGenerator(seed: seed, stream: 1)
        backbone = ResNet(config: backboneConfig, imageChannels: imageChannels, generator: &generator)
        projector = projectorConfig.make(inputSize: backboneConfig.outputWidth, generator: &generator)
        probe = classes > 0 ? OnlineProbe(features: backboneConfig.outputWidth, classes: classes, generator: &generator) : nil
        var named: [(name: String, layer: any Layer)] = [("backbone", backbone), ("projector", projector)]
        if let probe { named.append(("online_probe", probe)) }
        model = MethodNetworks(named)
    }

    /// Both views of `batch` through the backbone and the projector in one pass (batch norm sees the 2N images
    /// together, as SimCLR's): this rank's backbone features `[2n, D]` and each view's projections over the whole
    /// global batch `[N, P]` (gathered from every rank of `world`).
    func embed(_ batch: Batch, method: String, world: any Collective) -> (features: Tensor, projections: Tensor, first: Tensor, second: Tensor) {
        precondition(batch.views.count == 2, "\(method) needs two views, found \(batch.views.count)")
        let (features, projections, views) = embedViews(batch, world: world)
        return (features, projections, views[0], views[1])
    }

    /// Every view of `batch` (all of one size) through the backbone and the projector in one pass: this rank's
    /// backbone features `[V·n, D]`, and each view's projections `[N, P]` gathered over the ranks of `world` (the
    /// loss sees the global batch, in global order) with all of them `[V·N, P]` for the collapse monitor.
    func embedViews(_ batch: Batch, world: any Collective) -> (features: Tensor, projections: Tensor, views: [Tensor]) {
        let n = batch.count
        let features = backbone(batch.views.count == 1 ? batch.views[0] : Tensor.concatenate(batch.views, alongAxis: 0))
        let local = projector(features)
        let views = (0..<batch.views.count).map { world.allGathered(local.sliced(alongAxis: 0, start: $0 * n, length: n)) }
        let projections = world.isSingle ? local : Tensor.concatenate(views.map { $0.detached() }, alongAxis: 0)
        return (features, projections, views)
    }

    /// `.pooled`: the backbone's output `[N, D]`; `.projection`: the projector's `[N, P]`; nil for other requests.
    func features(_ inputs: Tensor, _ request: FeatureRequest) -> Tensor? {
        pooledOrProjected(inputs, request, backbone: backbone, projector: projector)
    }

    /// The step's output: `loss` plus the online probe's on the first view's detached features, `metrics` with the
    /// collapse monitor of the projections, and those features for the trainer.
    func output(loss: Tensor, metrics: [String: Float], headline: (name: String, value: Float), features: Tensor,
                projections: Tensor, batch: Batch) -> StepOutput {
        var metrics = metrics
        metrics["collapse_std"] = collapseStandardDeviation(projections.detached())
        let first = features.sliced(alongAxis: 0, start: 0, length: batch.count)
        let total = probe?.adding(to: loss, features: first, batch: batch, metrics: &metrics) ?? loss
        return StepOutput(loss: total, metrics: metrics, headline: headline, features: first.detached())
    }
}
