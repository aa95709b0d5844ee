// Fused recurrent sequences (GRU, LSTM) with hand-written backpropagation through time.
//
// Glossary: N batch, T time steps, H hidden size, G gate width (3H for the GRU, 4H for the LSTM).
// The input projection x·W_ihᵀ + b_ih for all steps is one GEMM done by the caller (`inputGates` [N, T, G]);
// these ops run the recurrence: per step one [N, H]·[H, G] GEMM plus the gate maths. Per-step state is cached in
// time-major buffers [T, N, ·] so that each step reads and writes contiguous rows, and the recurrent weight's
// gradient is one GEMM over all steps at the end.

import Foundation

@inline(__always) private func sigmoid(_ x: Float) -> Float {
    x >= 0 ? 1 / (1 + Foundation.exp(-x)) : Foundation.exp(x) / (1 + Foundation.exp(x))
}

/// Copies [N, T, W] rows of step t into a time-major [N, W] block, or back.
@inline(__always)
private func copyStep(_ source: UnsafePointer<Float>, _ destination: UnsafeMutablePointer<Float>, n: Int, t: Int,
                      steps: Int, width: Int, toTimeMajor: Bool) {
    for b in 0..<n {
        let batchMajor = (b * steps + t) * width, timeMajor = b * width
        if toTimeMajor {
            (destination + timeMajor).update(from: source + batchMajor, count: width)
        } else {
            (destination + batchMajor).update(from: source + timeMajor, count: width)
        }
    }
}

/// The gradients of the recurrent weight and bias from the time-major gate gradients `gradHidden` [T, N, G] and
/// the states h_{t-1} (`states`, time-major [T(+1), N, H]): dW_hh = Σ_t dghᵀ·h_{t-1} as one GEMM, db_hh = Σ dgh.
private func recurrentWeightGradients(hiddenWeight: Tensor, hiddenBias: Tensor?, gradHidden: Tensor,
                                      states: UnsafePointer<Float>) -> (weight: Tensor?, bias: Tensor?) {
    let (steps, n, g) = (gradHidden.shape[0], gradHidden.shape[1], gradHidden.shape[2]), h = hiddenWeight.shape[1]
    var gradWeight: Tensor?
    if hiddenWeight.requiresGrad {
        let gw = Tensor.uninitialized([g, h])
        BLAS.sgemm(transposeA: true, transposeB: false, m: g, n: h, k: steps * n, a: gradHidden.storage.pointer, lda: g,
                   b: states, ldb: h, c: gw.storage.pointer, ldc: h)
        gradWeight = gw
    }
    let gradBias = hiddenBias?.requiresGrad == true ? gradHidden.reshaped([steps * n, g]).sum(alongAxis: 0) : nil
    return (gradWeight, gradBias)
}

