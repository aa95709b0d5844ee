// The CIFAR-style ResNet backbone of the image-pair methods (He et al. 2016, as solo-learn and lightly adapt it to
// small images): a 3×3 stem at stride 1 with no max-pool, four stages of basic blocks (widths w, 2w, 4w, 8w; the
// last three start at stride 2), batch norm, and global average pooling. `blocks: [2, 2, 2, 2]` at width 64 is the
// standard ResNet-18; names follow torchvision (`conv1`, `bn1`, `layer1.0.conv1`, …), without its `fc`.
//
// Glossary: N images, H×W pixels, C image channels, D = 8w output features (the last stage's width).

import TensorCore

/// The backbone's shape.
public struct ResNetConfig: Codable, Sendable, Equatable {
    /// w: the first stage's width.
    public var width = 16
    /// Basic blocks per stage (one stage per entry; widths double from stage to stage).
    public var blocks = [2, 2, 2, 2]
    /// Batch norm as in the papers; group/layer norm for comparison.
    public var normalization: NormalizationKind = .batch

    /// The CIFAR ResNet-18 shape at width 16.
    public init() {}
    enum CodingKeys: String, CodingKey, CaseIterable { case width, blocks, normalization }
    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = ResNetConfig()
        width = try c.value(.width, default: d.width)
        blocks = try c.value(.blocks, default: d.blocks)
        normalization = try c.value(.normalization, default: d.normalization)
        if width < 1 || width > 4096 { throw decoder.invalid("width", "must be in 1...4096, found \(width)") }
        if blocks.isEmpty || blocks.count > 6 || blocks.contains(where: { $0 < 1 || $0 > 64 }) {
            throw decoder.invalid("blocks", "must be 1 to 6 stages of 1 to 64 blocks, found \(blocks)")
        }
    }

    /// D: the width of the pooled output.
    public var outputWidth: Int { width << (blocks.count - 1) }
}

/// The backbone: images `[N, H, W, C]` → pooled features `[N, D]`.
///
/// ### References
/// - He et al. 2016, "Deep residual learning for image recognition".
public final class ResNet: UnaryLayer {
    /// The shape it was built with.
    public let config: ResNetConfig
    /// The 3×3 stem convolution `[N, H, W, C] → [N, H, W, w]` (no max-pool, as for small images).
    public let stem: Conv2d
    /// The stem's normalisation.
    public let stemNorm: (any UnaryLayer)?
    /// The stages of basic blocks (the first at stride 1, the others halving the size and doubling the width).
    public let stages: [Sequential]
    public var isTraining = true

    /// A backbone for images of `imageChannels` channels.
    public init(config: ResNetConfig, imageChannels: Int, generator: inout RandomGenerator) {
        self.config = config
        stem = Conv2d(inputChannels: imageChannels, outputChannels: config.width, kernelSize: (3, 3), padding: (1, 1),
                      bias: config.normalization == .none, generator: &generator)
        stemNorm = makeNormalization(config.normalization, channels: config.width)
        var stages: [Sequential] = []
        var channels = config.width
        for (index, count) in config.blocks.enumerated() {
            let width = config.width << index
            var blocks: [any UnaryLayer] = []
            for b in 0..<count {
                blocks.append(ResidualBlock(inputChannels: channels, outputChannels: width, stride: index > 0 && b == 0 ? 2 : 1,
                                            normalization: config.normalization, generator: &generator))
                channels = width
            }
            stages.append(Sequential(blocks))
        }
        self.stages = stages
    }

    public var ownParameters: [(name: String, tensor: Tensor)] { [] }
    public var children: [(name: String, layer: any Layer)] {
        var list: [(name: String, layer: any Layer)] = [("conv1", stem)]
        if let stemNorm { list.append(("bn1", stemNorm)) }
        for (i, stage) in stages.enumerated() { list.append(("layer\(i + 1)", stage)) }
        return list
    }

    /// The last stage's feature map `[N, H', W', D]`.
    public func featureMap(_ images: Tensor) -> Tensor {
        precondition(images.rank == 4, "ResNet expects images [N, H, W, C], found \(images.shape)")
        var x = normalizedReLU(stemNorm, stem(images), adding: nil)
        for stage in stages { x = stage(x) }
        return x
    }

    /// Pooled features `[N, D]`.
    public func callAsFunction(_ images: Tensor) -> Tensor { featureMap(images).mean(alongAxes: [1, 2]) }
}
