// The tensor type: Float32, contiguous, row-major, with copy-on-write storage and an optional gradient node.
//
// Layout glossary used across the core: sequences are [N, T, C] (batch, time, channels) and images are
// [N, H, W, C] (batch, height, width, channels). Every op states its shapes in its documentation.

import CBLAS
import Foundation

/// Owner of a tensor's floats. Shared between a tensor and its reshaped views; copied before an in-place write
/// when it is shared (copy-on-write).
public final class TensorStorage: @unchecked Sendable {
    /// The number of floats.
    public let count: Int
    /// The floats (64-byte aligned).
    public let pointer: UnsafeMutablePointer<Float>

    /// Keeps large freed blocks in the heap. glibc serves blocks above its mmap threshold (≤ 32 MiB) with fresh
    /// mappings that the kernel must fault in and zero on first touch, every time: a training step that frees and
    /// reallocates the same activations would pay that on each step (a fifth of an image-CPC step was page faults).
    /// Served from the heap instead, a freed block is reused as it is.
    static let allocatorConfigured: Bool = {
        swiftcpc_keep_freed_memory()
        return true
    }()

    /// Allocates `count` floats, left uninitialised (callers write every element).
    init(uninitializedCount count: Int) {
        _ = TensorStorage.allocatorConfigured
        self.count = count
        // 64-byte alignment suits AVX loads and BLAS packing.
        let bytes = Swift.max(count, 1) * MemoryLayout<Float>.stride
        let raw = BufferCache.take(byteCount: bytes) ?? UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: Swift.max(count, 1))
    }

    convenience init(repeating value: Float, count: Int) {
        self.init(uninitializedCount: count)
        pointer.initialize(repeating: value, count: count)
    }

    @usableFromInline func copy() -> TensorStorage {
        let result = TensorStorage(uninitializedCount: count)
        result.pointer.update(from: pointer, count: count)
        return result
    }

    deinit { BufferCache.give(UnsafeMutableRawPointer(pointer), byteCount: Swift.max(count, 1) * MemoryLayout<Float>.stride) }
}

/// A dense Float32 tensor, contiguous and row-major, that can take part in reverse-mode automatic differentiation.
///
/// Tensors are reference types so that parameters keep their identity (`.grad` is filled in place by
/// ``Tensor/backward(_:)``); their storage is copy-on-write, so views made by ``Tensor/reshaped(_:)`` cost nothing
/// and an in-place update never changes a value that a recorded graph still needs.
public final class Tensor: CustomStringConvertible {
    /// The extent of each dimension, outermost first.
    public let shape: [Int]
    /// The number of elements (the product of `shape`; 1 for a scalar of shape `[]`).
    public let count: Int
    @usableFromInline var storage: TensorStorage

    /// Whether gradients flow to this tensor. Set it on leaves (parameters, inputs); op results inherit it.
    public var requiresGrad: Bool {
        didSet { precondition(requiresGrad || gradNode == nil, "cannot clear requiresGrad on an op result; use detached()") }
    }
    /// The accumulated gradient of the last ``backward(_:)`` calls, for leaves that require grad.
    public var grad: Tensor?
    /// The recorded op that produced this tensor, until backward frees it.
    var gradNode: GradNode?

    /// Wraps existing storage. `storage.count` must equal the product of `shape`.
    init(shape: [Int], storage: TensorStorage) {
        let count = Tensor.elementCount(shape)
        precondition(storage.count == count, "storage of \(storage.count) floats does not fit shape \(shape)")
        self.shape = shape
        self.count = count
        self.storage = storage
        self.requiresGrad = false
    }

    /// A tensor whose elements are left uninitialised; the caller writes every one.
    static func uninitialized(_ shape: [Int]) -> Tensor {
        Tensor(shape: shape, storage: TensorStorage(uninitializedCount: elementCount(shape)))
    }

    /// The element count of `shape` read from a file, or nil when an extent is negative, the product overflows, or
    /// it exceeds `limit` (what the file can hold): readers check sizes with it before allocating anything.
    public static func checkedElementCount(_ shape: [Int], limit: Int) -> Int? {
        var count = 1
        for extent in shape {
            guard extent >= 0 else { return nil }
            let (product, overflow) = count.multipliedReportingOverflow(by: extent)
            guard !overflow else { return nil }
            count = product
        }
        // A zero extent anywhere makes the product 0 whatever the others claim.
        return count <= limit ? count : nil
    }

    static func elementCount(_ shape: [Int]) -> Int {
        var count = 1
        for extent in shape {
            precondition(extent >= 0, "negative extent in shape \(shape)")
            count *= extent
        }
        return count
    }

    /// Creates a tensor from row-major scalars.
    public convenience init(_ scalars: [Float], shape: [Int]) {
        precondition(scalars.count == Tensor.elementCount(shape),
                     "\(scalars.count) scalars do not fill shape \(shape)")
        let storage = TensorStorage(uninitializedCount: scalars.count)
        scalars.withUnsafeBufferPointer { storage.pointer.initialize(from: $0.baseAddress!, count: scalars.count) }
        self.init(shape: shape, storage: storage)
    }

