// Composite blocks: MLP projectors, the ResNet basic block, and momentum (EMA) copies of any layer.

import TensorCore

/// The normalisation used inside a block.
public enum NormalizationKind: String, Sendable, Codable {
    case none, batch, layer, channel, group
}

/// Makes a normalisation layer for `channels` (group norm uses 32 groups, or fewer when channels are few).
public func makeNormalization(_ kind: NormalizationKind, channels: Int) -> (any UnaryLayer)? {
    switch kind {
    case .none: return nil
    case .batch: return BatchNorm(features: channels)
    case .layer: return GroupNorm(groups: 1, channels: channels)
    case .channel: return ChannelNorm(features: channels)
    case .group:
        var groups = min(32, channels)
        while channels % groups != 0 { groups -= 1 }
        return GroupNorm(groups: groups, channels: channels)
    }
}

/// A multi-layer perceptron as `Sequential` (Linear, [norm], activation, …, Linear), the projector/predictor head
/// of SimCLR, BYOL and friends. Names are PyTorch's for the same `nn.Sequential`.
public func makeMLP(inputSize: Int, hiddenSizes: [Int], outputSize: Int, normalization: NormalizationKind = .none,
                    activation: Activation.Kind = .relu, generator: inout RandomGenerator) -> Sequential {
    var layers: [any UnaryLayer] = []
    var size = inputSize
    for hidden in hiddenSizes {
        layers.append(Linear(inputSize: size, outputSize: hidden, bias: normalization == .none, generator: &generator))
        if let norm = makeNormalization(normalization, channels: hidden) { layers.append(norm) }
        layers.append(Activation(activation))
        size = hidden
    }
    layers.append(Linear(inputSize: size, outputSize: outputSize, generator: &generator))
    return Sequential(layers)
}

/// The ResNet basic block (He et al. 2016) on `[N, H, W, C]`: conv3×3 → norm → ReLU → conv3×3 → norm, plus the
/// input (through a 1×1 conv and norm when the stride or the width changes), then ReLU.
/// Names follow torchvision: `conv1`, `bn1`, `conv2`, `bn2`, `downsample.0`, `downsample.1`.
///
/// ### References
/// - He et al. 2016, "Deep residual learning for image recognition".
public final class ResidualBlock: UnaryLayer {
    /// The two 3×3 convolutions and their normalisations (`conv1`, `bn1`, `conv2`, `bn2`).
    public let conv1: Conv2d, norm1: (any UnaryLayer)?, conv2: Conv2d, norm2: (any UnaryLayer)?
    /// The shortcut's 1×1 convolution and normalisation when the stride or the width changes, else nil.
    public let downsample: Sequential?
    public var isTraining = true

    /// A block `[N, H, W, inputChannels] → [N, H/stride, W/stride, outputChannels]`.
    public init(inputChannels: Int, outputChannels: Int, stride: Int = 1, normalization: NormalizationKind = .batch,
                generator: inout RandomGenerator) {
        let useBias = normalization == .none
        conv1 = Conv2d(inputChannels: inputChannels, outputChannels: outputChannels, kernelSize: (3, 3),
                       stride: (stride, stride), padding: (1, 1), bias: useBias, generator: &generator)
        norm1 = makeNormalization(normalization, channels: outputChannels)
        conv2 = Conv2d(inputChannels: outputChannels, outputChannels: outputChannels, kernelSize: (3, 3),
                       padding: (1, 1), bias: useBias, generator: &generator)
        norm2 = makeNormalization(normalization, channels: outputChannels)
        if stride != 1 || inputChannels != outputChannels {
            var parts: [any UnaryLayer] = [Conv2d(inputChannels: inputChannels, outputChannels: outputChannels,
                                                  kernelSize: (1, 1), stride: (stride, stride), bias: useBias,
                                                  generator: &generator)]
            if let norm = makeNormalization(normalization, channels: outputChannels) { parts.append(norm) }
            downsample = Sequential(parts)
        } else {
            downsample = nil
        }
    }

    public var ownParameters: [(name: String, tensor: Tensor)] { [] }
    public var children: [(name: String, layer: any Layer)] {
        var list: [(name: String, layer: any Layer)] = [("conv1", conv1)]
        if let norm1 { list.append(("bn1", norm1)) }
        list.append(("conv2", conv2))
        if let norm2 { list.append(("bn2", norm2)) }
        if let downsample { list.append(("downsample", downsample)) }
        return list
    }

    public func callAsFunction(_ input: Tensor) -> Tensor {
        let y = convolvedNormalizedReLU(conv1, norm1, input, adding: nil)
        let shortcut = downsample.map { $0(input) } ?? input
        return convolvedNormalizedReLU(conv2, norm2, y, adding: shortcut)
    }
}

/// relu(norm(conv(x)) + residual). A batch norm in training takes its statistics from the convolution's output pass
/// where the kernel sums them (`conv2dWithChannelSums`: 3×3 Winograd convolutions without bias), sparing a pass.
func convolvedNormalizedReLU(_ conv: Conv2d, _ norm: (any UnaryLayer)?, _ x: Tensor, adding residual: Tensor?) -> Tensor {
    if let batchNorm = norm as? BatchNorm, batchNorm.isTraining, conv.bias == nil, conv.groups == 1, conv.dilation == (1, 1) {
        let (y, sums) = conv2dWithChannelSums(x, weight: conv.weight, stride: conv.stride, padding: conv.padding)
        return batchNorm(y, adding: residual, relu: true, sums: sums)
    }
    return normalizedReLU(norm, conv(x), adding: residual)
}

/// relu(norm(x) + residual): one fused op for BatchNorm, the composite for other normalisations (or none).
func normalizedReLU(_ norm: (any UnaryLayer)?, _ x: Tensor, adding residual: Tensor?) -> Tensor {
    if let batchNorm = norm as? BatchNorm { return batchNorm(x, adding: residual, relu: true) }
    var y = norm.map { $0(x) } ?? x
    if let residual { y = y + residual }
    return y.relu()
}

/// A momentum (exponential moving average) copy of a layer, the target network of MoCo and BYOL:
/// after each step, target ← m·target + (1 − m)·online for parameters; buffers are copied.
/// The target's parameters never require grad.
public final class MomentumCopy<Target: Layer> {
    /// The EMA copy (no parameter of it requires grad).
    public let target: Target

    /// `makeCopy` builds a layer of the same structure as `online` (its initial values are overwritten).
    public init(of online: Target, makeCopy: () -> Target) {
        target = makeCopy()
        target.copyState(from: online)
        target.setRequiresGrad(false)
    }

    /// Moves the target towards `online` by `1 − momentum`.
    public func update(from online: Target, momentum: Float) {
        withoutGrad {
            for ((_, t), (_, o)) in zip(target.parameters, online.parameters) {
                let m = momentum
                t.withUnsafeMutableBufferPointer { tp in
                    o.withUnsafeBufferPointer { op in
                        for i in 0..<tp.count { tp[i] = m * tp[i] + (1 - m) * op[i] }
                    }
                }
            }
            for ((_, t), (_, o)) in zip(target.buffers, online.buffers) { t.assign(o) }
        }
    }
}
