// The whitening family (issue 15): W-MSE's Cholesky whitening and loss against PyTorch
// (Tests/Fixtures/generate_decorrelation.py) and finite differences, the identity covariance of whitened data, the
// size checks with the keys they name, Σ^-1/2 (the core of decorrelated batch norm) with its gradient at repeated
// eigenvalues, and W-MSE's loss falling on a tiny model.

import Foundation
import Layers
import Methods
import Objectives
import Testing
import TensorCore
import TestSupport

/// The unbiased (or biased) covariance of the rows of `x` `[N, D]`, as rows of D numbers.
func rowCovariance(_ x: Tensor, unbiased: Bool = true) -> [[Float]] {
    let (n, d) = (x.shape[0], x.shape[1])
    let v = x.scalars
    let means = (0..<d).map { j in (0..<n).reduce(Float(0)) { $0 + v[$1 * d + j] } / Float(n) }
    return (0..<d).map { i in
        (0..<d).map { j in
            (0..<n).reduce(Float(0)) { $0 + (v[$1 * d + i] - means[i]) * (v[$1 * d + j] - means[j]) } / Float(unbiased ? n - 1 : n)
        }
    }
}

/// The largest |C − I| over the entries of a square matrix.
func distanceFromIdentity(_ c: [[Float]]) -> Float {
    c.indices.flatMap { i in c.indices.map { j in Swift.abs(c[i][j] - (i == j ? 1 : 0)) } }.max() ?? 0
}

@Suite struct WhiteningTests {
    let fixture: Fixture
    init() throws { fixture = try Fixture("decorrelation") }

    @Test func choleskyWhiteningMatchesPyTorchAndGivesIdentityCovariance() throws {
        let input = try fixture.tensor("whiten", "input")
        let whitened = try WhitenedMSE.whiten(input, shrinkage: Float(try fixture.number("whiten", "shrinkage")))
        #expect(maxAbsoluteDifference(whitened.scalars, try fixture.tensor("whiten", "whitened").scalars) < 1e-4)
        // Random correlated data of 256 rows and 32 dimensions, whitened without shrinkage: unbiased covariance I.
        var g = RandomGenerator(seed: 5)
        let mixed = matmul(Tensor.normal([256, 32], generator: &g), Tensor.normal([32, 32], generator: &g)) + 3
        #expect(distanceFromIdentity(rowCovariance(try WhitenedMSE.whiten(mixed))) < 1e-3)
        // A rank-deficient sub-batch (fewer rows than dimensions) cannot be whitened without shrinkage.
        #expect(throws: LinearAlgebraError.self) { try WhitenedMSE.whiten(Tensor.normal([4, 8], generator: &g)) }
    }

    @Test(arguments: ["wmse_two_views", "wmse_four_views"]) func wmseLossMatchesPyTorchAndFiniteDifferences(name: String) throws {
        let views = try fixture.tensorList(name, "views")
        for view in views { view.requiresGrad = true }
        let n = views[0].shape[0]
        let flat = try fixture.integers(name, "permutations")
        let permutations = stride(from: 0, to: flat.count, by: n).map { Array(flat[$0..<($0 + n)]) }
        let subBatch = Int(try fixture.number(name, "sub_batch"))
        let loss = try WhitenedMSE.loss(views, subBatch: subBatch, permutations: permutations)
        #expect(Swift.abs(Double(loss.item) - (try fixture.number(name, "loss"))) < 2e-5, "\(loss.item)")
        loss.backward()
        for (view, expected) in zip(views, try fixture.tensorList(name, "grads")) {
            #expect(maxAbsoluteDifference(view.grad!.scalars, expected.scalars) < 1e-4)
        }
        let check = checkGradients(views.map { $0.detached().copy() }, absoluteTolerance: 5e-3) {
            try! WhitenedMSE.loss($0, subBatch: subBatch, permutations: permutations)
        }
        #expect(check.passed, "\(check)")
    }

    @Test func wmseIdenticalViewsCostNothingAndUnrelatedViewsCostAbout2() throws {
        var g = RandomGenerator(seed: 9)
        let a = Tensor.normal([64, 4], generator: &g), b = Tensor.normal([64, 4], generator: &g)
        let perm = [g.permutation(64)]
        #expect(Swift.abs(try WhitenedMSE.loss([a, a], subBatch: 32, permutations: perm).item) < 1e-5)
        #expect(Swift.abs(try WhitenedMSE.loss([a, b], subBatch: 32, permutations: perm).item - 2) < 0.3)
    }

