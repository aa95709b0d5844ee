// Naive kernels kept as test oracles for the fast ones: plain loops, no BLAS, no im2col.

/// Straightforward implementations used to check the BLAS/im2col paths. Slow by design.
public enum ReferenceKernels {
    /// C = A·B for row-major A [m, k] and B [k, n], accumulating in Double.
    public static func matmul(_ a: [Float], _ b: [Float], m: Int, k: Int, n: Int) -> [Float] {
        var c = [Float](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                var acc: Double = 0
                for p in 0..<k { acc += Double(a[i * k + p]) * Double(b[p * n + j]) }
                c[i * n + j] = Float(acc)
            }
        }
        return c
    }

    /// Direct 2-D cross-correlation: input [N, H, W, C], weight [O, C/groups, KH, KW], output [N, Ho, Wo, O].
    public static func conv2d(input: [Float], inputShape: [Int], weight: [Float], weightShape: [Int], bias: [Float]?,
                              stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int),
                              groups: Int) -> (values: [Float], shape: [Int]) {
        let (n, h, w, c) = (inputShape[0], inputShape[1], inputShape[2], inputShape[3])
        let (o, cg, kh, kw) = (weightShape[0], weightShape[1], weightShape[2], weightShape[3])
        let og = o / groups
        let ho = (h + 2 * padding.0 - dilation.0 * (kh - 1) - 1) / stride.0 + 1
        let wo = (w + 2 * padding.1 - dilation.1 * (kw - 1) - 1) / stride.1 + 1
        var out = [Float](repeating: 0, count: n * ho * wo * o)
        for b in 0..<n {
            for oy in 0..<ho {
                for ox in 0..<wo {
                    for oc in 0..<o {
                        let group = oc / og
                        var acc = Double(bias?[oc] ?? 0)
                        for ic in 0..<cg {
                            for i in 0..<kh {
                                for j in 0..<kw {
                                    let iy = oy * stride.0 - padding.0 + i * dilation.0
                                    let ix = ox * stride.1 - padding.1 + j * dilation.1
                                    if iy < 0 || iy >= h || ix < 0 || ix >= w { continue }
                                    let xv = input[((b * h + iy) * w + ix) * c + group * cg + ic]
                                    let wv = weight[((oc * cg + ic) * kh + i) * kw + j]
                                    acc += Double(xv) * Double(wv)
                                }
                            }
                        }
                        out[((b * ho + oy) * wo + ox) * o + oc] = Float(acc)
                    }
                }
            }
        }
        return (out, [n, ho, wo, o])
    }
}
