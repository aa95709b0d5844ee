// The unit of data every method consumes (produced by the front ends, independent of them) and the background
// loader that prepares batches ahead of the training step.

import Foundation

/// One training or evaluation batch.
public struct Batch: @unchecked Sendable {
    /// The inputs: audio windows `[N, S]`, images `[N, H, W, C]`, or patch grids.
    public let inputs: Tensor
    /// The speaker (or class) index of each item, when known.
    public let speakers: [Int]
    /// The batch's index in its run (drives every random draw that belongs to this batch).
    public let index: Int

    public init(inputs: Tensor, speakers: [Int], index: Int) {
        self.inputs = inputs
        self.speakers = speakers
        self.index = index
    }
}

/// Builds items (batches) `firstBatch`, `firstBatch + 1`, … in a background thread, at most `prefetch` ahead of the
/// consumer, so that decoding and augmentation overlap the training step. `build` must depend only on the index.
public final class PrefetchLoader<Item>: @unchecked Sendable {
    private let build: (Int) throws -> Item
    private let condition = NSCondition()
    private var ready: [Int: Result<Item, Error>] = [:]
    private var nextToBuild: Int
    private var nextToTake: Int
    private let prefetch: Int
    private var stopped = false

    public init(firstBatch: Int = 0, prefetch: Int = 4, build: @escaping (Int) throws -> Item) {
        self.build = build
        nextToBuild = firstBatch
        nextToTake = firstBatch
        self.prefetch = max(1, prefetch)
        let thread = Thread { [weak self] in self?.work() }
        thread.name = "PrefetchLoader"
        thread.start()
    }

    deinit { stop() }

    private func work() {
        while true {
            condition.lock()
            while !stopped && nextToBuild - nextToTake >= prefetch { condition.wait() }
            if stopped { condition.unlock(); return }
            let index = nextToBuild
            nextToBuild += 1
            condition.unlock()
            let result = Result { try build(index) }
            condition.lock()
            ready[index] = result
            condition.broadcast()
            condition.unlock()
        }
    }

    /// The next item, in order; rethrows an error from the background thread.
    public func next() throws -> Item {
        condition.lock()
        let index = nextToTake
        while ready[index] == nil { condition.wait() }
        let result = ready.removeValue(forKey: index)!
        nextToTake += 1
        condition.broadcast()
        condition.unlock()
        return try result.get()
    }

    /// Stops the background thread (pending items are dropped).
    public func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }
}
