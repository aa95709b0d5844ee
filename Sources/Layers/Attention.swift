// Multi-head self-attention and the transformer encoder layer (PyTorch's `nn.TransformerEncoderLayer`, post-norm,
// ReLU, no dropout), with an optional causal mask. Used as CPC's optional transformer predictor.
//
// Glossary: N sequences, T positions, E model width, A heads, D = E / A per head, F feed-forward width.

import TensorCore

/// Multi-head self-attention. Parameters as PyTorch's `nn.MultiheadAttention`: `in_proj_weight` `[3E, E]`,
/// `in_proj_bias` `[3E]`, `out_proj.weight` `[E, E]`, `out_proj.bias` `[E]`. Shape: `[N, T, E] → [N, T, E]`.
///
/// ### References
/// - Vaswani et al. 2017, "Attention is all you need".
public final class MultiheadSelfAttention: Layer {
    /// The fused query/key/value projection: `in_proj_weight` `[3E, E]` and `in_proj_bias` `[3E]`.
    public let inputProjectionWeight: Tensor, inputProjectionBias: Tensor
    /// `out_proj`: `[E] → [E]`.
    public let outputProjection: Linear
    /// The number of heads A (E must be divisible by it).
    public let heads: Int
    public var isTraining = true

    /// Attention of model width E with `heads` heads, initialised as PyTorch's.
    public init(width: Int, heads: Int, generator: inout RandomGenerator) {
        precondition(width % heads == 0, "attention width \(width) is not divisible by \(heads) heads")
        self.heads = heads
        // PyTorch: xavier_uniform_ for in_proj_weight (bound √(6 / (E + 3E))), zeros for the biases.
        let bound = (6 / Float(width + 3 * width)).squareRoot()
        inputProjectionWeight = Initialization.uniformBound([3 * width, width], bound: bound, generator: &generator)
        inputProjectionBias = Initialization.constant([3 * width], value: 0)
        outputProjection = Linear(inputSize: width, outputSize: width, generator: &generator)
        outputProjection.bias?.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
    }

    public var ownParameters: [(name: String, tensor: Tensor)] {
        [("in_proj_weight", inputProjectionWeight), ("in_proj_bias", inputProjectionBias)]
    }
    public var children: [(name: String, layer: any Layer)] { [("out_proj", outputProjection)] }

    public func callAsFunction(_ x: Tensor, causal: Bool) -> Tensor {
        let (n, t, e) = (x.shape[0], x.shape[1], x.shape[2])
        let d = e / heads
        let projected = matmul(x, inputProjectionWeight, transposeB: true) + inputProjectionBias  // [N, T, 3E]
        func split(_ part: Int) -> Tensor {  // → [N·A, T, D]
            projected.sliced(alongAxis: 2, start: part * e, length: e).reshaped([n, t, heads, d])
                .permuted([0, 2, 1, 3]).reshaped([n * heads, t, d])
        }
        let q = split(0) * (1 / Float(d).squareRoot()), k = split(1), v = split(2)
        var scores = matmul(q, k, transposeB: true)  // [N·A, T, T]
        if causal {
            // −∞ above the diagonal: position i attends to positions ≤ i only.
            let mask = Tensor((0..<(t * t)).map { ($0 % t) > ($0 / t) ? -Float.infinity : 0 }, shape: [t, t])
            scores = scores + mask
        }
        let attended = matmul(scores.softmax(alongAxis: -1), v)  // [N·A, T, D]
        let merged = attended.reshaped([n, heads, t, d]).permuted([0, 2, 1, 3]).reshaped([n, t, e])
        return outputProjection(merged)
    }
}

/// A transformer encoder layer: x ← norm1(x + attention(x)); x ← norm2(x + linear2(relu(linear1(x)))).
/// Names as PyTorch's `nn.TransformerEncoderLayer`: `self_attn.*`, `linear1`, `linear2`, `norm1`, `norm2`.
public final class TransformerEncoderLayer: Layer {
    /// `self_attn`.
    public let attention: MultiheadSelfAttention
    /// The feed-forward network: `linear1` `[E] → [F]`, `linear2` `[F] → [E]`.
    public let linear1: Linear, linear2: Linear
    /// The post-norms after the attention and after the feed-forward network.
    public let norm1: LayerNorm, norm2: LayerNorm
    /// Whether position t attends to positions ≤ t only.
    public let causal: Bool
    public var isTraining = true

    /// A layer of model width E (`width`), `heads` heads and feed-forward width F (`feedForward`).
    public init(width: Int, heads: Int, feedForward: Int, causal: Bool, generator: inout RandomGenerator) {
        attention = MultiheadSelfAttention(width: width, heads: heads, generator: &generator)
        linear1 = Linear(inputSize: width, outputSize: feedForward, generator: &generator)
        linear2 = Linear(inputSize: feedForward, outputSize: width, generator: &generator)
        norm1 = LayerNorm(features: width)
        norm2 = LayerNorm(features: width)
        self.causal = causal
    }

    public var ownParameters: [(name: String, tensor: Tensor)] { [] }
    public var children: [(name: String, layer: any Layer)] {
        [("self_attn", attention), ("linear1", linear1), ("linear2", linear2), ("norm1", norm1), ("norm2", norm2)]
    }

    /// `[N, T, E] → [N, T, E]`.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let attended = norm1(x + attention(x, causal: causal))
        return norm2(attended + linear2(linear1(attended).relu()))
    }
}