    /// Creates a one-dimensional tensor.
    public convenience init(_ scalars: [Float]) { self.init(scalars, shape: [scalars.count]) }

    /// Creates a scalar tensor of shape `[]`.
    public convenience init(scalar: Float) { self.init([scalar], shape: []) }

    /// A tensor of the given shape filled with `value`.
    public convenience init(repeating value: Float, shape: [Int]) {
        self.init(shape: shape, storage: TensorStorage(repeating: value, count: Tensor.elementCount(shape)))
    }

    /// A tensor of zeros. Shape: `shape`.
    public static func zeros(_ shape: [Int]) -> Tensor { Tensor(repeating: 0, shape: shape) }
    /// A tensor of ones. Shape: `shape`.
    public static func ones(_ shape: [Int]) -> Tensor { Tensor(repeating: 1, shape: shape) }
    /// A tensor filled with `value`. Shape: `shape`.
    public static func full(_ shape: [Int], value: Float) -> Tensor { Tensor(repeating: value, shape: shape) }
    /// Zeros of `other`'s shape.
    public static func zeros(like other: Tensor) -> Tensor { zeros(other.shape) }
    /// The index of the first NaN or ±∞ value (in row-major order), or nil when every value is finite.
    public var firstNonFiniteIndex: Int? { withUnsafeBufferPointer { $0.firstIndex { !$0.isFinite } } }

    /// The `n` × `n` identity matrix (`torch.eye`). Shape: `[n, n]`.
    public static func identity(_ n: Int) -> Tensor {
        let result = zeros([n, n])
        for i in 0..<n { result.storage.pointer[i * n + i] = 1 }
        return result
    }

    /// `[start, start + step, …]` up to but excluding `end`, as in `torch.arange`.
    public static func arange(_ start: Float = 0, _ end: Float, step: Float = 1) -> Tensor {
        precondition(step != 0, "arange step must not be zero")
        let n = Swift.max(0, Int(((end - start) / step).rounded(.up)))
        return Tensor((0..<n).map { start + Float($0) * step })
    }

    /// Uniform samples in `[low, high)` drawn from `generator`.
    public static func uniform(_ shape: [Int], low: Float = 0, high: Float = 1,
                               generator: inout RandomGenerator) -> Tensor {
        let result = uninitialized(shape)
        let p = result.storage.pointer
        for i in 0..<result.count { p[i] = low + (high - low) * generator.nextFloat() }
        return result
    }

    /// Normal samples with the given mean and standard deviation drawn from `generator`.
    public static func normal(_ shape: [Int], mean: Float = 0, standardDeviation: Float = 1,
                              generator: inout RandomGenerator) -> Tensor {
        let result = uninitialized(shape)
        let p = result.storage.pointer
        for i in 0..<result.count { p[i] = mean + standardDeviation * generator.nextNormal() }
        return result
    }

    /// The number of dimensions.
    public var rank: Int { shape.count }

    /// The elements in row-major order.
    public var scalars: [Float] { Array(UnsafeBufferPointer(start: storage.pointer, count: count)) }

    /// The single element of a one-element tensor.
    public var item: Float {
        precondition(count == 1, "item needs a one-element tensor, found shape \(shape)")
        return storage.pointer[0]
    }

    /// Whether this tensor was made by a recorded op (false for leaves).
    public var isLeaf: Bool { gradNode == nil }

    /// Reads the elements.
    @inlinable
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: storage.pointer, count: count))
    }

    /// Writes the elements in place, copying the storage first if a view or a recorded graph shares it.
    /// In-place writes are not recorded on the tape: use them for optimiser updates and buffers only.
    @inlinable
    public func withUnsafeMutableBufferPointer<R>(
        _ body: (UnsafeMutableBufferPointer<Float>) throws -> R
    ) rethrows -> R {
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
        return try body(UnsafeMutableBufferPointer(start: storage.pointer, count: count))
    }

    /// Overwrites the elements with those of `source`, which must have the same number of elements.
    public func assign(_ source: Tensor) {
        precondition(source.count == count, "assign: \(source.shape) into \(shape)")
        withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: source.storage.pointer, count: count) }
    }

    /// A copy with its own storage and no gradient history.
    public func copy() -> Tensor { Tensor(shape: shape, storage: storage.copy()) }

    /// The same values with no gradient history (stop-gradient). Shares storage.
    public func detached() -> Tensor { Tensor(shape: shape, storage: storage) }

    public var description: String {
        let preview = scalars.prefix(8).map { String(format: "%.4g", $0) }.joined(separator: ", ")
        return "Tensor(shape: \(shape), [\(preview)\(count > 8 ? ", …" : "")])"
    }
}
