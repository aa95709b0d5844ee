// The transformer layer of CPC_audio's transformer predictor (facebookresearch/CPC_audio, cpc/transformers.py, the
// modified CPC of Rivière et al. 2020): causal multi-head self-attention with a learned relative-position term,
// post-norm residual blocks and a ReLU feed-forward network. Parameter names are CPC_audio's. No dropout (CPC_audio's
// 0.1 on the attention weights and the feed-forward hidden layer is a training detail left out here).
//
// Glossary: N sequences, T positions (T ≤ S), E model width, A heads, D = E / A per head, S the positions the
// relative table covers, F feed-forward width.

import TensorCore

/// Causal multi-head self-attention whose score of query position i for key position j ≤ i is
/// (q_i · k_j + q_i · r_{i−j}) / √D, with r_d = `Krelpos[:, S − 1 − d]` shared by the heads: the layout CPC_audio's
/// "skew" (a zero column, a reshape and a dropped row of q·Krelpos) implies. Parameters `Wq`, `Wk`, `Wv`, `Wo`
/// (bias-free `[E, E]`) and `Att.Krelpos` `[D, S]`. Shape: `[N, T, E] → [N, T, E]`, T ≤ S.
public final class RelativePositionAttention: Layer {
    /// The projections (bias-free).
    public let query: Linear, key: Linear, value: Linear, output: Linear
    /// Krelpos `[D, S]`: one key-side vector per relative distance.
    public let relativePositions: Tensor
    /// A heads.
    public let heads: Int
    public var isTraining = true

    /// Attention of width E with `heads` heads over sequences of at most `positions` frames, initialised as CPC_audio's
    /// (PyTorch's `nn.Linear` for the projections, Krelpos uniform in ±1/√D).
    public init(width: Int, heads: Int, positions: Int, generator: inout RandomGenerator) {
        precondition(width % heads == 0 && positions > 0, "attention width \(width) is not divisible by \(heads) heads")
        self.heads = heads
        output = Linear(inputSize: width, outputSize: width, bias: false, generator: &generator)
        key = Linear(inputSize: width, outputSize: width, bias: false, generator: &generator)
        query = Linear(inputSize: width, outputSize: width, bias: false, generator: &generator)
        value = Linear(inputSize: width, outputSize: width, bias: false, generator: &generator)
        let d = width / heads
        relativePositions = Initialization.uniformBound([d, positions], bound: 1 / Float(d).squareRoot(), generator: &generator)
    }

    public var ownParameters: [(name: String, tensor: Tensor)] { [("Att.Krelpos", relativePositions)] }
    public var children: [(name: String, layer: any Layer)] { [("Wo", output), ("Wk", key), ("Wq", query), ("Wv", value)] }

    /// The key index of q·Krelpos that query i uses for key j: S − 1 − (i − j) for j ≤ i (S − 1 above the
    /// diagonal, where the causal mask removes the score), for `batch` × T × T scores.
    public static func relativeIndices(batch: Int, length t: Int, positions s: Int) -> [Int] {
        var one = [Int](repeating: s - 1, count: t * t)
        for i in 0..<t { for j in 0...i { one[i * t + j] = s - 1 - (i - j) } }
        return Array([[Int]](repeating: one, count: batch).joined())
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        let (n, t, e) = (x.shape[0], x.shape[1], x.shape[2])
        let d = e / heads, s = relativePositions.shape[1]
        precondition(t <= s, "a sequence of \(t) positions is longer than the \(s) the relative-position table covers")
        func split(_ projected: Tensor) -> Tensor {  // [N, T, E] → [N·A, T, D]
            projected.reshaped([n, t, heads, d]).permuted([0, 2, 1, 3]).reshaped([n * heads, t, d])
        }
        let q = split(query(x)), k = split(key(x)), v = split(value(x))
        let relative = matmul(q, relativePositions)  // [N·A, T, S]
            .gather(alongAxis: 2, indices: Self.relativeIndices(batch: n * heads, length: t, positions: s), indexShape: [n * heads, t, t])
        let mask = Tensor((0..<(t * t)).map { ($0 % t) > ($0 / t) ? -Float.infinity : 0 }, shape: [t, t])
        let scores = (matmul(q, k, transposeB: true) + relative) * (1 / Float(d).squareRoot()) + mask
        let attended = matmul(scores.softmax(alongAxis: -1), v)  // [N·A, T, D]
        return output(attended.reshaped([n, heads, t, d]).permuted([0, 2, 1, 3]).reshaped([n, t, e]))
    }
}

/// CPC_audio's transformer layer: y = LN(x + attention(x)); out = LN(y + lin2(relu(lin1(y)))). Names `multihead.*`,
/// `ln_multihead`, `ffnetwork.lin1`, `ffnetwork.lin2`, `ln_ffnetwork`. Shape `[N, T, E] → [N, T, E]`.
public final class RelativePositionTransformerLayer: UnaryLayer {
    /// The attention block.
    public let attention: RelativePositionAttention
    /// The feed-forward network `[E] → [F] → [E]`.
    public let linear1: Linear, linear2: Linear
    /// The post-norms after the attention and the feed-forward blocks.
    public let norm1: LayerNorm, norm2: LayerNorm
    public var isTraining = true

    /// A layer of width E, `heads` heads, feed-forward width F, for sequences of at most `positions` frames.
    public init(width: Int, heads: Int, feedForward: Int, positions: Int, generator: inout RandomGenerator) {
        attention = RelativePositionAttention(width: width, heads: heads, positions: positions, generator: &generator)
        norm1 = LayerNorm(normalizedShape: [width])
        linear1 = Linear(inputSize: width, outputSize: feedForward, generator: &generator)
        linear2 = Linear(inputSize: feedForward, outputSize: width, generator: &generator)
        norm2 = LayerNorm(normalizedShape: [width])
    }

    public var ownParameters: [(name: String, tensor: Tensor)] { [] }
    public var children: [(name: String, layer: any Layer)] {
        [("multihead", attention), ("ln_multihead", norm1), ("ffnetwork.lin1", linear1), ("ffnetwork.lin2", linear2), ("ln_ffnetwork", norm2)]
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        let y = norm1(x + attention(x))
        return norm2(y + linear2(linear1(y).relu()))
    }
}
