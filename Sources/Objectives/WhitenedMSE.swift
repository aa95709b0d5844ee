// W-MSE's loss (Ermolov et al. 2021): whiten each view's embeddings over sub-batches, so that the embedding space
// cannot collapse (whitened outputs have identity covariance by construction), then pull the views of each image
// together with the normalised MSE, 2 − 2·cos. The whitening matrix is W = L⁻¹ from the Cholesky factor of the
// sub-batch covariance, Σ = L Lᵀ (LAPACK, with its gradient); the sub-batch indices are a random permutation of the
// batch, the same for every view, redrawn `iterations` times.
//
// Glossary: N images per view, V views, D embedding width, w the sub-batch size, i the whitening iterations.

import TensorCore

/// A W-MSE configuration that cannot work, with the config key to change.
public struct WhitenedMSEError: Error, CustomStringConvertible, Equatable {
    /// The config key at fault (`model.whitening_size`, `data.batch_size`).
    public let key: String
    /// What was expected and what was found.
    public let message: String
    public var description: String { "\(key): \(message)" }
}

/// W-MSE's whitening and loss.
///
/// ### References
/// - Ermolov, Siarohin, Sangineto and Sebe 2021, "Whitening for self-supervised representation learning".
public enum WhitenedMSE {
    /// Whitens `x` `[w, D]` over its rows: (x − mean) Wᵀ with W = L⁻¹, L the lower Cholesky factor of
    /// (1 − s)·Σ + s·I, Σ the unbiased covariance (the paper's code; s the shrinkage, 0 there). The result has
    /// identity unbiased covariance. Throws `LinearAlgebraError` when the covariance is singular (w ≤ D, or collapsed
    /// dimensions) and s is 0.
    public static func whiten(_ x: Tensor, shrinkage: Float = 0) throws -> Tensor {
        precondition(x.rank == 2 && x.shape[0] >= 2, "whiten expects [w, D] with w >= 2, found \(x.shape)")
        let (w, d) = (x.shape[0], x.shape[1])
        let centred = x - x.mean(alongAxis: 0, keepingDimensions: true)
        var covariance = matmul(centred, centred, transposeA: true) * (1 / Float(w - 1))
        let eye = Tensor.identity(d)
        if shrinkage != 0 { covariance = covariance * (1 - shrinkage) + eye * shrinkage }
        let factor = try cholesky(covariance)
        let inverse = triangularSolve(factor, eye)  // W = L⁻¹
        return matmul(centred, inverse, transposeB: true)
    }

    /// Checks W-MSE's sizes: at least two views, `subBatch` ≥ 2·D (the paper's rule: a smaller sub-batch gives a badly
    /// conditioned covariance) and dividing the N images. Errors name the config key.
    public static func validate(views: Int, images: Int?, width: Int, subBatch: Int, iterations: Int) throws {
        if views < 2 { throw WhitenedMSEError(key: "data.views", message: "W-MSE compares views: it needs 2 or more, found \(views)") }
        if subBatch < 2 * width {
            throw WhitenedMSEError(key: "model.whitening_size", message: "must be at least twice the embedding width "
                + "(2 × \(width) = \(2 * width)) for a well-conditioned covariance, found \(subBatch)")
        }
        if iterations < 1 { throw WhitenedMSEError(key: "model.whitening_iterations", message: "must be at least 1, found \(iterations)") }
        if let images, images % subBatch != 0 {
            throw WhitenedMSEError(key: "data.batch_size", message: "must be a multiple of model.whitening_size (\(subBatch)), found \(images)")
        }
    }

    /// The loss of `views` (each `[N, D]`, row n of every view the same image) for the given permutations of the N
    /// rows (one per whitening iteration, each cut into sub-batches of `subBatch` consecutive entries):
    /// 2 − 2·mean over iterations, view pairs and rows of cos(whitened a, whitened b).
    public static func loss(_ views: [Tensor], subBatch: Int, permutations: [[Int]], shrinkage: Float = 0) throws -> Tensor {
        precondition(views.count >= 2 && views.allSatisfy { $0.rank == 2 && $0.shape == views[0].shape },
                     "W-MSE expects two or more views of the same shape [N, D], found \(views.map(\.shape))")
        let n = views[0].shape[0]
        precondition(!permutations.isEmpty && permutations.allSatisfy { $0.count == n } && n % subBatch == 0,
                     "W-MSE: permutations of the \(n) rows cut into sub-batches of \(subBatch)")
        var total: Tensor?
        for permutation in permutations {
            for start in stride(from: 0, to: n, by: subBatch) {
                let rows = Array(permutation[start..<(start + subBatch)])
                let whitened = try views.map { try whiten($0.indexSelect(alongAxis: 0, indices: rows), shrinkage: shrinkage) }
                for a in 0..<views.count {
                    for b in (a + 1)..<views.count {
                        let agreement = cosineSimilarity(whitened[a], whitened[b], alongAxis: 1, epsilon: 1e-12).sum()
                        total = total.map { $0 + agreement } ?? agreement
                    }
                }
            }
        }
        let pairs = views.count * (views.count - 1) / 2
        return 2 - total! * (2 / Float(n * pairs * permutations.count))
    }
}
