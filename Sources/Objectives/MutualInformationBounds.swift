// Variational bounds on mutual information over a critic's score matrix (Poole et al. 2019, "On variational bounds of
// mutual information"). A batch of N pairs (x_i, y_i) ~ p(x, y) is scored by a critic f into scores[i, j] = f(x_i, y_j):
// the diagonal holds the N joint pairs, the N(N − 1) off-diagonal entries stand in for samples of p(x)p(y).
// Each function returns the bound in nats (a scalar to maximise; training minimises its negative). Three estimators
// report one quantity and train the critic with the gradient of another (MINE, JS, SMILE): their result has the value
// of the first and the gradient of the second (`valueWithGradient`).
// These are estimators of I(X; Y), not CPC's training loss (`KStepInfoNCE`, `GridInfoNCE`), which classifies one future
// among sampled negatives; `impliedLowerBound` turns that loss into the bound it implies.
//
// Glossary: N batch size; scores [N, N] (rows x_i, columns y_j); log-baselines [N], one per y_j (log a(y_j)).

import Foundation
import TensorCore

/// The bounds `MutualInformationBounds` computes, by their command-line names.
public enum MutualInformationBound: String, CaseIterable, Codable, Sendable {
    case infoNCE = "infonce", nwj, tuba, dv, mine, js, interpolated, smile

    /// Whether the bound uses a learned baseline a(y) (TUBA, the interpolated bound).
    public var needsBaseline: Bool { self == .tuba || self == .interpolated }
}

/// Variational bounds on I(X; Y) from a critic's score matrix `[N, N]` (joint pairs on the diagonal), in nats.
///
/// ### References
/// - Poole et al. 2019, "On variational bounds of mutual information".
/// - Belghazi et al. 2018, "MINE: mutual information neural estimation".
/// - Song and Ermon 2020, "Understanding the limitations of variational mutual information estimators" (SMILE).
public enum MutualInformationBounds {
    /// InfoNCE (van den Oord et al. 2018; Poole et al. eq. 12): log N + mean_i [f(x_i, y_i) − log Σ_j e^{f(x_i, y_j)}],
    /// each row normalised over the batch's y. Never above log N. Shape: `[N, N] → []`.
    public static func infoNCE(scores: Tensor) -> Tensor {
        let n = checkedSize(scores)
        return Float(Foundation.log(Double(n))) + (diagonal(scores) - scores.logSumExp(alongAxis: 1)).mean()
    }

    /// TUBA (Poole et al. eq. 8): 1 + E_p(x,y)[f − log a(y)] − E_p(x)p(y)[e^f / a(y)], with `logBaselines[j]` = log a(y_j)
    /// (a(y) = 1 when nil). Shapes: `scores` `[N, N]`, `logBaselines` `[N]` → `[]`.
    public static func tuba(scores: Tensor, logBaselines: Tensor?) -> Tensor {
        let n = checkedSize(scores)
        var shifted = scores
        if let logBaselines {
            precondition(logBaselines.shape == [n], "TUBA expects one log-baseline per y, [\(n)], found \(logBaselines.shape)")
            shifted = scores - logBaselines.reshaped([1, n])
        }
        return 1 + diagonal(shifted).mean() - logMeanExpOffDiagonal(shifted).exp()
    }

    /// NWJ (Nguyen, Wainwright and Jordan 2010; Poole et al. eq. 9): E_p(x,y)[f] − e^−1 E_p(x)p(y)[e^f], TUBA with a(y) = e.
    /// Its optimal critic is 1 + log p(y|x)/p(y). Shape: `[N, N] → []`.
    public static func nwj(scores: Tensor) -> Tensor { tuba(scores: scores - 1, logBaselines: nil) }

    /// Donsker–Varadhan (Poole et al. eq. 6): E_p(x,y)[f] − log E_p(x)p(y)[e^f]. With `clip`, the partition term uses f
    /// clamped to [−clip, clip] (SMILE, Song and Ermon 2020). Shape: `[N, N] → []`.
    public static func dv(scores: Tensor, clip: Float? = nil) -> Tensor {
        checkedSize(scores)
        let partition = clip.map { scores.clamped(min: -$0, max: $0) } ?? scores
        return diagonal(scores).mean() - logMeanExpOffDiagonal(partition)
    }

