// Fused batch normalisation over channels-last data in training mode: one pass for the per-channel statistics, one
// for x̂ and y, and a hand-written backward from the cached x̂ and 1/σ (it dominates the image-pair methods' steps,
// where the composite of ops made five passes and kept four temporaries).
//
// Glossary: M = N·H·W rows (every axis but the last), C channels.

import Foundation

extension Tensor {
    /// Batch normalisation with batch statistics: y = (x − μ_c) / √(σ²_c + eps) · weight_c + bias_c over the
    /// rows `[M, C]` of this `[…, C]` tensor, σ² biased (divided by M), as `torch.nn.functional.batch_norm` in
    /// training mode. Returns y and the batch mean and biased variance `[C]` (for the running statistics; no grad).
    public func batchNormalized(weight: Tensor?, bias: Tensor?, epsilon: Float) -> (output: Tensor, mean: [Float], variance: [Float]) {
        let c = shape.last ?? 1
        let m = count / Swift.max(c, 1)
        precondition(rank >= 2 && m > 1, "batch norm in training needs more than one value per channel, found \(shape)")
        if let weight { precondition(weight.shape == [c], "batch norm weight \(weight.shape), expected [\(c)]") }
        if let bias { precondition(bias.shape == [c], "batch norm bias \(bias.shape), expected [\(c)]") }
        let x = storage.pointer
        // Statistics accumulated in double: M reaches 10⁵–10⁶ rows.
        var sums = [Double](repeating: 0, count: c), squares = [Double](repeating: 0, count: c)
        sums.withUnsafeMutableBufferPointer { s in
            for row in 0..<m {
                let r = x + row * c
                for j in 0..<c { s[j] += Double(r[j]) }
            }
        }
        let mean = sums.map { Float($0 / Double(m)) }
        squares.withUnsafeMutableBufferPointer { q in
            mean.withUnsafeBufferPointer { mu in
                for row in 0..<m {
                    let r = x + row * c
                    for j in 0..<c { let d = Double(r[j] - mu[j]); q[j] += d * d }
                }
            }
        }
        let variance = squares.map { Float($0 / Double(m)) }
        let reciprocalStd = variance.map { 1 / ($0 + epsilon).squareRoot() }
        let unitWeight = weight ?? Tensor.ones([c]), zeroBias = bias ?? Tensor.zeros([c])
        let normalized = Tensor.uninitialized(shape), result = Tensor.uninitialized(shape)
        let xh = normalized.storage.pointer, y = result.storage.pointer
        let w = unitWeight.storage.pointer, b = zeroBias.storage.pointer
        mean.withUnsafeBufferPointer { mu in
            reciprocalStd.withUnsafeBufferPointer { rs in
                for row in 0..<m {
                    let base = row * c
                    for j in 0..<c {
                        let v = (x[base + j] - mu[j]) * rs[j]
                        xh[base + j] = v
                        y[base + j] = v * w[j] + b[j]
                    }
                }
            }
        }
        var inputs = [self]
        if let weight { inputs.append(weight) }
        if let bias { inputs.append(bias) }
        let output = Tensor.record(result, inputs: inputs) { g, _ in
            let gy = g.storage.pointer, xh = normalized.storage.pointer, w = unitWeight.storage.pointer
            // Σ_rows dy and Σ_rows dy·x̂ per channel: the bias and weight gradients, and the two means of dx.
            let gradBias = Tensor.zeros([c]), gradWeight = Tensor.zeros([c])
            let sb = gradBias.storage.pointer, sw = gradWeight.storage.pointer
            for row in 0..<m {
                vectorAccumulate(sb, gy + row * c, times: nil, c)
                vectorAccumulate(sw, gy + row * c, times: xh + row * c, c)
            }
            // dx = w·rstd · (dy − Σdy/M − x̂ · Σ(dy·x̂)/M)
            var scale = [Float](repeating: 0, count: c), meanDy = [Float](repeating: 0, count: c),
                meanDyXh = [Float](repeating: 0, count: c)
            for j in 0..<c {
                scale[j] = w[j] * reciprocalStd[j]
                meanDy[j] = sb[j] / Float(m)
                meanDyXh[j] = sw[j] / Float(m)
            }
            let gradInput = Tensor.uninitialized(self.shape)
            let gx = gradInput.storage.pointer
            scale.withUnsafeBufferPointer { s in
                meanDy.withUnsafeBufferPointer { md in
                    meanDyXh.withUnsafeBufferPointer { mx in
                        for row in 0..<m {
                            let base = row * c
                            for j in 0..<c { gx[base + j] = s[j] * (gy[base + j] - md[j] - xh[base + j] * mx[j]) }
                        }
                    }
                }
            }
            var grads: [Tensor?] = [gradInput]
            if let weight { grads.append(weight.requiresGrad ? gradWeight : nil) }
            if let bias { grads.append(bias.requiresGrad ? gradBias : nil) }
            return grads
        }
        return (output, mean, variance)
    }

    /// Batch normalisation with fixed statistics (evaluation mode): y = (x − mean) / √(variance + eps) · w + b,
    /// one fused pass; differentiable in x, weight and bias. Shapes: `[…, C]`, the rest `[C]`.
    public func batchNormalized(mean: Tensor, variance: Tensor, weight: Tensor?, bias: Tensor?, epsilon: Float) -> Tensor {
        let c = shape.last ?? 1
        let m = count / Swift.max(c, 1)
        precondition(mean.shape == [c] && variance.shape == [c], "batch norm statistics must be [\(c)]")
        let rstd = variance.scalars.map { 1 / ($0 + epsilon).squareRoot() }
        let mu = mean.scalars
        let w = weight?.scalars ?? [Float](repeating: 1, count: c), b = bias?.scalars ?? [Float](repeating: 0, count: c)
        let scale = (0..<c).map { w[$0] * rstd[$0] }, shift = (0..<c).map { b[$0] - mu[$0] * w[$0] * rstd[$0] }
        let result = Tensor.uninitialized(shape)
        let x = storage.pointer, y = result.storage.pointer
        scale.withUnsafeBufferPointer { s in
            shift.withUnsafeBufferPointer { t in
                for row in 0..<m {
                    let base = row * c
                    for j in 0..<c { y[base + j] = x[base + j] * s[j] + t[j] }
                }
            }
        }
        var inputs = [self]
        if let weight { inputs.append(weight) }
        if let bias { inputs.append(bias) }
        return Tensor.record(result, inputs: inputs) { g, _ in
            let gy = g.storage.pointer
            let gradInput = Tensor.uninitialized(self.shape)
            let gx = gradInput.storage.pointer
            let gradWeight = Tensor.zeros([c]), gradBias = Tensor.zeros([c])
            let sw = gradWeight.storage.pointer, sb = gradBias.storage.pointer
            for row in 0..<m {
                let base = row * c
                for j in 0..<c {
                    gx[base + j] = gy[base + j] * scale[j]
                    sb[j] += gy[base + j]
                    sw[j] += gy[base + j] * (x[base + j] - mu[j]) * rstd[j]
                }
            }
            var grads: [Tensor?] = [gradInput]
            if let weight { grads.append(weight.requiresGrad ? gradWeight : nil) }
            if let bias { grads.append(bias.requiresGrad ? gradBias : nil) }
            return grads
        }
    }
}
