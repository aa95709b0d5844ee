// BYOL (Grill et al. 2020, "Bootstrap Your Own Latent"): an online network (backbone, projector, predictor)
// regresses the projection that a momentum (EMA) copy of its backbone and projector gives for the other view; no
// negatives. The loss is symmetrised over the two views (each view is predicted once) and τ of the EMA rises from
// `momentum` to `final_momentum` on a half cosine. Probes read the online backbone.
//
// Glossary: N images, D backbone width, P projection width.

import Layers
import Objectives
import TensorCore

/// BYOL's networks and loss. Defaults: solo-learn's CIFAR settings (τ 0.99 → 1, batch-norm heads) with heads
/// narrowed for a 2-core budget (solo-learn: 4096 hidden, 256 out).
public struct BYOLConfig: ImagePairConfig {
    /// The backbone: a CIFAR-style ResNet (`backbone:` in the config).
    public var backbone = ResNetConfig()
    /// The projector MLP: backbone features `[N, D]` → embeddings `[N, P]`.
    public var projector = HeadConfig(hidden: [512], output: 128, batchNorm: true)
    /// The predictor MLP on the online branch: embeddings `[N, P]` → predictions `[N, P]`.
    public var predictor = HeadConfig(hidden: [512], output: 128, batchNorm: true)
    /// The EMA momentum at the start and at the end of training.
    public var momentum: Float = 0.99
    /// τ at the end of training (the cosine schedule goes from `momentum` to it).
    public var finalMomentum: Float = 1
    /// The predictor on the online branch; false only to show the collapse it prevents (the paper's table 5b).
    public var usePredictor = true
    /// Whether a linear probe learns the labels from detached backbone features as the method trains (`online_accuracy`).
    public var onlineProbe = true

    public var heads: [HeadConfig] {
        get { [projector, predictor] }
        set { (projector, predictor) = (newValue[0], newValue[1]) }
    }

    /// The defaults above.
    public init() {}
    enum CodingKeys: String, CodingKey, CaseIterable {
        case backbone, projector, predictor, momentum
        case finalMomentum = "final_momentum", usePredictor = "use_predictor", onlineProbe = "online_probe"
    }
    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = BYOLConfig()
        backbone = try c.value(.backbone, default: d.backbone)
        projector = try c.value(.projector, default: d.projector)
        predictor = try c.value(.predictor, default: d.predictor)
        momentum = try c.value(.momentum, default: d.momentum)
        finalMomentum = try c.value(.finalMomentum, default: d.finalMomentum)
        usePredictor = try c.value(.usePredictor, default: d.usePredictor)
        onlineProbe = try c.value(.onlineProbe, default: d.onlineProbe)
        if predictor.output != projector.output {
            throw decoder.invalid("predictor", "output must equal the projector's output \(projector.output) (it predicts a projection), found \(predictor.output)")
        }
        try MomentumTarget.validate(momentum: momentum, finalMomentum: finalMomentum, decoder: decoder)
    }
}

/// BYOL as a `Method` (registry key `byol`): networks `backbone`, `projector`, `predictor`, `momentum_backbone`,
/// `momentum_projector`, `online_probe`.
///
/// ### References
/// - Grill et al. 2020, "Bootstrap your own latent: a new approach to self-supervised learning".
public final class BYOL: Method, MethodSpec {
    public static let key = "byol"
    public static let input = InputKind.imageViews

    public static func validate(_ config: BYOLConfig, input: InputShape) throws { try requireTwoViews(input, method: "BYOL") }

    public static func make(_ config: BYOLConfig, input: InputShape, seed: UInt64) throws -> any Method {
        BYOL(config: config, imageChannels: input.channels, classes: config.onlineProbe ? input.classes : 0, seed: seed)
    }

    /// The config the networks were built from.
    public let config: BYOLConfig
    /// The online networks: backbone `[N, H, W, C] → [N, D]`, projector `[N, D] → [N, P]`, predictor `[N, P] → [N, P]`.
    public let backbone: ResNet, projector: Sequential, predictor: Sequential
    /// The momentum (EMA) copies of the backbone and projector that give the targets.
    public let target: MomentumTarget
    /// The online linear probe (nil when switched off or the classes are unknown).
    public let probe: OnlineProbe?
    public let model: any Layer

    /// Builds the networks for images of `imageChannels` channels, with an online probe over `classes` classes (0: none), initialised from `seed`.
    public init(config: BYOLConfig, imageChannels: Int, classes: Int, seed: UInt64) {
        self.config = config
        var generator = RandomGenerator(seed: seed, stream: 1)
        let backbone = ResNet(config: config.backbone, imageChannels: imageChannels, generator: &generator)
        let projector = config.projector.make(inputSize: config.backbone.outputWidth, generator: &generator)
        predictor = config.predictor.make(inputSize: config.projector.output, generator: &generator)
        target = MomentumTarget(of: backbone, projector, backbone: config.backbone, projector: config.projector,
                                imageChannels: imageChannels, momentum: config.momentum, finalMomentum: config.finalMomentum)
        probe = classes > 0 ? OnlineProbe(features: config.backbone.outputWidth, classes: classes, generator: &generator) : nil
        (self.backbone, self.projector) = (backbone, projector)
        var named: [(name: String, layer: any Layer)] = [("backbone", backbone), ("projector", projector), ("predictor", predictor)]
        named += target.networks
        if let probe { named.append(("online_probe", probe)) }
        model = MethodNetworks(named)
    }

    public func loss(_ batch: Batch, _ context: StepContext) -> StepOutput {
        precondition(batch.views.count == 2, "BYOL needs two views, found \(batch.views.count)")
        let n = batch.count
        let both = Tensor.concatenate(batch.views, alongAxis: 0)
        let features = backbone(both)
        let projections = projector(features)
        let predictions = config.usePredictor ? predictor(projections) : projections
        // Targets without gradient; the target network runs in the mode of the online one (batch statistics).
        let targets = target(both)
        func half(_ t: Tensor, _ index: Int) -> Tensor { t.sliced(alongAxis: 0, start: index * n, length: n) }
        // View 1's prediction regresses view 2's target and the other way round (the paper's symmetrised loss).
        let loss = NegativeCosine.loss(predictions: half(predictions, 0), targets: half(targets, 1))
            + NegativeCosine.loss(predictions: half(predictions, 1), targets: half(targets, 0))
        let cosine = 1 - loss.item / 4
        var metrics: [String: Float] = ["ssl_loss": loss.item, "cosine": cosine,
                                        "collapse_std": collapseStandardDeviation(projections.detached()),
                                        "momentum": target.tau(context)]
        let firstFeatures = half(features, 0)
        let total = probe?.adding(to: loss, features: firstFeatures, batch: batch, metrics: &metrics) ?? loss
        return StepOutput(loss: total, metrics: metrics, headline: ("cos", cosine), features: firstFeatures.detached())
    }

    /// EMA update of the target network with this step's τ.
    public func afterOptimizerStep(_ output: StepOutput, _ context: StepContext) {
        target.update(from: backbone, projector, context)
    }

    /// `.pooled`: the backbone's pooled output `[N, D]` of images `[N, H, W, C]`; `.projection`: the projector's `[N, P]`.
    public func features(_ inputs: Tensor, _ request: FeatureRequest) -> Tensor? {
        pooledOrProjected(inputs, request, backbone: backbone, projector: projector)
    }
}
