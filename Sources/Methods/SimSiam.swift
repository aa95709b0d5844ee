// SimSiam (Chen and He 2021, "Exploring Simple Siamese Representation Learning"): one network (backbone, projector)
// embeds both views and a predictor maps each view's projection onto the other's; no negatives, no momentum
// encoder. The loss is −½·(cos(p₁, sg(z₂)) + cos(p₂, sg(z₁))); the stop-gradient sg is what keeps it from
// collapsing (the paper's fig. 2, and a test here). Probes read the backbone.
//
// Glossary: N images, D backbone width, P projection width, B predictor bottleneck.

import Layers
import Objectives
import TensorCore

/// SimSiam's networks and loss. Defaults: the paper's CIFAR layout (a 3-layer projector with batch norm on every
/// layer, the output's without affine parameters; a 2-layer predictor with a bottleneck of a quarter of P), with
/// widths narrowed for a 2-core budget (paper: 2048 projection, 512 bottleneck).
public struct SimSiamConfig: ImagePairConfig {
    /// The backbone: a CIFAR-style ResNet (`backbone:` in the config).
    public var backbone = ResNetConfig()
    /// The projector MLP: backbone features `[N, D]` → embeddings `[N, P]`.
    public var projector: HeadConfig = {
        var head = HeadConfig(hidden: [512, 512], output: 512, batchNorm: true)
        head.outputBatchNorm = true
        return head
    }()
    /// The predictor MLP on the online branch: embeddings `[N, P]` → predictions `[N, P]`.
    public var predictor = HeadConfig(hidden: [128], output: 512, batchNorm: true)
    /// The stop-gradient on the target branch; false only to show the collapse it prevents.
    public var stopGradient = true
    /// Whether a linear probe learns the labels from detached backbone features as the method trains (`online_accuracy`).
    public var onlineProbe = true

    public var heads: [HeadConfig] {
        get { [projector, predictor] }
        set { (projector, predictor) = (newValue[0], newValue[1]) }
    }

    /// The defaults above.
    public init() {}
    enum CodingKeys: String, CodingKey, CaseIterable {
        case backbone, projector, predictor, stopGradient = "stop_gradient", onlineProbe = "online_probe"
    }
    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = SimSiamConfig()
        backbone = try c.value(.backbone, default: d.backbone)
        projector = try c.value(.projector, default: d.projector)
        predictor = try c.value(.predictor, default: d.predictor)
        stopGradient = try c.value(.stopGradient, default: d.stopGradient)
        onlineProbe = try c.value(.onlineProbe, default: d.onlineProbe)
        if predictor.output != projector.output {
            throw decoder.invalid("predictor", "output must equal the projector's output \(projector.output) (it predicts a projection), found \(predictor.output)")
        }
    }
}

/// SimSiam as a `Method` (registry key `simsiam`): networks `backbone`, `projector`, `predictor`, `online_probe`.
///
/// ### References
/// - Chen and He 2021, "Exploring simple Siamese representation learning".
public final class SimSiam: Method, MethodSpec {
    public static let key = "simsiam"
    public static let input = InputKind.imageViews

    public static func validate(_ config: SimSiamConfig, input: InputShape) throws { try requireTwoViews(input, method: "SimSiam") }

    public static func make(_ config: SimSiamConfig, input: InputShape, seed: UInt64) throws -> any Method {
        SimSiam(config: config, imageChannels: input.channels, classes: config.onlineProbe ? input.classes : 0, seed: seed)
    }

    /// The config the networks were built from.
    public let config: SimSiamConfig
    /// The online networks: backbone `[N, H, W, C] → [N, D]`, projector `[N, D] → [N, P]`, predictor `[N, P] → [N, P]`.
    public let backbone: ResNet, projector: Sequential, predictor: Sequential
    /// The online linear probe (nil when switched off or the classes are unknown).
    public let probe: OnlineProbe?
    public let model: any Layer

    /// Builds the networks for images of `imageChannels` channels, with an online probe over `classes` classes (0: none), initialised from `seed`.
    public init(config: SimSiamConfig, imageChannels: Int, classes: Int, seed: UInt64) {
        self.config = config
        var generator = RandomGenerator(seed: seed, stream: 1)
        backbone = ResNet(config: config.backbone, imageChannels: imageChannels, generator: &generator)
        projector = config.projector.make(inputSize: config.backbone.outputWidth, generator: &generator)
        predictor = config.predictor.make(inputSize: config.projector.output, generator: &generator)
        probe = classes > 0 ? OnlineProbe(features: config.backbone.outputWidth, classes: classes, generator: &generator) : nil
        var named: [(name: String, layer: any Layer)] = [("backbone", backbone), ("projector", projector), ("predictor", predictor)]
        if let probe { named.append(("online_probe", probe)) }
        model = MethodNetworks(named)
    }

    public func loss(_ batch: Batch, _ context: StepContext) -> StepOutput {
        precondition(batch.views.count == 2, "SimSiam needs two views, found \(batch.views.count)")
        let n = batch.count
        // Both views in one pass (batch norm over the 2N images, as the paper's).
        let features = backbone(Tensor.concatenate(batch.views, alongAxis: 0))
        let projections = projector(features)
        let predictions = predictor(projections)
        func half(_ t: Tensor, _ index: Int) -> Tensor { t.sliced(alongAxis: 0, start: index * n, length: n) }
        let sg = config.stopGradient
        let cosine = (NegativeCosine.meanCosine(predictions: half(predictions, 0), targets: half(projections, 1), stopGradient: sg)
            + NegativeCosine.meanCosine(predictions: half(predictions, 1), targets: half(projections, 0), stopGradient: sg)) * 0.5
        let loss = -cosine
        var metrics: [String: Float] = ["ssl_loss": loss.item, "cosine": cosine.item,
                                        "collapse_std": collapseStandardDeviation(projections.detached())]
        let firstFeatures = half(features, 0)
        let total = probe?.adding(to: loss, features: firstFeatures, batch: batch, metrics: &metrics) ?? loss
        return StepOutput(loss: total, metrics: metrics, headline: ("cos", cosine.item), features: firstFeatures.detached())
    }

    /// `.pooled`: the backbone's pooled output `[N, D]` of images `[N, H, W, C]`; `.projection`: the projector's `[N, P]`.
    public func features(_ inputs: Tensor, _ request: FeatureRequest) -> Tensor? {
        pooledOrProjected(inputs, request, backbone: backbone, projector: projector)
    }
}
