// Reductions over axes: sum, mean, max/argmax, variance and logsumexp.
//
// Each single-axis kernel views the input as [outer, n, inner] with the reduced axis in the middle.

import Foundation

extension Tensor {
    /// (outer, n, inner) for a reduction over `axis`.
    @inline(__always)
    func reductionGeometry(_ axis: Int) -> (outer: Int, n: Int, inner: Int) {
        (shape[..<axis].reduce(1, *), shape[axis], shape[(axis + 1)...].reduce(1, *))
    }

    func reducedShape(_ axis: Int, keepingDimensions: Bool) -> [Int] {
        var s = shape
        if keepingDimensions { s[axis] = 1 } else { s.remove(at: axis) }
        return s
    }

    /// Sum over one axis, not recorded.
    func sumKernel(axis: Int, keepingDimensions: Bool) -> Tensor {
        let (outer, n, inner) = reductionGeometry(axis)
        let result = Tensor.zeros(reducedShape(axis, keepingDimensions: keepingDimensions))
        let x = storage.pointer, y = result.storage.pointer
        for o in 0..<outer {
            let row = y + o * inner
            if inner == 1 {
                var acc: Float = 0
                let base = x + o * n
                for j in 0..<n { acc += base[j] }
                row[0] = acc
            } else {
                for j in 0..<n {
                    let base = x + (o * n + j) * inner
                    for i in 0..<inner { row[i] += base[i] }
                }
            }
        }
        return result
    }

    /// Sum over the given axes (all axes when empty: a scalar).
    public func sum(alongAxes axes: [Int], keepingDimensions: Bool = false) -> Tensor {
        let normalized = Array(Set(axes.map(axisIndex))).sorted(by: >)
        if normalized.isEmpty { return self }
        var result = sumKernel(axis: normalized[0], keepingDimensions: true)
        for a in normalized.dropFirst() { result = result.sumKernel(axis: a, keepingDimensions: true) }
        let kept = result.shape
        var outShape = kept
        if !keepingDimensions { for a in normalized { outShape.remove(at: a) } }
        let output = outShape == kept ? result : result.reshaped(outShape)
        let inputShape = shape
        return Tensor.record(output, inputs: [self]) { g, _ in [g.reshaped(kept).expanded(to: inputShape)] }
    }

    /// Sum over one axis.
    public func sum(alongAxis axis: Int, keepingDimensions: Bool = false) -> Tensor {
        sum(alongAxes: [axis], keepingDimensions: keepingDimensions)
    }

    /// Sum of all elements, as a scalar of shape `[]`.
    public func sum() -> Tensor {
        let x = storage.pointer
        var acc: Double = 0
        for i in 0..<count { acc += Double(x[i]) }
        let inputShape = shape
        return Tensor.record(Tensor(scalar: Float(acc)), inputs: [self]) { g, _ in
            [Tensor(repeating: g.item, shape: inputShape)]
        }
    }

    /// Mean over the given axes.
    public func mean(alongAxes axes: [Int], keepingDimensions: Bool = false) -> Tensor {
        let n = Set(axes.map(axisIndex)).reduce(1) { $0 * shape[$1] }
        return sum(alongAxes: axes, keepingDimensions: keepingDimensions) * (1 / Float(n))
    }

    /// Mean over one axis.
    public func mean(alongAxis axis: Int, keepingDimensions: Bool = false) -> Tensor {
        mean(alongAxes: [axis], keepingDimensions: keepingDimensions)
    }

    /// Mean of all elements, as a scalar.
    public func mean() -> Tensor { sum() * (1 / Float(Swift.max(count, 1))) }

    /// Variance over the given axes; `unbiased` divides by n − 1 (PyTorch's default, `correction=1`).
    public func variance(alongAxes axes: [Int], unbiased: Bool = true, keepingDimensions: Bool = false) -> Tensor {
        let n = Set(axes.map(axisIndex)).reduce(1) { $0 * shape[$1] }
        let centered = self - mean(alongAxes: axes, keepingDimensions: true)
        let sumSquares = centered.squared().sum(alongAxes: axes, keepingDimensions: keepingDimensions)
        return sumSquares * (1 / Float(unbiased ? Swift.max(n - 1, 1) : n))
    }

    /// Variance over one axis.
    public func variance(alongAxis axis: Int, unbiased: Bool = true, keepingDimensions: Bool = false) -> Tensor {
        variance(alongAxes: [axis], unbiased: unbiased, keepingDimensions: keepingDimensions)
    }

