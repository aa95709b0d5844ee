// Forward behaviour of tensors, the tape, and the random generator.

import Foundation
import Testing
import TensorCore
import TestSupport

@Suite struct TensorTests {
    @Test func creation() {
        #expect(Tensor.zeros([2, 3]).scalars == [Float](repeating: 0, count: 6))
        #expect(Tensor.full([2], value: 3.5).scalars == [3.5, 3.5])
        #expect(Tensor.arange(0, 5).scalars == [0, 1, 2, 3, 4])
        #expect(Tensor.arange(1, 2, step: 0.25).scalars == [1, 1.25, 1.5, 1.75])
        #expect(Tensor(scalar: 2).shape == [])
        #expect(Tensor(scalar: 2).item == 2)
    }

    @Test func seededDrawsAreReproducibleAndDistinct() {
        var g1 = RandomGenerator(seed: 42), g2 = RandomGenerator(seed: 42), g3 = RandomGenerator(seed: 43)
        let a = Tensor.normal([1000], generator: &g1), b = Tensor.normal([1000], generator: &g2)
        let c = Tensor.normal([1000], generator: &g3)
        #expect(a.scalars == b.scalars)
        #expect(a.scalars != c.scalars)
        let mean = a.mean().item, std = a.variance(alongAxis: 0).item.squareRoot()
        #expect(Swift.abs(mean) < 0.1 && Swift.abs(std - 1) < 0.1, "normal draws: mean \(mean), std \(std)")
        var u = RandomGenerator(seed: 5)
        let uniform = Tensor.uniform([1000], low: 2, high: 3, generator: &u).scalars
        #expect(uniform.allSatisfy { $0 >= 2 && $0 < 3 })
        // A saved state resumes the same stream.
        var saved = RandomGenerator(seed: 9)
        _ = saved.next()
        var restored = RandomGenerator(state: saved.state)!
        #expect(saved.next() == restored.next())
        #expect(RandomGenerator(state: [0, 0, 0, 0]) == nil)
        var p = RandomGenerator(seed: 1)
        #expect(p.permutation(10).sorted() == Array(0..<10))
    }

