// Decorrelated batch norm (issue 15) against PyTorch (Tests/Fixtures/generate_decorrelation.py) in training and
// evaluation mode, ZCA and PCA; finite differences, including at an input whose covariance has one repeated
// eigenvalue (already white); identity covariance of the whitened output. The projector switch: WhiteningTests.

import Foundation
import Layers
import Testing
import TensorCore
import TestSupport

@Suite struct DecorrelatedBatchNormTests {
    let fixture: Fixture
    init() throws { fixture = try Fixture("decorrelation") }

    /// The biased covariance of the rows of `x` `[M, C]` within channels `start..<start + size`, minus I: its largest entry.
    func whiteness(_ x: Tensor, start: Int, size: Int) -> Float {
        let (m, c) = (x.shape[0], x.shape[1])
        let v = x.scalars
        let mean = (0..<size).map { j in (0..<m).reduce(Float(0)) { $0 + v[$1 * c + start + j] } / Float(m) }
        var worst: Float = 0
        for i in 0..<size {
            for j in 0..<size {
                let cov = (0..<m).reduce(Float(0)) { $0 + (v[$1 * c + start + i] - mean[i]) * (v[$1 * c + start + j] - mean[j]) } / Float(m)
                worst = Swift.max(worst, Swift.abs(cov - (i == j ? 1 : 0)))
            }
        }
        return worst
    }

    @Test func zcaMatchesPyTorchInTrainingAndEvaluation() throws {
        let name = "dbn_zca"
        let input = try fixture.tensor(name, "input")
        input.requiresGrad = true
        let layer = DecorrelatedBatchNorm(features: 6, groupSize: Int(try fixture.number(name, "group_size")),
                                          epsilon: Float(try fixture.number(name, "epsilon")))
        layer.weight!.assign(try fixture.tensor(name, "weight"))
        layer.bias!.assign(try fixture.tensor(name, "bias"))
        let output = layer(input)
        #expect(maxAbsoluteDifference(output.scalars, try fixture.tensor(name, "output").scalars) < 1e-4)
        (output * (try fixture.tensor(name, "probe"))).sum().backward()
        #expect(maxAbsoluteDifference(input.grad!.scalars, try fixture.tensor(name, "grad_input").scalars) < 1e-3)
        #expect(maxAbsoluteDifference(layer.weight!.grad!.scalars, try fixture.tensor(name, "grad_weight").scalars) < 1e-4)
        #expect(maxAbsoluteDifference(layer.bias!.grad!.scalars, try fixture.tensor(name, "grad_bias").scalars) < 1e-4)
        #expect(maxAbsoluteDifference(layer.runningMean.scalars, try fixture.tensor(name, "running_mean").scalars) < 1e-5)
        #expect(maxAbsoluteDifference(layer.runningProjection.scalars, try fixture.tensor(name, "running_projection").scalars) < 1e-5)
        #expect(layer.buffers.map(\.name) == ["running_mean", "running_projection", "num_batches_tracked"])
        layer.isTraining = false
        let evaluated = layer(try fixture.tensor(name, "eval_input"))
        #expect(maxAbsoluteDifference(evaluated.scalars, try fixture.tensor(name, "eval_output").scalars) < 1e-4)
    }

    @Test func pcaMatchesPyTorchOnASignFreeLoss() throws {
        let name = "dbn_pca"
        let input = try fixture.tensor(name, "input")
        input.requiresGrad = true
        let layer = DecorrelatedBatchNorm(features: 4, groupSize: 4, whitening: .pca, affine: false)
        let loss = (layer(input).squared() * (try fixture.tensor(name, "probe"))).sum()
        #expect(Swift.abs(Double(loss.item) - (try fixture.number(name, "loss"))) < 1e-3 * Swift.abs(try fixture.number(name, "loss")))
        loss.backward()
        #expect(maxAbsoluteDifference(input.grad!.scalars, try fixture.tensor(name, "grad_input").scalars) < 2e-3)
    }

    @Test(arguments: WhiteningKind.allCases) func trainingOutputHasIdentityCovarianceWithinEachGroup(kind: WhiteningKind) {
        var g = RandomGenerator(seed: 4)
        let x = matmul(Tensor.normal([512, 32], generator: &g), Tensor.normal([32, 32], generator: &g)) + 2
        let layer = DecorrelatedBatchNorm(features: 32, groupSize: 16, whitening: kind, affine: false)
        let y = layer(x)
        // Σ + εI is whitened, so the output covariance is I − ε Σ⁻¹ ≈ I: within 1e-3 here.
        #expect(whiteness(y, start: 0, size: 16) < 1e-3 && whiteness(y, start: 16, size: 16) < 1e-3)
        // Channels of different groups stay correlated: the layer does not whiten across groups.
        #expect(whiteness(y, start: 0, size: 32) > 0.05)
    }

    @Test func finiteDifferencesIncludingARepeatedEigenvalue() throws {
        var g = RandomGenerator(seed: 8)
        let generic = Tensor.normal([12, 4], generator: &g) + Tensor([0, 1, 2, 3], shape: [1, 4])
        let layer = DecorrelatedBatchNorm(features: 4, groupSize: 2)
        layer.weight!.assign(Tensor([1.2, 0.7, 1, 0.5], shape: [4]))
        let check = checkGradients([generic], absoluteTolerance: 5e-3) { layer($0[0]) }
        #expect(check.passed, "generic input: \(check)")
        // An input that is already white: its covariance (+ εI) has one eigenvalue of multiplicity 4, where the
        // eigenvectors' gradient does not exist. ZCA's gradient is still exact; it is finite for PCA.
        let white = try whiteRows(12, 4, seed: 3)
        let zca = DecorrelatedBatchNorm(features: 4, groupSize: 4)
        let degenerate = checkGradients([white], absoluteTolerance: 5e-3) { zca($0[0]) }
        #expect(degenerate.passed, "repeated eigenvalue: \(degenerate)")
        let pca = DecorrelatedBatchNorm(features: 4, groupSize: 4, whitening: .pca)
        let x = white.detached().copy()
        x.requiresGrad = true
        (pca(x) * Tensor.normal([12, 4], generator: &g)).sum().backward()
        let finite = x.grad!.scalars.allSatisfy { $0.isFinite }
        #expect(finite)
    }

    /// `rows` × `columns` data whose biased covariance is exactly I (up to rounding).
    func whiteRows(_ rows: Int, _ columns: Int, seed: UInt64) throws -> Tensor {
        var g = RandomGenerator(seed: seed)
        let x = Tensor.normal([rows, columns], generator: &g)
        let centred = x - x.mean(alongAxis: 0, keepingDimensions: true)
        let covariance = matmul(centred, centred, transposeA: true) * (1 / Float(rows))
        return matmul(centred, try symmetricInverseSquareRoot(covariance)).detached().copy()
    }
}
