#!/usr/bin/env python3
"""Writes Tests/Fixtures/layers.json and Tests/Fixtures/torch_conv_gru.safetensors: PyTorch reference values for the
Layers tests (layers forward+backward, optimisers, schedules) and a checkpoint written by PyTorch.

Run with PyTorch's CPU build (pinned) and safetensors:
    pip install "torch==2.13.0+cpu" safetensors; python Tests/Fixtures/generate_layers.py
Inputs are stored in SwiftCPC's channels-last layout; parameters under their PyTorch state_dict names.
Layer cases run in float64 on one thread: torch 2.13's float32 CPU path gave a non-reproducible weight gradient for
a 1x1 stride-2 conv inside a residual block (two runs of the same graph disagreed), so the reference is computed
in double precision, which takes other kernels.
"""
import json
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

torch.manual_seed(1125)
torch.set_num_threads(1)
here = os.path.dirname(os.path.abspath(__file__))
cases = {}


def t(x):
    x = x.detach().contiguous().float()
    return {"shape": list(x.shape), "data": [float(v) for v in x.reshape(-1).tolist()]}


def randomize_affine(module):
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("weight") and p.dim() == 1:
                p.copy_(1 + 0.3 * torch.randn_like(p))
            elif name.endswith("bias") and p.dim() == 1:
                p.copy_(0.3 * torch.randn_like(p))


def layer_case(name, module, inputs, forward, extra=None):
    """inputs: dict name -> tensor (channels-last); forward(module, **inputs) -> tuple of outputs."""
    entry = {"param." + k: t(v) for k, v in module.state_dict().items() if v.is_floating_point()}
    module.double()
    leaves = {k: v.double().clone().requires_grad_(True) for k, v in inputs.items()}
    outputs = forward(module, **leaves)
    loss = 0
    for i, out in enumerate(outputs):
        upstream = torch.randn(out.shape).double()
        entry[f"output{i}"] = t(out)
        entry[f"upstream{i}"] = t(upstream)
        loss = loss + (out * upstream).sum()
    loss.backward()
    for k, v in inputs.items():
        entry[k] = t(v)
        entry["grad." + k] = t(leaves[k].grad)
    for k, p in module.named_parameters():
        entry["grad.param." + k] = t(p.grad)
    for k, v in module.state_dict().items():
        if not k.endswith(("weight", "bias")) and not k.startswith(("weight_", "bias_")) and v.is_floating_point():
            entry["after." + k] = t(v)  # buffers after the forward (running statistics)
    if extra:
        entry.update(extra)
    cases[name] = entry


layer_case("linear", nn.Linear(5, 3), {"x": torch.randn(2, 4, 5)}, lambda m, x: (m(x),))
layer_case("conv1d", nn.Conv1d(3, 4, 5, stride=2, padding=1), {"x": torch.randn(2, 11, 3)},
           lambda m, x: (m(x.transpose(1, 2)).transpose(1, 2),))
layer_case("conv2d", nn.Conv2d(3, 4, 3, stride=2, padding=1), {"x": torch.randn(2, 6, 5, 3)},
           lambda m, x: (m(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1),))
layer_case("gru", nn.GRU(4, 5, num_layers=2, batch_first=True), {"x": torch.randn(3, 6, 4), "h0": torch.randn(2, 3, 5)},
           lambda m, x, h0: m(x, h0))
layer_case("lstm", nn.LSTM(4, 5, num_layers=2, batch_first=True),
           {"x": torch.randn(3, 6, 4), "h0": torch.randn(2, 3, 5), "c0": torch.randn(2, 3, 5)},
           lambda m, x, h0, c0: (lambda out: (out[0], out[1][0], out[1][1]))(m(x, (h0, c0))))

bn = nn.BatchNorm1d(4)
randomize_affine(bn)
bn.train()
eval_input = torch.randn(2, 3, 4)
layer_case("batchnorm_train", bn, {"x": torch.randn(3, 5, 4) * 2 + 1},
           lambda m, x: (m(x.transpose(1, 2)).transpose(1, 2),))
bn.eval()
cases["batchnorm_train"]["eval_input"] = t(eval_input)
cases["batchnorm_train"]["eval_output"] = t(bn(eval_input.double().transpose(1, 2)).transpose(1, 2))

ln = nn.LayerNorm(6)
randomize_affine(ln)
layer_case("layernorm", ln, {"x": torch.randn(2, 3, 6)}, lambda m, x: (m(x),))


class ChannelNormReference(nn.Module):
    """Per-time-step normalisation over channels with the unbiased variance (modified CPC, Riviere et al. 2020)."""

    def __init__(self, channels, eps=1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x):  # channels-last
        mean = x.mean(dim=-1, keepdim=True)
        var = x.var(dim=-1, keepdim=True)
        return (x - mean) * torch.rsqrt(var + self.eps) * self.weight + self.bias


cn = ChannelNormReference(6)
randomize_affine(cn)
layer_case("channelnorm", cn, {"x": torch.randn(2, 5, 6)}, lambda m, x: (m(x),))

gn = nn.GroupNorm(2, 6)
randomize_affine(gn)
layer_case("groupnorm", gn, {"x": torch.randn(2, 4, 3, 6)},
           lambda m, x: (m(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1),))


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.downsample(x))


block = BasicBlock(3, 4, 2)
for m in [block.bn1, block.bn2, block.downsample[1]]:
    randomize_affine(m)
layer_case("resblock", block, {"x": torch.randn(2, 6, 6, 3)},
           lambda m, x: (m(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1),))

