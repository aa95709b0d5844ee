// Winograd convolution: TensorCore's side of the CKernels kernels (conv_winograd.c), for the 3×3, stride-1,
// padding-1 convolutions that make up most of a ResNet's work. F(2×2, 3×3) cuts the multiplications per output pixel
// from 9·C·O to 4·C·O (16 per 2×2 tile instead of 36), F(4×4, 3×3) to 2.25·C·O (36 per 4×4 tile) at the price of
// larger transforms and tiles; the forward and the input gradient (the same kernel run on dy with the flipped
// kernel) take F(4×4) unless its padded tiles cover much more than F(2×2)'s (`outputTile`); so does the weight
// gradient, a sum over tiles of transformed inputs times transformed output gradients, on images of 6 × 6 pixels or
// more.
//
// Glossary as in Convolution.swift: N batch, H/W height/width, C input channels, O output channels. Input
// [N, H, W, C], weight [O, C, 3, 3] (PyTorch), output [N, H, W, O].

import CKernels

enum WinogradConvolution {
    /// Whether this convolution is one the Winograd kernels compute: 3×3, stride 1, padding 1, no dilation or groups,
    /// input and output channels multiples of 16.
    static func supports(_ g: ConvolutionGeometry) -> Bool {
        g.groups == 1 && g.kernelHeight == 3 && g.kernelWidth == 3 && g.strideH == 1 && g.strideW == 1
            && g.padH == 1 && g.padW == 1 && g.dilationH == 1 && g.dilationW == 1
            && g.channels % 16 == 0 && g.outputChannels % 16 == 0
    }

    /// The output tile (2 or 4) of the forward and input-gradient kernels for an H × W image: 4 unless its padded
    /// tiles cover over 1.4 times the pixels of 2's (5 × 5 → 8 × 8 against 6 × 6, where F(4×4) measured slower).
    static func outputTile(height: Int, width: Int) -> Int {
        func padded(_ size: Int, _ tile: Int) -> Int { (size + tile - 1) / tile * tile }
        return 10 * padded(height, 4) * padded(width, 4) <= 14 * padded(height, 2) * padded(width, 2) ? 4 : 2
    }

    /// U = G g Gᵀ for every kernel of `weight` (`flipped`: the input gradient's) for output tiles of `tile`, split over
    /// the output channels.
    private static func transformWeights(_ weight: Tensor, tile: Int, c: Int, o: Int, flipped: Bool) -> Tensor {
        let u = Tensor.uninitialized(flipped ? [(tile + 2) * (tile + 2), o, c] : [(tile + 2) * (tile + 2), c, o])
        let (w, out) = (weight.storage.pointer, u.storage.pointer)
        parallelParts(o, parts: partCount(o * c, minimumPerPart: 2048)) { _, range in
            swiftcpc_winograd_weights(w, out, Int32(c), Int32(o), Int32(tile), flipped ? 1 : 0, Int32(range.lowerBound),
                                      Int32(range.upperBound))
        }
        return u
    }

