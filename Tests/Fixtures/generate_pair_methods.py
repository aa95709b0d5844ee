#!/usr/bin/env python3
"""Writes Tests/Fixtures/pair_methods.json: PyTorch reference values for the image-pair methods' pieces — NT-Xent
(SimCLR), MoCo's queue InfoNCE, BYOL's and SimSiam's negative cosine, SwAV's Sinkhorn-Knopp and swapped
prediction, DeepCluster v2's k-means and cross-entropy, fused batch norm in training and evaluation mode (running
statistics included), and whole steps of SimCLR, BYOL and SwAV with multi-crop (CIFAR-style ResNet + heads with batch
norm: the loss and every parameter gradient).

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


# The cases below were added with SimSiam, SwAV and DeepCluster v2 (after every case above, so those keep their
# random numbers).

# SimSiam: -(cos(p1, sg z2) + cos(p2, sg z1)) / 2 (the paper's algorithm 1).
p1, p2 = torch.randn(5, 6, requires_grad=True), torch.randn(5, 6, requires_grad=True)
z1, z2 = torch.randn(5, 6), torch.randn(5, 6)
loss = -(F.cosine_similarity(p1, z2.detach(), dim=-1).mean() + F.cosine_similarity(p2, z1.detach(), dim=-1).mean()) / 2
loss.backward()
cases["simsiam"] = {"p1": t(p1), "p2": t(p2), "z1": t(z1), "z2": t(z2), "loss": float(loss),
                    "grad_p1": t(p1.grad), "grad_p2": t(p2.grad)}


@torch.no_grad()
def sinkhorn(scores, epsilon, iterations):
    # solo-learn's SinkhornKnopp (one process): Q = exp(S/eps)^T, normalised in total, then `iterations` rounds of
    # prototypes (rows of Q) to 1/K and samples (columns) to 1/B; finally scaled so that each sample sums to 1.
    q = torch.exp(scores / epsilon).t()
    b, k = q.shape[1], q.shape[0]
    q /= q.sum()
    for _ in range(iterations):
        q /= q.sum(dim=1, keepdim=True)
        q /= k
        q /= q.sum(dim=0, keepdim=True)
        q /= b
    q *= b
    return q.t()


def swav_loss(preds, assignments, temperature):
    # solo-learn's swav_loss_func: each global crop's code predicted from every other crop.
    losses = []
    for v1 in range(len(assignments)):
        for v2 in [v for v in range(len(preds)) if v != v1]:
            losses.append(-torch.mean(torch.sum(assignments[v1] * torch.log_softmax(preds[v2] / temperature, dim=1), dim=1)))
    return sum(losses) / len(losses)


scores = F.normalize(torch.randn(6, 3), dim=1) @ F.normalize(torch.randn(4, 3), dim=1).t()
cases["sinkhorn"] = {"scores": t(scores), "epsilon": 0.05, "iterations": 3, "codes": t(sinkhorn(scores, 0.05, 3))}

crops = [torch.randn(5, 4, requires_grad=True) for _ in range(3)]
codes = [sinkhorn(c.detach(), 0.05, 3) for c in crops[:2]]
loss = swav_loss(crops, codes, 0.1)
loss.backward()
cases["swav_loss"] = {"scores": [t(c) for c in crops], "codes": [t(c) for c in codes], "temperature": 0.1,
                      "loss": float(loss), "grad_scores": [t(c.grad) for c in crops]}


def kmeans(rows, init_index, iterations):
    # solo-learn's DeepClusterV2 k-means (one process): E step by the largest dot product, M step the mean of the
    # assigned rows, an empty cluster keeping its centroid, all centroids renormalised; a last E step.
    centroids = rows[init_index].clone()
    k = centroids.shape[0]
    for n_iter in range(iterations + 1):
        assignments = (rows @ centroids.t()).max(dim=1).indices
        if n_iter == iterations:
            break
        counts = torch.zeros(k)
        sums = torch.zeros(k, rows.shape[1])
        for c in range(k):
            mask = assignments == c
            if mask.any():
                sums[c] = rows[mask].sum(0)
                counts[c] = mask.sum()
        ok = counts > 0
        centroids[ok] = sums[ok] / counts[ok].unsqueeze(1)
        centroids = F.normalize(centroids, dim=1)
    return centroids, assignments


blobs = torch.cat([torch.randn(15, 3) * 0.4 + torch.tensor(c) for c in ([3.0, 0, 0], [0, 3.0, 0], [0, 0, 3.0], [-2.0, -2.0, 0])])
rows = F.normalize(blobs[torch.randperm(60)], dim=1)
init_index = [0, 1, 2, 3, 4]
centroids, assignments = kmeans(rows, init_index, 5)
cases["kmeans"] = {"rows": t(rows), "initial": init_index, "iterations": 5, "centroids": t(centroids),
                   "assignments": [int(a) for a in assignments]}

# DeepCluster v2's loss: cross-entropy of both views' scores against each image's cluster (-1 ignored), averaged
# over the heads (solo-learn's deepclusterv2_loss_func).
z = torch.randn(8, 4, requires_grad=True)   # 2 views x 4 images
zn = F.normalize(z, dim=1)
heads = [F.normalize(torch.randn(3, 4), dim=1), F.normalize(torch.randn(5, 4), dim=1)]
targets = [[0, 2, -1, 1], [4, -1, 0, 3]]
loss = sum(F.cross_entropy(zn @ c.t() / 0.1, torch.tensor(tg * 2), ignore_index=-1) for c, tg in zip(heads, targets)) / 2
loss.backward()
cases["deepcluster_loss"] = {"projections": t(z), "centroids": [t(c) for c in heads],
                             "targets_0": targets[0], "targets_1": targets[1],
                             "temperature": 0.1, "loss": float(loss), "grad_projections": t(z.grad)}


def bn_init(module):
    for m in module.modules():
        if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)) and m.affine:
            with torch.no_grad():
                m.weight.copy_(1 + 0.2 * torch.randn_like(m.weight))
                m.bias.copy_(0.2 * torch.randn_like(m.bias))


def head(cin, hidden, cout):
    return nn.Sequential(nn.Linear(cin, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Linear(hidden, cout))


# A whole BYOL step: online backbone + projector + predictor, a target (its own weights, as after some EMA steps)
# in training mode without gradient; every online parameter's gradient.
class BYOLNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = CifarResNet(1, 2, [1, 1])
        self.projector = head(4, 6, 3)
        self.predictor = head(3, 5, 3)
        self.momentum_backbone = CifarResNet(1, 2, [1, 1])
        self.momentum_projector = head(4, 6, 3)


net = BYOLNet()
bn_init(net)
for p in list(net.momentum_backbone.parameters()) + list(net.momentum_projector.parameters()):
    p.requires_grad_(False)
view1 = torch.rand(3, 6, 6, 1) * 2 - 1
view2 = torch.rand(3, 6, 6, 1) * 2 - 1
state = {name: t(p) for name, p in net.state_dict().items()}
both = torch.cat([view1, view2]).permute(0, 3, 1, 2)
pred = net.predictor(net.projector(net.backbone(both)))
with torch.no_grad():
    target = net.momentum_projector(net.momentum_backbone(both))


def byol_term(p, z):
    return 2 - 2 * F.cosine_similarity(p, z.detach(), dim=-1).mean()


loss = byol_term(pred[:3], target[3:]) + byol_term(pred[3:], target[:3])
loss.backward()
cases["byol_step"] = {"view1": t(view1), "view2": t(view2), "loss": float(loss), "state": state,
                      "grads": {name: t(p.grad) for name, p in net.named_parameters() if p.requires_grad}}


# A whole SwAV step with multi-crop: 2 global 6x6 and 2 local 4x4 crops; the backbone per size, the projector over
# every crop, unit projections, prototypes with unit rows, Sinkhorn codes of the global crops, the swapped
# prediction; every parameter's gradient (the prototypes' included).
class SwAVNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = CifarResNet(1, 2, [1, 1])
        self.projector = head(4, 6, 3)
        self.prototypes = nn.Linear(3, 5, bias=False)


net = SwAVNet()
bn_init(net)
with torch.no_grad():
    net.prototypes.weight.copy_(F.normalize(net.prototypes.weight, dim=1))
views = [torch.rand(4, 6, 6, 1) * 2 - 1 for _ in range(2)] + [torch.rand(4, 4, 4, 1) * 2 - 1 for _ in range(2)]
state = {name: t(p) for name, p in net.state_dict().items()}
feats = torch.cat([net.backbone(torch.cat(views[:2]).permute(0, 3, 1, 2)), net.backbone(torch.cat(views[2:]).permute(0, 3, 1, 2))])
zs = F.normalize(net.projector(feats), dim=1)
sc = net.prototypes(zs)
per_crop = [sc[4 * v:4 * v + 4] for v in range(4)]
codes = [sinkhorn(per_crop[g].detach(), 0.05, 3) for g in range(2)]
loss = swav_loss(per_crop, codes, 0.1)
loss.backward()
cases["swav_step"] = {"views": [t(v) for v in views], "epsilon": 0.05, "iterations": 3, "temperature": 0.1,
                      "loss": float(loss), "state": state,
                      "grads": {name: t(p.grad) for name, p in net.named_parameters()}}

with open(os.path.join(here, "pair_methods.json"), "w") as f:
    json.dump({"generator": "Tests/Fixtures/generate_pair_methods.py (torch " + torch.__version__ + ")", "cases": cases}, f)
print("wrote", len(cases), "cases")
