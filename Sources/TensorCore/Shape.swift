// Shape ops: reshape, permute/transpose, slicing along an axis, concatenation and stacking.

extension Tensor {
    /// Normalises a possibly negative axis index.
    @inline(__always)
    func axisIndex(_ axis: Int) -> Int {
        let a = axis < 0 ? axis + rank : axis
        precondition(a >= 0 && a < rank, "axis \(axis) out of range for shape \(shape)")
        return a
    }

    /// The same elements in a new shape (one extent may be -1 and is inferred). Shares storage.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var resolved = newShape
        if let hole = newShape.firstIndex(of: -1) {
            let known = newShape.enumerated().filter { $0.offset != hole }.reduce(1) { $0 * $1.element }
            precondition(known > 0 && count % known == 0, "cannot reshape \(shape) to \(newShape)")
            resolved[hole] = count / known
        }
        precondition(Tensor.elementCount(resolved) == count, "cannot reshape \(shape) to \(newShape)")
        if resolved == shape { return self }
        let result = Tensor(shape: resolved, storage: storage)
        let inputShape = shape
        return Tensor.record(result, inputs: [self]) { g, _ in [g.reshaped(inputShape)] }
    }

    /// Inserts an axis of extent 1 at `axis`.
    public func unsqueezed(at axis: Int) -> Tensor {
        let a = axis < 0 ? axis + rank + 1 : axis
        precondition(a >= 0 && a <= rank, "unsqueeze axis \(axis) out of range for shape \(shape)")
        var s = shape
        s.insert(1, at: a)
        return reshaped(s)
    }

    /// Removes the axis `axis`, which must have extent 1.
    public func squeezed(at axis: Int) -> Tensor {
        let a = axisIndex(axis)
        precondition(shape[a] == 1, "squeeze axis \(axis) has extent \(shape[a]), not 1")
        var s = shape
        s.remove(at: a)
        return reshaped(s)
    }

    /// Flattens to `[count]`.
    public func flattened() -> Tensor { reshaped([count]) }

    /// Reorders the axes: result axis i is input axis `order[i]`. Copies.
    public func permuted(_ order: [Int]) -> Tensor {
        precondition(order.count == rank && Set(order) == Set(0..<rank), "bad permutation \(order) for shape \(shape)")
        if order == Array(0..<rank) { return self }
        let outShape = order.map { shape[$0] }
        let result = Tensor.uninitialized(outShape)
        var inStrides = [Int](repeating: 1, count: rank)
        for i in stride(from: rank - 2, through: 0, by: -1) { inStrides[i] = inStrides[i + 1] * shape[i + 1] }
        let strides = order.map { inStrides[$0] }
        let x = storage.pointer, y = result.storage.pointer
        let inner = outShape[rank - 1], innerStride = strides[rank - 1]
        let outer = count / Swift.max(inner, 1)
        var index = [Int](repeating: 0, count: rank)
        var offset = 0
        for o in 0..<outer {
            let base = o * inner
            for i in 0..<inner { y[base + i] = x[offset + i * innerStride] }
            var d = rank - 2
            while d >= 0 {
                index[d] += 1
                offset += strides[d]
                if index[d] < outShape[d] { break }
                offset -= strides[d] * outShape[d]
                index[d] = 0
                d -= 1
            }
        }
        var inverse = [Int](repeating: 0, count: rank)
        for (i, o) in order.enumerated() { inverse[o] = i }
        return Tensor.record(result, inputs: [self]) { g, _ in [g.permuted(inverse)] }
    }

    /// Swaps two axes (by default the last two). Copies.
    public func transposed(_ axis0: Int = -2, _ axis1: Int = -1) -> Tensor {
        var order = Array(0..<rank)
        order.swapAt(axisIndex(axis0), axisIndex(axis1))
        return permuted(order)
    }

    /// The sub-tensor `start..<start+length` along `axis`. Copies.
    public func sliced(alongAxis axis: Int, start: Int, length: Int) -> Tensor {
        let a = axisIndex(axis)
        precondition(start >= 0 && length >= 0 && start + length <= shape[a],
                     "slice \(start)..<\(start + length) out of range for axis \(axis) of shape \(shape)")
        let outer = shape[..<a].reduce(1, *), inner = shape[(a + 1)...].reduce(1, *)
        var outShape = shape
        outShape[a] = length
        let result = Tensor.uninitialized(outShape)
        let x = storage.pointer, y = result.storage.pointer
        let extent = shape[a]
        for o in 0..<outer {
            (y + o * length * inner).update(from: x + (o * extent + start) * inner, count: length * inner)
        }
        let inputShape = shape
        return Tensor.record(result, inputs: [self]) { g, _ in
            // Scatter the gradient into zeros of the input's shape.
            let full = Tensor.zeros(inputShape)
            let gx = full.storage.pointer, gy = g.storage.pointer
            for o in 0..<outer {
                (gx + (o * extent + start) * inner).update(from: gy + o * length * inner, count: length * inner)
            }
            return [full]
        }
    }

    /// The sub-tensor over `range` along `axis`.
    public func sliced(alongAxis axis: Int, _ range: Range<Int>) -> Tensor {
        sliced(alongAxis: axis, start: range.lowerBound, length: range.count)
    }

    /// Joins tensors along an existing axis; all other extents must agree.
    public static func concatenate(_ tensors: [Tensor], alongAxis axis: Int) -> Tensor {
        precondition(!tensors.isEmpty, "concatenate needs at least one tensor")
        let first = tensors[0]
        let a = first.axisIndex(axis)
        for t in tensors {
            precondition(t.rank == first.rank && (0..<first.rank).allSatisfy { $0 == a || t.shape[$0] == first.shape[$0] },
                         "concatenate: shape \(t.shape) does not match \(first.shape) outside axis \(axis)")
        }
        let outer = first.shape[..<a].reduce(1, *), inner = first.shape[(a + 1)...].reduce(1, *)
        let extents = tensors.map { $0.shape[a] }
        let total = extents.reduce(0, +)
        var outShape = first.shape
        outShape[a] = total
        let result = Tensor.uninitialized(outShape)
        let y = result.storage.pointer
        var offset = 0
        for (t, extent) in zip(tensors, extents) {
            let x = t.storage.pointer
            for o in 0..<outer {
                (y + (o * total + offset) * inner).update(from: x + o * extent * inner, count: extent * inner)
            }
            offset += extent
        }
        return record(result, inputs: tensors) { g, _ in
            var start = 0
            var grads: [Tensor?] = []
            for (t, extent) in zip(tensors, extents) {
                grads.append(t.requiresGrad ? g.sliced(alongAxis: a, start: start, length: extent) : nil)
                start += extent
            }
            return grads
        }
    }

    /// Stacks same-shaped tensors along a new axis.
    public static func stack(_ tensors: [Tensor], alongAxis axis: Int = 0) -> Tensor {
        precondition(!tensors.isEmpty, "stack needs at least one tensor")
        return concatenate(tensors.map { $0.unsqueezed(at: axis) }, alongAxis: axis)
    }
}
