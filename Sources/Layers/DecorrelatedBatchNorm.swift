// Decorrelated batch normalisation (Huang et al. 2018): batch norm that whitens instead of standardising. The
// channels are split into groups; within each group the centred batch is multiplied by the inverse square root of
// its covariance (ZCA whitening), so that the group's outputs have identity covariance over the batch, then scaled
// and shifted per channel. ZCA (W = U Λ^-1/2 Uᵀ) is the paper's choice: PCA whitening (W = Λ^-1/2 Uᵀ) rotates
// the outputs onto the eigenvectors, whose order and signs change from batch to batch ("stochastic axis swapping"),
// and is kept here as an option to show that.
//
// Glossary: M rows (batch × positions), C channels, G channels per group, n_g = C / G groups.

import TensorCore

/// How decorrelated batch norm whitens a group.
public enum WhiteningKind: String, Sendable, Codable, CaseIterable {
    /// Zero-phase: W = Σ^-1/2 = U Λ^-1/2 Uᵀ (the outputs stay aligned with the inputs).
    case zca
    /// Principal components: W = Λ^-1/2 Uᵀ (the outputs are the scaled principal components).
    case pca
}

/// Decorrelated batch norm on `[..., C]` (channels last): per group of G channels, x̂ = W (x − μ) with
/// Σ = (1/M) Σ_m (x_m − μ)(x_m − μ)ᵀ + εI (biased, ε added before the decomposition, as the paper) and
/// W = Σ^-1/2 (ZCA) or Λ^-1/2 Uᵀ (PCA); then y = γ ∘ x̂ + β. In evaluation mode it uses the running mean and the
/// running whitening matrix, both updated with `momentum` as batch norm's running statistics.
///
/// Parameters `weight`, `bias` `[C]`; buffers `running_mean` `[C]`, `running_projection` `[n_g, G, G]` (the name of
/// the paper's code) and `num_batches_tracked` `[]`. The backward of ZCA goes through the Daleckii–Krein formula
/// (`symmetricInverseSquareRoot`), exact for repeated eigenvalues; PCA's goes through the eigenvectors' gradient,
/// truncated for near-repeated eigenvalues (`symmetricEigendecomposition`).
///
/// ### References
/// - Huang, Yang, Lang and Deng 2018, "Decorrelated batch normalization".
public final class DecorrelatedBatchNorm: UnaryLayer {
    /// The affine scale and shift `[C]` (nil without `affine`).
    public let weight: Tensor?, bias: Tensor?
    /// The running mean `[C]`, the running whitening matrices `[n_g, G, G]` and the count of batches seen `[]`.
    public let runningMean: Tensor, runningProjection: Tensor, batchesTracked: Tensor
    /// Channels per group (G).
    public let groupSize: Int
    /// ZCA or PCA.
    public let whitening: WhiteningKind
    /// The running statistics' update weight, and ε added to the covariance's diagonal.
    public let momentum: Float, epsilon: Float
    public var isTraining = true

    /// Decorrelated batch norm over `features` channels in groups of `groupSize` (which must divide `features`).
    public init(features: Int, groupSize: Int = 16, whitening: WhiteningKind = .zca, momentum: Float = 0.1,
                epsilon: Float = 1e-5, affine: Bool = true) {
        precondition(groupSize >= 1 && features % groupSize == 0,
                     "DecorrelatedBatchNorm: the group size \(groupSize) must divide the \(features) channels")
        weight = affine ? Initialization.constant([features], value: 1) : nil
        bias = affine ? Initialization.constant([features], value: 0) : nil
        runningMean = Tensor.zeros([features])
        let groups = features / groupSize
        var identities = [Float](repeating: 0, count: groups * groupSize * groupSize)
        for g in 0..<groups { for i in 0..<groupSize { identities[(g * groupSize + i) * groupSize + i] = 1 } }
        runningProjection = Tensor(identities, shape: [groups, groupSize, groupSize])
        batchesTracked = Tensor.zeros([])
        (self.groupSize, self.whitening, self.momentum, self.epsilon) = (groupSize, whitening, momentum, epsilon)
    }

