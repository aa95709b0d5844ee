// The per-channel batch-norm kernels (CKernels/channels.c) in each instruction-set variant against plain loops, for
// channel counts that are and are not multiples of 16, with and without ReLU's mask and the residual; and the
// buffer cache that tensors allocate from.

import CKernels
import Testing
@testable import TensorCore
import TestSupport

@Suite struct ChannelKernelTests {
    static let shapes: [(rows: Int, channels: Int)] = [(300, 16), (5, 37), (513, 48), (7, 3)]

    @Test func sumsMaskAndCombineMatchPlainLoopsInEveryVariant() {
        var generator = RandomGenerator(seed: 5)
        for (rows, c) in Self.shapes {
            let a = Tensor.uniform([rows, c], low: -1, high: 1, generator: &generator).scalars
            let b = Tensor.uniform([rows, c], low: -2, high: 2, generator: &generator).scalars
            let gate = Tensor.uniform([rows, c], low: -1, high: 1, generator: &generator).scalars
            let s = Tensor.uniform([c], low: -1, high: 1, generator: &generator).scalars
            let k = Tensor.uniform([c], low: -1, high: 1, generator: &generator).scalars
            let k0 = Tensor.uniform([c], low: -1, high: 1, generator: &generator).scalars
            for masking in [false, true] {
                let v = (0..<(rows * c)).map { masking && gate[$0] <= 0 ? 0 : a[$0] }
                var sums = [Double](repeating: 0, count: c), products = [Double](repeating: 0, count: c)
                for r in 0..<rows {
                    for j in 0..<c { sums[j] += Double(v[r * c + j]); products[j] += Double(v[r * c + j]) * Double(b[r * c + j]) }
                }
                for isa: Int32 in [0, 1, 2] {
                    var gotSums = [Double](repeating: 0.5, count: c), gotProducts = [Double](repeating: -0.5, count: c)
                    var masked = [Float](repeating: .nan, count: rows * c)
                    masked.withUnsafeMutableBufferPointer { out in
                        swiftcpc_channel_sums(a, masking ? gate : nil, b, masking ? out.baseAddress : nil, rows, Int32(c),
                                              &gotSums, &gotProducts, isa)
                    }
                    for j in 0..<c {
                        // The kernels add to what the arrays hold (0.5 and −0.5 here).
                        #expect(abs(gotSums[j] - 0.5 - sums[j]) < 1e-9, "sums \(rows)×\(c) isa \(isa) channel \(j)")
                        #expect(abs(gotProducts[j] + 0.5 - products[j]) < 1e-9, "products \(rows)×\(c) isa \(isa) channel \(j)")
                    }
                    if masking { #expect(masked == v, "masked \(rows)×\(c) isa \(isa)") }
                    var combined = [Float](repeating: .nan, count: rows * c)
                    swiftcpc_channel_combine(a, b, s, k, k0, &combined, rows, Int32(c), isa)
                    let expected = (0..<(rows * c)).map { s[$0 % c] * a[$0] + k[$0 % c] * b[$0] + k0[$0 % c] }
                    #expect(zip(combined, expected).allSatisfy { abs($0 - $1) <= 1e-5 }, "combine \(rows)×\(c) isa \(isa)")
                }
            }
        }
    }

    @Test func affineWithResidualAndReLUMatchesPlainLoopsInEveryVariant() {
        var generator = RandomGenerator(seed: 6)
        for (rows, c) in Self.shapes {
            let x = Tensor.uniform([rows, c], low: -1, high: 1, generator: &generator).scalars
            let r = Tensor.uniform([rows, c], low: -1, high: 1, generator: &generator).scalars
            let scale = Tensor.uniform([c], low: -2, high: 2, generator: &generator).scalars
            let shift = Tensor.uniform([c], low: -1, high: 1, generator: &generator).scalars
            for residual in [false, true] {
                for relu in [false, true] {
                    let expected = (0..<(rows * c)).map { i -> Float in
                        let value = x[i] * scale[i % c] + shift[i % c] + (residual ? r[i] : 0)
                        return relu ? max(0, value) : value
                    }
                    for isa: Int32 in [0, 1, 2] {
                        var y = [Float](repeating: .nan, count: rows * c)
                        swiftcpc_channel_affine(x, scale, shift, residual ? r : nil, relu ? 1 : 0, &y, rows, Int32(c), isa)
                        #expect(zip(y, expected).allSatisfy { abs($0 - $1) <= 1e-5 },
                                "\(rows)×\(c) residual \(residual) relu \(relu) isa \(isa)")
                    }
                }
            }
        }
    }

    /// A freed buffer of cacheable size is handed to the next tensor of the same size; other sizes are not.
    @Test func tensorsReuseFreedBuffersOfTheSameSize() {
        let count = BufferCache.minimumBytes / 4 + 12_345 // a size no other test allocates
        var first: Tensor? = Tensor.zeros([count])
        let address = first!.storage.pointer
        #expect(BufferCache.held(byteCount: count * 4) == 0)
        first = nil
        #expect(BufferCache.held(byteCount: count * 4) == 1)
        let other = Tensor.zeros([count + 16])
        #expect(other.storage.pointer != address)
        let second = Tensor.zeros([count])
        #expect(second.storage.pointer == address)
        #expect(BufferCache.held(byteCount: count * 4) == 0)
        #expect(second.scalars.allSatisfy { $0 == 0 }, "a reused buffer is initialised like a new one")
        _ = first
    }
}
