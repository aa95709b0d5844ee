#!/usr/bin/env python3
"""Writes Tests/Fixtures/decorrelation.json: PyTorch reference values and gradients for the decorrelation family's
losses — Barlow Twins' cross-correlation loss (Zbontar et al. 2021, as the paper's code: batch norm without affine
parameters, C = z_aᵀz_b / N, Σ(1 − C_ii)² + λ Σ_{i≠j} C_ij², times a scale) and VICReg's three terms (Bardes et al.
2022, as the paper's code: MSE invariance; the variance hinge on √(Var + 1e-4) averaged over the two views;
off-diagonal covariance squares / D summed over the two views; weights 25, 25, 1).

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

with open(os.path.join(here, "decorrelation.json"), "w") as f:
    json.dump({"generator": "Tests/Fixtures/generate_decorrelation.py", "torch": torch.__version__, "cases": cases}, f, indent=1)
print("wrote", len(cases), "cases")
