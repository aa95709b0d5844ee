// Softmax, log-softmax and cross-entropy with integer targets: fused kernels with hand-written backward passes.

import Foundation

/// How a loss reduces its per-example values.
public enum Reduction: String, Sendable, Codable {
    case none, sum, mean
}

extension Tensor {
    /// Stable softmax or log-softmax along `axis`, not recorded.
    private func softmaxKernel(axis: Int, logarithmic: Bool) -> Tensor {
        let (outer, n, inner) = reductionGeometry(axis)
        let result = Tensor.uninitialized(shape)
        let x = storage.pointer, y = result.storage.pointer
        for o in 0..<outer {
            for i in 0..<inner {
                let base = o * n * inner + i
                var m = -Float.infinity
                for j in 0..<n { m = Swift.max(m, x[base + j * inner]) }
                var total: Float = 0
                for j in 0..<n {
                    let e = Foundation.exp(x[base + j * inner] - m)
                    total += e
                    if !logarithmic { y[base + j * inner] = e }
                }
                if logarithmic {
                    let shift = m + Foundation.log(total)
                    for j in 0..<n { y[base + j * inner] = x[base + j * inner] - shift }
                } else {
                    let scale = 1 / total
                    for j in 0..<n { y[base + j * inner] *= scale }
                }
            }
        }
        return result
    }

    /// Softmax along `axis` (default: last).
    public func softmax(alongAxis axis: Int = -1) -> Tensor {
        let a = axisIndex(axis)
        let (outer, n, inner) = reductionGeometry(a)
        return Tensor.record(softmaxKernel(axis: a, logarithmic: false), inputs: [self]) { g, out in
            // gx = y ⊙ (g − Σ g⊙y)
            let gx = Tensor.uninitialized(out.shape)
            let y = out.storage.pointer, gy = g.storage.pointer, r = gx.storage.pointer
            for o in 0..<outer {
                for i in 0..<inner {
                    let base = o * n * inner + i
                    var dot: Float = 0
                    for j in 0..<n { dot += gy[base + j * inner] * y[base + j * inner] }
                    for j in 0..<n { r[base + j * inner] = y[base + j * inner] * (gy[base + j * inner] - dot) }
                }
            }
            return [gx]
        }
    }

    /// Log-softmax along `axis` (default: last).
    public func logSoftmax(alongAxis axis: Int = -1) -> Tensor {
        let a = axisIndex(axis)
        let (outer, n, inner) = reductionGeometry(a)
        return Tensor.record(softmaxKernel(axis: a, logarithmic: true), inputs: [self]) { g, out in
            // gx = g − softmax ⊙ Σ g
            let gx = Tensor.uninitialized(out.shape)
            let y = out.storage.pointer, gy = g.storage.pointer, r = gx.storage.pointer
            for o in 0..<outer {
                for i in 0..<inner {
                    let base = o * n * inner + i
                    var total: Float = 0
                    for j in 0..<n { total += gy[base + j * inner] }
                    for j in 0..<n {
                        r[base + j * inner] = gy[base + j * inner] - Foundation.exp(y[base + j * inner]) * total
                    }
                }
            }
            return [gx]
        }
    }
}

/// Cross-entropy between `logits` `[N, C]` and integer class `targets` (N of them, each in `0..<C`), as
/// `torch.nn.functional.cross_entropy`. Targets equal to `ignoreIndex` contribute nothing; `.mean` divides by the
/// number of targets not ignored. Shape of the result: `[]` for `.sum`/`.mean`, `[N]` for `.none`.
public func crossEntropy(logits: Tensor, targets: [Int], ignoreIndex: Int? = nil,
                         reduction: Reduction = .mean) -> Tensor {
    precondition(logits.rank == 2, "crossEntropy expects logits [N, C], found \(logits.shape)")
    let rows = logits.shape[0], classes = logits.shape[1]
    precondition(targets.count == rows, "crossEntropy: \(targets.count) targets for \(rows) rows")
    let logProbabilities = withoutGrad { logits.logSoftmax(alongAxis: 1) }
    let lp = logProbabilities.storage.pointer
    var losses = [Float](repeating: 0, count: rows)
    var used = 0
    for (row, target) in targets.enumerated() {
        if target == ignoreIndex { continue }
        precondition(target >= 0 && target < classes, "crossEntropy: target \(target) outside 0..<\(classes)")
        losses[row] = -lp[row * classes + target]
        used += 1
    }
    let output: Tensor
    switch reduction {
    case .none: output = Tensor(losses, shape: [rows])
    case .sum: output = Tensor(scalar: losses.reduce(0, +))
    case .mean: output = Tensor(scalar: used > 0 ? losses.reduce(0, +) / Float(used) : .nan)
    }
    return Tensor.record(output, inputs: [logits]) { g, _ in
        // d loss_r / d logits_r = softmax_r − onehot(target_r), scaled by the upstream gradient.
        let gx = Tensor.zeros(logits.shape)
        let r = gx.storage.pointer, gy = g.storage.pointer, lp = logProbabilities.storage.pointer
        for (row, target) in targets.enumerated() where target != ignoreIndex {
            let scale: Float
            switch reduction {
            case .none: scale = gy[row]
            case .sum: scale = gy[0]
            case .mean: scale = gy[0] / Float(used)
            }
            for c in 0..<classes { r[row * classes + c] = scale * Foundation.exp(lp[row * classes + c]) }
            r[row * classes + target] -= scale
        }
        return [gx]
    }
}
