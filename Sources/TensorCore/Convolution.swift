// Convolutions on channels-last tensors via im2col + sgemm, with a hand-written backward (col2im).
//
// Glossary: N batch, H/W input height/width, Ho/Wo output height/width, C input channels, O output channels,
// G groups, Cg = C/G and Og = O/G channels per group, KH/KW kernel extents, K = KH·KW·Cg one column-row's length.
// Input [N, H, W, C]; weight in PyTorch's layout [O, Cg, KH, KW] (so checkpoints interoperate), used internally
// as [O, KH, KW, Cg] so that each im2col row is a run of contiguous channel copies; output [N, Ho, Wo, O].
// A 1-D convolution is the 2-D one with H = KH = 1.

/// The sizes of one 2-D convolution.
struct ConvolutionGeometry {
    let batch, height, width, channels, outputChannels: Int
    let kernelHeight, kernelWidth, strideH, strideW, padH, padW, dilationH, dilationW, groups: Int
    var outputHeight: Int { (height + 2 * padH - dilationH * (kernelHeight - 1) - 1) / strideH + 1 }
    var outputWidth: Int { (width + 2 * padW - dilationW * (kernelWidth - 1) - 1) / strideW + 1 }
    var groupChannels: Int { channels / groups }
    var groupOutputChannels: Int { outputChannels / groups }
    /// Length of one im2col row (per group).
    var rowLength: Int { kernelHeight * kernelWidth * groupChannels }
    var outputPixels: Int { outputHeight * outputWidth }

    /// im2col for samples `samples`, group `group`: col[(n·Ho + ho)·Wo + wo, (i·KW + j)·Cg + c].
    func im2col(_ x: UnsafePointer<Float>, samples: Range<Int>, group: Int, into col: UnsafeMutablePointer<Float>) {
        let cg = groupChannels, ho = outputHeight, wo = outputWidth, k = rowLength
        for (local, n) in samples.enumerated() {
            for oy in 0..<ho {
                for ox in 0..<wo {
                    let row = col + ((local * ho + oy) * wo + ox) * k
                    for i in 0..<kernelHeight {
                        let iy = oy * strideH - padH + i * dilationH
                        let segment = row + i * kernelWidth * cg
                        if iy < 0 || iy >= height { segment.update(repeating: 0, count: kernelWidth * cg); continue }
                        for j in 0..<kernelWidth {
                            let ix = ox * strideW - padW + j * dilationW
                            if ix < 0 || ix >= width {
                                (segment + j * cg).update(repeating: 0, count: cg)
                            } else {
                                (segment + j * cg).update(from: x + ((n * height + iy) * width + ix) * channels + group * cg,
                                                          count: cg)
                            }
                        }
                    }
                }
            }
        }
    }

    /// The adjoint of im2col: adds each column-row entry back onto the input position it was copied from.
    func col2imAdd(_ col: UnsafePointer<Float>, samples: Range<Int>, group: Int, into gx: UnsafeMutablePointer<Float>) {
        let cg = groupChannels, ho = outputHeight, wo = outputWidth, k = rowLength
        for (local, n) in samples.enumerated() {
            for oy in 0..<ho {
                for ox in 0..<wo {
                    let row = col + ((local * ho + oy) * wo + ox) * k
                    for i in 0..<kernelHeight {
                        let iy = oy * strideH - padH + i * dilationH
                        if iy < 0 || iy >= height { continue }
                        for j in 0..<kernelWidth {
                            let ix = ox * strideW - padW + j * dilationW
                            if ix < 0 || ix >= width { continue }
                            let source = row + (i * kernelWidth + j) * cg
                            let destination = gx + ((n * height + iy) * width + ix) * channels + group * cg
                            for c in 0..<cg { destination[c] += source[c] }
                        }
                    }
                }
            }
        }
    }

