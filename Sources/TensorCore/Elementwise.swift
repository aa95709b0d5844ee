// Elementwise ops: broadcasting arithmetic, unary maths and activations, each with its vector-Jacobian product.
//
// Broadcasting follows NumPy/PyTorch: shapes align on the right; an extent of 1 stretches to match.

import Foundation

// MARK: - Kernels (not recorded)

extension Tensor {
    /// Applies `f` to every element into a new tensor. Not recorded on the tape.
    @inline(__always)
    func map(_ f: (Float) -> Float) -> Tensor {
        let result = Tensor.uninitialized(shape)
        let x = storage.pointer, y = result.storage.pointer
        parallelChunks(count) { range in
            for i in range { y[i] = f(x[i]) }
        }
        return result
    }

    /// Applies `f` to pairs of elements of two same-shaped tensors. Not recorded on the tape.
    @inline(__always)
    static func zipMap(_ a: Tensor, _ b: Tensor, _ f: (Float, Float) -> Float) -> Tensor {
        precondition(a.count == b.count, "zipMap: \(a.shape) vs \(b.shape)")
        let result = Tensor.uninitialized(a.shape)
        let x = a.storage.pointer, y = b.storage.pointer, z = result.storage.pointer
        parallelChunks(a.count) { range in
            for i in range { z[i] = f(x[i], y[i]) }
        }
        return result
    }

    /// The shape two operands broadcast to.
    public static func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int] {
        let rank = Swift.max(a.count, b.count)
        var result = [Int](repeating: 1, count: rank)
        for i in 0..<rank {
            let da = i < rank - a.count ? 1 : a[i - (rank - a.count)]
            let db = i < rank - b.count ? 1 : b[i - (rank - b.count)]
            precondition(da == db || da == 1 || db == 1, "shapes \(a) and \(b) do not broadcast")
            result[i] = da == 1 ? db : da
        }
        return result
    }

    /// Row-major strides of `shape` padded on the left to `rank`, with 0 where the extent 1 is stretched to `target`.
    static func broadcastStrides(_ shape: [Int], to target: [Int]) -> [Int] {
        let rank = target.count
        let padded = [Int](repeating: 1, count: rank - shape.count) + shape
        var strides = [Int](repeating: 0, count: rank)
        var running = 1
        for i in stride(from: rank - 1, through: 0, by: -1) {
            strides[i] = (padded[i] == 1 && target[i] != 1) ? 0 : running
            running *= padded[i]
        }
        return strides
    }

    /// Applies `f` to two operands under broadcasting. Not recorded on the tape.
    @inline(__always)
    static func broadcastMap(_ a: Tensor, _ b: Tensor, _ f: (Float, Float) -> Float) -> Tensor {
        if a.shape == b.shape { return zipMap(a, b, f) }
        let shape = broadcastShape(a.shape, b.shape)
        let result = Tensor.uninitialized(shape)
        let x = a.storage.pointer, y = b.storage.pointer, z = result.storage.pointer
        if b.count == 1 {
            let s = y[0]
            parallelChunks(result.count) { range in for i in range { z[i] = f(x[i], s) } }
            return result
        }
        if a.count == 1 {
            let s = x[0]
            parallelChunks(result.count) { range in for i in range { z[i] = f(s, y[i]) } }
            return result
        }
        let rank = shape.count
        let sa = broadcastStrides(a.shape, to: shape), sb = broadcastStrides(b.shape, to: shape)
        let inner = shape[rank - 1], innerA = sa[rank - 1], innerB = sb[rank - 1]
        let outer = result.count / Swift.max(inner, 1)
        var index = [Int](repeating: 0, count: rank)
        var offsetA = 0, offsetB = 0
        for o in 0..<outer {
            let base = o * inner
            for i in 0..<inner { z[base + i] = f(x[offsetA + i * innerA], y[offsetB + i * innerB]) }
            // Advance the odometer over the outer dimensions.
            var d = rank - 2
            while d >= 0 {
                index[d] += 1
                offsetA += sa[d]
                offsetB += sb[d]
                if index[d] < shape[d] { break }
                offsetA -= sa[d] * shape[d]
                offsetB -= sb[d] * shape[d]
                index[d] = 0
                d -= 1
            }
        }
        return result
    }

    /// Sums a broadcast gradient back down to `target` (the reverse of broadcasting). Recorded.
    public func sumToShape(_ target: [Int]) -> Tensor {
        if shape == target { return self }
        let lead = rank - target.count
        precondition(lead >= 0, "cannot sum \(shape) down to \(target)")
        var axes: [Int] = Array(0..<lead)
        for (i, extent) in target.enumerated() where extent == 1 && shape[lead + i] != 1 { axes.append(lead + i) }
        return sum(alongAxes: axes, keepingDimensions: true).reshaped(target)
    }

    /// Broadcasts to `target` (materialised). The gradient sums back. Recorded.
    public func expanded(to target: [Int]) -> Tensor {
        if shape == target { return self }
        precondition(Tensor.broadcastShape(shape, target) == target, "cannot expand \(shape) to \(target)")
        let result = Tensor.broadcastMap(self, Tensor.zeros(target)) { a, _ in a }
        let inputShape = shape
        return Tensor.record(result, inputs: [self]) { g, _ in [g.sumToShape(inputShape)] }
    }
}

