// Collective communication between the processes (ranks) of a data-parallel run, and the operations built on it:
// the differentiable all-gather, the gradient all-reduce, the parameter broadcast. One process is a world of size 1
// (`SingleProcess`), where every operation is the identity; the MPI world lives in the Distributed target.
//
// The convention every method and the trainer follow (docs/DISTRIBUTED.md): each rank r computes a loss L_r, and the
// run minimises J = mean over ranks of L_r. The all-gather's backward sums the gradient of every rank onto the slice
// each rank contributed (a reduce-scatter), so after backward each rank holds N·∂J/∂(its parameters' share); the
// gradient all-reduce then averages. A method that gathers its embeddings and computes the whole batch's loss on
// every rank (L_r = L for all r) and one that scores its own rows against gathered negatives (L_r = its rows' mean)
// both get exactly the gradient of one process on the whole batch.

import Foundation

/// The ranks of a run and the collective operations between them. Every rank must call the same operations in the
/// same order with the same sizes (as MPI requires); the results are identical on every rank.
public protocol Collective: AnyObject, Sendable {
    /// This process's index, 0..<size.
    var rank: Int { get }
    /// The number of processes.
    var size: Int { get }
    /// Replaces `values` by their elementwise sum over the ranks (the same result, bit for bit, on every rank).
    func allReduceSum(_ values: UnsafeMutableBufferPointer<Float>)
    /// Replaces `values` by their elementwise sum over the ranks, in double precision.
    func allReduceSum(_ values: UnsafeMutableBufferPointer<Double>)
    /// Replaces `values` by their elementwise maximum over the ranks.
    func allReduceMax(_ values: UnsafeMutableBufferPointer<Double>)
    /// Replaces `values` on every rank by rank `root`'s.
    func broadcast(_ values: UnsafeMutableBufferPointer<Float>, root: Int)
    /// Concatenates every rank's `local` (each the same count) in rank order into `result` (`size` × that count).
    func allGather(_ local: UnsafeBufferPointer<Float>, into result: UnsafeMutableBufferPointer<Float>)
    /// Waits until every rank has reached this call.
    func barrier()
}

/// A world of one process: every collective is the identity.
public final class SingleProcess: Collective {
    /// The one world of one process.
    public static let world = SingleProcess()

    private init() {}

    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func allReduceSum(_ values: UnsafeMutableBufferPointer<Float>) {}
    public func allReduceSum(_ values: UnsafeMutableBufferPointer<Double>) {}
    public func allReduceMax(_ values: UnsafeMutableBufferPointer<Double>) {}
    public func broadcast(_ values: UnsafeMutableBufferPointer<Float>, root: Int) {}
    public func allGather(_ local: UnsafeBufferPointer<Float>, into result: UnsafeMutableBufferPointer<Float>) {
        precondition(result.count == local.count, "all-gather of one rank: result \(result.count), local \(local.count)")
        if local.count > 0 { result.baseAddress!.update(from: local.baseAddress!, count: local.count) }
    }
    public func barrier() {}
}

extension Collective {
    /// Whether this process is the only one.
    public var isSingle: Bool { size == 1 }

    /// The elementwise sums of `values` over the ranks.
    public func summed(_ values: [Double]) -> [Double] {
        var values = values
        if size > 1 { values.withUnsafeMutableBufferPointer { allReduceSum($0) } }
        return values
    }

    /// The elementwise maxima of `values` over the ranks.
    public func maxima(_ values: [Double]) -> [Double] {
        var values = values
        if size > 1 { values.withUnsafeMutableBufferPointer { allReduceMax($0) } }
        return values
    }

    /// The integers of every rank's `local` (each the same count), concatenated in rank order.
    public func gathered(_ local: [Int]) -> [Int] {
        guard size > 1 else { return local }
        // Exact through Float only below 2^24; item indices and labels are far below it, but check.
        precondition(local.allSatisfy { abs($0) < 1 << 24 }, "gathered(_: [Int]) carries integers below 2^24 only")
        let floats = local.map(Float.init)
        var result = [Float](repeating: 0, count: floats.count * size)
        floats.withUnsafeBufferPointer { l in result.withUnsafeMutableBufferPointer { allGather(l, into: $0) } }
        return result.map { Int($0) }
    }

    /// Every rank's `local` `[n, …]` (each the same shape) stacked along axis 0 in rank order: `[size·n, …]`.
    /// Differentiable: the backward sums the incoming gradients of all ranks and gives each rank its own rows (a
    /// reduce-scatter), as `torch.distributed.nn.functional.all_gather` does.
    public func allGathered(_ local: Tensor) -> Tensor {
        guard size > 1 else { return local }
        precondition(local.rank >= 1, "allGathered needs at least one axis, found a scalar")
        var shape = local.shape
        shape[0] *= size
        let result = Tensor.uninitialized(shape)
        local.withUnsafeBufferPointer { l in result.withUnsafeMutableBufferPointer { allGather(l, into: $0) } }
        let (rank, count) = (self.rank, local.count)
        return Tensor.record(result, inputs: [local]) { gradient, _ in
            let summed = Tensor(gradient.scalars, shape: gradient.shape)
            summed.withUnsafeMutableBufferPointer { self.allReduceSum($0) }
            let own = Tensor.uninitialized(local.shape)
            summed.withUnsafeBufferPointer { s in
                own.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: s.baseAddress! + rank * count, count: count) }
            }
            return [own]
        }
    }

    /// Averages the gradients of `parameters` over the ranks, packed into buckets of at most `bucketElements` floats
    /// (one all-reduce each). A parameter without a gradient counts as zeros on this rank, and every rank ends with
    /// a gradient for it when any rank had one.
    public func averageGradients(_ parameters: [Tensor], bucketElements: Int = 1 << 22) {
        guard size > 1 else { return }
        // Which parameters have a gradient anywhere: the same list on every rank, so the buckets agree.
        let has = maxima(parameters.map { $0.grad == nil ? 0 : 1 })
        let active = zip(parameters, has).filter { $0.1 > 0 }.map(\.0)
        let scale = 1 / Float(size)
        var start = 0
        while start < active.count {
            var end = start, elements = 0
            while end < active.count && (end == start || elements + active[end].count <= bucketElements) {
                elements += active[end].count
                end += 1
            }
            let bucket = UnsafeMutableBufferPointer<Float>.allocate(capacity: elements)
            defer { bucket.deallocate() }
            var offset = 0
            for parameter in active[start..<end] {
                if let grad = parameter.grad {
                    grad.withUnsafeBufferPointer { g in (bucket.baseAddress! + offset).update(from: g.baseAddress!, count: g.count) }
                } else {
                    (bucket.baseAddress! + offset).update(repeating: 0, count: parameter.count)
                }
                offset += parameter.count
            }
            allReduceSum(bucket)
            offset = 0
            for parameter in active[start..<end] {
                let averaged = Tensor.uninitialized(parameter.shape)
                averaged.withUnsafeMutableBufferPointer { a in
                    for i in 0..<parameter.count { a[i] = bucket[offset + i] * scale }
                }
                parameter.grad = averaged
                offset += parameter.count
            }
            start = end
        }
    }

    /// Makes every tensor of `tensors` equal to rank `root`'s (in place, in order).
    public func broadcast(_ tensors: [Tensor], root: Int = 0) {
        guard size > 1 else { return }
        for tensor in tensors where tensor.count > 0 {
            tensor.withUnsafeMutableBufferPointer { broadcast($0, root: root) }
        }
    }
}
