// BYOL's regression loss (Grill et al. 2020, "Bootstrap Your Own Latent", eq. 2): the mean squared distance of
// L2-normalised predictions and targets, 2 − 2·cos(p, z), with the targets held fixed (the stop-gradient of BYOL and
// SimSiam). Composite of primitives (normalisation, product, reductions), so its gradient is theirs.
//
// Glossary: N rows, D embedding width.

import TensorCore

public enum NegativeCosine {
    /// 2 − 2·mean_i cos(p_i, z_i); no gradient reaches `targets`. Shapes: `predictions`, `targets` `[N, D]` → `[]`.
    public static func loss(predictions: Tensor, targets: Tensor) -> Tensor {
        precondition(predictions.rank == 2 && predictions.shape == targets.shape,
                     "negative cosine expects predictions and targets [N, D], found \(predictions.shape), \(targets.shape)")
        let p = predictions.l2Normalized(alongAxis: 1), z = targets.detached().l2Normalized(alongAxis: 1)
        return 2 - 2 * (p * z).sum(alongAxis: 1).mean()
    }
}
