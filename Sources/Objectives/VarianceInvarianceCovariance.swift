// VICReg's loss (Bardes, Ponce and LeCun 2022): invariance (the mean squared distance between the two views'
// embeddings), variance (a hinge keeping each dimension's standard deviation over the batch at least γ), covariance
// (the squared off-diagonal covariances, divided by D), weighted λ, μ, ν. The variance and covariance terms are
// averaged (variance) and summed (covariance) over the two views as in the paper's code; solo-learn sums both.
// A composite of primitives, so its gradient is theirs.
//
// Glossary: N images, D embedding width.

import TensorCore

/// VICReg's loss and its three terms.
///
/// ### References
/// - Bardes, Ponce and LeCun 2022, "VICReg: variance-invariance-covariance regularization for self-supervised
///   learning".
public enum VarianceInvarianceCovariance {
    /// The three terms, unweighted, and the weighted total.
    public struct Terms {
        /// mean over rows and dimensions of (z_a − z_b)².
        public let invariance: Tensor
        /// ½ Σ_views mean_d max(0, γ − √(Var_d + ε)) (unbiased variance over the batch).
        public let variance: Tensor
        /// Σ_views Σ_{i≠j} Cov_ij² / D (unbiased covariance over the batch).
        public let covariance: Tensor
        /// λ·invariance + μ·variance + ν·covariance.
        public let loss: Tensor
    }

    /// VICReg's terms for two views. Defaults: the paper's λ = μ = 25, ν = 1, γ = 1, ε = 1e-4.
    /// Shapes: `first`, `second` `[N, D]` (N ≥ 2) → scalars.
    public static func terms(_ first: Tensor, _ second: Tensor, invarianceWeight lambda: Float = 25, varianceWeight mu: Float = 25,
                             covarianceWeight nu: Float = 1, target gamma: Float = 1, epsilon: Float = 1e-4) -> Terms {
        precondition(first.rank == 2 && first.shape == second.shape && first.shape[0] >= 2,
                     "VICReg expects two [N, D] embeddings with N >= 2, found \(first.shape), \(second.shape)")
        let (n, d) = (first.shape[0], first.shape[1])
        let invariance = (first - second).squared().mean()
        func hinge(_ z: Tensor) -> Tensor {
            (gamma - (z.variance(alongAxis: 0, unbiased: true) + epsilon).sqrt()).relu().mean()
        }
        var offDiagonal = [Float](repeating: 1, count: d * d)
        for i in 0..<d { offDiagonal[i * d + i] = 0 }
        let mask = Tensor(offDiagonal, shape: [d, d])
        func covariance(_ z: Tensor) -> Tensor {
            let centred = z - z.mean(alongAxis: 0, keepingDimensions: true)
            let cov = matmul(centred, centred, transposeA: true) * (1 / Float(n - 1))
            return (cov.squared() * mask).sum() * (1 / Float(d))
        }
        let variance = (hinge(first) + hinge(second)) * 0.5
        let cov = covariance(first) + covariance(second)
        return Terms(invariance: invariance, variance: variance, covariance: cov,
                     loss: invariance * lambda + variance * mu + cov * nu)
    }
}