// MARK: - Binary arithmetic

extension Tensor {
    /// Elementwise sum with broadcasting.
    public static func + (a: Tensor, b: Tensor) -> Tensor {
        let result = broadcastMap(a, b) { $0 + $1 }
        return record(result, inputs: [a, b]) { g, _ in
            [a.requiresGrad ? g.sumToShape(a.shape) : nil, b.requiresGrad ? g.sumToShape(b.shape) : nil]
        }
    }

    /// Elementwise difference with broadcasting.
    public static func - (a: Tensor, b: Tensor) -> Tensor {
        let result = broadcastMap(a, b) { $0 - $1 }
        return record(result, inputs: [a, b]) { g, _ in
            [a.requiresGrad ? g.sumToShape(a.shape) : nil, b.requiresGrad ? (-g).sumToShape(b.shape) : nil]
        }
    }

    /// Elementwise product with broadcasting.
    public static func * (a: Tensor, b: Tensor) -> Tensor {
        let result = broadcastMap(a, b) { $0 * $1 }
        return record(result, inputs: [a, b]) { g, _ in
            [a.requiresGrad ? broadcastMap(g, b, *).sumToShape(a.shape) : nil,
             b.requiresGrad ? broadcastMap(g, a, *).sumToShape(b.shape) : nil]
        }
    }

    /// Elementwise quotient with broadcasting.
    public static func / (a: Tensor, b: Tensor) -> Tensor {
        let result = broadcastMap(a, b) { $0 / $1 }
        return record(result, inputs: [a, b]) { g, out in
            [a.requiresGrad ? broadcastMap(g, b, /).sumToShape(a.shape) : nil,
             // d(a/b)/db = -(a/b)/b
             b.requiresGrad ? broadcastMap(zipMap(g, out) { -$0 * $1 }, b, /).sumToShape(b.shape) : nil]
        }
    }

    /// Elementwise negation.
    public static prefix func - (x: Tensor) -> Tensor {
        record(x.map { -$0 }, inputs: [x]) { g, _ in [g.map { -$0 }] }
    }

    /// Adds a scalar to every element.
    public static func + (a: Tensor, s: Float) -> Tensor {
        record(a.map { $0 + s }, inputs: [a]) { g, _ in [g] }
    }
    /// Adds a scalar to every element.
    public static func + (s: Float, a: Tensor) -> Tensor { a + s }
    /// Subtracts a scalar from every element.
    public static func - (a: Tensor, s: Float) -> Tensor { a + (-s) }
    /// A scalar minus every element.
    public static func - (s: Float, a: Tensor) -> Tensor {
        record(a.map { s - $0 }, inputs: [a]) { g, _ in [g.map { -$0 }] }
    }
    /// Scales every element.
    public static func * (a: Tensor, s: Float) -> Tensor {
        record(a.map { $0 * s }, inputs: [a]) { g, _ in [g.map { $0 * s }] }
    }
    /// Scales every element.
    public static func * (s: Float, a: Tensor) -> Tensor { a * s }
    /// Divides every element by a scalar.
    public static func / (a: Tensor, s: Float) -> Tensor { a * (1 / s) }
    /// A scalar divided by every element.
    public static func / (s: Float, a: Tensor) -> Tensor {
        record(a.map { s / $0 }, inputs: [a]) { g, out in [zipMap(g, zipMap(out, a) { -$0 / $1 }, *)] }
    }
}

// MARK: - Unary maths

extension Tensor {
    /// e^x.
    public func exp() -> Tensor {
        Tensor.record(map { Foundation.exp($0) }, inputs: [self]) { g, out in [Tensor.zipMap(g, out, *)] }
    }

    /// Natural logarithm.
    public func log() -> Tensor {
        Tensor.record(map { Foundation.log($0) }, inputs: [self]) { g, _ in [Tensor.zipMap(g, self, /)] }
    }

    /// Square root.
    public func sqrt() -> Tensor {
        Tensor.record(map { $0.squareRoot() }, inputs: [self]) { g, out in
            [Tensor.zipMap(g, out) { $0 * 0.5 / $1 }]
        }
    }

