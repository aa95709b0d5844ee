// L2 normalisation and cosine similarity (fused normalisation with a hand-written backward).

import Foundation

extension Tensor {
    /// x / max(‖x‖₂, eps) along `axis`, as `torch.nn.functional.normalize`.
    public func l2Normalized(alongAxis axis: Int = -1, epsilon: Float = 1e-12) -> Tensor {
        let a = axisIndex(axis)
        let (outer, n, inner) = reductionGeometry(a)
        let result = Tensor.uninitialized(shape)
        var norms = [Float](repeating: 0, count: outer * inner)
        let x = storage.pointer, y = result.storage.pointer
        for o in 0..<outer {
            for i in 0..<inner {
                let base = o * n * inner + i
                var total: Float = 0
                for j in 0..<n { total += x[base + j * inner] * x[base + j * inner] }
                let norm = total.squareRoot()
                norms[o * inner + i] = norm
                let scale = 1 / Swift.max(norm, epsilon)
                for j in 0..<n { y[base + j * inner] = x[base + j * inner] * scale }
            }
        }
        return Tensor.record(result, inputs: [self]) { g, out in
            // Above eps: gx = (g − y·⟨g, y⟩) / ‖x‖. At or below eps the divisor is the constant eps: gx = g / eps.
            let gx = Tensor.uninitialized(out.shape)
            let yp = out.storage.pointer, gy = g.storage.pointer, r = gx.storage.pointer
            for o in 0..<outer {
                for i in 0..<inner {
                    let base = o * n * inner + i
                    let norm = norms[o * inner + i]
                    if norm > epsilon {
                        var dot: Float = 0
                        for j in 0..<n { dot += gy[base + j * inner] * yp[base + j * inner] }
                        for j in 0..<n { r[base + j * inner] = (gy[base + j * inner] - yp[base + j * inner] * dot) / norm }
                    } else {
                        for j in 0..<n { r[base + j * inner] = gy[base + j * inner] / epsilon }
                    }
                }
            }
            return [gx]
        }
    }
}

/// Cosine similarity along `axis`: ⟨a, b⟩ / (max(‖a‖, eps) · max(‖b‖, eps)), with broadcasting, as
/// `torch.nn.functional.cosine_similarity`. The result drops `axis`.
public func cosineSimilarity(_ a: Tensor, _ b: Tensor, alongAxis axis: Int = -1, epsilon: Float = 1e-8) -> Tensor {
    (a.l2Normalized(alongAxis: axis, epsilon: epsilon) * b.l2Normalized(alongAxis: axis, epsilon: epsilon))
        .sum(alongAxis: axis)
}

extension Tensor {
    /// Normalises each row over the last axis: y = (x − mean) / √(var + eps) · weight + bias, where var divides by
    /// D (`unbiasedVariance` false: LayerNorm) or D − 1 (true: the modified CPC's ChannelNorm). Fused, with a
    /// hand-written backward that reuses the cached per-row mean and reciprocal standard deviation.
    /// Shapes: `[…, D]`, weight and bias `[D]` or nil → `[…, D]`.
    public func normalizedOverLastAxis(weight: Tensor?, bias: Tensor?, epsilon: Float, unbiasedVariance: Bool) -> Tensor {
        let d = shape.last ?? 1
        precondition(d > (unbiasedVariance ? 1 : 0), "normalisation over an axis of \(d) elements")
        if let weight { precondition(weight.shape == [d], "norm weight \(weight.shape), expected [\(d)]") }
        if let bias { precondition(bias.shape == [d], "norm bias \(bias.shape), expected [\(d)]") }
        let rows = count / d
        let divisor = Float(unbiasedVariance ? d - 1 : d)
        let normalized = Tensor.uninitialized(shape)   // x̂, kept for the backward
        let result = Tensor.uninitialized(shape)
        var reciprocalStd = [Float](repeating: 0, count: rows)
        let x = storage.pointer, xh = normalized.storage.pointer, y = result.storage.pointer
        // Plain (non-optional) pointers keep the inner loops vectorisable.
        let unitWeight = weight ?? Tensor.ones([d]), zeroBias = bias ?? Tensor.zeros([d])
        let w = unitWeight.storage.pointer, b = zeroBias.storage.pointer
        reciprocalStd.withUnsafeMutableBufferPointer { rstd in
            let r = UncheckedSendable(rstd.baseAddress!)
            parallelChunks(count) { range in
                // Chunks are in elements; process the rows that start inside this chunk.
                let firstRow = (range.lowerBound + d - 1) / d, lastRow = min(rows, (range.upperBound + d - 1) / d)
                guard firstRow < lastRow else { return }
                for row in firstRow..<lastRow {
                    let base = row * d
                    let mean = vectorSum(x + base, d) / Float(d)
                    let variance = vectorCentredSquares(x + base, d, centre: mean)
                    let s = 1 / (variance / divisor + epsilon).squareRoot()
                    r.value[row] = s
                    for j in 0..<d {
                        let v = (x[base + j] - mean) * s
                        xh[base + j] = v
                        y[base + j] = v * w[j] + b[j]
                    }
                }
            }
        }
        var inputs = [self]
        if let weight { inputs.append(weight) }
        if let bias { inputs.append(bias) }
        return Tensor.record(result, inputs: inputs) { g, _ in
            let gy = g.storage.pointer, xh = normalized.storage.pointer, w = unitWeight.storage.pointer
            let gradInput = Tensor.uninitialized(self.shape)
            let gx = gradInput.storage.pointer
            reciprocalStd.withUnsafeBufferPointer { rstd in
                parallelChunks(self.count) { range in
                    let firstRow = (range.lowerBound + d - 1) / d, lastRow = min(rows, (range.upperBound + d - 1) / d)
                    guard firstRow < lastRow else { return }
                    for row in firstRow..<lastRow {
                        let base = row * d
                        // dx = rstd · (dx̂ − mean(dx̂) − x̂ · Σ(dx̂ · x̂) / divisor), with dx̂ = dy · weight.
                        // Σ dx̂ = Σ dy·w and Σ dx̂·x̂ = Σ dy·(w·x̂), written into gx first as scratch.
                        let scratch = gx + base
                        for j in 0..<d { scratch[j] = w[j] * xh[base + j] }
                        let sum = vectorDot(gy + base, w, d), dot = vectorDot(gy + base, scratch, d)
                        let mean = sum / Float(d), projection = dot / divisor, s = rstd[row]
                        for j in 0..<d {
                            let dxh = gy[base + j] * w[j]
                            gx[base + j] = s * (dxh - mean - xh[base + j] * projection)
                        }
                    }
                }
            }
            var grads: [Tensor?] = [gradInput]
            if let weight {
                var gradWeight: Tensor?
                if weight.requiresGrad {
                    let gw = Tensor.zeros([d])
                    let p = gw.storage.pointer
                    for row in 0..<rows { vectorAccumulate(p, gy + row * d, times: xh + row * d, d) }
                    gradWeight = gw
                }
                grads.append(gradWeight)
            }
            if let bias {
                var gradBias: Tensor?
                if bias.requiresGrad {
                    let gb = Tensor.zeros([d])
                    let p = gb.storage.pointer
                    for row in 0..<rows { vectorAccumulate(p, gy + row * d, times: nil, d) }
                    gradBias = gb
                }
                grads.append(gradBias)
            }
            return grads
        }
    }
}