/// Runs a GRU layer's recurrence with PyTorch's equations (gate order r, z, n):
/// r = σ(gi_r + gh_r), z = σ(gi_z + gh_z), n = tanh(gi_n + r ⊙ gh_n), h' = (1 − z) ⊙ n + z ⊙ h,
/// where gh = h·W_hhᵀ + b_hh.
///
/// - Parameters:
///   - inputGates: `[N, T, 3H]`, the input projection x·W_ihᵀ + b_ih.
///   - hiddenWeight: `[3H, H]` (PyTorch's `weight_hh_l*`).
///   - hiddenBias: `[3H]` or nil.
///   - initialState: `[N, H]`.
/// - Returns: every step's hidden state, `[N, T, H]`.
public func gruSequence(inputGates: Tensor, hiddenWeight: Tensor, hiddenBias: Tensor?, initialState: Tensor) -> Tensor {
    precondition(inputGates.rank == 3, "gruSequence expects input gates [N, T, 3H], found \(inputGates.shape)")
    let n = inputGates.shape[0], steps = inputGates.shape[1], g = inputGates.shape[2], h = g / 3
    precondition(g == 3 * h && hiddenWeight.shape == [g, h], "gruSequence: weight \(hiddenWeight.shape) for gates \(inputGates.shape)")
    precondition(initialState.shape == [n, h], "gruSequence: initial state \(initialState.shape), expected [\(n), \(h)]")
    if let hiddenBias { precondition(hiddenBias.shape == [g], "gruSequence: bias \(hiddenBias.shape), expected [\(g)]") }

    let output = Tensor.uninitialized([n, steps, h])
    // Time-major caches: states[t] = h_{t-1} (t = 0…T), gates r, z, n and the hidden candidate term gh_n.
    let states = Tensor.uninitialized([steps + 1, n, h])
    let cacheR = Tensor.uninitialized([steps, n, h]), cacheZ = Tensor.uninitialized([steps, n, h])
    let cacheN = Tensor.uninitialized([steps, n, h]), cacheHN = Tensor.uninitialized([steps, n, h])
    let gi = inputGates.storage.pointer, w = hiddenWeight.storage.pointer, hs = states.storage.pointer
    let rp = cacheR.storage.pointer, zp = cacheZ.storage.pointer, np = cacheN.storage.pointer
    let hnp = cacheHN.storage.pointer, out = output.storage.pointer
    hs.update(from: initialState.storage.pointer, count: n * h)
    let gh = UnsafeMutablePointer<Float>.allocate(capacity: n * g)
    defer { gh.deallocate() }
    let bias = hiddenBias?.storage.pointer
    for t in 0..<steps {
        let previous = hs + t * n * h, next = hs + (t + 1) * n * h
        if let bias { for b in 0..<n { (gh + b * g).update(from: bias, count: g) } }
        BLAS.sgemm(transposeA: false, transposeB: true, m: n, n: g, k: h, a: previous, lda: h, b: w, ldb: h,
                   beta: bias == nil ? 0 : 1, c: gh, ldc: g)
        for b in 0..<n {
            let x = gi + (b * steps + t) * g, hh = gh + b * g, row = (t * n + b) * h
            for j in 0..<h {
                let r = sigmoid(x[j] + hh[j])
                let z = sigmoid(x[h + j] + hh[h + j])
                let candidate = Foundation.tanh(x[2 * h + j] + r * hh[2 * h + j])
                rp[row + j] = r
                zp[row + j] = z
                np[row + j] = candidate
                hnp[row + j] = hh[2 * h + j]
                next[b * h + j] = (1 - z) * candidate + z * previous[b * h + j]
            }
        }
        copyStep(next, out, n: n, t: t, steps: steps, width: h, toTimeMajor: false)
    }

    var inputs = [inputGates, hiddenWeight, initialState]
    if let hiddenBias { inputs.append(hiddenBias) }
    return Tensor.record(output, inputs: inputs) { gradOutput, _ in
        let hs = states.storage.pointer, w = hiddenWeight.storage.pointer
        let rp = cacheR.storage.pointer, zp = cacheZ.storage.pointer, np = cacheN.storage.pointer
        let hnp = cacheHN.storage.pointer, gy = gradOutput.storage.pointer
        let gradGates = Tensor.zeros([n, steps, g])
        let ggp = gradGates.storage.pointer
        // Gradients of gh for every step, time-major: dW_hh = Σ_t dghᵀ·h_{t-1} is then one GEMM.
        let gradHidden = Tensor.uninitialized([steps, n, g])
        let dgh = gradHidden.storage.pointer
        let carry = UnsafeMutablePointer<Float>.allocate(capacity: n * h)
        let dh = UnsafeMutablePointer<Float>.allocate(capacity: n * h)
        defer { carry.deallocate(); dh.deallocate() }
        carry.update(repeating: 0, count: n * h)
        for t in stride(from: steps - 1, through: 0, by: -1) {
            copyStep(gy, dh, n: n, t: t, steps: steps, width: h, toTimeMajor: true)
            let previous = hs + t * n * h
            for b in 0..<n {
                let row = (t * n + b) * h, dgi = ggp + (b * steps + t) * g, dghRow = dgh + (t * n + b) * g
                for j in 0..<h {
                    let grad = dh[b * h + j] + carry[b * h + j]
                    let r = rp[row + j], z = zp[row + j], candidate = np[row + j]
                    let dCandidate = grad * (1 - z)
                    let dz = grad * (previous[b * h + j] - candidate)
                    carry[b * h + j] = grad * z
                    let dPreCandidate = dCandidate * (1 - candidate * candidate)
                    let dr = dPreCandidate * hnp[row + j]
                    let dPreR = dr * r * (1 - r), dPreZ = dz * z * (1 - z)
                    dgi[j] = dPreR
                    dgi[h + j] = dPreZ
                    dgi[2 * h + j] = dPreCandidate
                    dghRow[j] = dPreR
                    dghRow[h + j] = dPreZ
                    dghRow[2 * h + j] = dPreCandidate * r
                }
            }
            // dh_{t-1} += dgh_t · W_hh
            BLAS.sgemm(transposeA: false, transposeB: false, m: n, n: h, k: g, a: dgh + t * n * g, lda: g,
                       b: w, ldb: h, beta: 1, c: carry, ldc: h)
        }
        let (gradWeight, gradBias) = recurrentWeightGradients(hiddenWeight: hiddenWeight, hiddenBias: hiddenBias,
                                                              gradHidden: gradHidden, states: hs)
        let gradInitial = Tensor([Float](UnsafeBufferPointer(start: carry, count: n * h)), shape: [n, h])
        return [gradGates, gradWeight, gradInitial] + (hiddenBias == nil ? [] : [gradBias])
    }
}