    /// MINE (Belghazi et al. 2018): the DV value, trained with the bias-corrected gradient
    /// ∇E_p[f] − ∇E_q[e^f] / m, where m is a moving average of E_q[e^f] over batches:
    /// m ← momentum·m + (1 − momentum)·(this batch's E_q[e^f]), started at the first batch's value.
    /// Returns the bound and the new average (pass it to the next call). Shape: `[N, N] → []`.
    public static func mine(scores: Tensor, movingAverage: Float?, momentum: Float) -> (bound: Tensor, movingAverage: Float) {
        checkedSize(scores)
        precondition(momentum >= 0 && momentum < 1, "MINE's momentum must lie in [0, 1), got \(momentum)")
        let marginal = logMeanExpOffDiagonal(scores).exp()
        let average = movingAverage.map { momentum * $0 + (1 - momentum) * marginal.item } ?? marginal.item
        let surrogate = diagonal(scores).mean() - marginal * (1 / average)
        return (valueWithGradient(of: dv(scores: scores), gradientOf: surrogate), average)
    }

    /// The Jensen–Shannon f-GAN bound (Nowozin et al. 2016): E_p[−softplus(−f)] − E_q[softplus(f)]. It bounds a
    /// divergence, not the MI; its optimal critic is log p(y|x)/p(y). Shape: `[N, N] → []`.
    public static func jensenShannon(scores: Tensor) -> Tensor {
        checkedSize(scores)
        return -((-diagonal(scores)).softplus().mean()) - offDiagonal(scores).softplus().mean()
    }

    /// JS (Poole et al. §2.3, after Hjelm et al. 2019): the critic is trained on the Jensen–Shannon bound, whose optimum
    /// f* = log p(y|x)/p(y) is the NWJ optimum less 1, so the MI reported is NWJ at f + 1 (= TUBA at f, a(y) = 1).
    /// (Evaluating NWJ at f itself, as some published code does, is biased by −1/e at the optimum.) Shape: `[N, N] → []`.
    public static func jensenShannonTrainedNWJ(scores: Tensor) -> Tensor {
        valueWithGradient(of: nwj(scores: scores + 1), gradientOf: jensenShannon(scores: scores))
    }

    /// SMILE (Song and Ermon 2020): DV with the partition over f clamped to [−clip, clip] as the estimate, the
    /// Jensen–Shannon bound's gradient for training. `clip` nil: the plain DV value. Shape: `[N, N] → []`.
    public static func smile(scores: Tensor, clip: Float?) -> Tensor {
        valueWithGradient(of: dv(scores: scores, clip: clip), gradientOf: jensenShannon(scores: scores))
    }

    /// The interpolated bound I_α (Poole et al. eq. 11): TUBA whose baseline for y is the mixture
    /// α·m(y) + (1 − α)·a(y) of InfoNCE's leave-one-out mean m(y) = mean_{k ≠ j} e^{f(x_k, y)} over the batch's other x
    /// and the learned a(y). α = 0 is TUBA; α → 1 approaches InfoNCE normalised over x (columns, where `infoNCE` takes
    /// rows): a bound that can exceed log N with a lower variance than TUBA. Shapes: `scores` `[N, N]`,
    /// `logBaselines` `[N]` → `[]`.
    public static func interpolated(scores: Tensor, logBaselines: Tensor, alpha: Double) -> Tensor {
        let n = checkedSize(scores)
        precondition(alpha >= 0 && alpha <= 1, "the interpolated bound's alpha must lie in [0, 1], got \(alpha)")
        precondition(logBaselines.shape == [n], "the interpolated bound expects one log-baseline per y, [\(n)], found \(logBaselines.shape)")
        // Rows y, columns x from here on: loo[i, j] = log mean_{k ≠ j} e^{f(x_k, y_i)}.
        let byY = scores.transposed()
        let leaveOneOut = byY.leaveOneOutLogSumExp() - Float(Foundation.log(Double(n - 1)))
        let mixture = Tensor.stack([leaveOneOut + Float(Foundation.log(alpha)),
                                    (logBaselines + Float(Foundation.log(1 - alpha))).reshaped([n, 1]).expanded(to: [n, n])],
                                   alongAxis: 0).logSumExp(alongAxis: 0)                            // [y, x]
        // Marginal pairs (x_j, y_i), j ≠ i, each against y_i's baseline without x_i.
        let marginal = logMeanExpOffDiagonal(byY - diagonal(mixture).reshaped([n, 1])).exp()
        // The joint pair (x_i, y_i) against y_i's baselines without each other x_j.
        let joint = offDiagonal(diagonal(byY).reshaped([n, 1]) - mixture).mean()
        return 1 + joint - marginal
    }

