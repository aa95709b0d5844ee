#!/usr/bin/env python3
"""Writes Tests/Fixtures/decorrelation.json: PyTorch reference values and gradients for the decorrelation family's
losses — Barlow Twins' cross-correlation loss (Zbontar et al. 2021, as the paper's code: batch norm without affine
parameters, C = z_aᵀz_b / N, Σ(1 − C_ii)² + λ Σ_{i≠j} C_ij², times a scale) and VICReg's three terms (Bardes et al.
2022, as the paper's code: MSE invariance; the variance hinge on √(Var + 1e-4) averaged over the two views;
off-diagonal covariance squares / D summed over the two views; weights 25, 25, 1) —, and the whitening family's:
W-MSE (Ermolov et al. 2021, as the paper's code: per sub-batch, centred rows times L⁻¹ᵀ with L the Cholesky factor
of the unbiased covariance shrunk by w_eps, then 2 − 2·cos over view pairs, averaged over iterations and pairs),
decorrelated batch norm (Huang et al. 2018: per channel group Σ = XᵀX/M + εI, ZCA W = UΛ^-1/2Uᵀ or PCA
W = Λ^-1/2Uᵀ, affine; running mean and running projection with momentum 0.1; evaluation mode), and Σ^-1/2 itself.

Run with PyTorch's CPU build (pinned):
    pip install "torch==2.13.0+cpu"; python Tests/Fixtures/generate_decorrelation.py
Computed in float64 on one thread.
"""
import json
import os

import torch
import torch.nn.functional as F

from fixture_json import setup, t

setup(2026)
here = os.path.dirname(os.path.abspath(__file__))
cases = {}


def barlow(z1, z2, lamb, scale):
    n, d = z1.shape
    bn = lambda z: F.batch_norm(z, None, None, training=True, eps=1e-5)
    c = bn(z1).T @ bn(z2) / n
    off = ~torch.eye(d, dtype=torch.bool)
    on_diag = (torch.diagonal(c) - 1).pow(2).sum()
    off_diag = c[off].pow(2).sum()
    return scale * (on_diag + lamb * off_diag)


def vicreg(z1, z2, lam=25.0, mu=25.0, nu=1.0):
    n, d = z1.shape
    invariance = F.mse_loss(z1, z2)
    std1 = torch.sqrt(z1.var(dim=0) + 1e-4)
    std2 = torch.sqrt(z2.var(dim=0) + 1e-4)
    variance = torch.mean(F.relu(1 - std1)) / 2 + torch.mean(F.relu(1 - std2)) / 2
    off = ~torch.eye(d, dtype=torch.bool)

    def cov(z):
        z = z - z.mean(dim=0)
        return (z.T @ z / (n - 1))[off].pow(2).sum() / d

    covariance = cov(z1) + cov(z2)
    return invariance, variance, covariance, lam * invariance + mu * variance + nu * covariance


z1 = torch.randn(8, 5, requires_grad=True)
z2 = (z1.detach() * 0.7 + 0.5 * torch.randn(8, 5)).requires_grad_(True)
loss = barlow(z1, z2, 0.0051, 0.1)
loss.backward()
cases["barlow"] = {"first": t(z1), "second": t(z2), "lambda": 0.0051, "scale": 0.1, "loss": loss.item(),
                   "grad_first": t(z1.grad), "grad_second": t(z2.grad)}

# Small spreads so that the variance hinge is active in some dimensions and not in others.
z1 = (torch.randn(10, 6) * torch.tensor([0.2, 0.5, 0.9, 1.3, 2.0, 0.05])).requires_grad_(True)
z2 = (z1.detach() + 0.3 * torch.randn(10, 6)).requires_grad_(True)
inv, var, cov, total = vicreg(z1, z2)
total.backward()
cases["vicreg"] = {"first": t(z1), "second": t(z2), "invariance": inv.item(), "variance": var.item(),
                   "covariance": cov.item(), "loss": total.item(), "grad_first": t(z1.grad), "grad_second": t(z2.grad)}


def whiten(x, eps):
    """W-MSE's Whitening2d in training mode, without its conv2d: (x − mean) W^T, W = L⁻¹."""
    d = x.shape[1]
    xn = x - x.mean(0, keepdim=True)
    cov = xn.T @ xn / (x.shape[0] - 1)
    eye = torch.eye(d)
    cov = (1 - eps) * cov + eps * eye
    w = torch.linalg.solve_triangular(torch.linalg.cholesky(cov), eye, upper=False)
    return xn @ w.T


