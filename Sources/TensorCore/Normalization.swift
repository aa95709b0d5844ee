// L2 normalisation and cosine similarity (fused normalisation with a hand-written backward).

import Foundation

extension Tensor {
    /// x / max(‖x‖₂, eps) along `axis`, as `torch.nn.functional.normalize`.
    public func l2Normalized(alongAxis axis: Int = -1, epsilon: Float = 1e-12) -> Tensor {
        let a = axisIndex(axis)
        let (outer, n, inner) = reductionGeometry(a)
        let result = Tensor.uninitialized(shape)
        var norms = [Float](repeating: 0, count: outer * inner)
        let x = storage.pointer, y = result.storage.pointer
        for o in 0..<outer {
            for i in 0..<inner {
                let base = o * n * inner + i
                var total: Float = 0
                for j in 0..<n { total += x[base + j * inner] * x[base + j * inner] }
                let norm = total.squareRoot()
                norms[o * inner + i] = norm
                let scale = 1 / Swift.max(norm, epsilon)
                for j in 0..<n { y[base + j * inner] = x[base + j * inner] * scale }
            }
        }
        return Tensor.record(result, inputs: [self]) { g, out in
            // Above eps: gx = (g − y·⟨g, y⟩) / ‖x‖. At or below eps the divisor is the constant eps: gx = g / eps.
            let gx = Tensor.uninitialized(out.shape)
            let yp = out.storage.pointer, gy = g.storage.pointer, r = gx.storage.pointer
            for o in 0..<outer {
                for i in 0..<inner {
                    let base = o * n * inner + i
                    let norm = norms[o * inner + i]
                    if norm > epsilon {
                        var dot: Float = 0
                        for j in 0..<n { dot += gy[base + j * inner] * yp[base + j * inner] }
                        for j in 0..<n { r[base + j * inner] = (gy[base + j * inner] - yp[base + j * inner] * dot) / norm }
                    } else {
                        for j in 0..<n { r[base + j * inner] = gy[base + j * inner] / epsilon }
                    }
                }
            }
            return [gx]
        }
    }
}

/// Cosine similarity along `axis`: ⟨a, b⟩ / (max(‖a‖, eps) · max(‖b‖, eps)), with broadcasting, as
/// `torch.nn.functional.cosine_similarity`. The result drops `axis`.
public func cosineSimilarity(_ a: Tensor, _ b: Tensor, alongAxis axis: Int = -1, epsilon: Float = 1e-8) -> Tensor {
    (a.l2Normalized(alongAxis: axis, epsilon: epsilon) * b.l2Normalized(alongAxis: axis, epsilon: epsilon))
        .sum(alongAxis: axis)
}
