// Max and average pooling over channels-last tensors.
//
// Glossary: N batch, H/W input height/width, Ho/Wo output height/width, C channels, KH/KW window extents.
// Input [N, H, W, C] → output [N, Ho, Wo, C]; 1-D pooling uses H = KH = 1 on [N, T, C].

/// Max pooling; padded positions never win (they count as −∞, as in PyTorch).
/// `stride` defaults to the window. Shape: `[N, H, W, C] → [N, Ho, Wo, C]`.
public func maxPool2d(_ input: Tensor, kernelSize: (Int, Int), stride: (Int, Int)? = nil,
                      padding: (Int, Int) = (0, 0)) -> Tensor {
    pool2d(input, kernelSize: kernelSize, stride: stride ?? kernelSize, padding: padding, maximum: true)
}

/// Average pooling; padded positions count as zeros in the divisor (PyTorch's `count_include_pad=True`).
/// `stride` defaults to the window. Shape: `[N, H, W, C] → [N, Ho, Wo, C]`.
public func avgPool2d(_ input: Tensor, kernelSize: (Int, Int), stride: (Int, Int)? = nil,
                      padding: (Int, Int) = (0, 0)) -> Tensor {
    pool2d(input, kernelSize: kernelSize, stride: stride ?? kernelSize, padding: padding, maximum: false)
}

/// Max pooling over time. Shape: `[N, T, C] → [N, To, C]`.
public func maxPool1d(_ input: Tensor, kernelSize: Int, stride: Int? = nil, padding: Int = 0) -> Tensor {
    precondition(input.rank == 3, "maxPool1d expects [N, T, C], found \(input.shape)")
    return maxPool2d(input.unsqueezed(at: 1), kernelSize: (1, kernelSize), stride: (1, stride ?? kernelSize),
                     padding: (0, padding)).squeezed(at: 1)
}

/// Average pooling over time. Shape: `[N, T, C] → [N, To, C]`.
public func avgPool1d(_ input: Tensor, kernelSize: Int, stride: Int? = nil, padding: Int = 0) -> Tensor {
    precondition(input.rank == 3, "avgPool1d expects [N, T, C], found \(input.shape)")
    return avgPool2d(input.unsqueezed(at: 1), kernelSize: (1, kernelSize), stride: (1, stride ?? kernelSize),
                     padding: (0, padding)).squeezed(at: 1)
}

private func pool2d(_ input: Tensor, kernelSize: (Int, Int), stride: (Int, Int), padding: (Int, Int),
                    maximum: Bool) -> Tensor {
    precondition(input.rank == 4, "pool2d expects [N, H, W, C], found \(input.shape)")
    let (n, h, w, c) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
    let (kh, kw) = kernelSize, (sh, sw) = stride, (ph, pw) = padding
    precondition(kh >= 1 && kw >= 1 && sh >= 1 && sw >= 1, "pooling window and stride must be ≥ 1")
    precondition(ph <= kh / 2 && pw <= kw / 2 && ph >= 0 && pw >= 0, "pooling padding must be at most half the window")
    let ho = (h + 2 * ph - kh) / sh + 1, wo = (w + 2 * pw - kw) / sw + 1
    precondition(ho >= 1 && wo >= 1, "pooling window \(kernelSize) larger than input \(input.shape)")
    let result = Tensor.uninitialized([n, ho, wo, c])
    let x = input.storage.pointer, y = result.storage.pointer
    // For max pooling, the flat input index of each output's winner (gradient routing).
    var winners = maximum ? [Int](repeating: -1, count: result.count) : []
    let scale = 1 / Float(kh * kw)
    for b in 0..<n {
        for oy in 0..<ho {
            for ox in 0..<wo {
                let out = ((b * ho + oy) * wo + ox) * c
                for ch in 0..<c { y[out + ch] = maximum ? -.infinity : 0 }
                for i in 0..<kh {
                    let iy = oy * sh - ph + i
                    if iy < 0 || iy >= h { continue }
                    for j in 0..<kw {
                        let ix = ox * sw - pw + j
                        if ix < 0 || ix >= w { continue }
                        let source = ((b * h + iy) * w + ix) * c
                        if maximum {
                            for ch in 0..<c where x[source + ch] > y[out + ch] || winners[out + ch] < 0 {
                                y[out + ch] = x[source + ch]
                                winners[out + ch] = source + ch
                            }
                        } else {
                            for ch in 0..<c { y[out + ch] += x[source + ch] }
                        }
                    }
                }
                if !maximum { for ch in 0..<c { y[out + ch] *= scale } }
            }
        }
    }
    return Tensor.record(result, inputs: [input]) { g, _ in
        let gx = Tensor.zeros(input.shape)
        let gp = gx.storage.pointer, gy = g.storage.pointer
        if maximum {
            for (out, source) in winners.enumerated() { gp[source] += gy[out] }
            return [gx]
        }
        for b in 0..<n {
            for oy in 0..<ho {
                for ox in 0..<wo {
                    let out = ((b * ho + oy) * wo + ox) * c
                    for i in 0..<kh {
                        let iy = oy * sh - ph + i
                        if iy < 0 || iy >= h { continue }
                        for j in 0..<kw {
                            let ix = ox * sw - pw + j
                            if ix < 0 || ix >= w { continue }
                            let source = ((b * h + iy) * w + ix) * c
                            for ch in 0..<c { gp[source + ch] += gy[out + ch] * scale }
                        }
                    }
                }
            }
        }
        return [gx]
    }
}
