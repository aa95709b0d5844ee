#!/usr/bin/env python3
"""Runs `cpc bench train` and the PyTorch twin of the config's method alternately (several rounds, same threads, same
config) and prints each one's median time per step, the ratio, and peak resident memory. Twins: bench/cpc_torch.py
(method: cpc) and bench/pair_torch.py (methods simclr, byol, swav, barlow, vicreg, wmse).

    swift build -c release; pip install "torch==2.13.0+cpu" pyyaml
    python bench/compare.py --config configs/cpc-audio-paper.yaml --threads 2 --rounds 3
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
parser = argparse.ArgumentParser()
parser.add_argument("--config", required=True)
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--rounds", type=int, default=3)
parser.add_argument("--steps", type=int, default=3)
parser.add_argument("--python", default=sys.executable)
args = parser.parse_args()
method = "cpc"
for line in open(os.path.join(root, args.config) if not os.path.isabs(args.config) else args.config):
    if line.startswith("method:"):
        method = line.split(":", 1)[1].split("#")[0].strip()
twins = {"cpc": "bench/cpc_torch.py", **{m: "bench/pair_torch.py" for m in ("simclr", "byol", "swav", "barlow", "vicreg", "wmse")}}
if method not in twins:
    sys.exit(f"{args.config}: no PyTorch twin for method '{method}' (have: {', '.join(twins)})")

ours, theirs = [], []
for round_index in range(args.rounds):
    for name, command, sink in [
        ("SwiftCPC", [os.path.join(root, ".build/release/cpc"), "bench", "train", "--config", args.config, "--threads",
                      str(args.threads), "--steps", str(args.steps), "--json"], ours),
        ("PyTorch", [args.python, os.path.join(root, twins[method]), "--config", args.config, "--threads",
                     str(args.threads), "--steps", str(args.steps), "--json"], theirs),
    ]:
        output = subprocess.run(command, check=True, capture_output=True, text=True, cwd=root).stdout
        sink.append(json.loads(output.strip().splitlines()[-1]))
        print(f"round {round_index + 1} {name}: {sink[-1]['milliseconds_per_step']:.1f} ms/step", file=sys.stderr)

ms_ours = statistics.median(r["milliseconds_per_step"] for r in ours)
ms_theirs = statistics.median(r["milliseconds_per_step"] for r in theirs)
rss_ours = max(r["peak_rss_megabytes"] for r in ours)
rss_theirs = max(r["peak_rss_megabytes"] for r in theirs)
print(f"{args.config}, {args.threads} thread(s), median of {args.rounds} rounds × {args.steps} steps")
print(f"SwiftCPC {ms_ours:8.1f} ms/step  peak RSS {rss_ours:6.0f} MiB")
print(f"PyTorch  {ms_theirs:8.1f} ms/step  peak RSS {rss_theirs:6.0f} MiB  ({theirs[0].get('torch', '?')})")
print(f"ratio (ours / theirs): time {ms_ours / ms_theirs:.2f}, memory {rss_ours / rss_theirs:.2f}")
