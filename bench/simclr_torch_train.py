#!/usr/bin/env python3
"""The PyTorch twin of `cpc train` + `cpc probe image --knn` for a `method: simclr` config on Fashion-MNIST, trained
the same way: the same CIFAR-style ResNet, projector and NT-Xent (bench/pair_torch.py), the config's batch, steps,
views (random resized crop with torchvision's box rule, flip, brightness/contrast jitter in a random order, [-1, 1]),
LARS with the same rule (trust η·‖w‖/‖g + λw‖, optionally divided by the learning rate and capped at 1; biases and
norm parameters neither decayed nor adapted), linear warm-up then cosine, an epoch permutation of the training set
per pass, seed 1. Then the weighted kNN probe (cosine, k = 200, T = 0.1) of the backbone's pooled features, the
first --train-limit training images against the 10 000 test images. Prints one JSON line.

    pip install "torch==2.13.0+cpu" numpy pyyaml
    python bench/simclr_torch_train.py --config configs/simclr-fashion.yaml --threads 2
"""
import argparse
import gzip
import json
import math
import os
import random
import time

import numpy as np
import torch
import torch.nn.functional as F
import yaml

from pair_torch import nt_xent, resnet


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def crop_box(height, width, scale, ratio, rng):
    """torchvision's RandomResizedCrop.get_params: ten tries, then the whole image clamped to the ratio range."""
    area = height * width
    log_low, log_high = math.log(ratio[0]), math.log(ratio[1])
    for _ in range(10):
        target = area * rng.uniform(scale[0], scale[1])
        aspect = math.exp(rng.uniform(log_low, log_high))
        w, h = int(round(math.sqrt(target * aspect))), int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            return rng.randint(0, height - h), rng.randint(0, width - w), h, w
    return 0, 0, height, width


def views(images, spec, rng):
    """One augmented view of each image [N, 1, H, W] in [0, 1] → [N, 1, S, S] in [-1, 1]."""
    n, _, height, width = images.shape
    side = spec.get("size") or height
    scale, ratio = spec.get("scale", [0.08, 1.0]), spec.get("ratio", [3 / 4, 4 / 3])
    theta = torch.zeros(n, 2, 3)
    for i in range(n):
        top, left, h, w = crop_box(height, width, scale, ratio, rng)
        flip = -1.0 if rng.random() < spec.get("horizontal_flip", 0.5) else 1.0
        # Output pixel centres onto the box's (half-pixel-centre) input coordinates, in grid_sample's [-1, 1].
        theta[i, 0] = torch.tensor([flip * w / width, 0, (2 * left + w) / width - 1])
        theta[i, 1] = torch.tensor([0, h / height, (2 * top + h) / height - 1])
    grid = F.affine_grid(theta, [n, 1, side, side], align_corners=False)
    out = F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
    jitter, brightness, contrast = spec.get("jitter", 0.8), spec.get("brightness", 0.4), spec.get("contrast", 0.4)
    for i in range(n):
        if rng.random() >= jitter:
            continue
        ops = [0, 1]
        rng.shuffle(ops)
        for op in ops:
            if op == 0 and brightness > 0:
                out[i] = (out[i] * rng.uniform(max(0, 1 - brightness), 1 + brightness)).clamp(0, 1)
            elif op == 1 and contrast > 0:
                mean = out[i].mean()
                out[i] = (mean + rng.uniform(max(0, 1 - contrast), 1 + contrast) * (out[i] - mean)).clamp(0, 1)
    return out * 2 - 1


class LARS(torch.optim.Optimizer):
    def __init__(self, params, lr, momentum, weight_decay, eta, clip):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay, eta=eta, clip=clip))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                adapted = p.dim() > 1
                d = p.grad + group["weight_decay"] * p if adapted else p.grad.clone()
                if adapted:
                    pn, dn = p.norm(), d.norm()
                    if pn > 0 and dn > 0:
                        trust = group["eta"] * pn / dn
                        d = d * (torch.clamp(trust / group["lr"], max=1.0) if group["clip"] else trust)
                state = self.state[p]
                buf = state.setdefault("momentum_buffer", torch.zeros_like(p))
                buf.mul_(group["momentum"]).add_(d)
                p.sub_(group["lr"] * buf)


