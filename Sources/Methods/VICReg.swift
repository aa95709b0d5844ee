// VICReg (Bardes, Ponce and LeCun 2022, "VICReg: Variance-Invariance-Covariance Regularization for Self-Supervised
// Learning"): a backbone and a 3-layer projector embed two views; the loss keeps the two embeddings close
// (invariance), every dimension's spread over the batch at least γ (variance: without it the embeddings collapse,
// a test here) and the dimensions uncorrelated (covariance). No negatives, no momentum encoder. Probes read the backbone.
//
// Glossary: N images, D backbone width, P projection width.

import Layers
import Objectives
import TensorCore

/// VICReg's networks and loss. Defaults: the paper's weights (λ = μ = 25, ν = 1, γ = 1) and solo-learn's CIFAR
/// projector layout (batch norm on the hidden layers) narrowed for a 2-core budget (solo-learn: 2048 wide).
public struct VICRegConfig: ImagePairConfig {
    /// The backbone: a CIFAR-style ResNet (`backbone:` in the config).
    public var backbone = ResNetConfig()
    /// The projector MLP: backbone features `[N, D]` → embeddings `[N, P]` (the paper's: two hidden layers).
    public var projector = HeadConfig(hidden: [512, 512], output: 512, batchNorm: true)
    /// λ, the weight of the invariance term.
    public var invarianceWeight: Float = 25
    /// μ, the weight of the variance term; 0 only to show the collapse it prevents.
    public var varianceWeight: Float = 25
    /// ν, the weight of the covariance term.
    public var covarianceWeight: Float = 1
    /// Whether a linear probe learns the labels from detached backbone features as the method trains (`online_accuracy`).
    public var onlineProbe = true

    public var heads: [HeadConfig] { get { [projector] } set { projector = newValue[0] } }

    /// The defaults above.
    public init() {}
    enum CodingKeys: String, CodingKey, CaseIterable {
        case backbone, projector, invarianceWeight = "invariance_weight", varianceWeight = "variance_weight"
        case covarianceWeight = "covariance_weight", onlineProbe = "online_probe"
    }
    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = VICRegConfig()
        backbone = try c.value(.backbone, default: d.backbone)
        projector = try c.value(.projector, default: d.projector)
        invarianceWeight = try c.value(.invarianceWeight, default: d.invarianceWeight)
        varianceWeight = try c.value(.varianceWeight, default: d.varianceWeight)
        covarianceWeight = try c.value(.covarianceWeight, default: d.covarianceWeight)
        onlineProbe = try c.value(.onlineProbe, default: d.onlineProbe)
        for (key, value) in [("invariance_weight", invarianceWeight), ("variance_weight", varianceWeight),
                             ("covariance_weight", covarianceWeight)] where !(value >= 0 && value.isFinite) {
            throw decoder.invalid(key, "must be a non-negative number, found \(value)")
        }
    }
}

/// VICReg as a `Method` (registry key `vicreg`): networks `backbone`, `projector`, `online_probe`.
///
/// ### References
/// - Bardes, Ponce and LeCun 2022, "VICReg: variance-invariance-covariance regularization for self-supervised
///   learning".
public final class VICReg: Method, MethodSpec {
    public static let key = "vicreg"
    public static let input = InputKind.imageViews

    public static func validate(_ config: VICRegConfig, input: InputShape) throws {
        try requireTwoViews(input, method: "VICReg")
        try requireBatchStatistics(input, method: "VICReg")
    }

    public static func make(_ config: VICRegConfig, input: InputShape, seed: UInt64) throws -> any Method {
        VICReg(config: config, imageChannels: input.channels, classes: config.onlineProbe ? input.classes : 0, seed: seed)
    }

    /// The config the networks were built from.
    public let config: VICRegConfig
    /// The backbone: images `[N, H, W, C]` → features `[N, D]`.
    public var backbone: ResNet { networks.backbone }
    /// The projector: `[N, D] → [N, P]`.
    public var projector: Sequential { networks.projector }
    /// The online linear probe (nil when switched off or the classes are unknown).
    public var probe: OnlineProbe? { networks.probe }
    public var model: any Layer { networks.model }
    let networks: BackboneAndProjector

    /// Builds the networks for images of `imageChannels` channels, with an online probe over `classes` classes (0: none), initialised from `seed`.
    public init(config: VICRegConfig, imageChannels: Int, classes: Int, seed: UInt64) {
        self.config = config
        networks = BackboneAndProjector(backbone: config.backbone, projector: config.projector, imageChannels: imageChannels,
                                        classes: classes, seed: seed)
    }

    public func loss(_ batch: Batch, _ context: StepContext) -> StepOutput {
        let (features, projections, first, second) = networks.embed(batch, method: "VICReg", world: context.world)
        let terms = VarianceInvarianceCovariance.terms(first, second, invarianceWeight: config.invarianceWeight,
                                                       varianceWeight: config.varianceWeight, covarianceWeight: config.covarianceWeight)
        let metrics: [String: Float] = ["ssl_loss": terms.loss.item, "invariance": terms.invariance.item,
                                        "variance_hinge": terms.variance.item, "covariance": terms.covariance.item]
        return networks.output(loss: terms.loss, metrics: metrics, headline: ("inv", terms.invariance.item), features: features,
                               projections: projections, batch: batch)
    }

    /// `.pooled`: the backbone's pooled output `[N, D]` of images `[N, H, W, C]`; `.projection`: the projector's `[N, P]`.
    public func features(_ inputs: Tensor, _ request: FeatureRequest) -> Tensor? { networks.features(inputs, request) }
}
