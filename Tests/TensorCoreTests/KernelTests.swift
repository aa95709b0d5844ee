// Fast kernels (BLAS, im2col) against the naive reference kernels, on shapes that exercise every path.

import Testing
import TensorCore
import TestSupport

@Suite struct KernelTests {
    @Test(arguments: [(1, 1, 1), (7, 13, 5), (64, 33, 70), (3, 0, 4)])
    func sgemmMatchesNaiveMatmul(m: Int, k: Int, n: Int) {
        var generator = RandomGenerator(seed: UInt64(m * 1000 + k * 10 + n))
        let a = Tensor.uniform([m, k], low: -1, high: 1, generator: &generator)
        let b = Tensor.uniform([k, n], low: -1, high: 1, generator: &generator)
        let expected = ReferenceKernels.matmul(a.scalars, b.scalars, m: m, k: k, n: n)
        #expect(maxAbsoluteDifference(matmul(a, b).scalars, expected) < 1e-4)
        // Transposed operands give the same product.
        let viaTransposes = matmul(a.transposed().copy(), b.transposed().copy(), transposeA: true, transposeB: true)
        #expect(maxAbsoluteDifference(viaTransposes.scalars, expected) < 1e-4)
    }

    struct ConvCase: Sendable, CustomTestStringConvertible {
        var input: [Int], weight: [Int], stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int), groups: Int
        var testDescription: String { "in \(input) w \(weight) s \(stride) p \(padding) d \(dilation) g \(groups)" }
    }

    static let convCases: [ConvCase] = [
        ConvCase(input: [2, 1, 50, 1], weight: [4, 1, 1, 10], stride: (1, 5), padding: (0, 0), dilation: (1, 1), groups: 1),
        ConvCase(input: [1, 7, 6, 3], weight: [5, 3, 3, 3], stride: (1, 1), padding: (1, 1), dilation: (1, 1), groups: 1),
        ConvCase(input: [2, 9, 8, 4], weight: [6, 2, 3, 2], stride: (2, 3), padding: (2, 1), dilation: (2, 1), groups: 2),
        ConvCase(input: [1, 5, 5, 4], weight: [4, 1, 3, 3], stride: (1, 1), padding: (1, 1), dilation: (1, 1), groups: 4),
    ]

    @Test(arguments: convCases)
    func im2colConvolutionMatchesDirectLoops(_ c: ConvCase) {
        var generator = RandomGenerator(seed: 3)
        let x = Tensor.uniform(c.input, low: -1, high: 1, generator: &generator)
        let w = Tensor.uniform(c.weight, low: -1, high: 1, generator: &generator)
        let b = Tensor.uniform([c.weight[0]], low: -1, high: 1, generator: &generator)
        let fast = conv2d(x, weight: w, bias: b, stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups)
        let reference = ReferenceKernels.conv2d(input: x.scalars, inputShape: x.shape, weight: w.scalars,
                                                weightShape: w.shape, bias: b.scalars, stride: c.stride,
                                                padding: c.padding, dilation: c.dilation, groups: c.groups)
        #expect(fast.shape == reference.shape)
        #expect(maxAbsoluteDifference(fast.scalars, reference.values) < 1e-4)
    }

    @Test func conv1dIsConv2dWithUnitHeight() {
        var generator = RandomGenerator(seed: 4)
        let x = Tensor.uniform([2, 30, 3], low: -1, high: 1, generator: &generator)
        let w = Tensor.uniform([5, 3, 4], low: -1, high: 1, generator: &generator)
        let y = conv1d(x, weight: w, stride: 2)
        #expect(y.shape == [2, 14, 5])
        let reference = ReferenceKernels.conv2d(input: x.scalars, inputShape: [2, 1, 30, 3], weight: w.scalars,
                                                weightShape: [5, 3, 1, 4], bias: nil, stride: (1, 2),
                                                padding: (0, 0), dilation: (1, 1), groups: 1)
        #expect(maxAbsoluteDifference(y.scalars, reference.values) < 1e-4)
    }

    /// The im2col-free path (kernel a multiple of the stride) against the naive kernel, forward, for CPC's shapes.
    @Test(arguments: [(10, 5, 1), (8, 4, 3), (4, 2, 5), (3, 3, 2), (6, 2, 4)])
    func tapGroupConv1dMatchesTheReference(kernel: Int, stride: Int, channels: Int) {
        var generator = RandomGenerator(seed: UInt64(kernel * 10 + stride))
        let x = Tensor.uniform([3, 41, channels], low: -1, high: 1, generator: &generator)
        let w = Tensor.uniform([6, channels, kernel], low: -1, high: 1, generator: &generator)
        let b = Tensor.uniform([6], low: -1, high: 1, generator: &generator)
        let y = conv1d(x, weight: w, bias: b, stride: stride)
        let reference = ReferenceKernels.conv2d(input: x.scalars, inputShape: [3, 1, 41, channels], weight: w.scalars,
                                                weightShape: [6, channels, 1, kernel], bias: b.scalars, stride: (1, stride),
                                                padding: (0, 0), dilation: (1, 1), groups: 1)
        #expect(y.shape == [3, (41 - kernel) / stride + 1, 6])
        #expect(maxAbsoluteDifference(y.scalars, reference.values) < 1e-4)
    }

    @Test func poolingForward() {
        let x = Tensor([1, 5, 2, 0, 3, 4, 8, 6, 7, 1, 2, 9, 0, 3, 1, 2], shape: [1, 4, 4, 1])
        #expect(maxPool2d(x, kernelSize: (2, 2)).scalars == [5, 8, 7, 9])
        #expect(avgPool2d(x, kernelSize: (2, 2)).scalars == [3.25, 4, 2.75, 3.5])
    }

    @Test func parallelElementwiseMatchesSerial() {
        // Large enough to be split across two threads.
        Threads.setElementwiseCount(2)
        defer { Threads.setElementwiseCount(1) }
        #expect(Threads.count == 2)
        var generator = RandomGenerator(seed: 8)
        let x = Tensor.uniform([300_000], low: -2, high: 2, generator: &generator)
        let serial = x.scalars.map { $0 > 0 ? $0 : 0 }
        #expect(x.relu().scalars == serial)
    }
}
