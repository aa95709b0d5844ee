#!/usr/bin/env python3
"""Writes Tests/Fixtures/pair_methods.json: PyTorch reference values for the image-pair methods' pieces — NT-Xent
(SimCLR), MoCo's queue InfoNCE, BYOL's negative cosine, fused batch norm in training and evaluation mode (running statistics included),
and one whole SimCLR step (CIFAR-style ResNet + projector with batch norm + NT-Xent: the loss and every parameter
gradient).

Run with PyTorch's CPU build (pinned):
    pip install "torch==2.13.0+cpu"; python Tests/Fixtures/generate_pair_methods.py
Images are stored channels-last ([N, H, W, C], SwiftCPC's layout) and permuted to NCHW here; parameters keep
PyTorch's state_dict names (those of SwiftCPC's layers). Computed in float64 on one thread.
"""
import json
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(2024)
torch.set_num_threads(1)
torch.set_default_dtype(torch.float64)
here = os.path.dirname(os.path.abspath(__file__))
cases = {}


def t(x):
    x = torch.as_tensor(x).detach().double().contiguous()
    return {"shape": list(x.shape), "data": [float(v) for v in x.reshape(-1).tolist()]}


def nt_xent(z1, z2, temperature):
    # SimCLR's loss as solo-learn and lightly write it: 2N anchors, the other view positive, self excluded.
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    sim = z @ z.T / temperature
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return F.cross_entropy(sim, targets)


# NT-Xent on random embeddings.
z1 = torch.randn(5, 4, requires_grad=True)
z2 = torch.randn(5, 4, requires_grad=True)
loss = nt_xent(z1, z2, 0.5)
loss.backward()
cases["ntxent"] = {"first": t(z1), "second": t(z2), "temperature": 0.5, "loss": float(loss),
                   "grad_first": t(z1.grad), "grad_second": t(z2.grad)}

# MoCo: queries against their key and a queue of normalised negatives.
q = torch.randn(4, 5, requires_grad=True)
k = torch.randn(4, 5, requires_grad=True)
queue = F.normalize(torch.randn(7, 5), dim=1)
qn, kn = F.normalize(q, dim=1), F.normalize(k, dim=1)
logits = torch.cat([(qn * kn).sum(1, keepdim=True), qn @ queue.T], dim=1) / 0.2
loss = F.cross_entropy(logits, torch.zeros(4, dtype=torch.long))
loss.backward()
cases["moco"] = {"queries": t(q), "keys": t(k), "queue": t(queue), "temperature": 0.2, "loss": float(loss),
                 "grad_queries": t(q.grad), "grad_keys": t(k.grad)}

# Batch norm, training then evaluation mode, on channels-last images.
bn = nn.BatchNorm2d(3)
with torch.no_grad():
    bn.weight.copy_(1 + 0.3 * torch.randn(3))
    bn.bias.copy_(0.3 * torch.randn(3))
x = torch.randn(4, 5, 5, 3, requires_grad=True)
upstream = torch.randn(4, 5, 5, 3)
y = bn(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
(y * upstream).sum().backward()
cases["batchnorm_train"] = {"input": t(x), "weight": t(bn.weight), "bias": t(bn.bias), "upstream": t(upstream),
                            "output": t(y), "grad_input": t(x.grad), "grad_weight": t(bn.weight.grad),
                            "grad_bias": t(bn.bias.grad), "running_mean": t(bn.running_mean),
                            "running_var": t(bn.running_var)}
bn.eval()
bn.weight.grad = None
bn.bias.grad = None
x2 = torch.randn(2, 3, 3, 3, requires_grad=True)
upstream2 = torch.randn(2, 3, 3, 3)
y2 = bn(x2.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
(y2 * upstream2).sum().backward()
cases["batchnorm_eval"] = {"input": t(x2), "upstream": t(upstream2), "output": t(y2), "grad_input": t(x2.grad),
                           "grad_weight": t(bn.weight.grad), "grad_bias": t(bn.bias.grad)}


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(y + (self.downsample(x) if self.downsample is not None else x))


class CifarResNet(nn.Module):
    """torchvision's ResNet with a 3×3 stride-1 stem and no max-pool (solo-learn's CIFAR variant), no fc."""

    def __init__(self, channels, width, blocks):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        cin = width
        for i, count in enumerate(blocks):
            layer = []
            for b in range(count):
                layer.append(BasicBlock(cin, width << i, 2 if i > 0 and b == 0 else 1))
                cin = width << i
            setattr(self, f"layer{i + 1}", nn.Sequential(*layer))
        self.stages = len(blocks)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        for i in range(self.stages):
            x = getattr(self, f"layer{i + 1}")(x)
        return x.mean(dim=(2, 3))


class SimCLRNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = CifarResNet(1, 2, [1, 1])
        self.projector = nn.Sequential(nn.Linear(4, 6, bias=False), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 3))


net = SimCLRNet()
for m in net.modules():
    if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
        with torch.no_grad():
            m.weight.copy_(1 + 0.2 * torch.randn_like(m.weight))
            m.bias.copy_(0.2 * torch.randn_like(m.bias))
view1 = torch.rand(3, 6, 6, 1) * 2 - 1
view2 = torch.rand(3, 6, 6, 1) * 2 - 1
state = {name: t(p) for name, p in net.state_dict().items()}
both = torch.cat([view1, view2]).permute(0, 3, 1, 2)
z = net.projector(net.backbone(both))
loss = nt_xent(z[:3], z[3:], 0.2)
loss.backward()
cases["simclr_step"] = {"view1": t(view1), "view2": t(view2), "temperature": 0.2, "loss": float(loss),
                        "state": state, "grads": {name: t(p.grad) for name, p in net.named_parameters()}}

# BYOL: 2 - 2 cos(p, z) with the targets detached (solo-learn's byol_loss_func); drawn last, so that the cases
# above keep their random numbers.
p = torch.randn(5, 6, requires_grad=True)
z = torch.randn(5, 6, requires_grad=True)
loss = 2 - 2 * F.cosine_similarity(p, z.detach(), dim=-1).mean()
loss.backward()
cases["byol"] = {"predictions": t(p), "targets": t(z), "loss": float(loss), "grad_predictions": t(p.grad)}

with open(os.path.join(here, "pair_methods.json"), "w") as f:
    json.dump({"generator": "Tests/Fixtures/generate_pair_methods.py (torch " + torch.__version__ + ")", "cases": cases}, f)
print("wrote", len(cases), "cases")
