#!/usr/bin/env python3
"""The PyTorch twins of the image-pair methods' training steps for bench/compare.py: the same CIFAR-style ResNet
(3×3 stem, no max-pool, basic blocks) and heads (Linear → BatchNorm → ReLU per hidden width → Linear) as the config's
`method:`, on a batch of random views of the config's sizes, timed per step (forward, backward, SGD step and the
method's after-step work) on the given threads:
- simclr: NT-Xent over both views in one backbone pass;
- byol: online backbone + projector + predictor over both views, the momentum target's projections without
  gradient, 2 − 2·cos symmetrised, then the EMA update of the target;
- swav: multi-crop — the backbone once per run of same-size crops, the projector over all, unit projections scored
  by the prototypes, Sinkhorn-Knopp codes (3 iterations, no gradient) of the two global crops, the swapped
  prediction, then the prototypes renormalised;
- barlow: both views in one pass, the cross-correlation of the batch-standardised projections (Barlow Twins' code);
- vicreg: both views in one pass, invariance + variance hinge + covariance (VICReg's code);
- wmse: all views in one pass, each view's embeddings whitened over random sub-batches (Cholesky, W = L⁻¹), then
  2 − 2·cos over view pairs (W-MSE's code).

    pip install "torch==2.13.0+cpu" pyyaml
    python bench/pair_torch.py --config configs/swav-fashion.yaml --threads 2 --steps 3 --json
"""
import copy
import argparse
import json
import resource
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import yaml


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


def resnet(channels, width, blocks):
    layers = [nn.Conv2d(channels, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
    cin = width
    for i, count in enumerate(blocks):
        for b in range(count):
            layers.append(BasicBlock(cin, width << i, 2 if i > 0 and b == 0 else 1))
            cin = width << i
    return nn.Sequential(*layers), cin


def nt_xent(z1, z2, temperature):
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    sim = (z @ z.T / temperature).masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    return F.cross_entropy(sim, torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]))


def head(size, config, default_hidden):
    layers = []
    for h in config.get("hidden", default_hidden):
        layers += [nn.Linear(size, h, bias=not config.get("batch_norm", True))]
        layers += [nn.BatchNorm1d(h), nn.ReLU()] if config.get("batch_norm", True) else [nn.ReLU()]
        size = h
    return nn.Sequential(*layers, nn.Linear(size, config.get("output", 128)))


@torch.no_grad()
def sinkhorn(scores, epsilon, iterations):
    q = torch.exp(scores / epsilon).t()
    b, k = q.shape[1], q.shape[0]
    q /= q.sum()
    for _ in range(iterations):
        q /= q.sum(dim=1, keepdim=True)
        q /= k
        q /= q.sum(dim=0, keepdim=True)
        q /= b
    return (q * b).t()


