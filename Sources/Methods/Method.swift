// The protocol every self-supervised method implements (one method = one file).

import Layers
import TensorCore

/// A self-supervised method: its networks, its loss on a batch, and what it does after an optimiser step.
public protocol Method: AnyObject {
    /// Everything trained, as one layer (its state dict is the checkpoint).
    var model: any Layer { get }
    /// The loss of `batch` and its metrics (per-k accuracies and the like), in training mode.
    func loss(_ batch: Batch) -> (loss: Tensor, metrics: [String: Float])
    /// Called after each optimiser step (EMA targets, queues, prototype normalisation).
    func afterStep(_ step: Int)
}

extension Method {
    public func afterStep(_ step: Int) {}
}
