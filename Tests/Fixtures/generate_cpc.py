#!/usr/bin/env python3
"""Writes Tests/Fixtures/cpc.json: PyTorch references for k-step InfoNCE (each negative-sampling mode) and for a
small whole CPC model (conv encoder + channel norm + GRU + linear predictors), forward loss and all gradients.

    pip install "torch==2.13.0+cpu"; python Tests/Fixtures/generate_cpc.py
Negative indices are drawn here (numpy) under each mode's rule and stored; the Swift tests reuse them, and check
their own sampler's rules separately. Layouts: predictions [N, W, K, C], encodings [N, T, C] (channels last).
"""
import json
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(7)
torch.set_num_threads(1)
rng = np.random.default_rng(7)
here = os.path.dirname(os.path.abspath(__file__))
cases = {}


def t(x):
    x = torch.as_tensor(x).detach().double().contiguous()
    return {"shape": list(x.shape), "data": [float(v) for v in x.reshape(-1).tolist()]}


def sample_negatives(mode, n, frames, w, m, speakers):
    out = np.zeros((n, w, m), dtype=np.int64)
    for i in range(n):
        for p in range(w):
            for j in range(m):
                if mode == "mixed":
                    s = rng.integers(n)
                elif mode == "within_sequence":
                    s = i
                elif mode == "other_sequences":
                    s = rng.choice([q for q in range(n) if q != i])
                else:  # same_speaker
                    s = rng.choice([q for q in range(n) if speakers[q] == speakers[i]])
                out[i, p, j] = s * frames + rng.integers(frames)
    return out.reshape(-1)


def infonce(pred, z, negatives, m):
    """pred [N, W, K, C], z [N, T, C] -> loss, per-k loss, per-k accuracy."""
    n, w, k, c = pred.shape
    flat = z.reshape(-1, c)
    neg = flat[torch.as_tensor(negatives)].reshape(n, w, m, c)
    logits = []
    for step in range(k):
        positive = z[:, step + 1: step + 1 + w]                                   # [N, W, C]
        pos = (pred[:, :, step] * positive).sum(-1, keepdim=True)                 # [N, W, 1]
        negs = torch.einsum("nwc,nwmc->nwm", pred[:, :, step], neg)               # [N, W, M]
        logits.append(torch.cat([pos, negs], dim=-1))
    logits = torch.stack(logits, dim=2)                                           # [N, W, K, 1+M]
    rows = logits.reshape(-1, 1 + m)
    per_row = F.cross_entropy(rows, torch.zeros(rows.shape[0], dtype=torch.long), reduction="none").reshape(n, w, k)
    # Correct when no negative beats the positive; ties (a negative drawn at the positive's frame) count as correct.
    positive = logits[..., :1]
    slack = 1e-5 * torch.clamp(positive.abs(), min=1)
    accuracy = (logits[..., 1:] <= positive + slack).all(-1).double().mean(dim=(0, 1))
    return per_row.mean(), per_row.mean(dim=(0, 1)), accuracy


n, frames, k, c, m = 3, 9, 3, 5, 4
w = frames - k
speakers = [0, 0, 1]
for mode in ["mixed", "same_speaker", "within_sequence", "other_sequences"]:
    pred = torch.randn(n, w, k, c, dtype=torch.float64, requires_grad=True)
    z = torch.randn(n, frames, c, dtype=torch.float64, requires_grad=True)
    negatives = sample_negatives(mode, n, frames, w, m, speakers)
    loss, per_k, accuracy = infonce(pred, z, negatives, m)
    loss.backward()
    cases["infonce_" + mode] = {"pred": t(pred), "z": t(z), "negatives": negatives.tolist(), "speakers": speakers,
                                "loss": loss.item(), "loss_per_k": t(per_k), "accuracy_per_k": t(accuracy),
                                "grad_pred": t(pred.grad), "grad_z": t(z.grad)}


class ChannelNorm(nn.Module):
    def __init__(self, channels, eps=1e-5):
        super().__init__()
        self.weight = nn.Parameter(1 + 0.2 * torch.randn(channels))
        self.bias = nn.Parameter(0.2 * torch.randn(channels))
        self.eps = eps

    def forward(self, x):  # [N, T, C]
        return (x - x.mean(-1, keepdim=True)) * torch.rsqrt(x.var(-1, keepdim=True) + self.eps) * self.weight + self.bias


class SmallCPC(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.ModuleDict({"conv0": nn.Conv1d(1, 6, 10, 5), "norm0": ChannelNorm(6),
                                      "conv1": nn.Conv1d(6, 6, 4, 2), "norm1": ChannelNorm(6)})
        self.context = nn.GRU(6, 5, batch_first=True)
        self.predictors = nn.ModuleList([nn.Linear(5, 6, bias=False) for _ in range(3)])

    def forward(self, audio, negatives, m):
        x = audio.unsqueeze(1)
        for i in range(2):
            x = self.encoder[f"conv{i}"](x)
            x = F.relu(self.encoder[f"norm{i}"](x.transpose(1, 2)).transpose(1, 2))
        z = x.transpose(1, 2)                                                    # [N, T, C]
        ctx = self.context(z)[0]
        w = z.shape[1] - 3
        pred = torch.stack([p(ctx[:, :w]) for p in self.predictors], dim=2)     # [N, W, K, C]
        return infonce(pred, z, negatives, m)


model = SmallCPC().double()
audio = torch.randn(2, 200, dtype=torch.float64) * 0.3
frames_small = ((200 - 10) // 5 + 1 - 4) // 2 + 1
negatives = sample_negatives("mixed", 2, frames_small, frames_small - 3, 4, [0, 1])
loss, per_k, accuracy = model(audio, negatives, 4)
loss.backward()
entry = {"audio": t(audio), "negatives": negatives.tolist(), "loss": loss.item(), "loss_per_k": t(per_k)}
for name, value in model.state_dict().items():
    entry["param." + name] = t(value)
for name, p in model.named_parameters():
    entry["grad." + name] = t(p.grad)
cases["small_cpc"] = entry

with open(os.path.join(here, "cpc.json"), "w") as f:
    json.dump({"generator": "Tests/Fixtures/generate_cpc.py", "torch": torch.__version__, "cases": cases}, f)
print("wrote", ", ".join(cases))
