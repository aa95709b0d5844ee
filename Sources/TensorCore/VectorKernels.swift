// Small SIMD reductions over contiguous floats, for the fused kernels' per-row sums (strict floating-point order
// keeps plain loops from vectorising; these accumulate in eight lanes instead).

@inline(__always)
func vectorSum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    var lanes = SIMD8<Float>(repeating: 0)
    var i = 0
    let raw = UnsafeRawPointer(p)
    while i + 8 <= n {
        lanes += raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
        i += 8
    }
    var total = lanes.sum()
    while i < n { total += p[i]; i += 1 }
    return total
}

@inline(__always)
func vectorDot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var lanes = SIMD8<Float>(repeating: 0)
    var i = 0
    let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
    while i + 8 <= n {
        lanes += ra.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            * rb.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
        i += 8
    }
    var total = lanes.sum()
    while i < n { total += a[i] * b[i]; i += 1 }
    return total
}

/// Σ (p[i] − centre)².
@inline(__always)
func vectorCentredSquares(_ p: UnsafePointer<Float>, _ n: Int, centre: Float) -> Float {
    var lanes = SIMD8<Float>(repeating: 0)
    let c = SIMD8<Float>(repeating: centre)
    var i = 0
    let raw = UnsafeRawPointer(p)
    while i + 8 <= n {
        let v = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self) - c
        lanes += v * v
        i += 8
    }
    var total = lanes.sum()
    while i < n { let v = p[i] - centre; total += v * v; i += 1 }
    return total
}

/// accumulator[i] += a[i] · b[i] (or += a[i] when `b` is nil), in eight lanes.
@inline(__always)
func vectorAccumulate(_ accumulator: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, times b: UnsafePointer<Float>?,
                      _ n: Int) {
    var i = 0
    let racc = UnsafeMutableRawPointer(accumulator), ra = UnsafeRawPointer(a)
    if let b {
        let rb = UnsafeRawPointer(b)
        while i + 8 <= n {
            let sum = racc.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
                + ra.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self) * rb.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            racc.storeBytes(of: sum, toByteOffset: i * 4, as: SIMD8<Float>.self)
            i += 8
        }
        while i < n { accumulator[i] += a[i] * b[i]; i += 1 }
    } else {
        while i + 8 <= n {
            let sum = racc.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self) + ra.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            racc.storeBytes(of: sum, toByteOffset: i * 4, as: SIMD8<Float>.self)
            i += 8
        }
        while i < n { accumulator[i] += a[i]; i += 1 }
    }
}