    @Test func reshapeSharesStorageAndWritesCopyOnWrite() {
        let x = Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3])
        let view = x.reshaped([3, 2])
        #expect(view.scalars == x.scalars)
        view.withUnsafeMutableBufferPointer { $0[0] = 100 }
        #expect(x.scalars[0] == 1, "a write through one view must not change the other")
        #expect(view.scalars[0] == 100)
        #expect(x.reshaped([-1, 2]).shape == [3, 2])
    }

    @Test func shapeOpsForward() {
        let x = Tensor((0..<24).map(Float.init), shape: [2, 3, 4])
        let p = x.permuted([2, 0, 1])
        #expect(p.shape == [4, 2, 3])
        // p[k, i, j] = x[i, j, k]
        #expect(p.scalars[((1 * 2 + 1) * 3) + 2] == x.scalars[(1 * 3 + 2) * 4 + 1])
        #expect(x.transposed(0, 1).shape == [3, 2, 4])
        #expect(x.sliced(alongAxis: 2, 1..<3).scalars == [1, 2, 5, 6, 9, 10, 13, 14, 17, 18, 21, 22])
        let joined = Tensor.concatenate([Tensor([1, 2], shape: [1, 2]), Tensor([3, 4, 5, 6], shape: [2, 2])], alongAxis: 0)
        #expect(joined.shape == [3, 2] && joined.scalars == [1, 2, 3, 4, 5, 6])
        let stacked = Tensor.stack([Tensor([1, 2]), Tensor([3, 4])], alongAxis: 1)
        #expect(stacked.shape == [2, 2] && stacked.scalars == [1, 3, 2, 4])
    }

    @Test func broadcastingAndReductionsForward() {
        let a = Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3])
        #expect((a + Tensor([10, 20, 30])).scalars == [11, 22, 33, 14, 25, 36])
        #expect((a * Tensor([2, 3], shape: [2, 1])).scalars == [2, 4, 6, 12, 15, 18])
        #expect((Tensor([1, 2], shape: [2, 1]) - Tensor([1, 2, 3], shape: [1, 3])).scalars == [0, -1, -2, 1, 0, -1])
        #expect(a.sum(alongAxis: 0).scalars == [5, 7, 9])
        #expect(a.sum(alongAxis: 1, keepingDimensions: true).shape == [2, 1])
        #expect(a.mean(alongAxes: [0, 1]).item == 3.5)
        let (values, indices) = Tensor([3, 9, 1, 4, 4, 8], shape: [2, 3]).max(alongAxis: 1)
        #expect(values.scalars == [9, 8] && indices == [1, 2])
        #expect(Tensor([1, 5, 2]).argmax(alongAxis: 0) == [1])
        #expect(Swift.abs(Tensor([1, 2, 3, 4]).variance(alongAxis: 0).item - 5.0 / 3.0) < 1e-6)
        #expect(Swift.abs(Tensor([1, 2, 3, 4]).variance(alongAxis: 0, unbiased: false).item - 1.25) < 1e-6)
        // logsumexp stays finite where exp overflows.
        #expect(Swift.abs(Tensor([1000, 1000]).logSumExp(alongAxis: 0).item - (1000 + 0.693_147_2)) < 1e-3)
        #expect(Tensor([-1, 0.5, 3]).clamped(min: 0, max: 1).scalars == [0, 0.5, 1])
    }

    @Test func softmaxIsStableAndNormalised() {
        let p = Tensor([1000, 1001, 999], shape: [1, 3]).softmax()
        #expect(Swift.abs(p.sum().item - 1) < 1e-6)
        #expect(p.scalars.allSatisfy { $0.isFinite })
        let loss = crossEntropy(logits: Tensor([0, 0, 0, 0], shape: [1, 4]), targets: [2])
        #expect(Swift.abs(loss.item - 1.386_294_4) < 1e-5)
    }

    @Test func indexingForward() {
        let x = Tensor([1, 2, 3, 4, 5, 6], shape: [3, 2])
        #expect(x.indexSelect(alongAxis: 0, indices: [2, 0]).scalars == [5, 6, 1, 2])
        #expect(x.indexSelect(alongAxis: 1, indices: [1, 1, 0]).scalars == [2, 2, 1, 4, 4, 3, 6, 6, 5])
        #expect(x.gather(alongAxis: 1, indices: [1, 0, 0], indexShape: [3, 1]).scalars == [2, 3, 5])
    }

    @Test func normalisationForward() {
        let y = Tensor([3, 4, 0, 0], shape: [2, 2]).l2Normalized(alongAxis: 1)
        #expect(y.scalars == [0.6, 0.8, 0, 0])
        let c = cosineSimilarity(Tensor([1, 0], shape: [1, 2]), Tensor([1, 1], shape: [1, 2]), alongAxis: 1)
        #expect(Swift.abs(c.item - 0.707_106_8) < 1e-6)
    }
}

@Suite struct AutodiffTests {
    @Test func gradientsAccumulateAcrossBackwardCalls() {
        let w = Tensor([1, 2, 3])
        w.requiresGrad = true
        (w * w).sum().backward()
        #expect(w.grad?.scalars == [2, 4, 6])
        (w * 3).sum().backward()
        #expect(w.grad?.scalars == [5, 7, 9])
        w.zeroGrad()
        #expect(w.grad == nil)
    }

    @Test func reusedTensorsSumTheirGradients() {
        // y = x·x + x used twice in a diamond: dy/dx = 2x + 1.
        let x = Tensor([2, -1])
        x.requiresGrad = true
        let a = x * x, b = x + 0
        (a + b).sum().backward()
        #expect(x.grad?.scalars == [5, -1])
    }

    @Test func noGradAndDetachStopTheTape() {
        let x = Tensor([1, 2])
        x.requiresGrad = true
        let y = withoutGrad { x * 2 }
        #expect(!y.requiresGrad && y.isLeaf)
        #expect(!x.detached().requiresGrad)
        let z = (x * x.detached()).sum()
        z.backward()
        #expect(x.grad?.scalars == [1, 2], "the detached factor must act as a constant")
        #expect(GradMode.isGradEnabled)
    }

