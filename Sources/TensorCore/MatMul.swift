// Matrix products through cblas_sgemm: 2-D, batched 3-D, and mixed (a batch times one matrix).
//
// Glossary: B batch, M rows of the result, N columns of the result, K the contracted extent.

import CBLAS

/// Thin, typed wrappers over CBLAS (row-major).
public enum BLAS {
    /// C[m×n] = alpha · op(A) · op(B) + beta · C, row-major, with leading dimensions.
    @inline(__always)
    public static func sgemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
                             a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                             beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 0 || n == 0 { return }
        if k == 0 {
            // BLAS would scale C by beta; do the same without calling it.
            for i in 0..<m { for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] } }
            return
        }
        cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}

/// The matrix product op(a) · op(b), where op transposes the last two axes when asked.
///
/// Shapes: `[M, K] · [K, N] → [M, N]`; `[B, M, K] · [B, K, N] → [B, M, N]`; `[B, M, K] · [K, N] → [B, M, N]`;
/// `[M, K] · [B, K, N] → [B, M, N]` (shapes given after op).
public func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false) -> Tensor {
    precondition((a.rank == 2 || a.rank == 3) && (b.rank == 2 || b.rank == 3),
                 "matmul supports rank 2 and 3, found \(a.shape) and \(b.shape)")
    let batchA = a.rank == 3 ? a.shape[0] : nil, batchB = b.rank == 3 ? b.shape[0] : nil
    if let batchA, let batchB { precondition(batchA == batchB, "matmul batch \(batchA) vs \(batchB)") }
    let batch = batchA ?? batchB
    let ra = a.shape[a.rank - 2], ca = a.shape[a.rank - 1]
    let rb = b.shape[b.rank - 2], cb = b.shape[b.rank - 1]
    let m = transposeA ? ca : ra, k = transposeA ? ra : ca
    let kb = transposeB ? cb : rb, n = transposeB ? rb : cb
    precondition(k == kb, "matmul: inner extents differ, \(a.shape)\(transposeA ? "ᵀ" : "") · \(b.shape)\(transposeB ? "ᵀ" : "")")
    let result = Tensor.uninitialized(batch.map { [$0, m, n] } ?? [m, n])
    let pa = a.storage.pointer, pb = b.storage.pointer, pc = result.storage.pointer
    if let batch {
        if batchB == nil && !transposeA {
            // A batch times one matrix: one GEMM over all B·M rows.
            BLAS.sgemm(transposeA: false, transposeB: transposeB, m: batch * m, n: n, k: k, a: pa, lda: ca,
                       b: pb, ldb: cb, c: pc, ldc: n)
        } else {
            let strideA = batchA == nil ? 0 : ra * ca, strideB = batchB == nil ? 0 : rb * cb
            for i in 0..<batch {
                BLAS.sgemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                           a: pa + i * strideA, lda: ca, b: pb + i * strideB, ldb: cb, c: pc + i * m * n, ldc: n)
            }
        }
    } else {
        BLAS.sgemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, a: pa, lda: ca,
                   b: pb, ldb: cb, c: pc, ldc: n)
    }
    return Tensor.record(result, inputs: [a, b]) { g, _ in
        var gradA: Tensor?, gradB: Tensor?
        if a.requiresGrad {
            // Gradient of op(a) is g · op(b)ᵀ; transpose back when a entered transposed.
            switch (transposeA, transposeB) {
            case (false, false): gradA = matmul(g, b, transposeB: true)
            case (false, true): gradA = matmul(g, b)
            case (true, false): gradA = matmul(b, g, transposeB: true)
            case (true, true): gradA = matmul(b, g, transposeA: true, transposeB: true)
            }
            if a.rank == 2, let ga = gradA, ga.rank == 3 { gradA = ga.sum(alongAxis: 0) }
        }
        if b.requiresGrad {
            if a.rank == 3 && b.rank == 2 && !transposeA {
                // Fold the batch into the rows: one GEMM instead of B and a sum.
                let a2 = a.reshaped([batch! * m, k]), g2 = g.reshaped([batch! * m, n])
                gradB = transposeB ? matmul(g2, a2, transposeA: true) : matmul(a2, g2, transposeA: true)
            } else {
                switch (transposeA, transposeB) {
                case (false, false): gradB = matmul(a, g, transposeA: true)
                case (true, false): gradB = matmul(a, g)
                case (false, true): gradB = matmul(g, a, transposeA: true)
                case (true, true): gradB = matmul(g, a, transposeA: true, transposeB: true)
                }
                if b.rank == 2, let gb = gradB, gb.rank == 3 { gradB = gb.sum(alongAxis: 0) }
            }
        }
        return [gradA, gradB]
    }
}
