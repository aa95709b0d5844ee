// InfoNCE over a patch grid (image CPC): each prediction ẑ is scored against every patch encoding of the batch,
// the true patch among them; negatives are all other patches of the same and the other images (CPC v2).
//
// Glossary: K prediction steps, P_k predictions for step k, Q candidate encodings (all patches of the batch),
// D encoding width.

import TensorCore

/// InfoNCE over patch grids (image CPC): every prediction against every patch of the batch.
///
/// ### References
/// - Hénaff et al. 2019, "Data-efficient image recognition with contrastive predictive coding" (CPC v2).
public enum GridInfoNCE {
    /// `predictions[k]` `[P_k, D]` against `candidates` `[Q, D]`; `targets[k][i]` is the row of `candidates` that
    /// prediction i of step k should pick. All scores come from one GEMM. The loss is the mean over steps of each
    /// step's mean cross-entropy; accuracy counts a prediction as correct when its target scores highest (ties count).
    public static func loss(predictions: [Tensor], candidates: Tensor, targets: [[Int]]) -> KStepInfoNCE.Result {
        precondition(!predictions.isEmpty && predictions.count == targets.count, "one target list per step")
        precondition(candidates.rank == 2, "candidates must be [Q, D], found \(candidates.shape)")
        let k = predictions.count
        let counts = predictions.map { $0.shape[0] }
        for (step, p) in predictions.enumerated() {
            precondition(p.rank == 2 && p.shape[1] == candidates.shape[1] && targets[step].count == p.shape[0],
                         "step \(step + 1): predictions \(p.shape) do not match candidates \(candidates.shape) or their targets")
        }
        let all = k == 1 ? predictions[0] : Tensor.concatenate(predictions, alongAxis: 0)
        let flatTargets = targets.flatMap { $0 }
        let scores = matmul(all, candidates, transposeB: true)  // [ΣP_k, Q]
        let perRow = crossEntropy(logits: scores, targets: flatTargets, reduction: .none)
        // Row weights 1 / (K · P_k) make the sum the mean over steps of per-step means.
        var weights: [Float] = []
        for count in counts { weights += [Float](repeating: 1 / Float(k * max(count, 1)), count: count) }
        let loss = (perRow * Tensor(weights)).sum()

        var lossPerStep = [Float](repeating: 0, count: k), accuracyPerStep = [Float](repeating: 0, count: k)
        let q = candidates.shape[0]
        perRow.withUnsafeBufferPointer { values in
            scores.withUnsafeBufferPointer { s in
                var row = 0
                for step in 0..<k {
                    for _ in 0..<counts[step] {
                        lossPerStep[step] += values[row]
                        if KStepInfoNCE.scoresHighest(s.baseAddress! + row * q, count: q, target: flatTargets[row]) {
                            accuracyPerStep[step] += 1
                        }
                        row += 1
                    }
                    lossPerStep[step] /= Float(max(counts[step], 1))
                    accuracyPerStep[step] /= Float(max(counts[step], 1))
                }
            }
        }
        return KStepInfoNCE.Result(loss: loss, lossPerStep: lossPerStep, accuracyPerStep: accuracyPerStep)
    }
}