    /// Samples per im2col chunk, so that one column buffer stays near 32 Mi floats (128 MiB).
    var samplesPerChunk: Int { max(1, min(batch, (32 << 20) / max(1, outputPixels * rowLength))) }
}

/// Permutes a weight between PyTorch's [O, Cg, KH, KW] and the kernel layout [O, KH, KW, Cg] (or back).
private func permuteWeight(_ w: UnsafePointer<Float>, into r: UnsafeMutablePointer<Float>, outputs: Int,
                           channels: Int, taps: Int, toKernelLayout: Bool) {
    for o in 0..<outputs {
        let src = w + o * channels * taps, dst = r + o * channels * taps
        for c in 0..<channels {
            for t in 0..<taps {
                if toKernelLayout { dst[t * channels + c] = src[c * taps + t] } else { dst[c * taps + t] = src[t * channels + c] }
            }
        }
    }
}

/// Adds `bias` `[O]` to each of `rows` output rows of `channels` values, in place.
func addBias(_ bias: Tensor, to y: UnsafeMutablePointer<Float>, rows: Int, channels o: Int) {
    let b = bias.storage.pointer
    for r in 0..<rows {
        let out = y + r * o
        for c in 0..<o { out[c] += b[c] }
    }
}

/// 2-D convolution (cross-correlation, as PyTorch) of channels-last input.
///
/// - Parameters:
///   - input: `[N, H, W, C]`.
///   - weight: `[O, C/groups, KH, KW]` (PyTorch layout).
///   - bias: `[O]` or nil.
///   - stride: (along H, along W).
///   - padding: zeros added on each side, (H, W).
///   - dilation: spacing of the kernel taps, (H, W).
///   - groups: channel groups; C and O must be divisible by it.
///   - algorithm: im2col + GEMM, the direct kernels, Winograd's, or the fastest for the shape (`.automatic`).
/// - Returns: `[N, Ho, Wo, O]` with `Ho = ⌊(H + 2·padH − dilationH·(KH−1) − 1) / strideH⌋ + 1`, likewise Wo.
public func conv2d(_ input: Tensor, weight: Tensor, bias: Tensor? = nil, stride: (Int, Int) = (1, 1),
                   padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groups: Int = 1,
                   algorithm: ConvolutionAlgorithm = .automatic) -> Tensor {
    convolution(input, weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups,
                algorithm: algorithm, channelSums: false).output
}

/// `conv2d` without bias (automatic algorithm) that also returns the per-channel Σy and Σy² of its output when the
/// kernel that runs computes them in its output pass (Winograd's), so that a batch norm after it needs no pass of its
/// own for its statistics (`batchNormalized(…, sums:)`); nil when another kernel runs.
public func conv2dWithChannelSums(_ input: Tensor, weight: Tensor, stride: (Int, Int) = (1, 1),
                                  padding: (Int, Int) = (0, 0)) -> (output: Tensor, sums: ChannelSums?) {
    convolution(input, weight: weight, bias: nil, stride: stride, padding: padding, dilation: (1, 1), groups: 1,
                algorithm: .automatic, channelSums: true)
}

