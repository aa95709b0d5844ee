// The regression losses of BYOL and SimSiam, which have no negatives: the mean cosine of L2-normalised predictions
// and targets, with the targets held fixed (the stop-gradient both papers need: without it SimSiam collapses).
// BYOL writes it as 2 − 2·cos(p, z) (Grill et al. 2020, eq. 2), SimSiam as −cos(p, z) (Chen and He 2021, eq. 1).
// Composites of primitives (normalisation, product, reductions), so their gradients are theirs.
//
// Glossary: N rows, D embedding width.

import TensorCore

/// BYOL's and SimSiam's regression losses: the cosine of predictions and stop-gradient targets.
///
/// ### References
/// - Grill et al. 2020, "Bootstrap your own latent".
/// - Chen and He 2021, "Exploring simple Siamese representation learning".
public enum NegativeCosine {
    /// mean_i cos(p_i, z_i). With `stopGradient` (the default) no gradient reaches `targets`.
    /// Shapes: `predictions`, `targets` `[N, D]` → `[]`.
    public static func meanCosine(predictions: Tensor, targets: Tensor, stopGradient: Bool = true) -> Tensor {
        precondition(predictions.rank == 2 && predictions.shape == targets.shape,
                     "negative cosine expects predictions and targets [N, D], found \(predictions.shape), \(targets.shape)")
        let p = predictions.l2Normalized(alongAxis: 1)
        let z = (stopGradient ? targets.detached() : targets).l2Normalized(alongAxis: 1)
        return (p * z).sum(alongAxis: 1).mean()
    }

    /// BYOL's 2 − 2·mean_i cos(p_i, z_i); no gradient reaches `targets` unless `stopGradient` is false.
    /// Shapes: `predictions`, `targets` `[N, D]` → `[]`.
    public static func loss(predictions: Tensor, targets: Tensor, stopGradient: Bool = true) -> Tensor {
        2 - 2 * meanCosine(predictions: predictions, targets: targets, stopGradient: stopGradient)
    }
}