    /// The convolution of `input` with `weight` (+ `bias`), recorded for backward; with `channelSums` (and no bias)
    /// also the per-channel Σy and Σy² of the output, summed in the output pass (one partial per part, added in part
    /// order). `instructionSet`: 0 baseline, 1 AVX2, 2 AVX-512, −1 the best the processor has (tests compare the
    /// variants); `outputTile` 2 or 4 for the forward and input gradient (nil: `outputTile(height:width:)`).
    static func conv2d(_ input: Tensor, weight: Tensor, bias: Tensor?, geometry g: ConvolutionGeometry,
                       channelSums: Bool = false, outputTile: Int? = nil,
                       instructionSet isa: Int32 = -1) -> (output: Tensor, sums: ChannelSums?) {
        precondition(supports(g), "conv2d: the Winograd kernels need a 3×3 kernel, stride 1, padding 1 and channel counts divisible by 16, found \(weight.shape) on \(input.shape)")
        let (c, o) = (g.channels, g.outputChannels)
        let tile = outputTile ?? Self.outputTile(height: g.height, width: g.width)
        precondition(tile == 2 || tile == 4, "Winograd output tiles are 2 or 4, found \(tile)")
        let parts = partCount(g.batch, minimumPerPart: 1)
        // One scratch per part, the size of the largest kernel's (F(4×4)'s with C and O both max(C, O), for the input
        // gradient's swapped channels, or F(2×2)'s).
        let scratchFloats = max(swiftcpc_winograd_scratch_floats(Int32(c), Int32(o), 2),
                                tile == 4 ? swiftcpc_winograd_scratch_floats(Int32(max(c, o)), Int32(max(c, o)), 4) : 0)
        let scratch = Tensor.uninitialized([parts, scratchFloats])
        let transformed = transformWeights(weight, tile: tile, c: c, o: o, flipped: false)
        let result = Tensor.uninitialized([g.batch, g.height, g.width, o])
        var geometry = DirectConvolution.cGeometry(g)
        let x = input.storage.pointer, u = transformed.storage.pointer, y = result.storage.pointer
        let s = scratch.storage.pointer
        let summing = channelSums && bias == nil
        var partials = [Double](repeating: 0, count: summing ? parts * 2 * o : 0)
        partials.withUnsafeMutableBufferPointer { buffer in
            let base = summing ? buffer.baseAddress : nil  // an empty array's buffer may have an address
            parallelParts(g.batch, parts: parts) { part, samples in
                swiftcpc_winograd_forward(x, u, y, &geometry, Int32(samples.lowerBound), Int32(samples.upperBound),
                                          s + part * scratchFloats, base.map { $0 + part * 2 * o }, Int32(tile), isa)
            }
        }
        if let bias { addBias(bias, to: y, rows: g.batch * g.outputPixels, channels: o) }
        var sums: ChannelSums?
        if summing {
            partials.withUnsafeMutableBufferPointer { addPartials($0.baseAddress!, parts: parts, size: 2 * o) }
            sums = ChannelSums(sums: Array(partials[0..<o]), squares: Array(partials[o..<(2 * o)]),
                               rows: g.batch * g.outputPixels)
        }
        var inputs = [input, weight]
        if let bias { inputs.append(bias) }
        let output = Tensor.record(result, inputs: inputs) { gradOutput, _ in
            let gy = gradOutput.storage.pointer, s = scratch.storage.pointer
            var gradInput: Tensor?, gradWeight: Tensor?, gradBias: Tensor?
            if input.requiresGrad {
                // dx = conv(dy, w rotated by 180° with its channel axes swapped): the forward kernel with C and O swapped.
                var swapped = DirectConvolution.cGeometry(g)
                (swapped.c, swapped.o) = (Int32(o), Int32(c))
                let flipped = transformWeights(weight, tile: tile, c: c, o: o, flipped: true)
                let gx = Tensor.uninitialized(input.shape)
                let u = flipped.storage.pointer, dx = gx.storage.pointer
                parallelParts(g.batch, parts: parts) { part, samples in
                    swiftcpc_winograd_forward(gy, u, dx, &swapped, Int32(samples.lowerBound), Int32(samples.upperBound),
                                              s + part * scratchFloats, nil, Int32(tile), isa)
                }
                gradInput = gx
            }
            if weight.requiresGrad {
                // One transformed partial per part, added in part order, then dw = Gᵀ dU G. F(4×4) here too where
                // the image has several of its tiles (on 4 × 4 images the transforms of its 36 planes cost more
                // than the products save).
                let gradientTile = tile == 4 && g.height * g.width >= 36 ? 4 : 2
                let size = (gradientTile + 2) * (gradientTile + 2) * c * o
                let partial = Tensor.zeros([parts, size])
                let du = partial.storage.pointer
                var geometry = DirectConvolution.cGeometry(g)
                parallelParts(g.batch, parts: parts) { part, samples in
                    swiftcpc_winograd_backward_weight(x, gy, du + part * size, &geometry, Int32(samples.lowerBound),
                                                      Int32(samples.upperBound), s + part * scratchFloats,
                                                      Int32(gradientTile), isa)
                }
                addPartials(du, parts: parts, size: size)
                let gw = Tensor.uninitialized(weight.shape)
                swiftcpc_winograd_weight_gradient(du, gw.storage.pointer, Int32(c), Int32(o), Int32(gradientTile))
                gradWeight = gw
            }
            if let bias, bias.requiresGrad {
                gradBias = gradOutput.reshaped([g.batch * g.outputPixels, o]).sum(alongAxis: 0)
            }
            return bias == nil ? [gradInput, gradWeight] : [gradInput, gradWeight, gradBias]
        }
        return (output, sums)
    }
}