    /// Maximum over one axis and the index where it is reached (the first, on ties).
    /// The gradient flows to that index only.
    public func max(alongAxis axis: Int, keepingDimensions: Bool = false) -> (values: Tensor, indices: [Int]) {
        let a = axisIndex(axis)
        let (outer, n, inner) = reductionGeometry(a)
        precondition(n > 0, "max over an empty axis of shape \(shape)")
        let outShape = reducedShape(a, keepingDimensions: keepingDimensions)
        let values = Tensor.uninitialized(outShape)
        var indices = [Int](repeating: 0, count: outer * inner)
        let x = storage.pointer, y = values.storage.pointer
        for o in 0..<outer {
            for i in 0..<inner {
                var best = x[o * n * inner + i], bestIndex = 0
                for j in 1..<n {
                    let v = x[(o * n + j) * inner + i]
                    if v > best || (best.isNaN == false && v.isNaN) { best = v; bestIndex = j }
                }
                y[o * inner + i] = best
                indices[o * inner + i] = bestIndex
            }
        }
        let inputShape = shape
        let result = Tensor.record(values, inputs: [self]) { g, _ in
            let full = Tensor.zeros(inputShape)
            let gx = full.storage.pointer, gy = g.storage.pointer
            for o in 0..<outer {
                for i in 0..<inner { gx[(o * n + indices[o * inner + i]) * inner + i] = gy[o * inner + i] }
            }
            return [full]
        }
        return (result, indices)
    }

    /// Indices of the maxima along one axis, row-major over the remaining axes.
    public func argmax(alongAxis axis: Int) -> [Int] { withoutGrad { self.max(alongAxis: axis).indices } }

    /// log Σ exp over one axis, computed stably (the maximum is subtracted first).
    public func logSumExp(alongAxis axis: Int, keepingDimensions: Bool = false) -> Tensor {
        let a = axisIndex(axis)
        let (outer, n, inner) = reductionGeometry(a)
        let keptShape = reducedShape(a, keepingDimensions: true)
        let result = Tensor.uninitialized(keptShape)
        let x = storage.pointer, y = result.storage.pointer
        for o in 0..<outer {
            for i in 0..<inner {
                var m = -Float.infinity
                for j in 0..<n { m = Swift.max(m, x[(o * n + j) * inner + i]) }
                if m == -.infinity { y[o * inner + i] = -.infinity; continue }
                var acc: Float = 0
                for j in 0..<n { acc += Foundation.exp(x[(o * n + j) * inner + i] - m) }
                y[o * inner + i] = m + Foundation.log(acc)
            }
        }
        let output = keepingDimensions ? result : result.reshaped(reducedShape(a, keepingDimensions: false))
        return Tensor.record(output, inputs: [self]) { g, out in
            // d/dx logsumexp = softmax(x) = exp(x - lse).
            let lse = out.reshaped(keptShape), gk = g.reshaped(keptShape)
            let weights = Tensor.broadcastMap(self, lse) { Foundation.exp($0 - $1) }
            return [Tensor.broadcastMap(weights, gk, *)]
        }
    }
}

extension Tensor {
    /// Leave-one-out log Σ exp along the last axis: `out[r, j] = log Σ_{k ≠ j} exp(x[r, k])`, the log-partition of
    /// each row without one of its entries (the interpolated MI bound's InfoNCE baseline, Poole et al. 2019).
    /// Computed exactly from prefix and suffix log-sums (no cancellation when one entry dominates its row).
    /// Shape: `[R, N] → [R, N]`, N ≥ 2. Gradient: `∂out[r, j]/∂x[r, k] = exp(x[r, k] − out[r, j])` for k ≠ j, 0 for k = j.
    public func leaveOneOutLogSumExp() -> Tensor {
        precondition(rank == 2 && shape[1] >= 2, "leaveOneOutLogSumExp expects [R, N] with N >= 2, found \(shape)")
        let (rows, n) = (shape[0], shape[1])
        let result = Tensor.uninitialized(shape)
        let x = storage.pointer, y = result.storage.pointer
        // log(e^a + e^b) in Double, −∞ when both are.
        func logAddExp(_ a: Double, _ b: Double) -> Double {
            let m = Swift.max(a, b)
            return m == -.infinity ? -.infinity : m + Foundation.log(Foundation.exp(a - m) + Foundation.exp(b - m))
        }
        var prefix = [Double](repeating: -.infinity, count: n + 1), suffix = [Double](repeating: -.infinity, count: n + 1)
        for r in 0..<rows {
            let row = x + r * n
            for k in 0..<n { prefix[k + 1] = logAddExp(prefix[k], Double(row[k])) }
            for k in stride(from: n - 1, through: 0, by: -1) { suffix[k] = logAddExp(suffix[k + 1], Double(row[k])) }
            for j in 0..<n { y[r * n + j] = Float(logAddExp(prefix[j], suffix[j + 1])) }
        }
        return Tensor.record(result, inputs: [self]) { g, out in
            let gradient = Tensor.zeros([rows, n])
            let x = self.storage.pointer, gx = gradient.storage.pointer, gy = g.storage.pointer, o = out.storage.pointer
            for r in 0..<rows {
                for k in 0..<n {
                    var acc = 0.0
                    let xk = Double(x[r * n + k])
                    for j in 0..<n where j != k { acc += Double(gy[r * n + j]) * Foundation.exp(xk - Double(o[r * n + j])) }
                    gx[r * n + k] = Float(acc)
                }
            }
            return [gradient]
        }
    }
}
