// Integer indexing: index-select along an axis and gather, each with a scatter-add gradient.

extension Tensor {
    /// Picks the slices `indices` along `axis` (as `torch.index_select`); indices may repeat.
    /// Shape: the input's, with extent `indices.count` at `axis`.
    public func indexSelect(alongAxis axis: Int, indices: [Int]) -> Tensor {
        let a = axisIndex(axis)
        let (outer, n, inner) = reductionGeometry(a)
        for i in indices { precondition(i >= 0 && i < n, "indexSelect: index \(i) outside 0..<\(n) on axis \(axis)") }
        var outShape = shape
        outShape[a] = indices.count
        let m = indices.count
        let result = Tensor.uninitialized(outShape)
        let x = storage.pointer, y = result.storage.pointer
        for o in 0..<outer {
            for (k, index) in indices.enumerated() {
                (y + (o * m + k) * inner).update(from: x + (o * n + index) * inner, count: inner)
            }
        }
        let inputShape = shape
        return Tensor.record(result, inputs: [self]) { g, _ in
            let full = Tensor.zeros(inputShape)
            let gx = full.storage.pointer, gy = g.storage.pointer
            for o in 0..<outer {
                for (k, index) in indices.enumerated() {
                    let destination = gx + (o * n + index) * inner, source = gy + (o * m + k) * inner
                    for i in 0..<inner { destination[i] += source[i] }
                }
            }
            return [full]
        }
    }

    /// `result[…, k, …] = self[…, indices[…, k, …], …]` along `axis` (as `torch.gather`): `indices` holds one index
    /// per output element, row-major over `indexShape`, which matches the input's shape except at `axis`.
    public func gather(alongAxis axis: Int, indices: [Int], indexShape: [Int]) -> Tensor {
        let a = axisIndex(axis)
        precondition(indexShape.count == rank && (0..<rank).allSatisfy { $0 == a || indexShape[$0] == shape[$0] },
                     "gather: index shape \(indexShape) does not match \(shape) outside axis \(axis)")
        precondition(indices.count == Tensor.elementCount(indexShape), "gather: \(indices.count) indices for \(indexShape)")
        let (outer, n, inner) = reductionGeometry(a)
        let m = indexShape[a]
        for i in indices { precondition(i >= 0 && i < n, "gather: index \(i) outside 0..<\(n) on axis \(axis)") }
        let result = Tensor.uninitialized(indexShape)
        let x = storage.pointer, y = result.storage.pointer
        for o in 0..<outer {
            for k in 0..<m {
                for i in 0..<inner {
                    let out = (o * m + k) * inner + i
                    y[out] = x[(o * n + indices[out]) * inner + i]
                }
            }
        }
        let inputShape = shape
        return Tensor.record(result, inputs: [self]) { g, _ in
            let full = Tensor.zeros(inputShape)
            let gx = full.storage.pointer, gy = g.storage.pointer
            for o in 0..<outer {
                for k in 0..<m {
                    for i in 0..<inner {
                        let out = (o * m + k) * inner + i
                        gx[(o * n + indices[out]) * inner + i] += gy[out]
                    }
                }
            }
            return [full]
        }
    }
}
