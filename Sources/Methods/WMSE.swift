// W-MSE (Ermolov et al. 2021, "Whitening for Self-Supervised Representation Learning"): a backbone and a projector
// embed 2 or 4 views; each view's embeddings are whitened over random sub-batches (Cholesky, the same rows for every
// view) and the whitened views of each image are pulled together with 2 − 2·cos over every pair of views. Whitening
// scatters the embeddings by construction, so no negatives, momentum encoder or predictor are needed. Probes read
// the backbone.
//
// Glossary: N images, V views, D backbone width, P embedding width, w the whitening sub-batch.

import Layers
import Objectives
import TensorCore

/// W-MSE's networks and loss. Defaults: the paper's and solo-learn's CIFAR settings (a projector with one hidden layer
/// of 1024 with batch norm, embeddings of 64, sub-batches of 128, one whitening iteration, no shrinkage).
public struct WMSEConfig: ImagePairConfig {
    /// The backbone: a CIFAR-style ResNet (`backbone:` in the config).
    public var backbone = ResNetConfig()
    /// The projector MLP: backbone features `[N, D]` → embeddings `[N, P]`.
    public var projector = HeadConfig(hidden: [1024], output: 64, batchNorm: true)
    /// w, the rows whitened together (at least 2·P; must divide `data.batch_size`).
    public var whiteningSize = 128
    /// How many random partitions into sub-batches each step averages over (the paper's w_iter).
    public var whiteningIterations = 1
    /// s in (1 − s)·Σ + s·I before the Cholesky factorisation (the paper's w_eps, 0 there).
    public var whiteningShrinkage: Float = 0
    /// Whether a linear probe learns the labels from detached backbone features as the method trains (`online_accuracy`).
    public var onlineProbe = true

    public var heads: [HeadConfig] { get { [projector] } set { projector = newValue[0] } }

    /// The defaults above.
    public init() {}
    enum CodingKeys: String, CodingKey, CaseIterable {
        case backbone, projector, whiteningSize = "whitening_size", whiteningIterations = "whitening_iterations"
        case whiteningShrinkage = "whitening_shrinkage", onlineProbe = "online_probe"
    }
    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = WMSEConfig()
        backbone = try c.value(.backbone, default: d.backbone)
        projector = try c.value(.projector, default: d.projector)
        whiteningSize = try c.value(.whiteningSize, default: d.whiteningSize)
        whiteningIterations = try c.value(.whiteningIterations, default: d.whiteningIterations)
        whiteningShrinkage = try c.value(.whiteningShrinkage, default: d.whiteningShrinkage)
        onlineProbe = try c.value(.onlineProbe, default: d.onlineProbe)
        if !(whiteningShrinkage >= 0 && whiteningShrinkage < 1) {
            throw decoder.invalid("whitening_shrinkage", "must be in [0, 1), found \(whiteningShrinkage)")
        }
        if whiteningIterations < 1 || whiteningIterations > 64 {
            throw decoder.invalid("whitening_iterations", "must be in 1...64, found \(whiteningIterations)")
        }
    }
}

/// W-MSE as a `Method` (registry key `wmse`): networks `backbone`, `projector`, `online_probe`.
///
/// When a sub-batch's covariance cannot be factorised (collapsed dimensions and no shrinkage), the step whitens again
/// with shrinkage 1e-3 and counts it in the metric `whitening_retries`, rather than stopping the run.
///
/// ### References
/// - Ermolov, Siarohin, Sangineto and Sebe 2021, "Whitening for self-supervised representation learning".
public final class WMSE: Method, MethodSpec {
    public static let key = "wmse"
    public static let input = InputKind.imageViews

    public static func validate(_ config: WMSEConfig, input: InputShape) throws {
        if !input.views.isEmpty {
            if input.views.count != 2 && input.views.count != 4 {
                throw ConfigError(key: "data.views", message: "W-MSE uses 2 or 4 views per image, found \(input.views.count)")
            }
            if input.views.contains(where: { $0 != input.views[0] }) {
                throw ConfigError(key: "data.views", message: "W-MSE's views must all have one size, found "
                    + input.views.map { "\($0.height)×\($0.width)" }.joined(separator: ", "))
            }
        }
        do {
            try WhitenedMSE.validate(views: max(input.views.count, 2), images: input.batchSize > 0 ? input.batchSize : nil,
                                     width: config.projector.output, subBatch: config.whiteningSize,
                                     iterations: config.whiteningIterations)
        } catch let error as WhitenedMSEError {
            throw ConfigError(key: error.key, message: error.message)
        }
    }

    public static func make(_ config: WMSEConfig, input: InputShape, seed: UInt64) throws -> any Method {
        WMSE(config: config, imageChannels: input.channels, classes: config.onlineProbe ? input.classes : 0, seed: seed)
    }

    /// The config the networks were built from.
    public let config: WMSEConfig
    /// The backbone: images `[N, H, W, C]` → features `[N, D]`.
    public var backbone: ResNet { networks.backbone }
    /// The projector: `[N, D] → [N, P]`.
    public var projector: Sequential { networks.projector }
    /// The online linear probe (nil when switched off or the classes are unknown).
    public var probe: OnlineProbe? { networks.probe }
    public var model: any Layer { networks.model }
    let networks: BackboneAndProjector
    /// The seed the sub-batch permutations are drawn from (with the batch index).
    let seed: UInt64

    /// Builds the networks for images of `imageChannels` channels, with an online probe over `classes` classes (0: none), initialised from `seed`.
    public init(config: WMSEConfig, imageChannels: Int, classes: Int, seed: UInt64) {
        self.config = config
        self.seed = seed
        networks = BackboneAndProjector(backbone: config.backbone, projector: config.projector, imageChannels: imageChannels,
                                        classes: classes, seed: seed)
    }

    public func loss(_ batch: Batch, _ context: StepContext) -> StepOutput {
        precondition(batch.views.count >= 2, "W-MSE needs two or more views, found \(batch.views.count)")
        let (features, projections, views) = networks.embedViews(batch, world: context.world)
        // Sub-batches of the global batch, no larger than it (a short last validation batch is whitened whole).
        let n = views[0].shape[0]
        let subBatch = n % config.whiteningSize == 0 ? config.whiteningSize : n
        var generator = RandomGenerator(seed: seed, stream: 0x574D_5345_0000 ^ UInt64(batch.index))
        let permutations = (0..<config.whiteningIterations).map { _ in generator.permutation(n) }
        var retries: Float = 0
        let loss: Tensor
        do {
            loss = try WhitenedMSE.loss(views, subBatch: subBatch, permutations: permutations, shrinkage: config.whiteningShrinkage)
        } catch {
            retries = 1
            let shrinkage = max(config.whiteningShrinkage, 1e-3)
            loss = (try? WhitenedMSE.loss(views, subBatch: subBatch, permutations: permutations, shrinkage: shrinkage))
                ?? Tensor.full([], value: .nan)  // still singular: the trainer's guard stops the run and names the step
        }
        let metrics: [String: Float] = ["ssl_loss": loss.item, "whitening_retries": retries]
        return networks.output(loss: loss, metrics: metrics, headline: ("wmse", loss.item), features: features,
                               projections: projections, batch: batch)
    }

    /// `.pooled`: the backbone's pooled output `[N, D]` of images `[N, H, W, C]`; `.projection`: the projector's `[N, P]`.
    public func features(_ inputs: Tensor, _ request: FeatureRequest) -> Tensor? { networks.features(inputs, request) }
}
