// Dense linear algebra through LAPACK and BLAS: Cholesky, triangular solve and symmetric eigendecomposition,
// each with its gradient. Used by the whitening methods (W-MSE, decorrelated batch norm).
//
// Glossary: n the matrix order, k the number of right-hand sides. LAPACK is column-major; a row-major symmetric
// matrix reads the same either way, and a row-major result is the transpose of what LAPACK wrote.

import CBLAS

/// A numerical failure in a factorisation, raised for data (not programmer) problems.
public enum LinearAlgebraError: Error, CustomStringConvertible, Equatable {
    /// Cholesky failed: the leading minor of this order is not positive-definite.
    case notPositiveDefinite(order: Int)
    /// The eigensolver did not converge.
    case eigendecompositionFailed(code: Int)
    /// A matrix that must be positive-definite has this smallest eigenvalue.
    case nonPositiveEigenvalue(Float)

    public var description: String {
        switch self {
        case .notPositiveDefinite(let order):
            return "Cholesky factorisation failed: the leading minor of order \(order) is not positive-definite "
                + "(add a small multiple of the identity, or check the covariance for collapsed dimensions)"
        case .eigendecompositionFailed(let code):
            return "symmetric eigendecomposition did not converge (LAPACK ssyevd info \(code))"
        case .nonPositiveEigenvalue(let value):
            return "the matrix is not positive-definite: its smallest eigenvalue is \(value) "
                + "(add a small multiple of the identity, or check the covariance for collapsed dimensions)"
        }
    }
}

/// Solves op(T)·X = B or X·op(T) = B in place in `b` for triangular `t` (row-major), through cblas_strsm.
private func solveTriangular(_ t: UnsafePointer<Float>, order n: Int, _ b: UnsafeMutablePointer<Float>, rows: Int,
                             columns: Int, left: Bool, lower: Bool, transpose: Bool) {
    cblas_strsm(CblasRowMajor, left ? CblasLeft : CblasRight, lower ? CblasLower : CblasUpper,
                transpose ? CblasTrans : CblasNoTrans, CblasNonUnit, Int32(rows), Int32(columns), 1,
                t, Int32(n), b, Int32(columns))
}

/// (g + gᵀ) / 2 for a square matrix, in place.
private func symmetrize(_ g: UnsafeMutablePointer<Float>, order n: Int) {
    for i in 0..<n {
        for j in (i + 1)..<max(n, i + 1) {
            let v = 0.5 * (g[i * n + j] + g[j * n + i])
            g[i * n + j] = v
            g[j * n + i] = v
        }
    }
}

/// The lower Cholesky factor L of a symmetric positive-definite matrix, A = L·Lᵀ (as `torch.linalg.cholesky`).
/// Only the lower triangle of `a` is read. Shape: `[n, n] → [n, n]`.
///
/// The gradient is symmetric: Ā = ½(S + Sᵀ) with S = L⁻ᵀ Φ(Lᵀ L̄) L⁻¹, Φ taking the lower triangle with the diagonal
/// halved (Murray 2016, "Differentiation of the Cholesky decomposition").
public func cholesky(_ a: Tensor) throws -> Tensor {
    precondition(a.rank == 2 && a.shape[0] == a.shape[1], "cholesky expects a square matrix, found \(a.shape)")
    let n = a.shape[0]
    let result = a.copy()
    let l = result.storage.pointer
    var order = Int32(n), lda = Int32(max(n, 1)), info: Int32 = 0
    // Row-major lower = column-major upper.
    var uplo = Int8(UInt8(ascii: "U"))
    spotrf_(&uplo, &order, l, &lda, &info)
    if info > 0 { throw LinearAlgebraError.notPositiveDefinite(order: Int(info)) }
    precondition(info == 0, "spotrf argument error \(info)")
    for i in 0..<n { for j in (i + 1)..<max(n, i + 1) { l[i * n + j] = 0 } }
    return Tensor.record(result, inputs: [a]) { g, out in
        let lp = out.storage.pointer
        // P = Φ(Lᵀ · tril(L̄))
        let gl = g.copy()
        let glp = gl.storage.pointer
        for i in 0..<n { for j in (i + 1)..<max(n, i + 1) { glp[i * n + j] = 0 } }
        let p = matmul(out, gl, transposeA: true)
        let pp = p.storage.pointer
        for i in 0..<n {
            for j in (i + 1)..<max(n, i + 1) { pp[i * n + j] = 0 }
            pp[i * n + i] *= 0.5
        }
        // S = L⁻ᵀ P L⁻¹: solve Lᵀ X = P, then S L = X.
        solveTriangular(lp, order: n, pp, rows: n, columns: n, left: true, lower: true, transpose: true)
        solveTriangular(lp, order: n, pp, rows: n, columns: n, left: false, lower: true, transpose: false)
        symmetrize(pp, order: n)
        return [p]
    }
}

