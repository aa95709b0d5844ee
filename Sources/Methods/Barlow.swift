// Barlow Twins (Zbontar et al. 2021, "Barlow Twins: Self-Supervised Learning via Redundancy Reduction"): a backbone
// and a 3-layer projector embed two views; the loss pushes the cross-correlation of the two views' batch-standardised
// embeddings towards the identity. No negatives, no momentum encoder, no predictor. Probes read the backbone.
//
// Glossary: N images, D backbone width, P projection width.

import Layers
import Objectives
import TensorCore

/// Barlow Twins' networks and loss. Defaults: solo-learn's CIFAR settings (λ 0.0051, loss scale 0.1, a projector
/// with batch norm on its hidden layers) with the projector narrowed for a 2-core budget (solo-learn: 2048 wide).
public struct BarlowConfig: ImagePairConfig {
    /// The backbone: a CIFAR-style ResNet (`backbone:` in the config).
    public var backbone = ResNetConfig()
    /// The projector MLP: backbone features `[N, D]` → embeddings `[N, P]` (the paper's: two hidden layers).
    public var projector = HeadConfig(hidden: [512, 512], output: 512, batchNorm: true)
    /// λ, the weight of the off-diagonal (redundancy) terms.
    public var offDiagonalWeight: Float = 0.0051
    /// The factor on the whole loss (solo-learn's `scale_loss`).
    public var scale: Float = 0.1
    /// Whether a linear probe learns the labels from detached backbone features as the method trains (`online_accuracy`).
    public var onlineProbe = true

    public var heads: [HeadConfig] { get { [projector] } set { projector = newValue[0] } }

    /// The defaults above.
    public init() {}
    enum CodingKeys: String, CodingKey, CaseIterable {
        case backbone, projector, scale, offDiagonalWeight = "off_diagonal_weight", onlineProbe = "online_probe"
    }
    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = BarlowConfig()
        backbone = try c.value(.backbone, default: d.backbone)
        projector = try c.value(.projector, default: d.projector)
        offDiagonalWeight = try c.value(.offDiagonalWeight, default: d.offDiagonalWeight)
        scale = try c.value(.scale, default: d.scale)
        onlineProbe = try c.value(.onlineProbe, default: d.onlineProbe)
        if !(offDiagonalWeight >= 0 && offDiagonalWeight.isFinite) {
            throw decoder.invalid("off_diagonal_weight", "must be a non-negative number, found \(offDiagonalWeight)")
        }
        if !(scale > 0 && scale.isFinite) { throw decoder.invalid("scale", "must be positive, found \(scale)") }
    }
}

/// Barlow Twins as a `Method` (registry key `barlow`): networks `backbone`, `projector`, `online_probe`.
///
/// ### References
/// - Zbontar et al. 2021, "Barlow Twins: self-supervised learning via redundancy reduction".
public final class BarlowTwins: Method, MethodSpec {
    public static let key = "barlow"
    public static let input = InputKind.imageViews

    public static func validate(_ config: BarlowConfig, input: InputShape) throws {
        try requireTwoViews(input, method: "Barlow Twins")
        try requireBatchStatistics(input, method: "Barlow Twins")
    }

    public static func make(_ config: BarlowConfig, input: InputShape, seed: UInt64) throws -> any Method {
        BarlowTwins(config: config, imageChannels: input.channels, classes: config.onlineProbe ? input.classes : 0, seed: seed)
    }

    /// The config the networks were built from.
    public let config: BarlowConfig
    /// The backbone: images `[N, H, W, C]` → features `[N, D]`.
    public var backbone: ResNet { networks.backbone }
    /// The projector: `[N, D] → [N, P]`.
    public var projector: Sequential { networks.projector }
    /// The online linear probe (nil when switched off or the classes are unknown).
    public var probe: OnlineProbe? { networks.probe }
    public var model: any Layer { networks.model }
    let networks: BackboneAndProjector

    /// Builds the networks for images of `imageChannels` channels, with an online probe over `classes` classes (0: none), initialised from `seed`.
    public init(config: BarlowConfig, imageChannels: Int, classes: Int, seed: UInt64) {
        self.config = config
        networks = BackboneAndProjector(backbone: config.backbone, projector: config.projector, imageChannels: imageChannels,
                                        classes: classes, seed: seed)
    }

    public func loss(_ batch: Batch, _ context: StepContext) -> StepOutput {
        let (features, projections, first, second) = networks.embed(batch, method: "Barlow Twins", world: context.world)
        let correlation = CrossCorrelation.matrix(first, second)
        let loss = CrossCorrelation.loss(correlation: correlation, offDiagonalWeight: config.offDiagonalWeight, scale: config.scale)
        let (c, d) = (correlation.scalars, correlation.shape[0])
        let diagonal = (0..<d).reduce(Float(0)) { $0 + c[$1 * d + $1] } / Float(d)
        return networks.output(loss: loss, metrics: ["ssl_loss": loss.item, "cross_correlation_diagonal": diagonal],
                               headline: ("diag", diagonal), features: features, projections: projections, batch: batch)
    }

    /// `.pooled`: the backbone's pooled output `[N, D]` of images `[N, H, W, C]`; `.projection`: the projector's `[N, P]`.
    public func features(_ inputs: Tensor, _ request: FeatureRequest) -> Tensor? { networks.features(inputs, request) }
}
