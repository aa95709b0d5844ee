// The dimensional-collapse diagnostic (Jing, Vincent, LeCun and Tian 2022, "Understanding dimensional collapse in
// contrastive self-supervised learning"): the singular values of the covariance of a representation over a fixed
// batch of images, sorted, on a log scale. A representation that uses only r of its D dimensions shows D − r values
// at the floor even when the collapse monitor (the spread of the normalised outputs) looks healthy.
//
// Glossary: N images, D representation width.

import Foundation
import TensorCore

/// The spectrum of a representation's covariance and its summaries.
///
/// ### References
/// - Jing, Vincent, LeCun and Tian 2022, "Understanding dimensional collapse in contrastive self-supervised learning".
/// - Roy and Vetterli 2007, "The effective rank: a measure of effective dimensionality".
public struct EmbeddingSpectrum: Sendable, Equatable {
    /// Singular values of the covariance, largest first (non-negative; the covariance is symmetric positive
    /// semi-definite, so these are its eigenvalues, with rounding below zero clamped to 0).
    public let singularValues: [Float]

    /// The spectrum of the biased covariance (1/N) Σ (z − z̄)(z − z̄)ᵀ of the rows of `representation` `[N, D]`.
    /// Throws when the representation holds non-finite values or the eigensolver fails.
    public init(of representation: Tensor) throws {
        precondition(representation.rank == 2 && representation.shape[0] >= 2,
                     "EmbeddingSpectrum expects [N, D] with N >= 2, found \(representation.shape)")
        let values: [Float] = try withoutGrad {
            let z = representation - representation.mean(alongAxis: 0, keepingDimensions: true)
            let covariance = matmul(z, z, transposeA: true) * (1 / Float(representation.shape[0]))
            guard covariance.scalars.allSatisfy(\.isFinite) else { throw LinearAlgebraError.eigendecompositionFailed(code: -1) }
            return try symmetricEigendecomposition(covariance).eigenvalues.scalars
        }
        singularValues = values.reversed().map { max($0, 0) }
    }

    /// Values already computed (read back from a log), largest first.
    public init(singularValues: [Float]) { self.singularValues = singularValues }

    /// exp of the entropy of the normalised singular values (Roy and Vetterli 2007): D for a flat spectrum, 1 when
    /// one direction holds all the variance, 0 for a constant representation.
    public var effectiveRank: Float {
        let total = singularValues.reduce(0, +)
        guard total > 0 else { return 0 }
        let entropy = singularValues.reduce(0.0) { sum, value in
            let p = Double(value / total)
            return p > 0 ? sum - p * Foundation.log(p) : sum
        }
        return Float(Foundation.exp(entropy))
    }

    /// Dimensions whose singular value is below `relativeFloor` times the largest: collapsed directions.
    public func collapsedDimensions(relativeFloor: Float = 1e-5) -> Int {
        guard let largest = singularValues.first, largest > 0 else { return singularValues.count }
        return singularValues.filter { $0 < relativeFloor * largest }.count
    }

    /// The representations a method's spectrum is read from, with their names in logs and reports:
    /// `backbone` (`.pooled`: what probes read) and `projector` (`.projection`: what the loss sees).
    public static let representations: [(name: String, request: FeatureRequest)] = [("backbone", .pooled), ("projector", .projection)]
}
