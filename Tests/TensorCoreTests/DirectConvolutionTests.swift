// The direct convolution kernels (CKernels) in each instruction-set variant against the naive reference (forward),
// against the im2col path (input, weight and bias gradients), and by finite differences.

import Testing
@testable import TensorCore
import TestSupport

@Suite struct DirectConvolutionTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var input: [Int], weight: [Int], stride: (Int, Int), padding: (Int, Int), inputGradient = true
        var testDescription: String { "in \(input) w \(weight) s \(stride) p \(padding)" }
    }

    static let cases: [Case] = [
        // ResNet shapes: 3×3 same, 3×3 stride 2 (odd and even sizes), the 1×1 stride-2 shortcut, a grey stem.
        Case(input: [2, 7, 6, 16], weight: [16, 16, 3, 3], stride: (1, 1), padding: (1, 1)),
        Case(input: [3, 9, 9, 16], weight: [32, 16, 3, 3], stride: (2, 2), padding: (1, 1)),
        Case(input: [2, 8, 8, 32], weight: [64, 32, 3, 3], stride: (2, 2), padding: (1, 1)),
        Case(input: [2, 5, 5, 32], weight: [32, 32, 1, 1], stride: (2, 2), padding: (0, 0)),
        Case(input: [2, 6, 7, 1], weight: [16, 1, 3, 3], stride: (1, 1), padding: (1, 1), inputGradient: false),
        Case(input: [2, 4, 5, 3], weight: [32, 3, 3, 3], stride: (1, 1), padding: (1, 1), inputGradient: false),
        // One-vector blocks (48 channels), uneven padding, a rectangular kernel, a short last pixel block.
        Case(input: [1, 4, 6, 48], weight: [48, 48, 3, 2], stride: (1, 2), padding: (2, 0)),
    ]

    static func geometry(_ c: Case) -> ConvolutionGeometry {
        ConvolutionGeometry(batch: c.input[0], height: c.input[1], width: c.input[2], channels: c.input[3],
                            outputChannels: c.weight[0], kernelHeight: c.weight[2], kernelWidth: c.weight[3],
                            strideH: c.stride.0, strideW: c.stride.1, padH: c.padding.0, padW: c.padding.1,
                            dilationH: 1, dilationW: 1, groups: 1)
    }

    /// Forward against the naive kernel; gradients of Σ y·r against the im2col path; for each instruction set.
    @Test(arguments: cases)
    func matchesTheReferenceAndTheIm2colPath(_ c: Case) {
        var generator = RandomGenerator(seed: 41)
        let x = Tensor.uniform(c.input, low: -1, high: 1, generator: &generator)
        let w = Tensor.uniform(c.weight, low: -1, high: 1, generator: &generator)
        let b = Tensor.uniform([c.weight[0]], low: -1, high: 1, generator: &generator)
        let reference = ReferenceKernels.conv2d(input: x.scalars, inputShape: x.shape, weight: w.scalars,
                                                weightShape: w.shape, bias: b.scalars, stride: c.stride,
                                                padding: c.padding, dilation: (1, 1), groups: 1)
        let probe = Tensor.uniform(reference.shape, low: -1, high: 1, generator: &generator)

        func gradients(_ convolve: (Tensor, Tensor, Tensor) -> Tensor) -> (output: Tensor, grads: [Tensor?]) {
            let (xs, ws, bs) = (x.copy(), w.copy(), b.copy())
            xs.requiresGrad = c.inputGradient
            ws.requiresGrad = true
            bs.requiresGrad = true
            let y = convolve(xs, ws, bs)
            (y * probe).sum().backward()
            return (y, [xs.grad, ws.grad, bs.grad])
        }
        let expected = gradients {
            conv2d($0, weight: $1, bias: $2, stride: c.stride, padding: c.padding, algorithm: .im2col)
        }
        for isa: Int32 in [0, 1, 2] {
            let direct = gradients {
                DirectConvolution.conv2d($0, weight: $1, bias: $2, geometry: Self.geometry(c), instructionSet: isa)
            }
            #expect(direct.output.shape == reference.shape)
            #expect(maxAbsoluteDifference(direct.output.scalars, reference.values) < 1e-4, "isa \(isa) forward")
            for (index, name) in ["input", "weight", "bias"].enumerated() {
                let (got, want) = (direct.grads[index], expected.grads[index])
                #expect((got == nil) == (want == nil), "isa \(isa) \(name)")
                if let got, let want {
                    #expect(got.shape == want.shape)
                    #expect(maxAbsoluteDifference(got.scalars, want.scalars) < 1e-3, "isa \(isa) \(name) gradient")
                }
            }
        }
    }

    @Test func automaticPicksTheDirectKernelsOnlyWhereTheyApply() {
        let ok = Self.geometry(Self.cases[0])
        #expect(DirectConvolution.supports(ok) && DirectConvolution.supportsInputGradient(ok))
        let grouped = ConvolutionGeometry(batch: 1, height: 4, width: 4, channels: 16, outputChannels: 16, kernelHeight: 3,
                                      kernelWidth: 3, strideH: 1, strideW: 1, padH: 1, padW: 1, dilationH: 1,
                                      dilationW: 1, groups: 2)
        #expect(!DirectConvolution.supports(grouped))
        let narrow = ConvolutionGeometry(batch: 1, height: 4, width: 4, channels: 16, outputChannels: 12,
                                         kernelHeight: 3, kernelWidth: 3, strideH: 1, strideW: 1, padH: 1, padW: 1,
                                         dilationH: 1, dilationW: 1, groups: 1)
        #expect(!DirectConvolution.supports(narrow))
        #expect(["avx512", "avx2", "baseline"].contains(DirectConvolution.instructionSet))
    }

    @Test func finiteDifferences() {
        var generator = RandomGenerator(seed: 43)
        let x = Tensor.uniform([1, 3, 4, 16], low: -1, high: 1, generator: &generator)
        let w = Tensor.uniform([16, 16, 3, 3], low: -0.5, high: 0.5, generator: &generator)
        let b = Tensor.uniform([16], low: -1, high: 1, generator: &generator)
        let result = checkGradients([x, w, b], epsilon: 1e-3, absoluteTolerance: 3e-3) {
            conv2d($0[0], weight: $0[1], bias: $0[2], stride: (2, 1), padding: (1, 1), algorithm: .direct)
        }
        #expect(result.passed, "\(result)")
    }
}
