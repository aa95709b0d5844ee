// The unit of data every method consumes (produced by the front ends, independent of them) and the background
// loader that prepares batches ahead of the training step.

import Foundation

/// One training or evaluation batch.
public struct Batch: @unchecked Sendable {
    /// The inputs, one tensor per view: audio windows `[N, S]` or patch grids (one view), augmented images
    /// `[N, H, W, C]` (two or more views, each of its own size for multi-crop).
    public let views: [Tensor]
    /// The label of each item when known: the speaker index for audio windows, the class for images.
    public let labels: [Int]
    /// The dataset index of each item (the image, or the utterance of a window), for memory banks.
    public let items: [Int]
    /// The batch's index in its run (drives every random draw that belongs to this batch).
    public let index: Int
    /// Per-frame labels when the data have them (audio windows with phone labels): `[N, F]` row-major, F = frames
    /// per window; empty otherwise.
    public let frameLabels: [Int]

    /// A batch of one or more views of the same items (the first is ``inputs``), with their labels, dataset indices,
    /// batch index and, for labelled audio, the label of every frame.
    public init(views: [Tensor], labels: [Int], items: [Int], index: Int, frameLabels: [Int] = []) {
        precondition(!views.isEmpty, "a batch needs at least one view")
        self.views = views
        self.labels = labels
        self.items = items
        self.index = index
        self.frameLabels = frameLabels
    }

    /// A one-view batch.
    public init(inputs: Tensor, labels: [Int], items: [Int], index: Int, frameLabels: [Int] = []) {
        self.init(views: [inputs], labels: labels, items: items, index: index, frameLabels: frameLabels)
    }

    /// The first (for CPC, the only) view.
    public var inputs: Tensor { views[0] }
    /// Items in the batch.
    public var count: Int { views[0].shape[0] }

    /// Rank `rank`'s share of this (global) batch among `ranks` ranks: its contiguous rows
    /// `rank·n ..< (rank + 1)·n`, n = count / ranks, of every view, label, item and frame label. The batch's count must
    /// be a multiple of `ranks` (the trainer checks `data.batch_size`).
    public func shard(rank: Int, of ranks: Int) -> Batch {
        guard ranks > 1 else { return self }
        precondition(count % ranks == 0 && rank >= 0 && rank < ranks, "a batch of \(count) cannot be split in \(ranks) equal shards")
        let n = count / ranks, start = rank * n
        let frames = frameLabels.count / Swift.max(count, 1)
        func rows<T>(_ values: [T], width: Int = 1) -> [T] {
            values.count == count * width ? Array(values[(start * width)..<((start + n) * width)]) : values
        }
        return Batch(views: views.map { $0.sliced(alongAxis: 0, start: start, length: n) }, labels: rows(labels), items: rows(items),
                     index: index, frameLabels: frames > 0 ? rows(frameLabels, width: frames) : frameLabels)
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

    /// Starts building batches `firstBatch`, `firstBatch + 1`, … in the background with `build`, keeping up to `prefetch` ready.
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
