// Finite-difference gradient checks (central differences, Double accumulation) for every differentiable op.

import Testing
import TensorCore
import TestSupport

private func random(_ shape: [Int], seed: UInt64, low: Float = -1, high: Float = 1) -> Tensor {
    var generator = RandomGenerator(seed: seed)
    return Tensor.uniform(shape, low: low, high: high, generator: &generator)
}

/// Runs a gradient check and records the worst element when it fails.
private func expectGradients(_ name: String, _ inputs: [Tensor], epsilon: Float = 1e-3,
                             absoluteTolerance: Double = 2e-3, _ function: ([Tensor]) -> Tensor) {
    let result = checkGradients(inputs, epsilon: epsilon, absoluteTolerance: absoluteTolerance, function)
    #expect(result.passed, "\(name): \(result)")
}

@Suite struct GradientTests {
    @Test func broadcastingArithmetic() {
        let a = random([3, 4], seed: 1), b = random([4], seed: 2), c = random([3, 1], seed: 3, low: 0.5, high: 2)
        expectGradients("add", [a, b]) { $0[0] + $0[1] }
        expectGradients("sub", [a, c]) { $0[0] - $0[1] }
        expectGradients("mul", [a, b]) { $0[0] * $0[1] }
        expectGradients("div", [a, c]) { $0[0] / $0[1] }
        expectGradients("neg", [a]) { -$0[0] }
        expectGradients("scalars", [a]) { (2 * $0[0] + 1) / 3 - 0.5 }
        expectGradients("scalar over tensor", [c]) { 1 / $0[0] }
        expectGradients("expand", [random([1, 3], seed: 4)]) { $0[0].expanded(to: [2, 3]) }
    }

    @Test func unaryMaths() {
        let x = random([2, 5], seed: 5)
        let positive = random([2, 5], seed: 6, low: 0.3, high: 2)
        expectGradients("exp", [x]) { $0[0].exp() }
        expectGradients("log", [positive]) { $0[0].log() }
        expectGradients("sqrt", [positive]) { $0[0].sqrt() }
        expectGradients("abs", [x]) { $0[0].abs() }
        expectGradients("pow", [positive]) { $0[0].pow(1.7) }
        expectGradients("square", [x]) { $0[0].squared() }
        expectGradients("clamp", [x]) { $0[0].clamped(min: -0.5, max: 0.4) }
    }

    @Test func activations() {
        let x = random([3, 6], seed: 7, low: -3, high: 3)
        expectGradients("relu", [x]) { $0[0].relu() }
        expectGradients("leaky relu", [x]) { $0[0].leakyReLU(slope: 0.1) }
        expectGradients("sigmoid", [x]) { $0[0].sigmoid() }
        expectGradients("tanh", [x]) { $0[0].tanh() }
        expectGradients("softplus", [x]) { $0[0].softplus() }
        expectGradients("softplus far out", [random([3, 6], seed: 9, low: -40, high: 40)]) { $0[0].softplus() }
        expectGradients("gelu", [x]) { $0[0].gelu() }
        expectGradients("gelu tanh", [x]) { $0[0].gelu(approximateTanh: true) }
    }

    @Test func reductions() {
        let x = random([3, 4, 5], seed: 8, low: -2, high: 2)
        expectGradients("sum axes", [x]) { $0[0].sum(alongAxes: [0, 2]) }
        expectGradients("sum keep", [x]) { $0[0].sum(alongAxis: 1, keepingDimensions: true) }
        expectGradients("sum all", [x]) { $0[0].sum() }
        expectGradients("mean", [x]) { $0[0].mean(alongAxis: -1) }
        expectGradients("mean all", [x]) { $0[0].mean() }
        expectGradients("leave-one-out logsumexp", [random([3, 5], seed: 10, low: -3, high: 3)]) { $0[0].leaveOneOutLogSumExp() }
        expectGradients("variance", [x]) { $0[0].variance(alongAxes: [0, 1], unbiased: true) }
        expectGradients("max", [x]) { $0[0].max(alongAxis: 1).values }
        expectGradients("logsumexp", [x]) { $0[0].logSumExp(alongAxis: 2, keepingDimensions: true) }
    }

