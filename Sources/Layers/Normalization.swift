// Normalisation layers over channels-last tensors: BatchNorm, LayerNorm, ChannelNorm, GroupNorm.
//
// The channel axis is always the last one ([N, C], [N, T, C], [N, H, W, C]).

import TensorCore

/// Batch normalisation over every axis but the last (PyTorch `BatchNorm1d`/`BatchNorm2d` on channels-last data).
///
/// Training: normalises with the batch mean and biased variance and updates the running statistics with
/// `momentum` (the running variance uses the unbiased estimate, as PyTorch). Evaluation: uses the running statistics.
/// Parameters `weight`, `bias` `[C]`; buffers `running_mean`, `running_var` `[C]`, `num_batches_tracked` `[]`.
///
/// ### References
/// - Ioffe and Szegedy 2015, "Batch normalization".
public final class BatchNorm: UnaryLayer {
    /// The affine scale and shift `[C]` (nil without `affine`).
    public let weight: Tensor?, bias: Tensor?
    /// The running statistics `[C]` and the count of batches seen `[]` (buffers).
    public let runningMean: Tensor, runningVariance: Tensor, batchesTracked: Tensor
    /// The running statistics' update weight and the variance's ε.
    public let momentum: Float, epsilon: Float
    public var isTraining = true
    /// The ranks whose batches share the statistics in training (synchronised batch norm, as PyTorch's
    /// `SyncBatchNorm`); nil or one rank: this process's batch alone. Set by `Layer.synchronizeBatchNorm(over:)`.
    public var world: (any Collective)?

    /// Batch norm over `features` channels, with PyTorch's defaults.
    public init(features: Int, momentum: Float = 0.1, epsilon: Float = 1e-5, affine: Bool = true) {
        weight = affine ? Initialization.constant([features], value: 1) : nil
        bias = affine ? Initialization.constant([features], value: 0) : nil
        runningMean = Tensor.zeros([features])
        runningVariance = Tensor.ones([features])
        batchesTracked = Tensor.zeros([])
        self.momentum = momentum
        self.epsilon = epsilon
    }

    public var ownParameters: [(name: String, tensor: Tensor)] {
        guard let weight, let bias else { return [] }
        return [("weight", weight), ("bias", bias)]
    }

    public var ownBuffers: [(name: String, tensor: Tensor)] {
        [("running_mean", runningMean), ("running_var", runningVariance), ("num_batches_tracked", batchesTracked)]
    }

    public func callAsFunction(_ input: Tensor) -> Tensor { callAsFunction(input, adding: nil, relu: false) }

    /// relu(norm(input) + residual) (each part optional), fused into the normalisation in training mode; `sums`,
    /// when the op that wrote `input` computed them (`conv2dWithChannelSums`), spare the statistics pass.
    public func callAsFunction(_ input: Tensor, adding residual: Tensor?, relu: Bool, sums: ChannelSums? = nil) -> Tensor {
        let c = runningMean.count
        precondition(input.rank >= 2 && input.shape.last == c, "BatchNorm expects [..., \(c)], found \(input.shape)")
        guard isTraining else {
            var y = input.batchNormalized(mean: runningMean, variance: runningVariance, weight: weight, bias: bias, epsilon: epsilon)
            if let residual { y = y + residual }
            return relu ? y.relu() : y
        }
        let synchronized = (world?.size ?? 1) > 1
        precondition(input.count / c > 1 || synchronized, "BatchNorm in training needs more than one value per channel, found \(input.shape)")
        let (output, mean, variance) = input.batchNormalized(weight: weight, bias: bias, epsilon: epsilon,
                                                             adding: residual, relu: relu, world: world, sums: sums)
        // The statistics' row count over every rank (the unbiased variance of the running statistics uses it).
        let count = (input.count / c) * (synchronized ? world!.size : 1)
        let unbiased = Float(count) / Float(count - 1), m = momentum
        runningMean.withUnsafeMutableBufferPointer { r in for j in 0..<c { r[j] = r[j] * (1 - m) + mean[j] * m } }
        runningVariance.withUnsafeMutableBufferPointer { r in for j in 0..<c { r[j] = r[j] * (1 - m) + variance[j] * unbiased * m } }
        batchesTracked.withUnsafeMutableBufferPointer { $0[0] += 1 }
        return output
    }
}

/// Layer normalisation over the last `normalizedShape.count` axes (PyTorch `LayerNorm`; biased variance).
/// Parameters `weight`, `bias` of `normalizedShape`.
///
/// ### References
/// - Ba, Kiros and Hinton 2016, "Layer normalization".
public final class LayerNorm: UnaryLayer {
    /// The affine scale and shift of `normalizedShape` (nil without `affine`).
    public let weight: Tensor?, bias: Tensor?
    /// The normalised trailing shape and the variance's ε.
    public let normalizedShape: [Int], epsilon: Float
    public var isTraining = true

    /// Layer norm over the trailing axes `normalizedShape`.
    public init(normalizedShape: [Int], epsilon: Float = 1e-5, affine: Bool = true) {
        self.normalizedShape = normalizedShape
        self.epsilon = epsilon
        weight = affine ? Initialization.constant(normalizedShape, value: 1) : nil
        bias = affine ? Initialization.constant(normalizedShape, value: 0) : nil
    }

    /// Layer norm over the last axis of width `features`.
    public convenience init(features: Int, epsilon: Float = 1e-5) { self.init(normalizedShape: [features], epsilon: epsilon) }

    public var ownParameters: [(name: String, tensor: Tensor)] {
        guard let weight, let bias else { return [] }
        return [("weight", weight), ("bias", bias)]
    }

