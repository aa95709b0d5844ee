#!/usr/bin/env python3
"""ABX error of CPC and MFCC frames after fixed transforms of the features (docs/RESULTS.md, "Within-speaker ABX").

Extracts each kind of features once with `cpc abx --feature-cache`, rewrites the cached frames with a transform
(mean removal over the split, per speaker or per utterance; per-dimension standardisation; PCA whitening; the
frames shifted by one step against the labels), scores each with `cpc abx` on the same cache, and prints a Markdown
table of "within / across" errors. The protocol itself is unchanged: this shows how much of a gap between two kinds
of features is the geometry of their frames rather than what they encode.

    swift build -c release
    python3 scripts/abx_transforms.py --checkpoint models/cpc-audio-pretrained.safetensors \
        [--corpus Corpora/synth-small --split Corpora/synth-small/train.txt] [--segment triphone|phone]   (NumPy only)
"""
import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

import numpy as np

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
parser = argparse.ArgumentParser()
parser.add_argument("--checkpoint", required=True)
parser.add_argument("--corpus", default=os.path.join(root, "Corpora/synth-small"))
parser.add_argument("--split", default=os.path.join(root, "Corpora/synth-small/train.txt"))
parser.add_argument("--cpc", default=os.path.join(root, ".build/release/cpc"))
parser.add_argument("--threads", type=int, default=1)
parser.add_argument("--segment", choices=["triphone", "phone"], default="triphone",
                    help="frames of an item (cpc abx --segment): the triphone, or the phone alone")
args = parser.parse_args()

KINDS = [("CPC context", ["--checkpoint", args.checkpoint, "--features", "context"]),
         ("CPC encoder", ["--checkpoint", args.checkpoint, "--features", "encoder"]),
         ("MFCC + Δ + ΔΔ", ["--features", "mfcc"])]


def score(kind_args, cache):
    command = [args.cpc, "abx", "--corpus", args.corpus, "--split", args.split, "--threads", str(args.threads),
               "--feature-cache", cache, "--segment", args.segment] + kind_args
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{result.stderr}")
    row = [line for line in result.stdout.splitlines() if line.startswith("|")][-1]
    within, across = re.findall(r"([0-9.]+) %", row)[:2]
    return f"{within} / {across} %"


def read_cache(cache):
    [matrix] = glob.glob(os.path.join(cache, "*.npy"))
    index = matrix[: -len(".npy")] + ".index.tsv"
    rows = [line.split("\t") for line in open(index).read().strip().split("\n")[1:]]
    return matrix, np.load(matrix).astype(np.float64), [(name, int(start), int(count)) for name, start, count in rows]


def remove_group_means(frames, utterances, key):
    out = frames.copy()
    groups = {}
    for name, start, count in utterances:
        groups.setdefault(key(name), []).append(np.arange(start, start + count))
    for rows in groups.values():
        rows = np.concatenate(rows)
        out[rows] -= frames[rows].mean(0)
    return out


def shifted(frames, utterances, lag):
    """Frame t + lag's features scored at label t (clamped at the utterance's ends)."""
    out = frames.copy()
    for _, start, count in utterances:
        source = np.clip(np.arange(count) + lag, 0, count - 1)
        out[start:start + count] = frames[start + source]
    return out


def whiten(frames):
    centred = frames - frames.mean(0)
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt.T / (singular / np.sqrt(len(frames)) + 1e-6)


TRANSFORMS = [
    ("none (the protocol)", None),
    ("mean removed (over the split)", lambda f, u: f - f.mean(0)),
    ("mean removed per speaker", lambda f, u: remove_group_means(f, u, lambda name: name.split("-")[0])),
    ("mean removed per utterance", lambda f, u: remove_group_means(f, u, lambda name: name)),
    ("standardised per dimension", lambda f, u: (f - f.mean(0)) / (f.std(0) + 1e-6)),
    ("PCA-whitened", lambda f, u: whiten(f)),
    ("frame t − 1 scored at label t", lambda f, u: shifted(f, u, -1)),
    ("frame t + 1 scored at label t", lambda f, u: shifted(f, u, 1)),
]

work = tempfile.mkdtemp(prefix="abx-transforms-")
try:
    table = {}
    for kind, kind_args in KINDS:
        base = os.path.join(work, f"{len(table)}-base")
        table[kind] = [score(kind_args, base)]
        matrix, frames, utterances = read_cache(base)
        for number, (_, transform) in enumerate(TRANSFORMS[1:]):
            cache = os.path.join(work, f"{len(table)}-{number}")
            shutil.copytree(base, cache)
            np.save(os.path.join(cache, os.path.basename(matrix)), transform(frames, utterances).astype(np.float32))
            table[kind].append(score(kind_args, cache))
        print(f"{kind}: done", file=sys.stderr)
    print("| frames (before DTW) | " + " | ".join(f"{kind}, within / across" for kind, _ in KINDS) + " |")
    print("|---" * (len(KINDS) + 1) + "|")
    for number, (name, _) in enumerate(TRANSFORMS):
        print(f"| {name} | " + " | ".join(table[kind][number] for kind, _ in KINDS) + " |")
finally:
    shutil.rmtree(work, ignore_errors=True)
