// The Winograd F(2×2, 3×3) kernels (CKernels/conv_winograd.c) in each instruction-set variant against the naive
// reference (forward) and the im2col path (input, weight and bias gradients), and by finite differences.

import Testing
@testable import TensorCore
import TestSupport

@Suite struct WinogradConvolutionTests {
    /// [N, H, W, C] inputs and output channels: even and odd sizes (a last tile half outside the image), a 1×1
    /// image, more outputs than inputs and fewer, a short last tile block (3·7·6 = 126 tiles > 32 per block).
    static let cases: [(input: [Int], outputs: Int)] = [
        ([2, 8, 8, 16], 16), ([3, 7, 6, 16], 48), ([2, 5, 9, 32], 16), ([1, 1, 1, 16], 32), ([3, 14, 12, 32], 32),
    ]

    static func geometry(_ input: [Int], _ outputs: Int) -> ConvolutionGeometry {
        ConvolutionGeometry(batch: input[0], height: input[1], width: input[2], channels: input[3],
                            outputChannels: outputs, kernelHeight: 3, kernelWidth: 3, strideH: 1, strideW: 1,
                            padH: 1, padW: 1, dilationH: 1, dilationW: 1, groups: 1)
    }

    @Test func matchesTheReferenceAndTheIm2colPathInEveryVariant() {
        for (index, (shape, outputs)) in Self.cases.enumerated() {
            var generator = RandomGenerator(seed: 70 + UInt64(index))
            let x = Tensor.uniform(shape, low: -1, high: 1, generator: &generator)
            let w = Tensor.uniform([outputs, shape[3], 3, 3], low: -1, high: 1, generator: &generator)
            let b = Tensor.uniform([outputs], low: -1, high: 1, generator: &generator)
            let reference = ReferenceKernels.conv2d(input: x.scalars, inputShape: x.shape, weight: w.scalars,
                                                    weightShape: w.shape, bias: b.scalars, stride: (1, 1),
                                                    padding: (1, 1), dilation: (1, 1), groups: 1)
            let probe = Tensor.uniform(reference.shape, low: -1, high: 1, generator: &generator)
            func gradients(_ convolve: (Tensor, Tensor, Tensor) -> Tensor) -> (output: Tensor, grads: [Tensor?]) {
                let (xs, ws, bs) = (x.copy(), w.copy(), b.copy())
                for t in [xs, ws, bs] { t.requiresGrad = true }
                let y = convolve(xs, ws, bs)
                (y * probe).sum().backward()
                return (y, [xs.grad, ws.grad, bs.grad])
            }
            let expected = gradients { conv2d($0, weight: $1, bias: $2, padding: (1, 1), algorithm: .im2col) }
            for isa: Int32 in [0, 1, 2] {
              for tile in [2, 4] {
                let got = gradients {
                    WinogradConvolution.conv2d($0, weight: $1, bias: $2, geometry: Self.geometry(shape, outputs),
                                               outputTile: tile, instructionSet: isa).output
                }
                let label = "\(shape) → \(outputs), isa \(isa), F(\(tile)×\(tile))"
                #expect(got.output.shape == reference.shape)
                #expect(maxAbsoluteDifference(got.output.scalars, reference.values) < 1e-4, "\(label) forward")
                for (slot, name) in ["input", "weight", "bias"].enumerated() {
                    guard let have = got.grads[slot], let want = expected.grads[slot] else {
                        Issue.record("\(label): no \(name) gradient")
                        continue
                    }
                    #expect(have.shape == want.shape)
                    let scale = max(1, want.scalars.map(abs).max() ?? 1)
                    #expect(maxAbsoluteDifference(have.scalars, want.scalars) < 1e-5 * scale * 10, "\(label) \(name) gradient")
                }
              }
            }
        }
    }

