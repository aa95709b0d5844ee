// The unit of data every method consumes: produced by the front ends, independent of them.

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
