#!/usr/bin/env python3
"""Writes Tests/Fixtures/mi_bounds.json: PyTorch reference values and gradients for the mutual-information bounds of
Poole et al. 2019 ("On variational bounds of mutual information") over fixed critic score matrices, plus softplus and
the leave-one-out log-sum-exp they use.

Run with PyTorch's CPU build (pinned):
    pip install "torch==2.13.0+cpu"; python Tests/Fixtures/generate_mi_bounds.py
Convention (SwiftCPC's): scores[i, j] = f(x_i, y_j), joint pairs on the diagonal; log-baselines are log a(y_j), one per
column. Each bound is written out from its formula in the paper; the tests read the values and the gradients of
sum(bound · 1) with respect to the scores (and the log-baselines). Computed in float64.
"""
import json
import math
import os

import torch
import torch.nn.functional as F

from fixture_json import setup, t

setup(16)
here = os.path.dirname(os.path.abspath(__file__))
cases = {}


def off_diagonal(s):
    n = s.shape[0]
    return s[~torch.eye(n, dtype=torch.bool)]


def log_mean_exp_off_diagonal(s):
    n = s.shape[0]
    return torch.logsumexp(off_diagonal(s), dim=0) - math.log(n * (n - 1))


def infonce(s):
    n = s.shape[0]
    return math.log(n) + (s.diag() - torch.logsumexp(s, dim=1)).mean()


def tuba(s, log_baselines=None):
    if log_baselines is not None:
        s = s - log_baselines[None, :]
    return 1 + s.diag().mean() - log_mean_exp_off_diagonal(s).exp()


def nwj(s):
    return tuba(s - 1)


def dv(s, clip=None):
    partition = s.clamp(-clip, clip) if clip is not None else s
    return s.diag().mean() - log_mean_exp_off_diagonal(partition)


def js_divergence(s):
    return -F.softplus(-s.diag()).mean() - F.softplus(off_diagonal(s)).mean()


def value_with_gradient(value, surrogate):
    return surrogate + (value - surrogate).detach()


def js_nwj(s):
    # The JS-optimal critic is log p(y|x)/p(y); NWJ's optimum is one more, so the reported MI is NWJ at f + 1.
    return value_with_gradient(nwj(s + 1), js_divergence(s))


def smile(s, clip):
    return value_with_gradient(dv(s, clip), js_divergence(s))


def mine(s, moving_average, momentum):
    marginal = log_mean_exp_off_diagonal(s).exp()
    average = momentum * moving_average + (1 - momentum) * marginal.item()
    surrogate = s.diag().mean() - marginal / average
    return value_with_gradient(dv(s), surrogate), average


def leave_one_out_logsumexp(x):
    # out[r, j] = log sum_{k != j} exp(x[r, k]), by masking (the plain definition).
    n = x.shape[1]
    masked = x[:, None, :].expand(x.shape[0], n, n).masked_fill(torch.eye(n, dtype=torch.bool)[None], float("-inf"))
    return torch.logsumexp(masked, dim=2)


def interpolated(s, log_baselines, alpha):
    # Poole et al. eq. 11 with rows y_i, columns x_j: the baseline of y mixes InfoNCE's leave-one-out mean over the
    # other x and the learned a(y).
    n = s.shape[0]
    by_y = s.T
    loo = leave_one_out_logsumexp(by_y) - math.log(n - 1)
    mixture = torch.logaddexp(loo + math.log(alpha), (log_baselines + math.log(1 - alpha))[:, None].expand(n, n))
    marginal = log_mean_exp_off_diagonal(by_y - mixture.diag()[:, None]).exp()
    joint = off_diagonal(by_y.diag()[:, None] - mixture).mean()
    return 1 + joint - marginal


def record(name, function, scores, log_baselines=None, extra=None):
    s = scores.clone().requires_grad_(True)
    b = log_baselines.clone().requires_grad_(True) if log_baselines is not None else None
    value = function(s, b) if b is not None else function(s)
    value.backward()
    case = {"scores": t(s), "value": value.item(), "grad_scores": t(s.grad)}
    if b is not None:
        case["log_baselines"] = t(b)
        case["grad_log_baselines"] = t(b.grad)
    case.update(extra or {})
    cases[name] = case


n = 6
scores = torch.randn(n, n) * 1.5 + torch.eye(n) * 2.0
log_baselines = torch.randn(n) * 0.5
record("infonce", infonce, scores)
record("nwj", nwj, scores)
record("tuba", tuba, scores, log_baselines)
record("tuba_no_baseline", tuba, scores)
record("dv", dv, scores)
record("dv_clipped", lambda s: dv(s, 1.5), scores, extra={"clip": 1.5})
record("js_divergence", js_divergence, scores)
record("js", js_nwj, scores)
record("smile", lambda s: smile(s, 1.5), scores, extra={"clip": 1.5})
record("interpolated", lambda s, b: interpolated(s, b, 0.3), scores, log_baselines, extra={"alpha": 0.3})

s = scores.clone().requires_grad_(True)
value, average = mine(s, 1.3, 0.9)
value.backward()
cases["mine"] = {"scores": t(s), "value": value.item(), "grad_scores": t(s.grad), "moving_average": 1.3,
                 "momentum": 0.9, "new_moving_average": average}

x = (torch.randn(4, 7) * 6).requires_grad_(True)
weights = torch.randn(4, 7)
y = F.softplus(x)
(y * weights).sum().backward()
cases["softplus"] = {"x": t(x), "weights": t(weights), "y": t(y), "grad_x": t(x.grad)}

x = (torch.randn(3, 5) * 3).requires_grad_(True)
x.data[1, 2] = 40.0  # one entry dominating its row: its own leave-one-out value must not cancel
weights = torch.randn(3, 5)
y = leave_one_out_logsumexp(x)
(y * weights).sum().backward()
cases["leave_one_out_logsumexp"] = {"x": t(x), "weights": t(weights), "y": t(y), "grad_x": t(x.grad)}

with open(os.path.join(here, "mi_bounds.json"), "w") as f:
    json.dump({"generator": "Tests/Fixtures/generate_mi_bounds.py", "torch": torch.__version__, "cases": cases}, f, indent=1)
print("wrote", len(cases), "cases")