    public var ownParameters: [(name: String, tensor: Tensor)] {
        guard let weight, let bias else { return [] }
        return [("weight", weight), ("bias", bias)]
    }

    public var ownBuffers: [(name: String, tensor: Tensor)] {
        [("running_mean", runningMean), ("running_projection", runningProjection), ("num_batches_tracked", batchesTracked)]
    }

    /// Channels (C).
    public var features: Int { runningMean.count }

    public func callAsFunction(_ input: Tensor) -> Tensor {
        let c = features
        precondition(input.rank >= 2 && input.shape.last == c, "DecorrelatedBatchNorm expects [..., \(c)], found \(input.shape)")
        let rows = input.count / c
        let x = input.reshaped([rows, c])
        var whitened: Tensor
        if isTraining {
            precondition(rows > 1, "DecorrelatedBatchNorm in training needs more than one row, found \(input.shape)")
            let mean = x.mean(alongAxis: 0, keepingDimensions: true)
            let centred = x - mean
            var groups: [Tensor] = []
            var projections: [Tensor] = []
            for g in 0..<(c / groupSize) {
                let block = channels(of: centred, group: g)
                let covariance = matmul(block, block, transposeA: true) * (1 / Float(rows)) + Tensor.identity(groupSize) * epsilon
                guard let projection = whiteningMatrix(covariance) else {
                    // A decomposition that failed (non-finite input): NaN outputs, which the trainer's guard reports.
                    return Tensor.full(input.shape, value: .nan)
                }
                groups.append(matmul(block, projection, transposeB: true))
                projections.append(projection.detached())
            }
            whitened = groups.count == 1 ? groups[0] : Tensor.concatenate(groups, alongAxis: 1)
            updateRunningStatistics(mean: mean.detached(), projections: projections)
        } else {
            let centred = x - runningMean.reshaped([1, c])
            var groups: [Tensor] = []
            for g in 0..<(c / groupSize) {
                let block = channels(of: centred, group: g)
                let projection = runningProjection.sliced(alongAxis: 0, start: g, length: 1).reshaped([groupSize, groupSize])
                groups.append(matmul(block, projection, transposeB: true))
            }
            whitened = groups.count == 1 ? groups[0] : Tensor.concatenate(groups, alongAxis: 1)
        }
        if let weight, let bias { whitened = whitened * weight.reshaped([1, c]) + bias.reshaped([1, c]) }
        return whitened.reshaped(input.shape)
    }

    /// The columns of group `g` of `x` `[M, C]` (all of `x` when there is one group).
    private func channels(of x: Tensor, group g: Int) -> Tensor {
        groupSize == features ? x : x.sliced(alongAxis: 1, start: g * groupSize, length: groupSize)
    }

    /// W of one group's covariance (with gradient), or nil when the decomposition fails.
    private func whiteningMatrix(_ covariance: Tensor) -> Tensor? {
        switch whitening {
        case .zca:
            return try? symmetricInverseSquareRoot(covariance)
        case .pca:
            guard let (values, vectors) = try? symmetricEigendecomposition(covariance),
                  values.scalars.allSatisfy({ $0 > 0 }) else { return nil }
            // Λ^-1/2 Uᵀ: row i is eigenvector i scaled by 1/√λ_i.
            return vectors.transposed() / values.sqrt().reshaped([groupSize, 1])
        }
    }

    private func updateRunningStatistics(mean: Tensor, projections: [Tensor]) {
        let m = momentum, g2 = groupSize * groupSize
        mean.withUnsafeBufferPointer { batch in
            runningMean.withUnsafeMutableBufferPointer { r in for j in r.indices { r[j] = r[j] * (1 - m) + batch[j] * m } }
        }
        runningProjection.withUnsafeMutableBufferPointer { r in
            for (g, projection) in projections.enumerated() {
                projection.withUnsafeBufferPointer { w in
                    for k in 0..<g2 { r[g * g2 + k] = r[g * g2 + k] * (1 - m) + w[k] * m }
                }
            }
        }
        batchesTracked.withUnsafeMutableBufferPointer { $0[0] += 1 }
    }
}
