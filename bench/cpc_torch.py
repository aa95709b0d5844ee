#!/usr/bin/env python3
"""The same CPC model and criterion as SwiftCPC's, in PyTorch, for measuring step time only (no test uses it).

    pip install "torch==2.13.0+cpu" pyyaml
    python bench/cpc_torch.py --config configs/cpc-audio-paper.yaml --threads 2 [--steps 5] [--json]
Reads the same YAML config: conv encoder (kernels, strides, channels, none/channel/layer/batch norm, ReLU), GRU or
LSTM context, K linear predictors without bias, InfoNCE against M negatives drawn under the config's sampling mode,
Adam. Prints the median milliseconds per step (forward, backward, optimiser) after warm-up and the peak RSS.
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


class ChannelNorm(nn.Module):
    def __init__(self, channels, eps=1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x):  # [N, C, T]
        mean = x.mean(dim=1, keepdim=True)
        var = x.var(dim=1, keepdim=True)
        return (x - mean) * torch.rsqrt(var + self.eps) * self.weight[None, :, None] + self.bias[None, :, None]


class CPC(nn.Module):
    def __init__(self, model):
        super().__init__()
        encoder, layers, channels = model["encoder"], [], 1
        for kernel, stride in zip(encoder["kernels"], encoder["strides"]):
            layers.append(nn.Conv1d(channels, encoder["channels"], kernel, stride))
            norm = encoder.get("normalization", "none")
            if norm == "channel":
                layers.append(ChannelNorm(encoder["channels"]))
            elif norm == "batch":
                layers.append(nn.BatchNorm1d(encoder["channels"]))
            elif norm == "layer":
                layers.append(nn.GroupNorm(1, encoder["channels"]))
            layers.append(nn.ReLU())
            channels = encoder["channels"]
        self.encoder = nn.Sequential(*layers)
        context = model.get("context", {})
        rnn = nn.LSTM if context.get("type", "gru") == "lstm" else nn.GRU
        self.context = rnn(channels, context.get("hidden", 256), num_layers=context.get("layers", 1), batch_first=True)
        self.k = model.get("prediction_steps", 12)
        self.m = model.get("negatives", 128)
        self.predictors = nn.Linear(context.get("hidden", 256), channels * self.k, bias=False)

    def forward(self, audio):
        z = self.encoder(audio.unsqueeze(1)).transpose(1, 2)           # [N, T, C]
        c = self.context(z)[0]
        n, t, dim = z.shape
        w = t - self.k
        pred = self.predictors(c[:, :w]).view(n, w, self.k, dim)        # [N, W, K, C]
        flat = z.reshape(-1, dim)
        idx = torch.randint(0, n * t, (n * w * self.m,))
        neg = flat[idx].view(n, w, self.m, dim)                         # [N, W, M, C]
        negatives = torch.einsum("nwkc,nwmc->nwkm", pred, neg)
        positives = torch.stack([(pred[:, :, k] * z[:, k + 1: k + 1 + w]).sum(-1) for k in range(self.k)], dim=2)
        logits = torch.cat([positives.unsqueeze(-1), negatives], dim=-1)
        return F.cross_entropy(logits.reshape(-1, self.m + 1), torch.zeros(n * w * self.k, dtype=torch.long))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config = yaml.safe_load(open(args.config))
    model = CPC(config["model"])
    optimizer = torch.optim.Adam(model.parameters(), lr=config.get("optimizer", {}).get("learning_rate", 2e-4))
    batch, window = config["data"]["batch_size"], config["data"]["window"]
    times = []
    for step in range(args.warmup + args.steps):
        audio = torch.rand(batch, window) - 0.5
        start = time.perf_counter()
        loss = model(audio)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step >= args.warmup:
            times.append((time.perf_counter() - start) * 1000)
    result = {"milliseconds_per_step": statistics.median(times), "threads": args.threads, "torch": torch.__version__,
              "peak_rss_megabytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    print(json.dumps(result) if args.json else f"{result['milliseconds_per_step']:.1f} ms/step, peak RSS {result['peak_rss_megabytes']:.0f} MiB")


if __name__ == "__main__":
    main()