    /// Absolute value (gradient sign(x), 0 at 0 as in PyTorch).
    public func abs() -> Tensor {
        Tensor.record(map { Swift.abs($0) }, inputs: [self]) { g, _ in
            [Tensor.zipMap(g, self) { g, x in x > 0 ? g : (x < 0 ? -g : 0) }]
        }
    }

    /// x raised to a constant power.
    public func pow(_ exponent: Float) -> Tensor {
        if exponent == 2 {
            return Tensor.record(map { $0 * $0 }, inputs: [self]) { g, _ in [Tensor.zipMap(g, self) { 2 * $0 * $1 }] }
        }
        return Tensor.record(map { Foundation.pow($0, exponent) }, inputs: [self]) { g, _ in
            [Tensor.zipMap(g, self) { g, x in g * exponent * Foundation.pow(x, exponent - 1) }]
        }
    }

    /// x², shorthand for `pow(2)`.
    public func squared() -> Tensor { pow(2) }

    /// Limits values to `[min, max]`; the gradient passes where the input lies inside, bounds included (as PyTorch).
    public func clamped(min lower: Float = -.infinity, max upper: Float = .infinity) -> Tensor {
        precondition(lower <= upper, "clamp needs min <= max, got \(lower) > \(upper)")
        return Tensor.record(map { Swift.min(Swift.max($0, lower), upper) }, inputs: [self]) { g, _ in
            [Tensor.zipMap(g, self) { g, x in (x >= lower && x <= upper) ? g : 0 }]
        }
    }
}

// MARK: - Activations

extension Tensor {
    /// max(x, 0).
    public func relu() -> Tensor {
        Tensor.record(map { $0 > 0 ? $0 : 0 }, inputs: [self]) { g, _ in
            [Tensor.zipMap(g, self) { g, x in x > 0 ? g : 0 }]
        }
    }

    /// x for x > 0, slope·x otherwise.
    public func leakyReLU(slope: Float = 0.01) -> Tensor {
        Tensor.record(map { $0 > 0 ? $0 : slope * $0 }, inputs: [self]) { g, _ in
            [Tensor.zipMap(g, self) { g, x in x > 0 ? g : slope * g }]
        }
    }

    /// 1 / (1 + e^-x), computed without overflow.
    public func sigmoid() -> Tensor {
        let result = map { x in
            x >= 0 ? 1 / (1 + Foundation.exp(-x)) : Foundation.exp(x) / (1 + Foundation.exp(x))
        }
        return Tensor.record(result, inputs: [self]) { g, out in [Tensor.zipMap(g, out) { $0 * $1 * (1 - $1) }] }
    }

    /// log(1 + e^x), computed without overflow as max(x, 0) + log(1 + e^−|x|); the gradient is sigmoid(x).
    public func softplus() -> Tensor {
        let result = map { x in Swift.max(x, 0) + Foundation.log1p(Foundation.exp(-Swift.abs(x))) }
        return Tensor.record(result, inputs: [self]) { g, _ in
            [Tensor.zipMap(g, self) { g, x in
                g * (x >= 0 ? 1 / (1 + Foundation.exp(-x)) : Foundation.exp(x) / (1 + Foundation.exp(x)))
            }]
        }
    }

    /// Hyperbolic tangent.
    public func tanh() -> Tensor {
        Tensor.record(map { Foundation.tanh($0) }, inputs: [self]) { g, out in
            [Tensor.zipMap(g, out) { $0 * (1 - $1 * $1) }]
        }
    }

    /// GELU, exact (x·Φ(x) with the error function) as PyTorch's default, or its tanh approximation.
    public func gelu(approximateTanh: Bool = false) -> Tensor {
        if approximateTanh {
            let c: Float = 0.797_884_56  // √(2/π)
            let result = map { x in 0.5 * x * (1 + Foundation.tanh(c * (x + 0.044715 * x * x * x))) }
            return Tensor.record(result, inputs: [self]) { g, _ in
                [Tensor.zipMap(g, self) { g, x in
                    let u = c * (x + 0.044715 * x * x * x)
                    let t = Foundation.tanh(u)
                    let du = c * (1 + 3 * 0.044715 * x * x)
                    return g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du)
                }]
            }
        }
        let invSqrt2: Float = 0.707_106_78
        let invSqrt2Pi: Float = 0.398_942_28
        let result = map { x in 0.5 * x * (1 + Foundation.erf(x * invSqrt2)) }
        return Tensor.record(result, inputs: [self]) { g, _ in
            [Tensor.zipMap(g, self) { g, x in
                g * (0.5 * (1 + Foundation.erf(x * invSqrt2)) + x * invSqrt2Pi * Foundation.exp(-0.5 * x * x))
            }]
        }
    }
}
