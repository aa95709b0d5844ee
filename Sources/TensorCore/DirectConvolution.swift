// The direct (im2col-free) 2-D convolution: TensorCore's side of the CKernels kernels, with the weight layouts they
// take, the split of the batch across threads, and the hand-written backward.
//
// Glossary as in Convolution.swift: N batch, H/W input height/width, C input channels, O output channels, KH/KW
// kernel extents. Input [N, H, W, C], weight [O, C, KH, KW] (PyTorch), output [N, Ho, Wo, O]. The kernels take the
// weight as HWIO [KH, KW, C, O] (forward, weight gradient) and HOWI [KH, O, KW, C] (input gradient).

import CKernels
import Dispatch

/// How `conv2d` computes a convolution.
public enum ConvolutionAlgorithm: Sendable {
    /// Winograd's kernels where they apply (3×3, stride 1, padding 1, channels multiples of 16), else the direct
    /// kernels where they apply (no groups, no dilation, output channels a multiple of 16), else im2col; the
    /// kernels only with AVX2 or AVX-512.
    case automatic
    /// im2col + sgemm, with col2im for the input gradient: every geometry (the oracle of the direct kernels).
    case im2col
    /// The direct kernels; the geometry must be one they support.
    case direct
    /// Winograd F(2×2, 3×3) (Lavin & Gray 2016): 3×3 kernels at stride 1 with padding 1, channel counts multiples of
    /// 16; 16 multiplications per 2×2 output tile and channel pair instead of 36.
    case winograd
}

enum DirectConvolution {
    /// Whether the direct kernels compute this convolution's output and weight gradient.
    static func supports(_ g: ConvolutionGeometry) -> Bool {
        g.groups == 1 && g.dilationH == 1 && g.dilationW == 1 && g.outputChannels % 16 == 0
    }

    /// Whether `.automatic` uses them: only with AVX2 or AVX-512, where they beat im2col + sgemm (the baseline
    /// build of the kernels is the fallback that keeps `.direct` and the tests working everywhere).
    static let preferred = instructionSet != "baseline"

    /// Whether they also compute its input gradient (vectorised over input channels).
    static func supportsInputGradient(_ g: ConvolutionGeometry) -> Bool { g.channels % 16 == 0 }

    /// The instruction set the kernels use on this processor ("avx512", "avx2" or "baseline").
    static var instructionSet: String { String(cString: swiftcpc_kernels_isa()) }

    /// The kernels' weight layouts: HWIO [KH, KW, C, O] (forward, weight gradient), HOWI [KH, O, KW, C] (input gradient).
    enum Layout {
        case hwio, howi

        /// Where element (out, channel, i, j) of PyTorch's [O, C, KH, KW] lies in this layout.
        func index(out: Int, channel: Int, i: Int, j: Int, outputs o: Int, channels c: Int, kernelWidth kw: Int) -> Int {
            switch self {
            case .hwio: return ((i * kw + j) * c + channel) * o + out
            case .howi: return ((i * o + out) * kw + j) * c + channel
            }
        }
    }

    /// Copies PyTorch's [O, C, KH, KW] `pytorch` into `layout` (`toPyTorch` false) or back.
    static func permute(_ pytorch: UnsafeMutablePointer<Float>, _ layout: Layout, _ kernel: UnsafeMutablePointer<Float>,
                        geometry g: ConvolutionGeometry, toPyTorch: Bool = false) {
        let (o, c, kh, kw) = (g.outputChannels, g.channels, g.kernelHeight, g.kernelWidth)
        for out in 0..<o {
            for channel in 0..<c {
                for i in 0..<kh {
                    for j in 0..<kw {
                        let source = ((out * c + channel) * kh + i) * kw + j
                        let target = layout.index(out: out, channel: channel, i: i, j: j, outputs: o, channels: c, kernelWidth: kw)
                        if toPyTorch { pytorch[source] = kernel[target] } else { kernel[target] = pytorch[source] }
                    }
                }
            }
        }
    }