/// Solves T·X = B for X, with T triangular (as `torch.linalg.solve_triangular(T, B, upper:, left=True)`).
/// Only the named triangle of `t` is read. Shapes: `t [n, n]`, `b [n, k]` → `[n, k]`.
public func triangularSolve(_ t: Tensor, _ b: Tensor, upper: Bool = false) -> Tensor {
    precondition(t.rank == 2 && t.shape[0] == t.shape[1], "triangularSolve expects a square matrix, found \(t.shape)")
    precondition(b.rank == 2 && b.shape[0] == t.shape[0], "triangularSolve: right-hand side \(b.shape) for \(t.shape)")
    let n = t.shape[0], k = b.shape[1]
    let result = b.copy()
    solveTriangular(t.storage.pointer, order: n, result.storage.pointer, rows: n, columns: k, left: true,
                    lower: !upper, transpose: false)
    return Tensor.record(result, inputs: [t, b]) { g, out in
        // B̄ = T⁻ᵀ X̄ ; T̄ = −B̄ Xᵀ restricted to T's triangle.
        let gb = g.copy()
        solveTriangular(t.storage.pointer, order: n, gb.storage.pointer, rows: n, columns: k, left: true,
                        lower: !upper, transpose: true)
        var gt: Tensor?
        if t.requiresGrad {
            let full = matmul(gb, out, transposeB: true)
            let p = full.storage.pointer
            for i in 0..<n {
                for j in 0..<n where (upper ? j < i : j > i) { p[i * n + j] = 0 }
            }
            for i in 0..<(n * n) { p[i] = -p[i] }
            gt = full
        }
        return [gt, b.requiresGrad ? gb : nil]
    }
}

/// LAPACK's eigendecomposition of symmetric `a` (lower triangle read), without gradient: eigenvalues ascending
/// `[n]` and eigenvectors as columns `[n, n]`.
private func eigh(_ a: Tensor) throws -> (values: Tensor, vectors: Tensor) {
    let n = a.shape[0]
    let work = a.copy()  // row-major, read as column-major: LAPACK's upper triangle is our lower one
    let values = Tensor.uninitialized([n])
    var jobz = Int8(UInt8(ascii: "V")), uplo = Int8(UInt8(ascii: "U"))
    var order = Int32(n), lda = Int32(max(n, 1)), info: Int32 = 0
    var lwork: Int32 = -1, liwork: Int32 = -1, workSize: Float = 0, iworkSize: Int32 = 0
    ssyevd_(&jobz, &uplo, &order, work.storage.pointer, &lda, values.storage.pointer, &workSize, &lwork,
            &iworkSize, &liwork, &info)
    lwork = Int32(workSize)
    liwork = iworkSize
    var scratch = [Float](repeating: 0, count: max(Int(lwork), 1))
    var iscratch = [Int32](repeating: 0, count: max(Int(liwork), 1))
    ssyevd_(&jobz, &uplo, &order, work.storage.pointer, &lda, values.storage.pointer, &scratch, &lwork,
            &iscratch, &liwork, &info)
    if info > 0 { throw LinearAlgebraError.eigendecompositionFailed(code: Int(info)) }
    precondition(info == 0, "ssyevd argument error \(info)")
    // LAPACK wrote eigenvectors as column-major columns = our rows; transpose so that columns are eigenvectors.
    return (values, withoutGrad { work.transposed() })
}

