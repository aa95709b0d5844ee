// Barlow Twins' redundancy-reduction loss (Zbontar et al. 2021): the cross-correlation C of the two views'
// embeddings, each standardised over the batch, is pushed towards the identity — diagonal entries to 1 (invariance),
// off-diagonal entries to 0 (decorrelation). A composite of primitives, so its gradient is theirs.
//
// Glossary: N images, D embedding width, λ off-diagonal weight.

import TensorCore

/// Barlow Twins' loss over the cross-correlation of two views' embeddings.
///
/// ### References
/// - Zbontar et al. 2021, "Barlow Twins: self-supervised learning via redundancy reduction".
public enum CrossCorrelation {
    /// C = ẑ_aᵀ ẑ_b / N, each view standardised over the batch by batch norm without affine parameters (biased
    /// variance, ε 1e-5), as the paper's code. Shapes: `first`, `second` `[N, D]` → `[D, D]`.
    public static func matrix(_ first: Tensor, _ second: Tensor) -> Tensor {
        precondition(first.rank == 2 && first.shape == second.shape && first.shape[0] >= 2,
                     "the cross-correlation expects two [N, D] embeddings with N >= 2, found \(first.shape), \(second.shape)")
        func standardized(_ z: Tensor) -> Tensor { z.batchNormalized(weight: nil, bias: nil, epsilon: 1e-5).output }
        return matmul(standardized(first), standardized(second), transposeA: true) * (1 / Float(first.shape[0]))
    }

    /// scale · (Σ_i (1 − C_ii)² + λ Σ_{i≠j} C_ij²). Shapes: `first`, `second` `[N, D]` → `[]`.
    public static func loss(_ first: Tensor, _ second: Tensor, offDiagonalWeight lambda: Float = 5e-3, scale: Float = 1) -> Tensor {
        loss(correlation: matrix(first, second), offDiagonalWeight: lambda, scale: scale)
    }

    /// The same loss from a cross-correlation matrix already computed. Shape: `[D, D] → []`.
    public static func loss(correlation c: Tensor, offDiagonalWeight lambda: Float = 5e-3, scale: Float = 1) -> Tensor {
        precondition(c.rank == 2 && c.shape[0] == c.shape[1], "the cross-correlation must be square, found \(c.shape)")
        let d = c.shape[0]
        var identity = [Float](repeating: 0, count: d * d), weights = [Float](repeating: lambda, count: d * d)
        for i in 0..<d { (identity[i * d + i], weights[i * d + i]) = (1, 1) }
        return ((c - Tensor(identity, shape: [d, d])).squared() * Tensor(weights, shape: [d, d])).sum() * scale
    }
}