mlp = nn.Sequential(nn.Linear(6, 8, bias=False), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
randomize_affine(mlp[1])
layer_case("mlp", mlp, {"x": torch.randn(5, 6)}, lambda m, x: (m(x),))

# Optimisers: two parameters, three steps of given gradients.
p0 = {"w": torch.randn(3, 4), "b": torch.randn(4)}
grads = [{"w": torch.randn(3, 4), "b": torch.randn(4)} for _ in range(3)]


def optimizer_case(name, make, manual=None):
    params = {k: v.clone().requires_grad_(True) for k, v in p0.items()}
    entry = {"init." + k: t(v) for k, v in p0.items()}
    if manual is None:
        opt = make([params["w"], params["b"]])
    state = {}
    for step, g in enumerate(grads):
        for k in params:
            entry[f"grad{step}.{k}"] = t(g[k])
        if manual is None:
            for k in params:
                params[k].grad = g[k].clone()
            opt.step()
        else:
            with torch.no_grad():
                manual(params, g, state)
        for k in params:
            entry[f"after{step}.{k}"] = t(params[k])
    cases[name] = entry


optimizer_case("sgd_nesterov", lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01))
optimizer_case("sgd_dampening", lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01))
optimizer_case("adam", lambda ps: torch.optim.Adam(ps, lr=0.01, betas=(0.8, 0.95), weight_decay=0.1))
optimizer_case("adamw", lambda ps: torch.optim.AdamW(ps, lr=0.01, weight_decay=0.1))


def lars_update(params, g, state, lr=0.5, momentum=0.9, weight_decay=0.01, eta=0.02, clip=False):
    # You et al. 2017, as in SimCLR/BYOL: rank-1 parameters skip weight decay and adaptation. clip: solo-learn's
    # clip_lr, the trust ratio divided by the learning rate and capped at 1.
    for k, p in params.items():
        d = g[k].clone()
        adapted = p.dim() > 1
        if adapted:
            d = d + weight_decay * p
            pn, dn = torch.norm(p), torch.norm(d)
            if pn > 0 and dn > 0:
                trust = eta * pn / dn
                d = d * (torch.clamp(trust / lr, max=1.0) if clip else trust)
        buf = state.get(k, torch.zeros_like(p))
        buf = momentum * buf + d
        state[k] = buf
        p -= lr * buf


optimizer_case("lars", None, manual=lars_update)
optimizer_case("lars_clip", None, manual=lambda params, g, state: lars_update(params, g, state, lr=2.0, eta=0.5, clip=True))

# Schedules.
w = torch.zeros(1, requires_grad=True)
opt = torch.optim.SGD([w], lr=0.5)
cosine = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10, eta_min=0.01)
rates = []
for _ in range(11):
    rates.append(opt.param_groups[0]["lr"])
    opt.step()
    cosine.step()
cases["schedule_cosine"] = {"rates": t(torch.tensor(rates))}
opt = torch.optim.SGD([w], lr=0.5)
steplr = torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
rates = []
for _ in range(10):
    rates.append(opt.param_groups[0]["lr"])
    opt.step()
    steplr.step()
cases["schedule_step"] = {"rates": t(torch.tensor(rates))}

# Gradient clipping.
a, b = torch.randn(3, 4, requires_grad=True), torch.randn(5, requires_grad=True)
a.grad, b.grad = torch.randn(3, 4) * 3, torch.randn(5) * 3
cases["clip"] = {"grad.a": t(a.grad), "grad.b": t(b.grad)}
norm = torch.nn.utils.clip_grad_norm_([a, b], max_norm=1.5)
cases["clip"].update({"norm": float(norm), "clipped.a": t(a.grad), "clipped.b": t(b.grad)})


# A checkpoint written by PyTorch: conv encoder + batch norm (eval) + GRU, as safetensors.
class ConvGRU(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Conv1d(1, 4, 10, stride=5)
        self.norm = nn.BatchNorm1d(4)
        self.gru = nn.GRU(4, 6, batch_first=True)

    def forward(self, audio):  # [N, T]
        z = F.relu(self.norm(self.encoder(audio.unsqueeze(1))))
        return self.gru(z.transpose(1, 2))[0]


model = ConvGRU()
model.train()
for _ in range(3):
    model(torch.randn(4, 60))  # non-trivial running statistics and num_batches_tracked = 3
model.eval()
audio = torch.randn(2, 60)
save_file({k: v.contiguous() for k, v in model.state_dict().items()}, os.path.join(here, "torch_conv_gru.safetensors"))
cases["torch_conv_gru"] = {"audio": t(audio), "output": t(model(audio))}

# A causal transformer encoder layer (the CPC transformer predictor), post-norm, ReLU, no dropout.
transformer = nn.TransformerEncoderLayer(d_model=8, nhead=2, dim_feedforward=12, dropout=0.0, batch_first=True)
with torch.no_grad():
    transformer.self_attn.in_proj_bias.copy_(0.1 * torch.randn(24))
    transformer.self_attn.out_proj.bias.copy_(0.1 * torch.randn(8))
randomize_affine(transformer.norm1)
randomize_affine(transformer.norm2)
causal_mask = nn.Transformer.generate_square_subsequent_mask(5).double()
layer_case("transformer_causal", transformer, {"x": torch.randn(2, 5, 8)},
           lambda m, x: (m(x, src_mask=causal_mask, is_causal=True),))

path = os.path.join(here, "layers.json")
with open(path, "w") as f:
    json.dump({"generator": "Tests/Fixtures/generate_layers.py", "torch": torch.__version__, "cases": cases}, f)
print(f"wrote {len(cases)} cases to {path}")
