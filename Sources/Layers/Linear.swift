// Fully connected and convolution layers (PyTorch parameter names and default initialisation).

import TensorCore

/// y = x·Wᵀ + b over the last axis. Shape: `[…, inputSize] → […, outputSize]`.
/// Parameters: `weight` `[outputSize, inputSize]`, `bias` `[outputSize]`.
public final class Linear: UnaryLayer {
    /// `[outputSize, inputSize]`.
    public let weight: Tensor
    /// `[outputSize]`, or nil without a bias.
    public let bias: Tensor?
    public var isTraining = true

    /// A layer `[…, inputSize] → […, outputSize]`, initialised as PyTorch's `nn.Linear`.
    public init(inputSize: Int, outputSize: Int, bias: Bool = true, generator: inout RandomGenerator) {
        weight = Initialization.kaimingUniform([outputSize, inputSize], fanIn: inputSize, generator: &generator)
        self.bias = bias
            ? Initialization.uniformBound([outputSize], bound: 1 / Float(inputSize).squareRoot(), generator: &generator)
            : nil
    }

    public var ownParameters: [(name: String, tensor: Tensor)] {
        [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
    }

    public func callAsFunction(_ input: Tensor) -> Tensor {
        precondition(input.shape.last == weight.shape[1], "Linear expects [..., \(weight.shape[1])], found \(input.shape)")
        let flat = input.rank == 2 ? input : input.reshaped([-1, weight.shape[1]])
        var y = matmul(flat, weight, transposeB: true)
        if let bias { y = y + bias }
        return input.rank == 2 ? y : y.reshaped(Array(input.shape.dropLast()) + [weight.shape[0]])
    }
}

/// 1-D convolution over `[N, T, C]`. Parameters: `weight` `[O, C/groups, K]`, `bias` `[O]`.
public final class Conv1d: UnaryLayer {
    /// `[O, C/groups, K]`.
    public let weight: Tensor
    /// `[O]`, or nil without a bias.
    public let bias: Tensor?
    /// The convolution's geometry along time.
    public let stride, padding, dilation, groups: Int
    public var isTraining = true

    /// A convolution `[N, T, inputChannels] → [N, T', outputChannels]`, initialised as PyTorch's `nn.Conv1d`.
    public init(inputChannels: Int, outputChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                dilation: Int = 1, groups: Int = 1, bias: Bool = true, generator: inout RandomGenerator) {
        precondition(inputChannels % groups == 0 && outputChannels % groups == 0, "Conv1d: channels not divisible by groups")
        let fanIn = inputChannels / groups * kernelSize
        weight = Initialization.kaimingUniform([outputChannels, inputChannels / groups, kernelSize], fanIn: fanIn,
                                               generator: &generator)
        self.bias = bias
            ? Initialization.uniformBound([outputChannels], bound: 1 / Float(fanIn).squareRoot(), generator: &generator)
            : nil
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
    }

    public var ownParameters: [(name: String, tensor: Tensor)] {
        [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
    }

    public func callAsFunction(_ input: Tensor) -> Tensor {
        conv1d(input, weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups)
    }
}

/// 2-D convolution over `[N, H, W, C]`. Parameters: `weight` `[O, C/groups, KH, KW]`, `bias` `[O]`.
public final class Conv2d: UnaryLayer {
    /// `[O, C/groups, KH, KW]`.
    public let weight: Tensor
    /// `[O]`, or nil without a bias.
    public let bias: Tensor?
    /// The geometry along (height, width).
    public let stride, padding, dilation: (Int, Int)
    /// Channel groups (1: an ordinary convolution).
    public let groups: Int
    public var isTraining = true

    /// A convolution `[N, H, W, inputChannels] → [N, H', W', outputChannels]`, initialised as PyTorch's `nn.Conv2d`.
    public init(inputChannels: Int, outputChannels: Int, kernelSize: (Int, Int), stride: (Int, Int) = (1, 1),
                padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groups: Int = 1, bias: Bool = true,
                generator: inout RandomGenerator) {
        precondition(inputChannels % groups == 0 && outputChannels % groups == 0, "Conv2d: channels not divisible by groups")
        let fanIn = inputChannels / groups * kernelSize.0 * kernelSize.1
        weight = Initialization.kaimingUniform([outputChannels, inputChannels / groups, kernelSize.0, kernelSize.1],
                                               fanIn: fanIn, generator: &generator)
        self.bias = bias
            ? Initialization.uniformBound([outputChannels], bound: 1 / Float(fanIn).squareRoot(), generator: &generator)
            : nil
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
    }

    public var ownParameters: [(name: String, tensor: Tensor)] {
        [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
    }

    public func callAsFunction(_ input: Tensor) -> Tensor {
        conv2d(input, weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups)
    }
}