def wmse(views, w_size, perms, eps):
    """The paper's WMSE.forward given its permutations (one per iteration)."""
    bs = views[0].shape[0]
    loss = 0
    for perm in perms:
        z = [torch.empty_like(v) for v in views]
        for idx in perm.view(-1, w_size):
            for i, v in enumerate(views):
                z[i] = z[i].index_put((idx,), whiten(v[idx], eps))
        for i in range(len(views) - 1):
            for j in range(i + 1, len(views)):
                a, b = F.normalize(z[i]), F.normalize(z[j])
                loss = loss + 2 - 2 * (a * b).sum(dim=-1).mean()
    return loss / (len(perms) * len(views) * (len(views) - 1) / 2)


x = torch.randn(12, 4) @ torch.randn(4, 4)
cases["whiten"] = {"input": t(x), "shrinkage": 0.1, "whitened": t(whiten(x, 0.1))}

for count, name in [(2, "wmse_two_views"), (4, "wmse_four_views")]:
    base = torch.randn(16, 3)
    views = [(base + 0.4 * torch.randn(16, 3)).requires_grad_(True) for _ in range(count)]
    perms = [torch.randperm(16), torch.randperm(16)]
    loss = wmse(views, 8, perms, 0.0)
    loss.backward()
    cases[name] = {"views": [t(v) for v in views], "sub_batch": 8, "permutations": sum((p.tolist() for p in perms), []),
                   "loss": loss.item(), "grads": [t(v.grad) for v in views]}


def dbn(x, group, eps, weight, bias, kind):
    """Decorrelated batch norm in training mode; returns the output, the batch mean and the whitening matrices."""
    m, c = x.shape
    mean = x.mean(0, keepdim=True)
    xc = x - mean
    outs, projections = [], []
    for g in range(c // group):
        b = xc[:, g * group:(g + 1) * group]
        cov = b.T @ b / m + eps * torch.eye(group)
        lam, u = torch.linalg.eigh(cov)
        w = u @ torch.diag(lam.rsqrt()) @ u.T if kind == "zca" else torch.diag(lam.rsqrt()) @ u.T
        outs.append(b @ w.T)
        projections.append(w)
    y = torch.cat(outs, 1)
    if weight is not None:
        y = y * weight + bias
    return y, mean, torch.stack(projections)


# ZCA with affine parameters: output, gradients, running statistics after one step, evaluation on other rows.
x = (torch.randn(20, 6) @ torch.randn(6, 6) + torch.randn(6)).requires_grad_(True)
weight = (1 + 0.3 * torch.randn(6)).requires_grad_(True)
bias = (0.2 * torch.randn(6)).requires_grad_(True)
probe = torch.randn(20, 6)
y, mean, projections = dbn(x, 3, 1e-5, weight, bias, "zca")
(y * probe).sum().backward()
running_mean = 0.1 * mean.detach().reshape(-1)
running_projection = 0.9 * torch.eye(3).expand(2, 3, 3) + 0.1 * projections.detach()
x_eval = torch.randn(5, 6) @ torch.randn(6, 6)
eval_out = torch.cat([(x_eval - running_mean)[:, 3 * g:3 * g + 3] @ running_projection[g].T for g in range(2)], 1)
eval_out = eval_out * weight.detach() + bias.detach()
cases["dbn_zca"] = {"input": t(x), "weight": t(weight), "bias": t(bias), "group_size": 3, "epsilon": 1e-5,
                    "probe": t(probe), "output": t(y), "grad_input": t(x.grad), "grad_weight": t(weight.grad),
                    "grad_bias": t(bias.grad), "running_mean": t(running_mean),
                    "running_projection": t(running_projection), "eval_input": t(x_eval), "eval_output": t(eval_out)}

# PCA without affine parameters and a loss of the squared outputs, which does not depend on the eigenvectors' signs.
x = (torch.randn(24, 4) @ torch.randn(4, 4)).requires_grad_(True)
probe = torch.randn(24, 4)
y, _, _ = dbn(x, 4, 1e-5, None, None, "pca")
loss = (y.pow(2) * probe).sum()
loss.backward()
cases["dbn_pca"] = {"input": t(x), "group_size": 4, "epsilon": 1e-5, "probe": t(probe), "loss": loss.item(),
                    "grad_input": t(x.grad)}

# Σ^-1/2 of a symmetric positive-definite matrix and the gradient of Σ R ∘ Σ^-1/2 with respect to B, Σ = (B + Bᵀ)/2 + 4I.
b = torch.randn(5, 5).requires_grad_(True)
r = torch.randn(5, 5)
sigma = (b + b.T) / 2 + 4 * torch.eye(5)
lam, u = torch.linalg.eigh(sigma)
root = u @ torch.diag(lam.rsqrt()) @ u.T
(root * r).sum().backward()
cases["inverse_square_root"] = {"b": t(b), "probe": t(r), "result": t(root), "grad_b": t(b.grad)}

with open(os.path.join(here, "decorrelation.json"), "w") as f:
    json.dump({"generator": "Tests/Fixtures/generate_decorrelation.py", "torch": torch.__version__, "cases": cases}, f, indent=1)
print("wrote", len(cases), "cases")