/// Runs an LSTM layer's recurrence with PyTorch's equations (gate order i, f, g, o):
/// i = σ(·), f = σ(·), g = tanh(·), o = σ(·) of gi + h·W_hhᵀ + b_hh; c' = f ⊙ c + i ⊙ g; h' = o ⊙ tanh(c').
///
/// - Parameters:
///   - inputGates: `[N, T, 4H]`, the input projection x·W_ihᵀ + b_ih.
///   - hiddenWeight: `[4H, H]`.
///   - hiddenBias: `[4H]` or nil.
///   - initialState: `[N, H]`.
///   - initialCell: `[N, H]`.
/// - Returns: `[N, T, 2H]`: each step's hidden state in `[..., 0..<H]` and its cell state in `[..., H..<2H]`.
public func lstmSequence(inputGates: Tensor, hiddenWeight: Tensor, hiddenBias: Tensor?, initialState: Tensor,
                         initialCell: Tensor) -> Tensor {
    precondition(inputGates.rank == 3, "lstmSequence expects input gates [N, T, 4H], found \(inputGates.shape)")
    let n = inputGates.shape[0], steps = inputGates.shape[1], g = inputGates.shape[2], h = g / 4
    precondition(g == 4 * h && hiddenWeight.shape == [g, h], "lstmSequence: weight \(hiddenWeight.shape) for gates \(inputGates.shape)")
    precondition(initialState.shape == [n, h] && initialCell.shape == [n, h],
                 "lstmSequence: initial state \(initialState.shape) / cell \(initialCell.shape), expected [\(n), \(h)]")
    if let hiddenBias { precondition(hiddenBias.shape == [g], "lstmSequence: bias \(hiddenBias.shape), expected [\(g)]") }

    let output = Tensor.uninitialized([n, steps, 2 * h])
    let states = Tensor.uninitialized([steps + 1, n, h]), cells = Tensor.uninitialized([steps + 1, n, h])
    let activations = Tensor.uninitialized([steps, n, g])  // i, f, g, o after their nonlinearities
    let gi = inputGates.storage.pointer, w = hiddenWeight.storage.pointer
    let hs = states.storage.pointer, cs = cells.storage.pointer, ap = activations.storage.pointer
    let out = output.storage.pointer
    hs.update(from: initialState.storage.pointer, count: n * h)
    cs.update(from: initialCell.storage.pointer, count: n * h)
    let gh = UnsafeMutablePointer<Float>.allocate(capacity: n * g)
    defer { gh.deallocate() }
    let bias = hiddenBias?.storage.pointer
    for t in 0..<steps {
        let previous = hs + t * n * h, next = hs + (t + 1) * n * h
        let previousCell = cs + t * n * h, nextCell = cs + (t + 1) * n * h
        if let bias { for b in 0..<n { (gh + b * g).update(from: bias, count: g) } }
        BLAS.sgemm(transposeA: false, transposeB: true, m: n, n: g, k: h, a: previous, lda: h, b: w, ldb: h,
                   beta: bias == nil ? 0 : 1, c: gh, ldc: g)
        for b in 0..<n {
            let x = gi + (b * steps + t) * g, hh = gh + b * g, a = ap + (t * n + b) * g
            let o = out + (b * steps + t) * 2 * h
            for j in 0..<h {
                let ig = sigmoid(x[j] + hh[j]), fg = sigmoid(x[h + j] + hh[h + j])
                let gg = Foundation.tanh(x[2 * h + j] + hh[2 * h + j]), og = sigmoid(x[3 * h + j] + hh[3 * h + j])
                a[j] = ig; a[h + j] = fg; a[2 * h + j] = gg; a[3 * h + j] = og
                let c = fg * previousCell[b * h + j] + ig * gg
                nextCell[b * h + j] = c
                let hv = og * Foundation.tanh(c)
                next[b * h + j] = hv
                o[j] = hv
                o[h + j] = c
            }
        }
    }

    var inputs = [inputGates, hiddenWeight, initialState, initialCell]
    if let hiddenBias { inputs.append(hiddenBias) }
    return Tensor.record(output, inputs: inputs) { gradOutput, _ in
        let hs = states.storage.pointer, cs = cells.storage.pointer, ap = activations.storage.pointer
        let w = hiddenWeight.storage.pointer, gy = gradOutput.storage.pointer
        let gradGates = Tensor.zeros([n, steps, g])
        let ggp = gradGates.storage.pointer
        let gradHidden = Tensor.uninitialized([steps, n, g])
        let dgh = gradHidden.storage.pointer
        let carryH = UnsafeMutablePointer<Float>.allocate(capacity: n * h)
        let carryC = UnsafeMutablePointer<Float>.allocate(capacity: n * h)
        defer { carryH.deallocate(); carryC.deallocate() }
        carryH.update(repeating: 0, count: n * h)
        carryC.update(repeating: 0, count: n * h)
        for t in stride(from: steps - 1, through: 0, by: -1) {
            for b in 0..<n {
                let a = ap + (t * n + b) * g, upstream = gy + (b * steps + t) * 2 * h
                let dgi = ggp + (b * steps + t) * g, dghRow = dgh + (t * n + b) * g
                for j in 0..<h {
                    let ig = a[j], fg = a[h + j], gg = a[2 * h + j], og = a[3 * h + j]
                    let c = cs[(t + 1) * n * h + b * h + j], cPrevious = cs[t * n * h + b * h + j]
                    let tc = Foundation.tanh(c)
                    let dh = upstream[j] + carryH[b * h + j]
                    let dc = upstream[h + j] + carryC[b * h + j] + dh * og * (1 - tc * tc)
                    let dPreI = dc * gg * ig * (1 - ig)
                    let dPreF = dc * cPrevious * fg * (1 - fg)
                    let dPreG = dc * ig * (1 - gg * gg)
                    let dPreO = dh * tc * og * (1 - og)
                    carryC[b * h + j] = dc * fg
                    dgi[j] = dPreI; dgi[h + j] = dPreF; dgi[2 * h + j] = dPreG; dgi[3 * h + j] = dPreO
                    dghRow[j] = dPreI; dghRow[h + j] = dPreF; dghRow[2 * h + j] = dPreG; dghRow[3 * h + j] = dPreO
                }
            }
            BLAS.sgemm(transposeA: false, transposeB: false, m: n, n: h, k: g, a: dgh + t * n * g, lda: g,
                       b: w, ldb: h, beta: 0, c: carryH, ldc: h)
        }
        let (gradWeight, gradBias) = recurrentWeightGradients(hiddenWeight: hiddenWeight, hiddenBias: hiddenBias,
                                                              gradHidden: gradHidden, states: hs)
        let gradInitial = Tensor([Float](UnsafeBufferPointer(start: carryH, count: n * h)), shape: [n, h])
        let gradCell = Tensor([Float](UnsafeBufferPointer(start: carryC, count: n * h)), shape: [n, h])
        return [gradGates, gradWeight, gradInitial, gradCell] + (hiddenBias == nil ? [] : [gradBias])
    }
}