    public func callAsFunction(_ input: Tensor) -> Tensor {
        precondition(Array(input.shape.suffix(normalizedShape.count)) == normalizedShape,
                     "LayerNorm over \(normalizedShape) does not fit \(input.shape)")
        if normalizedShape.count == 1 {
            return input.normalizedOverLastAxis(weight: weight, bias: bias, epsilon: epsilon, unbiasedVariance: false)
        }
        let axes = Array((input.rank - normalizedShape.count)..<input.rank)
        let centered = input - input.mean(alongAxes: axes, keepingDimensions: true)
        let variance = centered.squared().mean(alongAxes: axes, keepingDimensions: true)
        let normalized = centered / (variance + epsilon).sqrt()
        guard let weight, let bias else { return normalized }
        return normalized * weight + bias
    }
}

/// Channel normalisation of the modified CPC (Rivière et al. 2020): each time step's channel vector is normalised
/// with its own mean and unbiased variance, then scaled and shifted per channel. Unlike batch norm, no statistic
/// crosses sequences or time steps, so nothing leaks between the positive and the negatives.
/// Shape: `[…, C] → […, C]`. Parameters `weight`, `bias` `[C]`.
///
/// ### References
/// - Rivière et al. 2020, "Unsupervised pretraining transfers well across languages".
public final class ChannelNorm: UnaryLayer {
    /// The per-channel scale and shift `[C]` (nil without `affine`).
    public let weight: Tensor?, bias: Tensor?
    /// Added to the variance.
    public let epsilon: Float
    public var isTraining = true

    /// Channel norm over `features` channels.
    public init(features: Int, epsilon: Float = 1e-5, affine: Bool = true) {
        self.epsilon = epsilon
        weight = affine ? Initialization.constant([features], value: 1) : nil
        bias = affine ? Initialization.constant([features], value: 0) : nil
    }

    public var ownParameters: [(name: String, tensor: Tensor)] {
        guard let weight, let bias else { return [] }
        return [("weight", weight), ("bias", bias)]
    }

    public func callAsFunction(_ input: Tensor) -> Tensor {
        input.normalizedOverLastAxis(weight: weight, bias: bias, epsilon: epsilon, unbiasedVariance: true)
    }
}

/// Group normalisation (PyTorch `GroupNorm`) on channels-last data: channels split into `groups`, each normalised
/// over its channels and every non-batch position. `GroupNorm(groups: 1)` is the layer norm of conv features.
/// Parameters `weight`, `bias` `[C]`.
///
/// ### References
/// - Wu and He 2018, "Group normalization".
public final class GroupNorm: UnaryLayer {
    /// The per-channel scale and shift `[C]` (nil without `affine`).
    public let weight: Tensor?, bias: Tensor?
    /// The number of groups and the variance's ε.
    public let groups: Int, epsilon: Float
    public var isTraining = true

    /// Group norm of `channels` channels in `groups` groups.
    public init(groups: Int, channels: Int, epsilon: Float = 1e-5, affine: Bool = true) {
        precondition(channels % groups == 0, "GroupNorm: \(channels) channels not divisible by \(groups) groups")
        self.groups = groups
        self.epsilon = epsilon
        weight = affine ? Initialization.constant([channels], value: 1) : nil
        bias = affine ? Initialization.constant([channels], value: 0) : nil
    }

    public var ownParameters: [(name: String, tensor: Tensor)] {
        guard let weight, let bias else { return [] }
        return [("weight", weight), ("bias", bias)]
    }

    public func callAsFunction(_ input: Tensor) -> Tensor {
        let n = input.shape[0], c = input.shape.last!
        if groups == 1 {
            // Layer norm of each sample: one contiguous row per sample, through the fused kernel.
            let normalized = input.reshaped([n, input.count / n])
                .normalizedOverLastAxis(weight: nil, bias: nil, epsilon: epsilon, unbiasedVariance: false).reshaped(input.shape)
            guard let weight, let bias else { return normalized }
            return normalized * weight + bias
        }
        let grouped = input.reshaped([n, -1, groups, c / groups])
        let centered = grouped - grouped.mean(alongAxes: [1, 3], keepingDimensions: true)
        let variance = centered.squared().mean(alongAxes: [1, 3], keepingDimensions: true)
        let normalized = (centered / (variance + epsilon).sqrt()).reshaped(input.shape)
        guard let weight, let bias else { return normalized }
        return normalized * weight + bias
    }
}

/// Inverted dropout: in training, zeroes each element with probability `probability` and scales the rest by
/// 1/(1 − p); in evaluation, the identity. Draws come from the layer's own seeded generator.
///
/// ### References
/// - Srivastava et al. 2014, "Dropout: a simple way to prevent neural networks from overfitting".
public final class Dropout: UnaryLayer {
    /// The probability of zeroing an element.
    public let probability: Float
    /// The layer's own generator (its state is part of a checkpoint's random states).
    public var generator: RandomGenerator
    public var isTraining = true

    /// Dropout with drop probability `probability` and its own generator.
    public init(probability: Float, generator: RandomGenerator) {
        precondition(probability >= 0 && probability < 1, "Dropout probability must be in [0, 1), got \(probability)")
        self.probability = probability
        self.generator = generator
    }

    public var ownParameters: [(name: String, tensor: Tensor)] { [] }

    public func callAsFunction(_ input: Tensor) -> Tensor {
        guard isTraining, probability > 0 else { return input }
        let keep = 1 - probability
        let mask = Tensor.uniform(input.shape, generator: &generator)
        mask.withUnsafeMutableBufferPointer { buffer in
            for i in 0..<buffer.count { buffer[i] = buffer[i] < keep ? 1 / keep : 0 }
        }
        return input * mask
    }
}
