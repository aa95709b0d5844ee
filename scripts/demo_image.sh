#!/usr/bin/env bash
# `make demo-image`: train patch-grid CPC (configs/cpc-image-fashion.yaml) on Fashion-MNIST (~20 min on 2 cores), then
# probe the test set with a linear classifier and the weighted kNN probe (k = 200, T = 0.1) on CPC features, raw
# pixels and a randomly initialised model, trained on all 60 000 training images (the methods table's protocol).
# CPC and random features are probed twice from one extraction: mean-pooled over the grid (the paper's protocol;
# linear and kNN) and kept per patch (linear and kNN).
# Writes runs/demo-image/probes.json and prints the table. Usage: scripts/demo_image.sh [steps] [threads] [train-limit]
# (steps: empty for the config's; train-limit: empty for all training images).
set -euo pipefail
cd "$(dirname "$0")/.."
steps="${1:-}"
threads="${2:-2}"
limit="${3:-}"
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
echo "== training $config${steps:+ for $steps steps} on $corpus"
started=$(date +%s)
"$cpc" train --config "$config" --out "$out" ${steps:+--steps "$steps"} --threads "$threads" | grep -v '^ \|^{\|^}'
echo "training took $(( $(date +%s) - started )) s"
results="$out/probes.json"
probe() {  # name, then the feature arguments
    local name="$1"; shift
    echo "== probing $name (${limit:-all} training images → 10000 test images)"
    "$cpc" probe image --corpus "$corpus" "$@" ${limit:+--train-limit "$limit"} --threads "$threads" --name "$name" \
        --json "$results" --append | grep "^| $name"
}
probe cpc --checkpoint "$out/final.safetensors" --pool mean,grid --knn
probe pixels --features pixels --knn
probe random --features random --config "$config" --pool mean,grid --knn
"$cpc" report --run "$out" > /dev/null
echo
echo "Fashion-MNIST test accuracy (10 classes): kNN (k = 200, T = 0.1) and linear probe, trained on ${limit:-all 60000} training images, tested on all 10000"
"$cpc" probe table "$results"
echo "results: $results, plots and summary: $out/report.md"