    static func cGeometry(_ g: ConvolutionGeometry) -> swiftcpc_conv_geometry {
        swiftcpc_conv_geometry(
            n: Int32(g.batch), h: Int32(g.height), w: Int32(g.width), c: Int32(g.channels), o: Int32(g.outputChannels),
            kh: Int32(g.kernelHeight), kw: Int32(g.kernelWidth), sh: Int32(g.strideH), sw: Int32(g.strideW),
            ph: Int32(g.padH), pw: Int32(g.padW), ho: Int32(g.outputHeight), wo: Int32(g.outputWidth))
    }

    /// The convolution of `input` with `weight` (+ `bias`), recorded for backward.
    /// `instructionSet`: 0 baseline, 1 AVX2, 2 AVX-512, −1 the best the processor has (tests compare the variants).
    static func conv2d(_ input: Tensor, weight: Tensor, bias: Tensor?, geometry g: ConvolutionGeometry,
                       instructionSet isa: Int32 = -1) -> Tensor {
        let o = g.outputChannels, c = g.channels, taps = g.kernelHeight * g.kernelWidth
        // One contiguous range of samples per thread; reductions keep one partial per part, added in part order.
        let parts = partCount(g.batch, minimumPerPart: 1)
        var geometry = cGeometry(g)
        let hwio = Tensor.uninitialized([g.kernelHeight, g.kernelWidth, c, o])
        permute(weight.storage.pointer, .hwio, hwio.storage.pointer, geometry: g)
        let zeros = Tensor.zeros([max(c, o)])
        let result = Tensor.uninitialized([g.batch, g.outputHeight, g.outputWidth, o])
        let x = input.storage.pointer, w = hwio.storage.pointer, y = result.storage.pointer, z = zeros.storage.pointer
        parallelParts(g.batch, parts: parts) { _, samples in
            swiftcpc_conv_forward(x, w, y, &geometry, Int32(samples.lowerBound), Int32(samples.upperBound), z, isa)
        }
        if let bias { addBias(bias, to: y, rows: g.batch * g.outputPixels, channels: o) }
        var inputs = [input, weight]
        if let bias { inputs.append(bias) }
        return Tensor.record(result, inputs: inputs) { gradOutput, _ in
            var geometry = cGeometry(g)
            let x = input.storage.pointer, gy = gradOutput.storage.pointer, z = zeros.storage.pointer
            var gradInput: Tensor?, gradWeight: Tensor?, gradBias: Tensor?
            if input.requiresGrad {
                precondition(supportsInputGradient(g), "conv2d: the direct input gradient needs input channels divisible by 16, found \(c)")
                let howi = Tensor.uninitialized([g.kernelHeight, o, g.kernelWidth, c])
                permute(weight.storage.pointer, .howi, howi.storage.pointer, geometry: g)
                let gx = Tensor.zeros(input.shape)
                let scratch = Tensor.zeros([parts, c])
                let w = howi.storage.pointer, dx = gx.storage.pointer, s = scratch.storage.pointer
                parallelParts(g.batch, parts: parts) { part, samples in
                    swiftcpc_conv_backward_input(gy, w, dx, &geometry, Int32(samples.lowerBound), Int32(samples.upperBound),
                                                 z, s + part * c, isa)
                }
                gradInput = gx
            }
            if weight.requiresGrad {
                let size = taps * c * o
                let partial = Tensor.zeros([parts, size])
                let dw = partial.storage.pointer
                parallelParts(g.batch, parts: parts) { part, samples in
                    swiftcpc_conv_backward_weight(x, gy, dw + part * size, &geometry, Int32(samples.lowerBound),
                                                  Int32(samples.upperBound), z, isa)
                }
                addPartials(dw, parts: parts, size: size)
                let gw = Tensor.uninitialized(weight.shape)
                permute(gw.storage.pointer, .hwio, dw, geometry: g, toPyTorch: true)
                gradWeight = gw
            }
            if let bias, bias.requiresGrad {
                gradBias = gradOutput.reshaped([g.batch * g.outputPixels, o]).sum(alongAxis: 0)
            }
            return bias == nil ? [gradInput, gradWeight] : [gradInput, gradWeight, gradBias]
        }
    }
}
