// Fused batch normalisation over channels-last data in training mode: one pass for the per-channel Σx and Σx², one
// for y, and a hand-written backward of two passes that recomputes x̂ from x (it dominates the image-pair methods'
// steps once the convolutions are fast), with ReLU's mask applied in its first pass. Each pass is a vector kernel of
// CKernels (channels.c) over a part of the rows, one part per thread, with per-part partial sums combined in a fixed
// order.
//
// Glossary: M = N·H·W rows (every axis but the last), C channels.

import CKernels
import Foundation

/// Per-channel Σx and Σx² over the rows `[rows, C]` of a tensor, in double: batch norm's statistics, as a kernel that
/// wrote the tensor summed them (`conv2dWithChannelSums`).
public struct ChannelSums: Sendable, Equatable {
    /// Σx and Σx² per channel `[C]`.
    public let sums: [Double], squares: [Double]
    /// The rows summed over.
    public let rows: Int

    /// Sums of `rows` rows; `sums` and `squares` have one entry per channel.
    public init(sums: [Double], squares: [Double], rows: Int) {
        precondition(sums.count == squares.count, "channel sums: \(sums.count) sums, \(squares.count) squares")
        (self.sums, self.squares, self.rows) = (sums, squares, rows)
    }
}

extension Tensor {
    /// Batch normalisation with batch statistics: y = (x − μ_c) / √(σ²_c + eps) · weight_c + bias_c over the
    /// rows `[M, C]` of this `[…, C]` tensor, σ² biased (divided by M), as `torch.nn.functional.batch_norm` in
    /// training mode. Returns y and the batch mean and biased variance `[C]` (for the running statistics; no grad).
    ///
    /// With `residual` (the shape of this tensor) and `relu`, returns relu(y + residual) in the same pass, and the
    /// backward masks by the output: a ResNet block's tail (norm, shortcut add, ReLU) without the two intermediate
    /// tensors or their passes.
    ///
    /// With `world` of more than one rank the statistics are the whole global batch's (synchronised batch norm): the
    /// per-channel sums of the forward and of the backward are summed over the ranks; the weight and bias gradients
    /// stay this rank's share (the trainer's gradient average combines them).
    ///
    /// `sums`, when given, are this tensor's own per-channel sums, computed by the op that wrote it
    /// (`conv2dWithChannelSums`): the statistics pass is skipped.
    public func batchNormalized(weight: Tensor?, bias: Tensor?, epsilon: Float, adding residual: Tensor? = nil,
                                relu: Bool = false, world: (any Collective)? = nil,
                                sums known: ChannelSums? = nil) -> (output: Tensor, mean: [Float], variance: [Float]) {
        let c = shape.last ?? 1
        let localRows = count / Swift.max(c, 1)
        let world = (world?.size ?? 1) > 1 ? world : nil
        precondition(rank >= 2 && (localRows > 1 || world != nil), "batch norm in training needs more than one value per channel, found \(shape)")
        if let weight { precondition(weight.shape == [c], "batch norm weight \(weight.shape), expected [\(c)]") }
        if let bias { precondition(bias.shape == [c], "batch norm bias \(bias.shape), expected [\(c)]") }
        if let residual { precondition(residual.shape == shape, "batch norm residual \(residual.shape), expected \(shape)") }
        let x = storage.pointer
        // Σx and Σx² per channel in one pass, in double (M reaches 10⁵–10⁶ rows).
        let parts = partCount(localRows, minimumPerPart: 2048)
        if let known { precondition(known.sums.count == c && known.rows == localRows, "batch norm: sums of \(known.sums.count) channels over \(known.rows) rows given for \(shape)") }
        var (sums, squares) = known.map { ($0.sums, $0.squares) }
            ?? Tensor.channelSums(x, times: x, rows: localRows, channels: c, parts: parts)
        var globalRows = localRows
        if let world {
            let global = world.summed(sums + squares + [Double(localRows)])
            (sums, squares, globalRows) = (Array(global[0..<c]), Array(global[c..<(2 * c)]), Int(global[2 * c]))
        }
        let m = globalRows
        precondition(m > 1, "batch norm in training needs more than one value per channel over the ranks, found \(m)")
        let mean = sums.map { Float($0 / Double(m)) }
        let variance = (0..<c).map { j in
            let mu = sums[j] / Double(m)
            return Float(Swift.max(0, squares[j] / Double(m) - mu * mu))
        }
        let reciprocalStd = variance.map { 1 / ($0 + epsilon).squareRoot() }
        let w = weight?.scalars ?? [Float](repeating: 1, count: c), b = bias?.scalars ?? [Float](repeating: 0, count: c)
        // y = x·scale + shift with scale = w·rstd, shift = b − μ·scale.
        let scale = (0..<c).map { w[$0] * reciprocalStd[$0] }, shift = (0..<c).map { b[$0] - mean[$0] * w[$0] * reciprocalStd[$0] }
        let result = Tensor.uninitialized(shape)
        Tensor.affineChannels(x, scale: scale, shift: shift, into: result.storage.pointer, rows: localRows, channels: c,
                              adding: residual?.storage.pointer, relu: relu)
        var inputs = [self]
        if let weight { inputs.append(weight) }
        if let bias { inputs.append(bias) }
        if let residual { inputs.append(residual) }
        // The backward recomputes x̂ = (x − μ)·rstd from x rather than keeping x̂: one tensor fewer written.
        let output = Tensor.record(result, inputs: inputs) { gradOutput, output in
            // Through the ReLU: dy·[out > 0], the gradient of the pre-activation sum (and so of the residual), made in
            // the pass that sums it.
            let masked = relu ? Tensor.uninitialized(gradOutput.shape) : gradOutput
            let x = self.storage.pointer
            // Σ_rows dy and Σ_rows dy·x per channel, then Σ dy·x̂ = rstd·(Σ dy·x − μ·Σ dy).
            let (localDy, localDyX) = Tensor.channelSums(gradOutput.storage.pointer, times: x, rows: localRows, channels: c,
                                                         parts: parts, positive: relu ? output.storage.pointer : nil,
                                                         masked: relu ? masked.storage.pointer : nil)
            let g = masked, gy = g.storage.pointer
            var (sumsDy, sumsDyX) = (localDy, localDyX)
            if let world {
                let global = world.summed(localDy + localDyX)
                (sumsDy, sumsDyX) = (Array(global[0..<c]), Array(global[c..<(2 * c)]))
            }
            var gradBiasValues = [Float](repeating: 0, count: c), gradWeightValues = [Float](repeating: 0, count: c)
            // dx = scale·(dy − Σdy/M − x̂·Σ(dy·x̂)/M) = scale·dy + k·x + k0 with k = −scale·rstd·Σ(dy·x̂)/M.
            var k = [Float](repeating: 0, count: c), k0 = [Float](repeating: 0, count: c)
            for j in 0..<c {
                let (sumDy, sumDyX) = (sumsDy[j], sumsDyX[j])
                let rstd = Double(reciprocalStd[j]), mu = Double(mean[j])
                let sumDyXh = rstd * (sumDyX - mu * sumDy)
                gradBiasValues[j] = Float(localDy[j])
                gradWeightValues[j] = Float(rstd * (localDyX[j] - mu * localDy[j]))
                let s = Double(scale[j]), slope = -s * rstd * sumDyXh / Double(m)
                k[j] = Float(slope)
                k0[j] = Float(-s * sumDy / Double(m) - slope * mu)
            }
            let gradInput = Tensor.uninitialized(self.shape)
            let gx = gradInput.storage.pointer
            parallelParts(localRows, parts: parts) { _, rows in
                swiftcpc_channel_combine(gy + rows.lowerBound * c, x + rows.lowerBound * c, scale, k, k0,
                                         gx + rows.lowerBound * c, rows.count, Int32(c), -1)
            }
            var grads: [Tensor?] = [gradInput]
            if let weight { grads.append(weight.requiresGrad ? Tensor(gradWeightValues) : nil) }
            if let bias { grads.append(bias.requiresGrad ? Tensor(gradBiasValues) : nil) }
            if let residual { grads.append(residual.requiresGrad ? g : nil) }
            return grads
        }
        return (output, mean, variance)
    }