private func convolution(_ input: Tensor, weight: Tensor, bias: Tensor?, stride: (Int, Int), padding: (Int, Int),
                         dilation: (Int, Int), groups: Int, algorithm: ConvolutionAlgorithm,
                         channelSums: Bool) -> (output: Tensor, sums: ChannelSums?) {
    precondition(input.rank == 4, "conv2d expects input [N, H, W, C], found \(input.shape)")
    precondition(weight.rank == 4, "conv2d expects weight [O, C/groups, KH, KW], found \(weight.shape)")
    let geometry = ConvolutionGeometry(
        batch: input.shape[0], height: input.shape[1], width: input.shape[2], channels: input.shape[3],
        outputChannels: weight.shape[0], kernelHeight: weight.shape[2], kernelWidth: weight.shape[3],
        strideH: stride.0, strideW: stride.1, padH: padding.0, padW: padding.1,
        dilationH: dilation.0, dilationW: dilation.1, groups: groups)
    precondition(groups >= 1 && geometry.channels % groups == 0 && geometry.outputChannels % groups == 0,
                 "conv2d: \(geometry.channels) input and \(geometry.outputChannels) output channels not divisible by \(groups) groups")
    precondition(weight.shape[1] == geometry.groupChannels,
                 "conv2d: weight \(weight.shape) expects \(weight.shape[1] * groups) input channels, input has \(geometry.channels)")
    precondition(stride.0 >= 1 && stride.1 >= 1 && dilation.0 >= 1 && dilation.1 >= 1 && padding.0 >= 0 && padding.1 >= 0,
                 "conv2d: stride and dilation must be ≥ 1 and padding ≥ 0")
    precondition(geometry.outputHeight >= 1 && geometry.outputWidth >= 1,
                 "conv2d: input \(input.shape) is smaller than the kernel \(weight.shape)")
    if let bias { precondition(bias.shape == [geometry.outputChannels], "conv2d: bias \(bias.shape), expected [\(geometry.outputChannels)]") }

    let g = geometry
    let direct = DirectConvolution.supports(g) && (!input.requiresGrad || DirectConvolution.supportsInputGradient(g))
    switch algorithm {
    case .automatic where WinogradConvolution.supports(g) && DirectConvolution.preferred, .winograd:
        return WinogradConvolution.conv2d(input, weight: weight, bias: bias, geometry: g, channelSums: channelSums)
    case .automatic where direct && DirectConvolution.preferred:
        return (DirectConvolution.conv2d(input, weight: weight, bias: bias, geometry: g), nil)
    case .direct:
        precondition(direct, "conv2d: the direct kernels need groups 1, dilation 1 and channel counts divisible by 16 (input channels only when the input needs a gradient), found \(weight.shape) on \(input.shape)")
        return (DirectConvolution.conv2d(input, weight: weight, bias: bias, geometry: g), nil)
    default:
        break
    }
    let o = g.outputChannels, og = g.groupOutputChannels, k = g.rowLength, pixels = g.outputPixels
    let kernelWeight = Tensor.uninitialized([o, g.kernelHeight, g.kernelWidth, g.groupChannels])
    permuteWeight(weight.storage.pointer, into: kernelWeight.storage.pointer, outputs: o,
                  channels: g.groupChannels, taps: g.kernelHeight * g.kernelWidth, toKernelLayout: true)
    let result = Tensor.uninitialized([g.batch, g.outputHeight, g.outputWidth, o])
    let x = input.storage.pointer, w = kernelWeight.storage.pointer, y = result.storage.pointer
    let chunk = g.samplesPerChunk
    let col = UnsafeMutablePointer<Float>.allocate(capacity: chunk * pixels * k)
    defer { col.deallocate() }
    for start in Swift.stride(from: 0, to: g.batch, by: chunk) {
        let samples = start..<min(g.batch, start + chunk)
        for group in 0..<groups {
            g.im2col(x, samples: samples, group: group, into: col)
            // Y[rows, og] = col[rows, K] · Wgᵀ, written into the group's output columns.
            BLAS.sgemm(transposeA: false, transposeB: true, m: samples.count * pixels, n: og, k: k,
                       a: col, lda: k, b: w + group * og * k, ldb: k,
                       c: y + start * pixels * o + group * og, ldc: o)
        }
    }
    if let bias { addBias(bias, to: y, rows: g.batch * pixels, channels: o) }
    var inputs = [input, weight]
    if let bias { inputs.append(bias) }
    let output = Tensor.record(result, inputs: inputs) { gradOutput, _ in
        // Pointers are taken again here: the closure must hold the tensors, not raw pointers, to keep them alive.
        let x = input.storage.pointer, w = kernelWeight.storage.pointer, gy = gradOutput.storage.pointer
        var gradInput: Tensor?, gradWeight: Tensor?, gradBias: Tensor?
        if input.requiresGrad { gradInput = Tensor.zeros(input.shape) }
        let kernelGrad = weight.requiresGrad ? Tensor.zeros(kernelWeight.shape) : nil
        let colGrad = input.requiresGrad ? UnsafeMutablePointer<Float>.allocate(capacity: chunk * pixels * k) : nil
        defer { colGrad?.deallocate() }
        let work = UnsafeMutablePointer<Float>.allocate(capacity: chunk * pixels * k)
        defer { work.deallocate() }
        for start in Swift.stride(from: 0, to: g.batch, by: chunk) {
            let samples = start..<min(g.batch, start + chunk)
            let rows = samples.count * pixels
            for group in 0..<groups {
                let gyGroup = gy + start * pixels * o + group * og
                if let kernelGrad {
                    g.im2col(x, samples: samples, group: group, into: work)
                    // dW[og, K] += dYᵀ[og, rows] · col[rows, K]
                    BLAS.sgemm(transposeA: true, transposeB: false, m: og, n: k, k: rows, a: gyGroup, lda: o,
                               b: work, ldb: k, beta: 1, c: kernelGrad.storage.pointer + group * og * k, ldc: k)
                }
                if let gradInput, let colGrad {
                    // dcol[rows, K] = dY[rows, og] · W[og, K], then scatter-add back onto the input.
                    BLAS.sgemm(transposeA: false, transposeB: false, m: rows, n: k, k: og, a: gyGroup, lda: o,
                               b: w + group * og * k, ldb: k, c: colGrad, ldc: k)
                    g.col2imAdd(colGrad, samples: samples, group: group, into: gradInput.storage.pointer)
                }
            }
        }
        if let kernelGrad {
            gradWeight = Tensor.uninitialized(weight.shape)
            permuteWeight(kernelGrad.storage.pointer, into: gradWeight!.storage.pointer, outputs: o,
                          channels: g.groupChannels, taps: g.kernelHeight * g.kernelWidth, toKernelLayout: false)
        }
        if let bias, bias.requiresGrad {
            gradBias = gradOutput.reshaped([g.batch * pixels, o]).sum(alongAxis: 0)
        }
        return bias == nil ? [gradInput, gradWeight] : [gradInput, gradWeight, gradBias]
    }
    return (output, nil)
}

