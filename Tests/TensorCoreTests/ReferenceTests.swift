// Forward values and gradients against PyTorch, from Tests/Fixtures/tensorcore.json
// (written by Tests/Fixtures/generate_tensorcore.py with torch 2.13.0+cpu).

import Testing
import TensorCore
import TestSupport

/// Loads case `name`, runs `function` on its inputs, and compares the output and the gradients of
/// Σ output ⊙ upstream with PyTorch's.
private func checkAgainstPyTorch(_ name: String, inputs: [String], tolerance: Float = 1e-4,
                                 _ function: (Fixture, [Tensor]) throws -> Tensor) throws {
    let fixture = try Fixture("tensorcore")
    let tensors = try inputs.map { try fixture.tensor(name, $0) }
    for tensor in tensors { tensor.requiresGrad = true }
    let output = try function(fixture, tensors)
    let expected = try fixture.tensor(name, "output")
    #expect(output.shape == expected.shape, "\(name): output shape")
    let forwardError = maxAbsoluteDifference(output.scalars, expected.scalars)
    #expect(forwardError <= tolerance * 10, "\(name): forward differs by \(forwardError)")
    let upstream = try fixture.tensor(name, "upstream")
    (output * upstream).sum().backward()
    for (key, tensor) in zip(inputs, tensors) {
        let expectedGrad = try fixture.tensor(name, "grad_" + key)
        let error = maxAbsoluteDifference(tensor.grad?.scalars ?? [], expectedGrad.scalars)
        #expect(error <= tolerance * 10, "\(name): gradient of \(key) differs by \(error)")
    }
}

@Suite struct ReferenceTests {
    @Test func matmulVariants() throws {
        try checkAgainstPyTorch("matmul", inputs: ["a", "b"]) { _, t in matmul(t[0], t[1]) }
        try checkAgainstPyTorch("matmul_tA_tB", inputs: ["a", "b"]) { _, t in
            matmul(t[0], t[1], transposeA: true, transposeB: true)
        }
        try checkAgainstPyTorch("matmul_batched", inputs: ["a", "b"]) { _, t in matmul(t[0], t[1]) }
        try checkAgainstPyTorch("matmul_batch_by_matrix", inputs: ["a", "b"]) { _, t in matmul(t[0], t[1]) }
    }

    @Test(arguments: ["conv1d_cpc_like", "conv1d_padded_dilated_grouped"])
    func conv1dMatchesPyTorch(name: String) throws {
        try checkAgainstPyTorch(name, inputs: ["x", "w", "b"]) { f, t in
            conv1d(t[0], weight: t[1], bias: t[2], stride: try f.integers(name, "stride")[0],
                   padding: try f.integers(name, "padding")[0], dilation: try f.integers(name, "dilation")[0],
                   groups: try f.integers(name, "groups")[0])
        }
    }

    @Test(arguments: ["conv2d_basic", "conv2d_strided_grouped"])
    func conv2dMatchesPyTorch(name: String) throws {
        try checkAgainstPyTorch(name, inputs: ["x", "w", "b"]) { f, t in
            let s = try f.integers(name, "stride"), p = try f.integers(name, "padding")
            let d = try f.integers(name, "dilation"), g = try f.integers(name, "groups")[0]
            return conv2d(t[0], weight: t[1], bias: t[2], stride: (s[0], s[1]), padding: (p[0], p[1]),
                          dilation: (d[0], d[1]), groups: g)
        }
    }

    @Test func softmaxFamily() throws {
        try checkAgainstPyTorch("log_softmax", inputs: ["x"]) { _, t in t[0].logSoftmax(alongAxis: 1) }
        try checkAgainstPyTorch("softmax_axis0", inputs: ["x"]) { _, t in t[0].softmax(alongAxis: 0) }
        try checkAgainstPyTorch("logsumexp", inputs: ["x"]) { _, t in t[0].logSumExp(alongAxis: 1) }
    }

    @Test func crossEntropyReductions() throws {
        try checkAgainstPyTorch("cross_entropy_mean", inputs: ["x"]) { f, t in
            crossEntropy(logits: t[0], targets: try f.integers("cross_entropy_mean", "targets"))
        }
        try checkAgainstPyTorch("cross_entropy_ignore", inputs: ["x"]) { f, t in
            crossEntropy(logits: t[0], targets: try f.integers("cross_entropy_ignore", "targets"), ignoreIndex: -100)
        }
        try checkAgainstPyTorch("cross_entropy_none", inputs: ["x"]) { f, t in
            crossEntropy(logits: t[0], targets: try f.integers("cross_entropy_none", "targets"), reduction: .none)
        }
    }

    @Test func cosineAndNormalize() throws {
        try checkAgainstPyTorch("cosine_similarity", inputs: ["a", "b"]) { _, t in
            cosineSimilarity(t[0], t[1], alongAxis: 1)
        }
        try checkAgainstPyTorch("cosine_similarity_broadcast", inputs: ["a", "b"]) { _, t in
            cosineSimilarity(t[0], t[1], alongAxis: -1)
        }
        try checkAgainstPyTorch("normalize", inputs: ["x"]) { _, t in t[0].l2Normalized(alongAxis: 1) }
    }

    @Test func activationsAndVariance() throws {
        try checkAgainstPyTorch("gelu", inputs: ["x"]) { _, t in t[0].gelu() }
        try checkAgainstPyTorch("gelu_tanh", inputs: ["x"]) { _, t in t[0].gelu(approximateTanh: true) }
        try checkAgainstPyTorch("sigmoid_tanh", inputs: ["x"]) { _, t in t[0].sigmoid() * t[0].tanh() }
        try checkAgainstPyTorch("variance", inputs: ["x"]) { _, t in t[0].variance(alongAxis: 1) }
    }

    @Test func pooling() throws {
        try checkAgainstPyTorch("max_pool2d", inputs: ["x"]) { _, t in
            maxPool2d(t[0], kernelSize: (3, 3), stride: (2, 2), padding: (1, 1))
        }
        try checkAgainstPyTorch("avg_pool2d", inputs: ["x"]) { _, t in
            avgPool2d(t[0], kernelSize: (3, 3), stride: (2, 2), padding: (1, 1))
        }
    }

    @Test func linearAlgebra() throws {
        try checkAgainstPyTorch("cholesky", inputs: ["a"], tolerance: 2e-4) { _, t in
            try cholesky((t[0] + t[0].transposed()) * 0.5)
        }
        try checkAgainstPyTorch("triangular_solve", inputs: ["t", "b"]) { _, t in triangularSolve(t[0], t[1]) }
        try checkAgainstPyTorch("eigh_values", inputs: ["a"], tolerance: 2e-4) { _, t in
            try symmetricEigendecomposition((t[0] + t[0].transposed()) * 0.5).eigenvalues
        }
        try checkAgainstPyTorch("eigh_vectors_squared", inputs: ["a"], tolerance: 5e-4) { _, t in
            try symmetricEigendecomposition((t[0] + t[0].transposed()) * 0.5).eigenvectors.squared()
        }
    }
}
