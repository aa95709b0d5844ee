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
    /// Sums every rank's `values` (`size` × `own.count`) elementwise and gives each rank its own block: rank r gets
    /// the sums of elements `r·own.count ..< (r + 1)·own.count` (the all-gather's backward).
    func reduceScatterSum(_ values: UnsafeBufferPointer<Float>, into own: UnsafeMutableBufferPointer<Float>)
    /// Waits until every rank has reached this call.
    func barrier()
}

/// A world of one process: every collective is the identity.
public final class SingleProcess: Collective {
    /// The one world of one process.
    public static let world = SingleProcess()

    private init() {}

    /// Always 0.
    public var rank: Int { 0 }
    /// Always 1.
    public var size: Int { 1 }
    /// Leaves `values` as they are (the sum over one rank).
    public func allReduceSum(_ values: UnsafeMutableBufferPointer<Float>) {}
    /// Leaves `values` as they are (the sum over one rank).
    public func allReduceSum(_ values: UnsafeMutableBufferPointer<Double>) {}
    /// Leaves `values` as they are (the maximum over one rank).
    public func allReduceMax(_ values: UnsafeMutableBufferPointer<Double>) {}
    /// Leaves `values` as they are (this rank is the root).
    public func broadcast(_ values: UnsafeMutableBufferPointer<Float>, root: Int) {}
    /// Copies `local` into `result`.
    public func allGather(_ local: UnsafeBufferPointer<Float>, into result: UnsafeMutableBufferPointer<Float>) {
        precondition(result.count == local.count, "all-gather of one rank: result \(result.count), local \(local.count)")
        if local.count > 0 { result.baseAddress!.update(from: local.baseAddress!, count: local.count) }
    }
    /// Copies `values` into `own`.
    public func reduceScatterSum(_ values: UnsafeBufferPointer<Float>, into own: UnsafeMutableBufferPointer<Float>) {
        precondition(values.count == own.count, "reduce-scatter of one rank: values \(values.count), own \(own.count)")
        if own.count > 0 { own.baseAddress!.update(from: values.baseAddress!, count: own.count) }
    }
    /// Returns at once.
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
        return Tensor.record(result, inputs: [local]) { gradient, _ in
            let own = Tensor.uninitialized(local.shape)
            gradient.withUnsafeBufferPointer { g in own.withUnsafeMutableBufferPointer { self.reduceScatterSum(g, into: $0) } }
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

/// A collective that counts the wall time spent in `base`'s operations (communication, and waiting for the slowest
/// rank): what the trainer logs as `communication_fraction`.
public final class TimedCollective: Collective, @unchecked Sendable {
    /// The collective timed.
    public let base: any Collective
    /// Seconds spent in collective operations since the last `takeSeconds()`.
    private var seconds = 0.0

    /// Times `base`.
    public init(_ base: any Collective) { self.base = base }

    /// `base`'s rank.
    public var rank: Int { base.rank }
    /// `base`'s size.
    public var size: Int { base.size }

    /// The seconds counted since the last call, and a new count started.
    public func takeSeconds() -> Double {
        defer { seconds = 0 }
        return seconds
    }

    private func timed(_ body: () -> Void) {
        let start = DispatchTime.now().uptimeNanoseconds
        body()
        seconds += Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
    }

    /// `base`'s sum, timed.
    public func allReduceSum(_ values: UnsafeMutableBufferPointer<Float>) { timed { base.allReduceSum(values) } }
    /// `base`'s sum, timed.
    public func allReduceSum(_ values: UnsafeMutableBufferPointer<Double>) { timed { base.allReduceSum(values) } }
    /// `base`'s maximum, timed.
    public func allReduceMax(_ values: UnsafeMutableBufferPointer<Double>) { timed { base.allReduceMax(values) } }
    /// `base`'s broadcast, timed.
    public func broadcast(_ values: UnsafeMutableBufferPointer<Float>, root: Int) { timed { base.broadcast(values, root: root) } }
    /// `base`'s all-gather, timed.
    public func allGather(_ local: UnsafeBufferPointer<Float>, into result: UnsafeMutableBufferPointer<Float>) {
        timed { base.allGather(local, into: result) }
    }
    /// `base`'s reduce-scatter, timed.
    public func reduceScatterSum(_ values: UnsafeBufferPointer<Float>, into own: UnsafeMutableBufferPointer<Float>) {
        timed { base.reduceScatterSum(values, into: own) }
    }
    /// `base`'s barrier, timed.
    public func barrier() { timed { base.barrier() } }
}