/// Eigenvalues (ascending) and eigenvectors (as columns) of a symmetric matrix, A = V·diag(λ)·Vᵀ
/// (as `torch.linalg.eigh`). Only the lower triangle of `a` is read. Shapes: `[n, n] → ([n], [n, n])`.
///
/// The gradient is Ā = ½(S + Sᵀ) with S = V (diag(λ̄) + F ∘ Vᵀ V̄) Vᵀ and F_ij = 1/(λ_j − λ_i) off the diagonal.
/// Eigenvectors of a repeated eigenvalue are not unique, and neither is their gradient: pairs closer than
/// `degenerateGap` (relative to the largest |λ|) get F_ij = 0, the usual truncation (Wang et al. 2019,
/// "Backpropagation-friendly eigendecomposition"), instead of an infinite gradient. Losses should depend neither
/// on the eigenvectors' signs nor on their order within a repeated eigenvalue; a function of the whole spectrum
/// (`symmetricInverseSquareRoot`) needs no truncation.
public func symmetricEigendecomposition(_ a: Tensor, degenerateGap: Float = 1e-6) throws -> (eigenvalues: Tensor, eigenvectors: Tensor) {
    precondition(a.rank == 2 && a.shape[0] == a.shape[1], "eigh expects a square matrix, found \(a.shape)")
    let n = a.shape[0]
    let (values, vectors) = try eigh(a)

    // One node for both outputs: each output's VJP adds into a shared gradient built from whichever is used.
    let eigenvalues = Tensor.record(values, inputs: [a]) { g, _ in
        let vg = matmul(vectors, Tensor.zipMap(vectors, g.reshaped([1, n]).expanded(to: [n, n]), *), transposeB: true)
        symmetrize(vg.storage.pointer, order: n)
        return [vg]
    }
    let eigenvectorsResult = Tensor.record(vectors.copy(), inputs: [a]) { g, out in
        let vtg = matmul(out, g, transposeA: true)  // Vᵀ V̄
        let p = vtg.storage.pointer, lam = values.storage.pointer
        var largest: Float = 0
        for i in 0..<n { largest = max(largest, abs(lam[i])) }
        let gap = degenerateGap * max(largest, 1)
        for i in 0..<n {
            for j in 0..<n {
                let difference = lam[j] - lam[i]
                p[i * n + j] = i == j || abs(difference) <= gap ? 0 : p[i * n + j] / difference
            }
        }
        let s = matmul(matmul(out, vtg), out, transposeB: true)
        symmetrize(s.storage.pointer, order: n)
        return [s]
    }
    return (eigenvalues, eigenvectorsResult)
}

/// Σ^(-1/2) = V·diag(λ^(-1/2))·Vᵀ of a symmetric positive-definite matrix: the ZCA whitening matrix of a
/// covariance Σ (decorrelated batch norm). Only the lower triangle of `a` is read. Shape: `[n, n] → [n, n]`.
/// Throws `nonPositiveEigenvalue` when an eigenvalue is not positive.
///
/// The gradient is the Daleckii–Krein formula for a function of a symmetric matrix, Ā = V (K ∘ Vᵀ Ḡ V) Vᵀ
/// (symmetrised), with the divided differences of f(λ) = λ^(-1/2) in closed form,
/// K_ij = (f(λ_i) − f(λ_j)) / (λ_i − λ_j) = −1 / (s_i s_j (s_i + s_j)), s = √λ, which is also f′(λ_i) when i = j:
/// it stays exact and finite for repeated eigenvalues, where the eigenvectors' own gradient does not exist.
///
/// ### References
/// - Huang et al. 2018, "Decorrelated batch normalization" (ZCA whitening and its backward).
/// - Higham 2008, "Functions of matrices", the Daleckii–Krein theorem.
public func symmetricInverseSquareRoot(_ a: Tensor) throws -> Tensor {
    precondition(a.rank == 2 && a.shape[0] == a.shape[1], "symmetricInverseSquareRoot expects a square matrix, found \(a.shape)")
    let n = a.shape[0]
    let (values, vectors) = try eigh(a)
    let lam = values.storage.pointer
    if n > 0, !(lam[0] > 0) { throw LinearAlgebraError.nonPositiveEigenvalue(lam[0]) }
    let roots = (0..<n).map { lam[$0].squareRoot() }
    // V · diag(λ^-1/2) · Vᵀ
    let scaled = vectors.copy()
    let sp = scaled.storage.pointer
    for i in 0..<n { for j in 0..<n { sp[i * n + j] /= roots[j] } }
    let result = matmul(scaled, vectors, transposeB: true)
    return Tensor.record(result, inputs: [a]) { g, _ in
        let inner = matmul(matmul(vectors, g, transposeA: true), vectors)  // Vᵀ Ḡ V
        let p = inner.storage.pointer
        for i in 0..<n {
            for j in 0..<n { p[i * n + j] *= -1 / (roots[i] * roots[j] * (roots[i] + roots[j])) }
        }
        let s = matmul(matmul(vectors, inner), vectors, transposeB: true)
        symmetrize(s.storage.pointer, order: n)
        return [s]
    }
}
