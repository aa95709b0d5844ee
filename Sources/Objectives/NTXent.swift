// NT-Xent, the normalised temperature-scaled cross-entropy of SimCLR (Chen et al. 2020): 2N embeddings of N pairs
// of views, each scored by cosine similarity / τ against the 2N − 1 others; the other view of the same image is the
// positive. Composite of primitives (L2 normalisation, one GEMM, cross-entropy), so its gradient is theirs.
//
// Glossary: N images, V views (2), D embedding width, τ temperature.

import TensorCore

/// SimCLR's normalised temperature-scaled cross-entropy over the 2N views of N images.
///
/// ### References
/// - Chen et al. 2020, "A simple framework for contrastive learning of visual representations".
public enum NTXent {
    /// The mean loss over the 2N anchors, and the fraction of anchors whose positive scores highest.
    /// Shapes: `first`, `second` `[N, D]` (rows i are views of one image) → `[]`.
    public static func loss(_ first: Tensor, _ second: Tensor, temperature: Float) -> (loss: Tensor, accuracy: Float) {
        precondition(first.rank == 2 && first.shape == second.shape, "NT-Xent expects two [N, D] views, found \(first.shape), \(second.shape)")
        precondition(temperature > 0, "NT-Xent temperature must be positive")
        let n = first.shape[0]
        let z = Tensor.concatenate([first, second], alongAxis: 0).l2Normalized(alongAxis: 1)   // [2N, D]
        let similarities = matmul(z, z, transposeB: true) * (1 / temperature)                  // [2N, 2N]
        // An anchor is never its own negative: −∞ (a large constant, so that no NaN appears) on the diagonal.
        var mask = [Float](repeating: 0, count: 4 * n * n)
        for i in 0..<(2 * n) { mask[i * 2 * n + i] = -1e9 }
        let logits = similarities + Tensor(mask, shape: [2 * n, 2 * n])
        let targets = (0..<(2 * n)).map { $0 < n ? $0 + n : $0 - n }
        let predicted = logits.argmax(alongAxis: 1)
        let accuracy = Float(zip(predicted, targets).filter { $0 == $1 }.count) / Float(2 * n)
        return (crossEntropy(logits: logits, targets: targets), accuracy)
    }
}

/// The contrastive loss of MoCo (He et al. 2020; v2, Chen et al. 2020) — InfoNCE of each query against its key and
/// a queue of negatives: logits [q·k, q·queue] / τ, the key at index 0. Queries and keys are L2-normalised here;
/// the queue rows must already be. Shapes: queries, keys `[N, D]`, queue `[K, D]` → `[]`.
public enum QueueContrastive {
    public static func loss(queries: Tensor, keys: Tensor, queue: Tensor, temperature: Float) -> (loss: Tensor, accuracy: Float) {
        precondition(queries.rank == 2 && queries.shape == keys.shape && queue.rank == 2 && queue.shape[1] == queries.shape[1],
                     "MoCo loss expects queries and keys [N, D] and a queue [K, D], found \(queries.shape), \(keys.shape), \(queue.shape)")
        let q = queries.l2Normalized(alongAxis: 1), k = keys.l2Normalized(alongAxis: 1)
        let positive = (q * k).sum(alongAxis: 1, keepingDimensions: true)              // [N, 1]
        let negative = matmul(q, queue, transposeB: true)                              // [N, K]
        let logits = Tensor.concatenate([positive, negative], alongAxis: 1) * (1 / temperature)
        let targets = [Int](repeating: 0, count: queries.shape[0])
        let accuracy = Float(logits.argmax(alongAxis: 1).filter { $0 == 0 }.count) / Float(max(targets.count, 1))
        return (crossEntropy(logits: logits, targets: targets), accuracy)
    }
}
