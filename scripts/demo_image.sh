#!/usr/bin/env bash
# `make demo-image`: train patch-grid CPC (configs/cpc-image-fashion.yaml) on Fashion-MNIST for a few minutes, then
# probe the test set with a linear classifier on CPC features, raw pixels and a randomly initialised model.
# CPC and random features are probed twice: mean-pooled over the grid (the paper's protocol) and kept per patch.
# Writes runs/demo-image/probes.json and prints the table. Usage: scripts/demo_image.sh [steps] [threads] [train-limit]
set -euo pipefail
cd "$(dirname "$0")/.."
steps="${1:-1000}"
threads="${2:-2}"
limit="${3:-20000}"
cpc=.build/release/cpc
corpus=/usr/share/datasets/fashion-mnist
config=configs/cpc-image-fashion.yaml
out=runs/demo-image
if [ ! -f "$corpus/train-images-idx3-ubyte.gz" ]; then
    echo "error: Fashion-MNIST is missing from $corpus; install it with: apt-get install dataset-fashion-mnist" >&2
    exit 1
fi
rm -rf "$out"
mkdir -p "$out"
echo "== training $config for $steps steps on $corpus"
"$cpc" train --config "$config" --out "$out" --steps "$steps" --threads "$threads" | grep -v '^ \|^{\|^}'
results="$out/probes.json"
probe() {  # name, then the feature arguments
    local name="$1"; shift
    echo "== probing $name (first $limit training images → 10000 test images)"
    "$cpc" probe image --corpus "$corpus" "$@" --train-limit "$limit" --threads "$threads" --name "$name" \
        --json "$results" --append | tail -1
}
probe cpc --checkpoint "$out/final.safetensors"
probe cpc-grid --checkpoint "$out/final.safetensors" --pool grid
probe pixels --features pixels
probe random --features random --config "$config"
probe random-grid --features random --config "$config" --pool grid
"$cpc" report --run "$out" > /dev/null
echo
echo "Linear-probe accuracy on Fashion-MNIST (10 classes; trained on the first $limit training images, tested on all 10000)"
"$cpc" probe table "$results"
echo "results: $results, plots and summary: $out/report.md"
