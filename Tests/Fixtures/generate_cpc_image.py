#!/usr/bin/env python3
"""Writes Tests/Fixtures/cpc_image.json: PyTorch references for image CPC.

    pip install "torch==2.13.0+cpu"; python Tests/Fixtures/generate_cpc_image.py

Cases:
- grid_infonce: InfoNCE over a patch grid written with plain loops: for each step k and each position (image n,
  row r, column c) with r + k inside the grid, W_k·context[n, r, c] is scored against every patch encoding of the
  batch, the target being z[n, r + k, c]; the loss is the mean over k of each step's mean cross-entropy.
- small_model: a tiny whole model (3×3 stem conv + GroupNorm(1), one ResNet basic block at stride 2 with
  GroupNorm(1), mean pooling, a GRU per direction, linear heads) on a 3×4 grid of 4×4 RGB patches, directions
  down and right; forward loss, per-step losses and every parameter gradient.
Layouts on the Swift side are channels-last: patches [N, GH, GW, Q, Q, C]; encodings ordered (image, row, column).
Computed in float64 on one thread (see generate_layers.py for why).
"""
import json
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(11)
torch.set_num_threads(1)
torch.set_default_dtype(torch.float64)
here = os.path.dirname(os.path.abspath(__file__))
cases = {}


def t(x):
    x = torch.as_tensor(x).detach().double().contiguous()
    return {"shape": list(x.shape), "data": [float(v) for v in x.reshape(-1).tolist()]}


def grid_loss(z, context_of, heads, n, rows, cols, direction):
    """Loss terms of one direction. z: [N*G, D] ordered (n, r, c); context_of(n, s, t) -> context vector at
    position t of sequence s; returns a list (per k) of (logits, targets)."""
    vertical = direction in ("down", "up")
    seqs, length = (cols, rows) if vertical else (rows, cols)
    out = []
    for k in range(1, len(heads) + 1):
        if k >= length:
            break
        preds, targets = [], []
        for i in range(n):
            for s in range(seqs):
                for p in range(length - k):
                    q = p + k
                    pos = q if direction in ("down", "right") else length - 1 - q
                    r, c = (pos, s) if vertical else (s, pos)
                    preds.append(heads[k - 1](context_of(i, s, p)))
                    targets.append((i * rows + r) * cols + c)
        preds = torch.stack(preds)
        out.append((preds @ z.T, torch.tensor(targets)))
    return out


def reduce(terms):
    per_k = [F.cross_entropy(logits, target) for logits, target in terms]
    return torch.stack(per_k).mean(), per_k


# --- grid_infonce -------------------------------------------------------------------------------------------
n, rows, cols, d, h, steps = 2, 4, 3, 5, 4, 2
z = torch.randn(n * rows * cols, d, requires_grad=True)
context = torch.randn(n, rows, cols, h, requires_grad=True)
weights = [torch.randn(d, h, requires_grad=True) for _ in range(steps)]
heads = [lambda v, w=w: w @ v for w in weights]
terms = grid_loss(z, lambda i, s, p: context[i, p, s], heads, n, rows, cols, "down")
loss, per_k = reduce(terms)
loss.backward()
cases["grid_infonce"] = {
    "z": t(z), "context": t(context), "loss": float(loss.detach()), "loss_per_k": t(torch.stack(per_k)),
    "grad_z": t(z.grad), "grad_context": t(context.grad),
    **{f"weight{k}": t(w) for k, w in enumerate(weights)}, **{f"grad_weight{k}": t(w.grad) for k, w in enumerate(weights)},
}


# --- small_model --------------------------------------------------------------------------------------------
class Block(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.GroupNorm(1, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.GroupNorm(1, cout)
        self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=2, bias=False), nn.GroupNorm(1, cout))

    def forward(self, x):
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(y + self.downsample(x))


class SmallImageCPC(nn.Module):
    def __init__(self, channels, widths, hidden, steps, directions):
        super().__init__()
        self.directions = directions
        self.encoder = nn.Module()
        self.encoder.stem = nn.Conv2d(channels, widths[0], 3, padding=1, bias=False)
        self.encoder.stem_norm = nn.GroupNorm(1, widths[0])
        self.encoder.block0 = Block(widths[0], widths[1])
        self.context = nn.ModuleDict({dname: nn.GRU(widths[1], hidden, batch_first=True) for dname in directions})
        self.predictors = nn.ModuleDict({dname: nn.ModuleList([nn.Linear(hidden, widths[1], bias=False) for _ in range(steps)])
                                         for dname in directions})

    def forward(self, patches):  # patches [N, GH, GW, Q, Q, C]
        n, rows, cols = patches.shape[:3]
        x = patches.reshape(n * rows * cols, *patches.shape[3:]).permute(0, 3, 1, 2)
        x = F.relu(self.encoder.stem_norm(self.encoder.stem(x)))
        z = self.encoder.block0(x).mean(dim=(2, 3))  # [N*G, D]
        terms_by_direction = []
        for dname in self.directions:
            vertical = dname in ("down", "up")
            grid = z.reshape(n, rows, cols, -1)
            seq = grid.permute(0, 2, 1, 3) if vertical else grid  # [N, S, L, D]
            if dname in ("up", "left"):
                seq = seq.flip(2)
            s, length = seq.shape[1], seq.shape[2]
            out, _ = self.context[dname](seq.reshape(n * s, length, -1))
            out = out.reshape(n, s, length, -1)
            terms_by_direction.append(grid_loss(z, lambda i, si, p: out[i, si, p], list(self.predictors[dname]),
                                                n, rows, cols, dname))
        terms = [term for terms in terms_by_direction for term in terms]
        return reduce(terms), terms_by_direction


model = SmallImageCPC(channels=3, widths=[3, 4], hidden=5, steps=2, directions=["down", "right"])
with torch.no_grad():
    for name, p in model.named_parameters():
        if "bn" in name or "norm" in name or "downsample.1" in name:
            p.add_(0.3 * torch.randn_like(p))  # non-trivial affine parameters
patches = torch.rand(2, 3, 4, 4, 4, 3) * 2 - 1
(loss, per_k), by_direction = model(patches)
loss.backward()
entry = {"patches": t(patches), "loss": float(loss.detach())}
# Per step k, the mean over directions of that step's loss (what the Swift metrics report).
for k in range(2):
    values = [F.cross_entropy(terms[k][0], terms[k][1]) for terms in by_direction if len(terms) > k]
    entry[f"loss_k{k + 1}"] = float(torch.stack(values).mean())
for name, p in model.named_parameters():
    name = name.replace("context.", "context.", 1)
    entry["param." + name] = t(p)
    entry["grad." + name] = t(p.grad)
cases["small_model"] = entry

with open(os.path.join(here, "cpc_image.json"), "w") as f:
    json.dump({"generator": "generate_cpc_image.py", "torch": torch.__version__, "cases": cases}, f)
print("wrote", os.path.join(here, "cpc_image.json"), "with", len(cases), "cases")
