#!/usr/bin/env python3
"""The PyTorch twin of a SimCLR training step for bench/compare.py: the same CIFAR-style ResNet (3×3 stem, no
max-pool, basic blocks), projector (Linear → BatchNorm → ReLU → Linear) and NT-Xent as `method: simclr`, on a batch
of random views of the config's size, timed per step (forward, backward, SGD step) on the given threads.

    pip install "torch==2.13.0+cpu" pyyaml
    python bench/simclr_torch.py --config configs/simclr-fashion.yaml --threads 2 --steps 3 --json
"""
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
    assert config["method"] == "simclr", "simclr_torch.py times method: simclr configs"
    model, data = config.get("model", {}), config.get("data", {})
    backbone_config = model.get("backbone", {})
    width, blocks = backbone_config.get("width", 16), backbone_config.get("blocks", [2, 2, 2, 2])
    projector_config = model.get("projector", {})
    hidden, output = projector_config.get("hidden", [512]), projector_config.get("output", 128)
    temperature = model.get("temperature", 0.2)
    batch = data.get("batch_size", 256)
    side = (data.get("views") or [{}])[0].get("size") or 28
    torch.manual_seed(0)
    backbone, features = resnet(1, width, blocks)
    layers, size = [], features
    for h in hidden:
        layers += [nn.Linear(size, h, bias=False), nn.BatchNorm1d(h), nn.ReLU()]
        size = h
    projector = nn.Sequential(*layers, nn.Linear(size, output))
    parameters = list(backbone.parameters()) + list(projector.parameters())
    optimizer = torch.optim.SGD(parameters, lr=0.1, momentum=0.9, weight_decay=1e-5)
    views = torch.rand(2 * batch, 1, side, side) * 2 - 1
    times = []
    for step in range(args.warmup + args.steps):
        start = time.perf_counter()
        z = projector(backbone(views).mean(dim=(2, 3)))
        loss = nt_xent(z[:batch], z[batch:], temperature)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step >= args.warmup:
            times.append((time.perf_counter() - start) * 1e3)
    result = {"config": args.config, "threads": args.threads, "batch": batch, "milliseconds_per_step": statistics.median(times),
              "peak_rss_megabytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "torch": torch.__version__}
    print(json.dumps(result) if args.json else f"{result['milliseconds_per_step']:.1f} ms/step, peak RSS {result['peak_rss_megabytes']:.0f} MiB")


if __name__ == "__main__":
    main()