    @Test func theOutputPassSumsEachChannelForBatchNorm() {
        for (index, (shape, outputs)) in Self.cases.enumerated() {
            var generator = RandomGenerator(seed: 90 + UInt64(index))
            let x = Tensor.uniform(shape, low: -1, high: 1, generator: &generator)
            let w = Tensor.uniform([outputs, shape[3], 3, 3], low: -1, high: 1, generator: &generator)
            for isa: Int32 in [0, 1, 2] {
              for tile in [2, 4] {
                let (y, sums) = WinogradConvolution.conv2d(x, weight: w, bias: nil, geometry: Self.geometry(shape, outputs),
                                                           channelSums: true, outputTile: tile, instructionSet: isa)
                guard let sums else {
                    Issue.record("\(shape) → \(outputs), isa \(isa), tile \(tile): no sums")
                    continue
                }
                let values = y.scalars, rows = values.count / outputs
                #expect(sums.rows == rows)
                for j in 0..<outputs {
                    let column = (0..<rows).map { Double(values[$0 * outputs + j]) }
                    let sum = column.reduce(0, +), square = column.reduce(0) { $0 + $1 * $1 }
                    #expect(abs(sums.sums[j] - sum) <= 1e-5 * max(1, square), "\(shape) → \(outputs), isa \(isa), Σy[\(j)]")
                    #expect(abs(sums.squares[j] - square) <= 1e-5 * max(1, square), "\(shape) → \(outputs), isa \(isa), Σy²[\(j)]")
                }
              }
            }
        }
        // Other kernels leave the sums to batch norm; so does a convolution with a bias.
        var generator = RandomGenerator(seed: 99)
        let x = Tensor.uniform([2, 6, 6, 16], low: -1, high: 1, generator: &generator)
        let w = Tensor.uniform([16, 16, 3, 3], low: -1, high: 1, generator: &generator)
        #expect(conv2dWithChannelSums(x, weight: w, stride: (2, 2), padding: (1, 1)).sums == nil)
        #expect(WinogradConvolution.conv2d(x, weight: w, bias: Tensor.zeros([16]), geometry: Self.geometry(x.shape, 16),
                                           channelSums: true).sums == nil)
        // Batch norm from the convolution's sums: the output and statistics of its own pass, within rounding.
        let (y, sums) = conv2dWithChannelSums(x, weight: w, padding: (1, 1))
        let own = y.batchNormalized(weight: nil, bias: nil, epsilon: 1e-5)
        let given = y.batchNormalized(weight: nil, bias: nil, epsilon: 1e-5, sums: sums)
        #expect((sums != nil) == DirectConvolution.preferred, "Winograd runs where the vector kernels are preferred")
        #expect(maxAbsoluteDifference(own.output.scalars, given.output.scalars) < 1e-5)
        #expect(maxAbsoluteDifference(own.variance, given.variance) < 1e-5)
    }

    @Test func theOutputTileIsFourUnlessItsPaddingCostsTooMuch() {
        #expect(WinogradConvolution.outputTile(height: 28, width: 28) == 4)
        #expect(WinogradConvolution.outputTile(height: 14, width: 14) == 4, "16 × 16 against 14 × 14: 1.31 times")
        #expect(WinogradConvolution.outputTile(height: 7, width: 7) == 4)
        #expect(WinogradConvolution.outputTile(height: 5, width: 5) == 2, "8 × 8 against 6 × 6: 1.78 times")
        #expect(WinogradConvolution.outputTile(height: 1, width: 1) == 2)
    }

    @Test func automaticUsesWinogradOnlyForThreeByThreeStrideOne() {
        #expect(WinogradConvolution.supports(Self.geometry([1, 4, 4, 16], 32)))
        let strided = ConvolutionGeometry(batch: 1, height: 4, width: 4, channels: 16, outputChannels: 32,
                                          kernelHeight: 3, kernelWidth: 3, strideH: 2, strideW: 2, padH: 1, padW: 1,
                                          dilationH: 1, dilationW: 1, groups: 1)
        #expect(!WinogradConvolution.supports(strided))
        #expect(!WinogradConvolution.supports(Self.geometry([1, 4, 4, 3], 32)), "a grey or RGB stem is not for Winograd")
        #expect(!WinogradConvolution.supports(Self.geometry([1, 4, 4, 16], 24)))
    }

    @Test func finiteDifferences() {
        var generator = RandomGenerator(seed: 44)
        let x = Tensor.uniform([1, 6, 7, 16], low: -1, high: 1, generator: &generator)  // F(4×4) weight gradient too
        let w = Tensor.uniform([16, 16, 3, 3], low: -0.5, high: 0.5, generator: &generator)
        let b = Tensor.uniform([16], low: -1, high: 1, generator: &generator)
        // The convolution is linear in each argument, so a large step has no truncation error and keeps the
        // forward's rounding (F(4×4)'s is ~10⁻⁵ of the output) from swamping the difference quotient.
        for tile in [2, 4] {
            let result = checkGradients([x, w, b], epsilon: 3e-2, absoluteTolerance: 3e-3) {
                WinogradConvolution.conv2d($0[0], weight: $0[1], bias: $0[2], geometry: Self.geometry(x.shape, 16),
                                           outputTile: tile).output
            }
            #expect(result.passed, "F(\(tile)×\(tile)): \(result)")
        }
    }
}