    @Test func shapeOps() {
        let x = random([2, 3, 4], seed: 9), y = random([2, 2, 4], seed: 10)
        expectGradients("reshape", [x]) { $0[0].reshaped([6, -1]) }
        expectGradients("permute", [x]) { $0[0].permuted([2, 0, 1]) }
        expectGradients("transpose", [x]) { $0[0].transposed(0, 2) }
        expectGradients("slice", [x]) { $0[0].sliced(alongAxis: 1, start: 1, length: 2) }
        expectGradients("concat", [x, y]) { Tensor.concatenate([$0[0], $0[1]], alongAxis: 1) }
        expectGradients("stack", [x, random([2, 3, 4], seed: 11)]) { Tensor.stack([$0[0], $0[1]], alongAxis: 1) }
        expectGradients("squeeze", [random([2, 1, 3], seed: 12)]) { $0[0].squeezed(at: 1).unsqueezed(at: 0) }
    }

    @Test func softmaxAndCrossEntropy() {
        let x = random([4, 5], seed: 13, low: -3, high: 3)
        expectGradients("softmax", [x]) { $0[0].softmax(alongAxis: 0) }
        expectGradients("log softmax", [x]) { $0[0].logSoftmax() }
        expectGradients("cross entropy mean", [x]) { crossEntropy(logits: $0[0], targets: [1, 0, 4, 2]) }
        expectGradients("cross entropy sum ignore", [x]) {
            crossEntropy(logits: $0[0], targets: [1, -1, 4, 2], ignoreIndex: -1, reduction: .sum)
        }
        expectGradients("cross entropy none", [x]) { crossEntropy(logits: $0[0], targets: [3, 3, 0, 1], reduction: .none) }
    }

    @Test func indexing() {
        let x = random([4, 3], seed: 14)
        expectGradients("index select", [x]) { $0[0].indexSelect(alongAxis: 0, indices: [2, 0, 2, 3]) }
        expectGradients("gather", [x]) {
            $0[0].gather(alongAxis: 1, indices: [0, 2, 1, 1, 2, 0, 0, 0], indexShape: [4, 2])
        }
    }

    @Test func normalization() {
        let a = random([3, 5], seed: 15), b = random([3, 5], seed: 16)
        expectGradients("l2 normalise", [a]) { $0[0].l2Normalized(alongAxis: 1) }
        expectGradients("cosine", [a, b]) { cosineSimilarity($0[0], $0[1], alongAxis: 1) }
        let w = random([5], seed: 40, low: 0.5, high: 1.5), bias = random([5], seed: 41)
        for unbiased in [false, true] {
            expectGradients("norm over last axis (unbiased \(unbiased))", [random([2, 3, 5], seed: 42), w, bias]) {
                $0[0].normalizedOverLastAxis(weight: $0[1], bias: $0[2], epsilon: 1e-5, unbiasedVariance: unbiased)
            }
        }
        expectGradients("norm without affine", [random([4, 6], seed: 43)]) {
            $0[0].normalizedOverLastAxis(weight: nil, bias: nil, epsilon: 1e-5, unbiasedVariance: false)
        }
    }

    @Test func matrixProducts() {
        expectGradients("matmul", [random([3, 4], seed: 17), random([4, 2], seed: 18)]) { matmul($0[0], $0[1]) }
        expectGradients("matmul tA tB", [random([4, 3], seed: 19), random([2, 4], seed: 20)]) {
            matmul($0[0], $0[1], transposeA: true, transposeB: true)
        }
        expectGradients("batched", [random([2, 3, 4], seed: 21), random([2, 4, 2], seed: 22)]) { matmul($0[0], $0[1]) }
        expectGradients("batch × matrix", [random([2, 3, 4], seed: 23), random([2, 4], seed: 24)]) {
            matmul($0[0], $0[1], transposeB: true)
        }
        expectGradients("matrix × batch", [random([4, 3], seed: 25), random([2, 4, 2], seed: 26)]) {
            matmul($0[0], $0[1], transposeA: true)
        }
    }

