// SwAV's pieces (Caron et al. 2020, "Unsupervised Learning of Visual Features by Contrasting Cluster Assignments"):
// the Sinkhorn-Knopp equipartition that turns prototype scores into soft codes (§3.1, eq. 3, solved in a few
// iterations without gradient), and the swapped prediction loss: each global crop's code is predicted from every
// other crop's scores (eq. 1–2).
//
// Glossary: B rows (crops of a batch, plus a queue), K prototypes, V crops, ε the entropy weight, T temperature.

import Foundation
import TensorCore

/// SwAV's Sinkhorn-Knopp equipartition of prototype scores into soft codes.
///
/// ### References
/// - Caron et al. 2020, "Unsupervised learning of visual features by contrasting cluster assignments" (SwAV).
/// - Cuturi 2013, "Sinkhorn distances".
public enum Sinkhorn {
    /// The codes Q `[B, K]` of `scores` `[B, K]` (no gradient): Q ∝ exp(scores/ε) scaled by Sinkhorn-Knopp so that
    /// each row sums to 1 and each column to about B/K (the equipartition). Each of the `iterations` makes the
    /// prototypes' totals B/K, then the rows' totals 1, so the rows hold exactly and the columns to the tolerance
    /// the iterations reach. In Double throughout (exp(1/ε) = e^20 at the default ε is near Float's range once
    /// multiplied up). `iterations: 0` gives the row-wise softmax(scores/ε), the codes without equipartition.
    public static func codes(_ scores: Tensor, epsilon: Float, iterations: Int) -> Tensor {
        precondition(scores.rank == 2 && epsilon > 0 && iterations >= 0,
                     "Sinkhorn expects scores [B, K], ε > 0 and iterations ≥ 0, found \(scores.shape), \(epsilon), \(iterations)")
        let (b, k) = (scores.shape[0], scores.shape[1])
        let source = scores.scalars
        // exp((s − max)/ε): the shift cancels in the normalisations.
        let largest = Double(source.max() ?? 0)
        var q = source.map { Foundation.exp((Double($0) - largest) / Double(epsilon)) }
        var rowSums = [Double](repeating: 0, count: b), columnSums = [Double](repeating: 0, count: k)
        func normaliseRows(to total: Double) {
            for i in 0..<b {
                var sum = 0.0
                for j in 0..<k { sum += q[i * k + j] }
                rowSums[i] = sum
                let scale = sum > 0 ? total / sum : 0
                for j in 0..<k { q[i * k + j] *= scale }
            }
        }
        if iterations == 0 {
            normaliseRows(to: 1)
            return Tensor(q.map { Float($0) }, shape: [b, k])
        }
        let all = q.reduce(0, +)
        for i in q.indices { q[i] /= all }
        for _ in 0..<iterations {
            // Prototypes: each column to total 1/K; then rows: each row to total 1/B.
            for j in 0..<k { columnSums[j] = 0 }
            for i in 0..<b { for j in 0..<k { columnSums[j] += q[i * k + j] } }
            for j in 0..<k { columnSums[j] = columnSums[j] > 0 ? 1 / (columnSums[j] * Double(k)) : 0 }
            for i in 0..<b { for j in 0..<k { q[i * k + j] *= columnSums[j] } }
            normaliseRows(to: 1 / Double(b))
        }
        return Tensor(q.map { Float($0 * Double(b)) }, shape: [b, k])
    }
}

/// SwAV's swapped prediction: each crop predicts the codes of the other global crops.
///
/// ### References
/// - Caron et al. 2020, "Unsupervised learning of visual features by contrasting cluster assignments" (SwAV).
public enum SwappedPrediction {
    /// SwAV's loss: the mean over pairs (global crop g, other crop v ≠ g) of
    /// −mean_i Σ_k codes[g][i, k]·log softmax(scores[v][i] / T)_k. `scores` holds every crop's prototype scores
    /// `[B, K]` (the global crops first), `codes` the codes `[B, K]` of the global crops (held fixed).
    public static func loss(scores: [Tensor], codes: [Tensor], temperature: Float) -> Tensor {
        precondition(codes.count >= 1 && scores.count > codes.count - 1 && scores.count >= 2,
                     "swapped prediction needs at least two crops and a code per global crop, found \(scores.count) crops, \(codes.count) codes")
        precondition(scores.allSatisfy { $0.rank == 2 && $0.shape == codes[0].shape } && codes.allSatisfy { $0.shape == codes[0].shape },
                     "swapped prediction expects scores and codes [B, K] alike, found \(scores.map(\.shape)) and \(codes.map(\.shape))")
        let logProbabilities = scores.map { ($0 * (1 / temperature)).logSoftmax(alongAxis: 1) }
        var total: Tensor?
        var pairs = 0
        for (g, code) in codes.enumerated() {
            let q = code.detached()
            for v in scores.indices where v != g {
                let term = (q * logProbabilities[v]).sum(alongAxis: 1).mean()
                total = total.map { $0 + term } ?? term
                pairs += 1
            }
        }
        return total! * (-1 / Float(pairs))
    }
}