    @Test func backwardFreesTheGraph() {
        let x = Tensor([1, 2, 3])
        x.requiresGrad = true
        let hidden = x.exp()
        let loss = hidden.sum()
        #expect(!hidden.isLeaf)
        loss.backward()
        #expect(hidden.isLeaf && loss.isLeaf, "op results must drop their nodes after backward")
    }

    @Test func deepChainsDoNotOverflowTheStack() {
        let x = Tensor([0.5])
        x.requiresGrad = true
        var y = x
        for _ in 0..<20_000 { y = y * 1.0 }
        y.sum().backward()
        #expect(x.grad?.scalars == [1])
    }

    @Test func inPlaceUpdateDoesNotCorruptARecordedGraph() {
        let w = Tensor([3])
        w.requiresGrad = true
        let shaped = w.reshaped([1, 1])  // shares storage with w
        let loss = (shaped * shaped).sum()
        w.withUnsafeMutableBufferPointer { $0[0] = 100 }  // an optimiser step before backward
        loss.backward()
        #expect(w.grad?.scalars == [6], "the graph must see the value it was recorded with")
    }
}

@Suite struct LinearAlgebraTests {
    @Test func choleskyReconstructsAndRejectsIndefiniteMatrices() throws {
        let a = Tensor([4, 2, 0.4, 2, 5, 1, 0.4, 1, 3], shape: [3, 3])
        let l = try cholesky(a)
        #expect(l.scalars[1] == 0 && l.scalars[2] == 0 && l.scalars[5] == 0, "factor must be lower triangular")
        #expect(maxAbsoluteDifference(matmul(l, l, transposeB: true).scalars, a.scalars) < 1e-5)
        #expect(throws: LinearAlgebraError.notPositiveDefinite(order: 2)) {
            try cholesky(Tensor([1, 2, 2, 1], shape: [2, 2]))
        }
    }

    @Test func eigendecompositionReconstructs() throws {
        let a = Tensor([2, 1, 0, 1, 3, 1, 0, 1, 4], shape: [3, 3])
        let (values, vectors) = try symmetricEigendecomposition(a)
        #expect(values.scalars == values.scalars.sorted(), "eigenvalues ascend")
        let rebuilt = matmul(vectors * values.reshaped([1, 3]), vectors, transposeB: true)
        #expect(maxAbsoluteDifference(rebuilt.scalars, a.scalars) < 1e-5)
        let orthogonality = matmul(vectors, vectors, transposeA: true)
        #expect(maxAbsoluteDifference(orthogonality.scalars, [1, 0, 0, 0, 1, 0, 0, 0, 1]) < 1e-5)
    }

    @Test func triangularSolveSolves() {
        let t = Tensor([2, 0, 1, 4], shape: [2, 2]), b = Tensor([2, 4, 9, 10], shape: [2, 2])
        let x = triangularSolve(t, b)
        #expect(maxAbsoluteDifference(matmul(t, x).scalars, b.scalars) < 1e-5)
    }
}

@Suite struct ContentHashTests {
    @Test func equalContentHashesEqualAndAnyChangeDiffers() throws {
        func hash(_ parts: [String]) -> UInt64 {
            var h = ContentHash()
            for part in parts { h.add(part) }
            return h.value
        }
        #expect(hash(["abc"]) == hash(["abc"]))
        #expect(hash(["ab", "c"]) != hash(["a", "bc"]))
        #expect(hash(["abcdefgh12345678"]) != hash(["abcdefgh12345679"]))
        #expect(hash([""]) != hash([]))
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("swiftcpc-hash-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let a = folder.appendingPathComponent("a"), b = folder.appendingPathComponent("b")
        let bytes = Data((0..<10_000_003).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        try bytes.write(to: a)
        var changed = bytes
        changed[9_999_999] ^= 1
        try changed.write(to: b)
        func file(_ url: URL) throws -> String { var h = ContentHash(); try h.add(fileAt: url.path); return h.hex }
        #expect(try file(a) == file(a) && file(a) != file(b) && file(a).count == 16)
        #expect(throws: (any Error).self) { try file(folder.appendingPathComponent("missing")) }
    }
}