/// 1-D convolution (cross-correlation, as PyTorch) of a channels-last sequence.
///
/// - Parameters:
///   - input: `[N, T, C]`.
///   - weight: `[O, C/groups, K]` (PyTorch layout).
///   - bias: `[O]` or nil.
///   - stride: the step between output frames.
///   - padding: zeros added at each end.
///   - dilation: spacing of the kernel taps.
///   - groups: channel groups; C and O must be divisible by it.
/// - Returns: `[N, To, O]` with `To = ⌊(T + 2·padding − dilation·(K−1) − 1) / stride⌋ + 1`.
public func conv1d(_ input: Tensor, weight: Tensor, bias: Tensor? = nil, stride: Int = 1, padding: Int = 0,
                   dilation: Int = 1, groups: Int = 1) -> Tensor {
    precondition(input.rank == 3, "conv1d expects input [N, T, C], found \(input.shape)")
    precondition(weight.rank == 3, "conv1d expects weight [O, C/groups, K], found \(weight.shape)")
    let (k, c) = (weight.shape[2], input.shape[2])
    if padding == 0 && dilation == 1 && groups == 1 && k % stride == 0 && weight.shape[1] == c && input.shape[1] >= k {
        return tapGroupConv1d(input, weight: weight, bias: bias, stride: stride)
    }
    let output = conv2d(input.unsqueezed(at: 1), weight: weight.unsqueezed(at: 2), bias: bias,
                        stride: (1, stride), padding: (0, padding), dilation: (1, dilation), groups: groups)
    return output.squeezed(at: 1)
}