    @Test func wmseRefusesSizesThatCannotWorkNamingTheKey() throws {
        func key(_ body: () throws -> Void) -> String? {
            do { try body(); return nil } catch let error as WhitenedMSEError { return error.key } catch { return "other" }
        }
        #expect(key { try WhitenedMSE.validate(views: 2, images: 256, width: 64, subBatch: 100, iterations: 1) } == "model.whitening_size")
        #expect(key { try WhitenedMSE.validate(views: 2, images: 200, width: 64, subBatch: 128, iterations: 1) } == "data.batch_size")
        #expect(key { try WhitenedMSE.validate(views: 1, images: 256, width: 64, subBatch: 128, iterations: 1) } == "data.views")
        #expect(key { try WhitenedMSE.validate(views: 4, images: 256, width: 64, subBatch: 128, iterations: 1) } == nil)
        // Through the registry: three views, and a batch that the sub-batch does not divide.
        let entry = try #require(MethodRegistry.entry("wmse"))
        var input = InputShape(kind: .imageViews)
        input.views = Array(repeating: .init(height: 28, width: 28), count: 3)
        #expect { try entry.validate(entry.defaultConfig, input: input) } throws: { ($0 as? ConfigError)?.key == "data.views" }
        input.views = Array(repeating: .init(height: 28, width: 28), count: 4)
        input.batchSize = 200
        #expect { try entry.validate(entry.defaultConfig, input: input) } throws: { ($0 as? ConfigError)?.key == "data.batch_size" }
        input.batchSize = 256
        try entry.validate(entry.defaultConfig, input: input)
    }

    @Test func inverseSquareRootMatchesPyTorch() throws {
        let b = try fixture.tensor("inverse_square_root", "b")
        b.requiresGrad = true
        let probe = try fixture.tensor("inverse_square_root", "probe")
        let sigma = (b + b.transposed()) * 0.5 + Tensor.identity(5) * 4
        let root = try symmetricInverseSquareRoot(sigma)
        #expect(maxAbsoluteDifference(root.scalars, try fixture.tensor("inverse_square_root", "result").scalars) < 1e-5)
        (root * probe).sum().backward()
        #expect(maxAbsoluteDifference(b.grad!.scalars, try fixture.tensor("inverse_square_root", "grad_b").scalars) < 1e-5)
    }

    @Test func inverseSquareRootGradientIsExactAtRepeatedEigenvalues() throws {
        // Σ = Q diag(1, 1, 1, 2.5) Qᵀ: a triple eigenvalue, where the eigenvectors' own gradient does not exist.
        var g = RandomGenerator(seed: 3)
        let (_, q) = try symmetricEigendecomposition(withoutGrad {
            let m = Tensor.normal([4, 4], generator: &g)
            return m + m.transposed()
        })
        let base = matmul(q * Tensor([1, 1, 1, 2.5], shape: [1, 4]), q, transposeB: true).detached().copy()
        let root = try symmetricInverseSquareRoot(base)
        let check2 = matmul(matmul(root, base), root)
        #expect(maxAbsoluteDifference(check2.scalars, Tensor.identity(4).scalars) < 1e-5)
        // Finite differences through symmetric perturbations of the repeated-eigenvalue point.
        let perturbation = Tensor.zeros([4, 4])
        let check = checkGradients([perturbation], epsilon: 1e-3, absoluteTolerance: 2e-3) {
            try! symmetricInverseSquareRoot(base + ($0[0] + $0[0].transposed()) * 0.5)
        }
        #expect(check.passed, "\(check)")
    }

    @Test func wmseLossFallsOnATinyModel() {
        var config = collapseSized(WMSEConfig())
        config.whiteningSize = 16
        let trained = trainTiny(WMSE(config: config, imageChannels: 1, classes: 0, seed: 2), steps: 60, metric: "ssl_loss",
                                learningRate: 0.01)
        let start = trainTiny(WMSE(config: config, imageChannels: 1, classes: 0, seed: 2), steps: 20, metric: "ssl_loss",
                              learningRate: 0)
        #expect(trained < 0.7 * start, "W-MSE: \(start) → \(trained)")
    }

    @Test func aProjectorUsesDecorrelatedBatchNormThroughTheConfig() throws {
        func head(_ json: String) throws -> HeadConfig { try JSONDecoder().decode(HeadConfig.self, from: Data(json.utf8)) }
        let config = try head(#"{"hidden": [32], "output": 8, "whitening": "zca", "whitening_group": 16}"#)
        var g = RandomGenerator(seed: 1)
        let mlp = config.make(inputSize: 4, generator: &g)
        #expect(mlp.layers.contains { $0 is DecorrelatedBatchNorm } && !mlp.layers.contains { $0 is BatchNorm })
        #expect(mlp.buffers.contains { $0.name == "1.running_projection" })
        #expect(mlp(Tensor.normal([40, 4], generator: &g)).shape == [40, 8])
        #expect { try head(#"{"hidden": [30], "whitening": "zca", "whitening_group": 16}"#) } throws: { "\($0)".contains("whitening_group") }
        #expect { try head(#"{"whitening": "zac"}"#) } throws: { "\($0)".contains("whitening") }
    }
}
