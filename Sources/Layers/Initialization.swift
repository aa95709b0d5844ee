// Parameter initialisation matching PyTorch's defaults.

import TensorCore

/// PyTorch's default initialisations, drawn from a `RandomGenerator`.
public enum Initialization {
    /// PyTorch's default for Linear and Conv weights: kaiming_uniform_(a=√5), i.e. U(−1/√fanIn, 1/√fanIn).
    public static func kaimingUniform(_ shape: [Int], fanIn: Int, generator: inout RandomGenerator) -> Tensor {
        uniformBound(shape, bound: 1 / Float(max(fanIn, 1)).squareRoot(), generator: &generator)
    }

    /// U(−bound, bound): PyTorch's bias default (bound 1/√fanIn) and recurrent default (bound 1/√hidden).
    public static func uniformBound(_ shape: [Int], bound: Float, generator: inout RandomGenerator) -> Tensor {
        let t = Tensor.uniform(shape, low: -bound, high: bound, generator: &generator)
        t.requiresGrad = true
        return t
    }

    /// A trainable tensor filled with `value` (norm weights and biases).
    public static func constant(_ shape: [Int], value: Float) -> Tensor {
        let t = Tensor(repeating: value, shape: shape)
        t.requiresGrad = true
        return t
    }
}