    @Test func convolutions() {
        expectGradients("conv1d", [random([2, 9, 3], seed: 27), random([4, 3, 3], seed: 28), random([4], seed: 29)]) {
            conv1d($0[0], weight: $0[1], bias: $0[2], stride: 2, padding: 1)
        }
        // Kernels that are multiples of the stride take the im2col-free path (CPC's encoder layers).
        expectGradients("conv1d kernel 2·stride", [random([2, 13, 3], seed: 35), random([4, 3, 4], seed: 36), random([4], seed: 37)]) {
            conv1d($0[0], weight: $0[1], bias: $0[2], stride: 2)
        }
        expectGradients("conv1d kernel 3·stride", [random([2, 11, 2], seed: 38), random([3, 2, 3], seed: 39)]) {
            conv1d($0[0], weight: $0[1], stride: 1)
        }
        expectGradients("conv1d dilated grouped", [random([1, 10, 4], seed: 30), random([2, 2, 3], seed: 31)]) {
            conv1d($0[0], weight: $0[1], dilation: 2, groups: 2)
        }
        expectGradients("conv2d", [random([1, 5, 4, 2], seed: 32), random([3, 2, 2, 3], seed: 33), random([3], seed: 34)]) {
            conv2d($0[0], weight: $0[1], bias: $0[2], stride: (2, 1), padding: (1, 1))
        }
    }

    @Test func pooling() {
        // Distinct values keep max pooling away from ties, where the derivative jumps.
        let x = Tensor((0..<48).map { Float(($0 * 37) % 48) / 10 }, shape: [1, 4, 4, 3])
        expectGradients("max pool", [x]) { maxPool2d($0[0], kernelSize: (2, 2), stride: (1, 2), padding: (1, 0)) }
        expectGradients("avg pool", [random([1, 4, 5, 2], seed: 35)]) { avgPool2d($0[0], kernelSize: (3, 2), padding: (1, 1)) }
        expectGradients("pool 1d", [random([2, 7, 2], seed: 36)]) { avgPool1d(maxPool1d($0[0], kernelSize: 2, stride: 1), kernelSize: 2) }
    }

    @Test func linearAlgebra() throws {
        // Symmetric positive-definite inputs enter through (X + Xᵀ)/2 + 4I, so finite differences stay symmetric.
        let x = random([4, 4], seed: 37)
        let identity = Tensor((0..<16).map { $0 % 5 == 0 ? 4 : 0 }, shape: [4, 4])
        expectGradients("cholesky", [x]) { t in
            try! cholesky((t[0] + t[0].transposed()) * 0.5 + identity)
        }
        let lower = Tensor([2, 0, 0, 0.5, 1.5, 0, -0.3, 0.2, 1.8], shape: [3, 3])
        expectGradients("triangular solve", [lower, random([3, 2], seed: 38)]) { triangularSolve($0[0], $0[1]) }
        expectGradients("upper triangular solve", [lower.transposed().copy(), random([3, 2], seed: 39)]) {
            triangularSolve($0[0], $0[1], upper: true)
        }
        // Well-separated eigenvalues keep the eigenvector derivative well conditioned.
        let spread = Tensor((0..<16).map { $0 % 5 == 0 ? Float($0 / 5) * 3 : 0 }, shape: [4, 4])
        expectGradients("eigenvalues", [x]) { t in
            try! symmetricEigendecomposition((t[0] + t[0].transposed()) * 0.25 + spread).eigenvalues
        }
        expectGradients("eigenvectors (sign-free)", [x]) { t in
            try! symmetricEigendecomposition((t[0] + t[0].transposed()) * 0.25 + spread).eigenvectors.squared()
        }
    }
}