    /// The bound CPC's k-step loss implies (van den Oord et al. 2018, §2.3): I(x_{t+k}; c_t) ≥ log N − L_k, for a loss L_k
    /// that picks the true future among N candidates (the positive and N − 1 negatives).
    public static func impliedLowerBound(loss: Float, candidates: Int) -> Float {
        precondition(candidates >= 1, "a contrastive task needs at least one candidate")
        return Float(Foundation.log(Double(candidates))) - loss
    }

    /// A tensor with the value of `value` and the gradient of `surrogate`: surrogate + stop_gradient(value − surrogate).
    public static func valueWithGradient(of value: Tensor, gradientOf surrogate: Tensor) -> Tensor {
        surrogate + (value - surrogate).detached()
    }

    /// log mean_{i ≠ j} e^{scores[i, j]}: the log-mean over the N(N − 1) off-diagonal (product-of-marginals) entries.
    /// Shape: `[N, N] → []`.
    public static func logMeanExpOffDiagonal(_ scores: Tensor) -> Tensor {
        let n = checkedSize(scores)
        return offDiagonal(scores).logSumExp(alongAxis: 0) - Float(Foundation.log(Double(n * (n - 1))))
    }

    /// The diagonal of a square matrix. Shape: `[N, N] → [N]`.
    public static func diagonal(_ matrix: Tensor) -> Tensor {
        let n = checkedSize(matrix)
        return matrix.reshaped([n * n]).indexSelect(alongAxis: 0, indices: (0..<n).map { $0 * (n + 1) })
    }

    /// The off-diagonal entries of a square matrix, row-major. Shape: `[N, N] → [N(N − 1)]`.
    public static func offDiagonal(_ matrix: Tensor) -> Tensor {
        let n = checkedSize(matrix)
        let indices = (0..<(n * n)).filter { $0 / n != $0 % n }
        return matrix.reshaped([n * n]).indexSelect(alongAxis: 0, indices: indices)
    }

    @discardableResult
    private static func checkedSize(_ scores: Tensor) -> Int {
        precondition(scores.rank == 2 && scores.shape[0] == scores.shape[1] && scores.shape[0] >= 2,
                     "MI bounds expect a square score matrix [N, N] with N >= 2, found \(scores.shape)")
        return scores.shape[0]
    }

    /// The bound `bound` of `scores`, with what some bounds need: the log-baselines (TUBA, interpolated), α
    /// (interpolated), the clip (SMILE) and MINE's moving average and momentum. Returns the new moving average.
    public static func evaluate(_ bound: MutualInformationBound, scores: Tensor, logBaselines: Tensor?, alpha: Double,
                                clip: Float?, movingAverage: Float?, momentum: Float) -> (bound: Tensor, movingAverage: Float?) {
        switch bound {
        case .infoNCE: return (infoNCE(scores: scores), movingAverage)
        case .nwj: return (nwj(scores: scores), movingAverage)
        case .tuba: return (tuba(scores: scores, logBaselines: logBaselines), movingAverage)
        case .dv: return (dv(scores: scores), movingAverage)
        case .mine:
            let result = mine(scores: scores, movingAverage: movingAverage, momentum: momentum)
            return (result.bound, result.movingAverage)
        case .js: return (jensenShannonTrainedNWJ(scores: scores), movingAverage)
        case .interpolated:
            guard let logBaselines else { preconditionFailure("the interpolated bound needs log-baselines") }
            return (interpolated(scores: scores, logBaselines: logBaselines, alpha: alpha), movingAverage)
        case .smile: return (smile(scores: scores, clip: clip), movingAverage)
        }
    }
}