def learning_rate(step, base, warmup, total, final):
    if step < warmup:
        return base * step / warmup
    progress = min((step - warmup) / max(total - warmup, 1), 1)
    return final + (base - final) * 0.5 * (1 + math.cos(math.pi * progress))


@torch.no_grad()
def features(backbone, images, batch=1000):
    backbone.eval()
    out = torch.cat([backbone(images[i:i + batch] * 2 - 1).mean(dim=(2, 3)) for i in range(0, len(images), batch)])
    backbone.train()
    return F.normalize(out, dim=1)


@torch.no_grad()
def knn(train, train_labels, test, test_labels, k=200, temperature=0.1, classes=10):
    correct = 0
    for i in range(0, len(test), 500):
        sim = test[i:i + 500] @ train.T
        values, indices = sim.topk(k, dim=1)
        votes = torch.zeros(len(values), classes).scatter_add_(1, train_labels[indices], (values / temperature).exp())
        correct += (votes.argmax(1) == test_labels[i:i + 500]).sum().item()
    return correct / len(test)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int)
    parser.add_argument("--train-limit", type=int, default=60000)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = yaml.safe_load(open(args.config))
    assert config["method"] == "simclr", "simclr_torch_train.py trains method: simclr configs"
    data, model, opt, training = config["data"], config["model"], config["optimizer"], config["training"]
    steps = args.steps or training.get("steps", 1000)
    seed = training.get("seed", 1)
    torch.manual_seed(seed)
    rng = random.Random(seed)
    corpus = data["corpus"]
    train_images = torch.from_numpy(read_idx(os.path.join(corpus, "train-images-idx3-ubyte.gz")).copy()).float().div(255).unsqueeze(1)
    train_labels = torch.from_numpy(read_idx(os.path.join(corpus, "train-labels-idx1-ubyte.gz")).astype(np.int64))
    test_images = torch.from_numpy(read_idx(os.path.join(corpus, "t10k-images-idx3-ubyte.gz")).copy()).float().div(255).unsqueeze(1)
    test_labels = torch.from_numpy(read_idx(os.path.join(corpus, "t10k-labels-idx1-ubyte.gz")).astype(np.int64))

    b = model.get("backbone", {})
    backbone, width = resnet(1, b.get("width", 16), b.get("blocks", [2, 2, 2, 2]))
    p = model.get("projector", {})
    layers, size = [], width
    for h in p.get("hidden", [2048]):
        layers += [torch.nn.Linear(size, h, bias=not p.get("batch_norm", True))]
        if p.get("batch_norm", True):
            layers.append(torch.nn.BatchNorm1d(h))
        layers.append(torch.nn.ReLU())
        size = h
    projector = torch.nn.Sequential(*layers, torch.nn.Linear(size, p.get("output", 128)))
    parameters = list(backbone.parameters()) + list(projector.parameters())
    base_lr = opt["learning_rate"]
    optimizer = LARS(parameters, base_lr, opt.get("momentum", 0.9), opt.get("weight_decay", 0),
                     opt.get("trust_coefficient", 0.001), opt.get("clip_lr", False))
    batch, specs, temperature = data["batch_size"], data["views"], model.get("temperature", 0.2)
    view_specs = [s for s in specs for _ in range(s.get("count", 1))]
    order, cursor = torch.randperm(len(train_images)), 0
    started = time.time()
    for step in range(steps):
        if cursor + batch > len(order):
            order, cursor = torch.randperm(len(train_images)), 0
        images = train_images[order[cursor:cursor + batch]]
        cursor += batch
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, base_lr, opt.get("warmup_steps", 0), steps, opt.get("final_learning_rate", 0))
        z = [projector(backbone(views(images, spec, rng)).mean(dim=(2, 3))) for spec in view_specs[:2]]
        loss = nt_xent(z[0], z[1], temperature)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 100 == 0 or step == steps - 1:
            print(json.dumps({"step": step, "loss": round(loss.item(), 4), "elapsed_seconds": round(time.time() - started, 1)}), flush=True)
    train_seconds = time.time() - started
    limit = args.train_limit
    accuracy = knn(features(backbone, train_images[:limit]), train_labels[:limit], features(backbone, test_images), test_labels)
    print(json.dumps({"features": "simclr-torch", "task": "knn", "accuracy": accuracy, "steps": steps,
                      "train_seconds": round(train_seconds, 1), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
