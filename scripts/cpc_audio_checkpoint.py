#!/usr/bin/env python3
"""Moves CPC checkpoints between CPC_audio's PyTorch files and safetensors (the container only; names and shapes are
mapped by `cpc convert`).

    pip install "torch==2.13.0+cpu" safetensors
    # CPC_audio -> SwiftCPC
    python3 scripts/cpc_audio_checkpoint.py to-safetensors RUN/checkpoint_30.pt runs/theirs.safetensors
    cpc convert --from cpc-audio runs/theirs.safetensors --out models/converted.safetensors
    # SwiftCPC -> CPC_audio
    cpc convert --to cpc-audio runs/demo/final.safetensors --out runs/for-cpc-audio.safetensors
    python3 scripts/cpc_audio_checkpoint.py to-pt runs/for-cpc-audio.safetensors RUN/checkpoint_0.pt

A CPC_audio checkpoint (cpc/train.py) is a dict {"gEncoder": model state, "cpcCriterion": criterion state,
"optimizer": ..., "best": ...}, with the training arguments in checkpoint_args.json beside it. The flat safetensors
form keeps the model's names as they are (`gEncoder.conv0.weight`, `gAR.baseNet.weight_ih_l0`, ...), prefixes the
criterion's with `cpcCriterion.` (`cpcCriterion.wPrediction.predictors.0.weight`), stores every tensor as float32
(integer buffers such as BatchNorm's `num_batches_tracked` come back as int64) and keeps the arguments as JSON in
the metadata key `cpc_audio_args`. The optimizer state and "best" are not carried.
"""
import argparse
import json
import os

import torch
from safetensors.torch import load_file, save_file

ARGS_KEY = "cpc_audio_args"
CRITERION = "cpcCriterion."


def flatten(checkpoint):
    """CPC_audio's checkpoint dict -> one flat {name: float32 tensor} dict."""
    if "gEncoder" not in checkpoint:
        raise SystemExit("not a CPC_audio checkpoint: no 'gEncoder' entry (found %s)" % sorted(checkpoint))
    flat = {}
    for name, tensor in checkpoint["gEncoder"].items():
        flat[name[len("module."):] if name.startswith("module.") else name] = tensor
    for name, tensor in checkpoint.get("cpcCriterion", {}).items():
        flat[CRITERION + name] = tensor
    return {name: tensor.detach().to(torch.float32).contiguous() for name, tensor in flat.items()}


def unflatten(flat):
    """The flat dict -> CPC_audio's {"gEncoder": ..., "cpcCriterion": ...} (integer buffers back to int64)."""
    model, criterion = {}, {}
    for name, tensor in flat.items():
        if name.endswith("num_batches_tracked"):
            tensor = tensor.to(torch.int64)
        if name.startswith(CRITERION):
            criterion[name[len(CRITERION):]] = tensor
        else:
            model[name] = tensor
    return {"gEncoder": model, "cpcCriterion": criterion}


def to_safetensors(pt_path, out_path, args_path=None):
    checkpoint = torch.load(pt_path, map_location="cpu", weights_only=False)
    args_path = args_path or os.path.join(os.path.dirname(os.path.abspath(pt_path)), "checkpoint_args.json")
    metadata = {}
    if os.path.exists(args_path):
        with open(args_path) as f:
            metadata[ARGS_KEY] = json.dumps(json.load(f))
    else:
        print("note: no %s; `cpc convert` will need --config FILE for the model" % args_path)
    tmp = out_path + ".tmp"
    save_file(flatten(checkpoint), tmp, metadata=metadata)
    os.replace(tmp, out_path)


def to_pt(safetensors_path, out_path):
    from safetensors import safe_open
    with safe_open(safetensors_path, "pt") as f:
        metadata = f.metadata() or {}
    checkpoint = unflatten(load_file(safetensors_path))
    tmp = out_path + ".tmp"
    torch.save(checkpoint, tmp)
    os.replace(tmp, out_path)
    if ARGS_KEY in metadata:
        args_path = os.path.join(os.path.dirname(os.path.abspath(out_path)), "checkpoint_args.json")
        with open(args_path + ".tmp", "w") as f:
            json.dump(json.loads(metadata[ARGS_KEY]), f, indent=2)
        os.replace(args_path + ".tmp", args_path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    a = sub.add_parser("to-safetensors", help="CPC_audio .pt (+ checkpoint_args.json beside it) -> flat safetensors")
    a.add_argument("pt")
    a.add_argument("out")
    a.add_argument("--args", help="checkpoint_args.json (default: beside the .pt)")
    b = sub.add_parser("to-pt", help="flat safetensors -> CPC_audio .pt (+ checkpoint_args.json beside it)")
    b.add_argument("safetensors")
    b.add_argument("out")
    options = parser.parse_args()
    if options.command == "to-safetensors":
        to_safetensors(options.pt, options.out, options.args)
    else:
        to_pt(options.safetensors, options.out)


if __name__ == "__main__":
    main()