/// conv1d without im2col, for kernels that are a multiple q of the stride s (CPC's encoder: 10/5, 8/4, 4/2), no
/// padding, no dilation. In channels-last layout the s·C floats of input rows s·t … s·t+s−1 are contiguous, so
/// "rows s·t + j·s …, for all t" is an ordinary matrix X_j [To, s·C] with leading dimension s·C starting at row j·s:
///     Y[To, O] = Σ_{j<q} X_j · W_jᵀ,   W_j = columns j·s·C ..< (j+1)·s·C of the kernel-layout weight [O, K·C].
/// The backward is the same views: dX_j += dY · W_j (q disjoint row sets per call), dW_j += dYᵀ · X_j. One GEMM
/// per (sample, j) and nothing copied: the im2col buffer (twice the input for K = 2s) is never made.
func tapGroupConv1d(_ input: Tensor, weight: Tensor, bias: Tensor?, stride s: Int) -> Tensor {
    let (n, tIn, c) = (input.shape[0], input.shape[1], input.shape[2])
    let (o, k) = (weight.shape[0], weight.shape[2])
    let q = k / s, tOut = (tIn - k) / s + 1, width = s * c, row = k * c
    if let bias { precondition(bias.shape == [o], "conv1d: bias \(bias.shape), expected [\(o)]") }
    let kernelWeight = Tensor.uninitialized([o, k, c])
    permuteWeight(weight.storage.pointer, into: kernelWeight.storage.pointer, outputs: o, channels: c, taps: k, toKernelLayout: true)
    let result = Tensor.uninitialized([n, tOut, o])
    let x = input.storage.pointer, w = kernelWeight.storage.pointer, y = result.storage.pointer
    for sample in 0..<n {
        for j in 0..<q {
            BLAS.sgemm(transposeA: false, transposeB: true, m: tOut, n: o, k: width,
                       a: x + sample * tIn * c + j * width, lda: width, b: w + j * width, ldb: row,
                       beta: j == 0 ? 0 : 1, c: y + sample * tOut * o, ldc: o)
        }
    }
    if let bias { addBias(bias, to: y, rows: n * tOut, channels: o) }
    var inputs = [input, weight]
    if let bias { inputs.append(bias) }
    return Tensor.record(result, inputs: inputs) { gradOutput, _ in
        let x = input.storage.pointer, w = kernelWeight.storage.pointer, gy = gradOutput.storage.pointer
        var gradInput: Tensor?, gradWeight: Tensor?, gradBias: Tensor?
        if input.requiresGrad {
            let gx = Tensor.zeros(input.shape)
            for sample in 0..<n {
                for j in 0..<q {
                    BLAS.sgemm(transposeA: false, transposeB: false, m: tOut, n: width, k: o,
                               a: gy + sample * tOut * o, lda: o, b: w + j * width, ldb: row,
                               beta: 1, c: gx.storage.pointer + sample * tIn * c + j * width, ldc: width)
                }
            }
            gradInput = gx
        }
        if weight.requiresGrad {
            let kernelGrad = Tensor.uninitialized([o, k, c])
            for sample in 0..<n {
                for j in 0..<q {
                    BLAS.sgemm(transposeA: true, transposeB: false, m: o, n: width, k: tOut,
                               a: gy + sample * tOut * o, lda: o, b: x + sample * tIn * c + j * width, ldb: width,
                               beta: sample == 0 ? 0 : 1, c: kernelGrad.storage.pointer + j * width, ldc: row)
                }
            }
            gradWeight = Tensor.uninitialized(weight.shape)
            permuteWeight(kernelGrad.storage.pointer, into: gradWeight!.storage.pointer, outputs: o, channels: c, taps: k,
                          toKernelLayout: false)
        }
        if let bias, bias.requiresGrad {
            gradBias = gradOutput.reshaped([n * tOut, o]).sum(alongAxis: 0)
        }
        return bias == nil ? [gradInput, gradWeight] : [gradInput, gradWeight, gradBias]
    }
}