    /// Σ_rows v[row, j] and Σ_rows v[row, j]·b[row, j] per channel, in double, where v = a, or with `positive`
    /// v = a·[positive > 0] (written to `masked` too): one partial sum per part (thread), added in part order.
    static func channelSums(_ a: UnsafePointer<Float>, times b: UnsafePointer<Float>, rows: Int, channels c: Int,
                            parts: Int, positive: UnsafePointer<Float>? = nil,
                            masked: UnsafeMutablePointer<Float>? = nil) -> (sums: [Double], products: [Double]) {
        var partial = [Double](repeating: 0, count: parts * 2 * c)
        partial.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            parallelParts(rows, parts: parts) { part, range in
                let offset = range.lowerBound * c
                swiftcpc_channel_sums(a + offset, positive.map { $0 + offset }, b + offset, masked.map { $0 + offset },
                                      range.count, Int32(c), base + part * 2 * c, base + part * 2 * c + c, -1)
            }
            addPartials(base, parts: parts, size: 2 * c)
        }
        return (Array(partial[0..<c]), Array(partial[c..<(2 * c)]))
    }

    /// y[row, j] = x[row, j]·scale[j] + shift[j] (+ r[row, j]) (then max(0, ·)) over `rows` rows of `channels`,
    /// split across threads.
    static func affineChannels(_ x: UnsafePointer<Float>, scale: [Float], shift: [Float], into y: UnsafeMutablePointer<Float>,
                               rows: Int, channels c: Int, adding r: UnsafePointer<Float>? = nil, relu: Bool = false) {
        parallelParts(rows, parts: partCount(rows, minimumPerPart: 2048)) { _, range in
            let offset = range.lowerBound * c
            swiftcpc_channel_affine(x + offset, scale, shift, r.map { $0 + offset }, relu ? 1 : 0, y + offset,
                                    range.count, Int32(c), -1)
        }
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
        Tensor.affineChannels(storage.pointer, scale: scale, shift: shift, into: result.storage.pointer, rows: m, channels: c)
        let x = storage.pointer
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
