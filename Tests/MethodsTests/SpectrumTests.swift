// The dimensional-collapse spectrum (issue 15; Jing et al. 2022): exact singular values of a covariance built by
// hand, the zero singular values of a deliberately collapsed embedding, the effective rank at its limits, and
// every image method giving its backbone and projector representations to the spectrum.

import Layers
import Methods
import Testing
import TensorCore

@Suite struct SpectrumTests {
    /// `n` rows of `d` columns with biased covariance exactly I (centred, then whitened by Σ^-1/2).
    func whiteRows(_ n: Int, _ d: Int, seed: UInt64) throws -> Tensor {
        var g = RandomGenerator(seed: seed)
        let x = Tensor.normal([n, d], generator: &g)
        let centred = x - x.mean(alongAxis: 0, keepingDimensions: true)
        return matmul(centred, try symmetricInverseSquareRoot(matmul(centred, centred, transposeA: true) * (1 / Float(n))))
    }

    @Test func singularValuesOfAKnownCovariance() throws {
        // White rows scaled per column by s have covariance diag(s²): the spectrum is s² sorted, largest first.
        let scales: [Float] = [0.5, 3, 1, 2]
        let z = try whiteRows(200, 4, seed: 1) * Tensor(scales, shape: [1, 4])
        let spectrum = try EmbeddingSpectrum(of: z)
        let expected: [Float] = [9, 4, 1, 0.25]
        #expect(zip(spectrum.singularValues, expected).allSatisfy { Swift.abs($0 - $1) < 1e-3 * $1 + 1e-4 }, "\(spectrum.singularValues)")
        // A flat spectrum has effective rank D; one direction holding everything, 1.
        #expect(Swift.abs(try EmbeddingSpectrum(of: try whiteRows(200, 8, seed: 2)).effectiveRank - 8) < 1e-2)
        #expect(Swift.abs(EmbeddingSpectrum(singularValues: [5, 0, 0]).effectiveRank - 1) < 1e-6)
        #expect(EmbeddingSpectrum(singularValues: [0, 0]).effectiveRank == 0)
    }

    @Test func aCollapsedEmbeddingShowsItsZeroSingularValues() throws {
        // 32-d embeddings that live in a 5-d subspace: 27 singular values at the floor, 5 well above it.
        var g = RandomGenerator(seed: 3)
        let z = matmul(Tensor.normal([512, 5], generator: &g), Tensor.normal([5, 32], generator: &g))
        let spectrum = try EmbeddingSpectrum(of: z)
        #expect(spectrum.singularValues.count == 32)
        #expect(spectrum.collapsedDimensions() == 27, "\(spectrum.singularValues)")
        #expect(spectrum.singularValues[4] > 1e-2 * spectrum.singularValues[0])
        #expect(spectrum.effectiveRank < 5.01)
        // Full-rank data of the same width: nothing collapsed.
        #expect(try EmbeddingSpectrum(of: Tensor.normal([512, 32], generator: &g)).collapsedDimensions() == 0)
    }

    @Test func everyImagePairMethodGivesBackboneAndProjectorRepresentations() throws {
        var input = InputShape(kind: .imageViews)
        input.channels = 1
        input.views = [.init(height: 8, width: 8), .init(height: 8, width: 8)]
        (input.trainingItems, input.batchSize) = (4096, 256)  // DeepCluster's memory and k-means, W-MSE's sub-batches
        var g = RandomGenerator(seed: 5)
        let images = Tensor.uniform([6, 8, 8, 1], low: -1, high: 1, generator: &g)
        for entry in MethodRegistry.builtIn where entry.input == .imageViews {
            let pair: any ImagePairConfig = try #require(entry.defaultConfig.value as? any ImagePairConfig)
            let method = try entry.make(AnyMethodConfig(sized(pair, width: 2, hidden: 8, output: 4)), input: input, seed: 1)
            method.model.setTraining(false)
            #expect(method.features(images, .pooled)?.shape == [6, 4], "\(entry.key)")
            #expect(method.features(images, .projection)?.shape == [6, 4], "\(entry.key)")
        }
    }
}