def views_of(data, batch):
    """Random views [N, 1, S, S] per view entry of the config (count × size)."""
    entries = data.get("views") or [{"count": 2}]
    return [torch.rand(batch, 1, e.get("size") or 28, e.get("size") or 28) * 2 - 1 for e in entries for _ in range(e.get("count", 1))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = yaml.safe_load(open(args.config))
    method = config["method"]
    assert method in ("simclr", "byol", "swav", "barlow", "vicreg", "wmse"), \
        "pair_torch.py times method: simclr, byol, swav, barlow, vicreg and wmse configs"
    model, data = config.get("model", {}), config.get("data", {})
    backbone_config = model.get("backbone", {})
    width, blocks = backbone_config.get("width", 16), backbone_config.get("blocks", [2, 2, 2, 2])
    batch = data.get("batch_size", 256)
    torch.manual_seed(0)
    backbone, features = resnet(1, width, blocks)
    projector = head(features, model.get("projector", {}), [512])
    modules = [backbone, projector]
    if method == "byol":
        predictor = head(model.get("projector", {}).get("output", 128), model.get("predictor", {}), [512])
        target = [copy.deepcopy(backbone), copy.deepcopy(projector)]
        for p in (p for m in target for p in m.parameters()):
            p.requires_grad_(False)
        modules.append(predictor)
    if method == "swav":
        prototypes = nn.Linear(model.get("projector", {}).get("output", 128), model.get("prototypes", 100), bias=False)
        modules.append(prototypes)
    parameters = [p for m in modules for p in m.parameters()]
    optimizer = torch.optim.SGD(parameters, lr=0.1, momentum=0.9, weight_decay=1e-5)
    views = views_of(data, batch)

    def encode(net, x):
        return net(x).mean(dim=(2, 3))

    times = []
    for step in range(args.warmup + args.steps):
        start = time.perf_counter()
        if method == "simclr":
            z = projector(encode(backbone, torch.cat(views[:2])))
            loss = nt_xent(z[:batch], z[batch:], model.get("temperature", 0.2))
        elif method == "byol":
            both = torch.cat(views[:2])
            p = predictor(projector(encode(backbone, both)))
            with torch.no_grad():
                t = target[1](encode(target[0], both))
            loss = sum(2 - 2 * F.cosine_similarity(p[a * batch:(a + 1) * batch], t[b * batch:(b + 1) * batch], dim=-1).mean()
                       for a, b in ((0, 1), (1, 0)))
        elif method == "barlow":
            z = projector(encode(backbone, torch.cat(views[:2])))
            standardised = [F.batch_norm(v, None, None, training=True, eps=1e-5) for v in (z[:batch], z[batch:])]
            c = standardised[0].T @ standardised[1] / batch
            diagonal = torch.diagonal(c)
            off = c.pow(2).sum() - diagonal.pow(2).sum()
            loss = model.get("scale", 0.1) * ((diagonal - 1).pow(2).sum() + model.get("off_diagonal_weight", 0.0051) * off)
        elif method == "vicreg":
            z = projector(encode(backbone, torch.cat(views[:2])))
            z1, z2 = z[:batch], z[batch:]
            d = z.shape[1]
            off_mask = ~torch.eye(d, dtype=torch.bool)

            def variance_and_covariance(v):
                std = torch.sqrt(v.var(dim=0) + 1e-4)
                centred = v - v.mean(dim=0)
                cov = centred.T @ centred / (batch - 1)
                return torch.mean(F.relu(1 - std)) / 2, cov[off_mask].pow(2).sum() / d

            (v1, c1), (v2, c2) = variance_and_covariance(z1), variance_and_covariance(z2)
            loss = (model.get("invariance_weight", 25) * F.mse_loss(z1, z2) + model.get("variance_weight", 25) * (v1 + v2)
                    + model.get("covariance_weight", 1) * (c1 + c2))
        elif method == "wmse":
            z = projector(encode(backbone, torch.cat(views)))
            size, d = model.get("whitening_size", 128), z.shape[1]
            eye = torch.eye(d)
            loss = 0
            for _ in range(model.get("whitening_iterations", 1)):
                perm = torch.randperm(batch).view(-1, size)
                whitened = [torch.empty(batch, d) for _ in views]
                for idx in perm:
                    for v in range(len(views)):
                        x = z[v * batch:(v + 1) * batch][idx]
                        xn = x - x.mean(0, keepdim=True)
                        cov = xn.T @ xn / (size - 1)
                        w = torch.linalg.solve_triangular(torch.linalg.cholesky(cov), eye, upper=False)
                        whitened[v] = whitened[v].index_put((idx,), xn @ w.T)
                for a in range(len(views) - 1):
                    for b in range(a + 1, len(views)):
                        loss = loss + 2 - 2 * (F.normalize(whitened[a]) * F.normalize(whitened[b])).sum(dim=-1).mean()
        else:
            groups, start_index = [], 0
            while start_index < len(views):
                end = start_index
                while end < len(views) and views[end].shape == views[start_index].shape:
                    end += 1
                groups.append(torch.cat(views[start_index:end]))
                start_index = end
            z = F.normalize(projector(torch.cat([encode(backbone, g) for g in groups])), dim=1)
            scores = prototypes(z)
            crops = [scores[v * batch:(v + 1) * batch] for v in range(len(views))]
            codes = [sinkhorn(crops[g].detach(), model.get("epsilon", 0.05), model.get("sinkhorn_iterations", 3)) for g in range(2)]
            temperature = model.get("temperature", 0.1)
            terms = [-torch.mean(torch.sum(codes[g] * F.log_softmax(crops[v] / temperature, dim=1), dim=1))
                     for g in range(2) for v in range(len(crops)) if v != g]
            loss = sum(terms) / len(terms)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            if method == "byol":
                for online, ema in zip(modules[:2], target):
                    for a, b in zip(online.parameters(), ema.parameters()):
                        b.mul_(0.99).add_(a, alpha=0.01)
            if method == "swav":
                prototypes.weight.copy_(F.normalize(prototypes.weight, dim=1))
        if step >= args.warmup:
            times.append((time.perf_counter() - start) * 1e3)
    result = {"config": args.config, "method": method, "threads": args.threads, "batch": batch, "milliseconds_per_step": statistics.median(times),
              "peak_rss_megabytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "torch": torch.__version__}
    print(json.dumps(result) if args.json else f"{result['milliseconds_per_step']:.1f} ms/step, peak RSS {result['peak_rss_megabytes']:.0f} MiB")


if __name__ == "__main__":
    main()
