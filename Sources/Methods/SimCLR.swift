// SimCLR (Chen et al. 2020, "A Simple Framework for Contrastive Learning of Visual Representations"): a backbone and
// a projector embed two augmented views of each image; NT-Xent pulls the two views together against the other
// 2N − 2 views of the batch. Probes read the backbone's pooled output, not the projection.
//
// Glossary: N images, V = 2 views, D backbone width, P projection width, L classes.

import Layers
import Objectives
import TensorCore

/// SimCLR's networks and loss. Defaults: solo-learn's CIFAR settings scaled to a 2-core budget (ResNet-18 layout at
/// width 16, a 2-layer projector with batch norm, τ = 0.2).
public struct SimCLRConfig: ImagePairConfig {
    /// The backbone: a CIFAR-style ResNet (`backbone:` in the config).
    public var backbone = ResNetConfig()
    /// The projector MLP: backbone features `[N, D]` → embeddings `[N, P]`.
    public var projector = HeadConfig(hidden: [512], output: 128, batchNorm: true)
    /// The softmax temperature of the loss.
    public var temperature: Float = 0.2
    /// Train a linear classifier on detached features beside the method (logged as `online_accuracy`).
    public var onlineProbe = true

    public var heads: [HeadConfig] { get { [projector] } set { projector = newValue[0] } }

    /// The defaults above.
    public init() {}
    enum CodingKeys: String, CodingKey, CaseIterable { case backbone, projector, temperature, onlineProbe = "online_probe" }
    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = SimCLRConfig()
        backbone = try c.value(.backbone, default: d.backbone)
        projector = try c.value(.projector, default: d.projector)
        temperature = try c.value(.temperature, default: d.temperature)
        onlineProbe = try c.value(.onlineProbe, default: d.onlineProbe)
        if !(temperature > 0 && temperature.isFinite) { throw decoder.invalid("temperature", "must be positive, found \(temperature)") }
    }
}

/// SimCLR as a `Method` (registry key `simclr`): networks `backbone`, `projector`, `online_probe`.
///
/// ### References
/// - Chen et al. 2020, "A simple framework for contrastive learning of visual representations".
public final class SimCLR: Method, MethodSpec {
    public static let key = "simclr"
    public static let input = InputKind.imageViews

    public static func validate(_ config: SimCLRConfig, input: InputShape) throws { try requireTwoViews(input, method: "SimCLR") }

    public static func make(_ config: SimCLRConfig, input: InputShape, seed: UInt64) throws -> any Method {
        SimCLR(config: config, imageChannels: input.channels, classes: config.onlineProbe ? input.classes : 0, seed: seed)
    }

    /// The config the networks were built from.
    public let config: SimCLRConfig
    /// The backbone: images `[N, H, W, C]` → features `[N, D]`.
    public var backbone: ResNet { networks.backbone }
    /// The projector: `[N, D] → [N, P]`.
    public var projector: Sequential { networks.projector }
    /// The online linear probe (nil when switched off or the classes are unknown).
    public var probe: OnlineProbe? { networks.probe }
    public var model: any Layer { networks.model }
    let networks: BackboneAndProjector

    /// Builds the networks for images of `imageChannels` channels, with an online probe over `classes` classes (0: none), initialised from `seed`.
    public init(config: SimCLRConfig, imageChannels: Int, classes: Int, seed: UInt64) {
        self.config = config
        networks = BackboneAndProjector(backbone: config.backbone, projector: config.projector, imageChannels: imageChannels,
                                        classes: classes, seed: seed)
    }

    public func loss(_ batch: Batch, _ context: StepContext) -> StepOutput {
        let (features, projections, first, second) = networks.embed(batch, method: "SimCLR", world: context.world)
        let (loss, accuracy) = NTXent.loss(first, second, temperature: config.temperature)
        return networks.output(loss: loss, metrics: ["contrastive_accuracy": accuracy, "ssl_loss": loss.item], headline: ("acc", accuracy),
                               features: features, projections: projections, batch: batch)
    }

    /// `.pooled`: the backbone's pooled output `[N, D]` of images `[N, H, W, C]`; `.projection`: the projector's `[N, P]`.
    public func features(_ inputs: Tensor, _ request: FeatureRequest) -> Tensor? { networks.features(inputs, request) }
}
