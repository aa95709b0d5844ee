#!/usr/bin/env bash
# `make demo-method METHOD=<key>`: train configs/<key>-fashion.yaml on Fashion-MNIST, then probe the test set with the
# weighted kNN probe (k = 200, T = 0.1) and a linear classifier on the method's backbone features, raw pixels and a
# randomly initialised backbone of the same config. Writes runs/demo-<key>/probes.json (rows: features = <key>,
# pixels or random; task = knn or linear; accuracy a fraction) and prints the table.
# Usage: scripts/demo_method.sh METHOD [steps] [threads] [train-limit]
set -euo pipefail
cd "$(dirname "$0")/.."
method="${1:?usage: scripts/demo_method.sh METHOD [steps] [threads] [train-limit]}"
steps="${2:-}"
threads="${3:-2}"
limit="${4:-60000}"
cpc=.build/release/cpc
corpus=/usr/share/datasets/fashion-mnist
config="configs/$method-fashion.yaml"
out="runs/demo-$method"
if [ ! -f "$config" ]; then
    echo "error: no config $config; methods with a Fashion-MNIST config: $(ls configs/*-fashion.yaml | sed 's|configs/||; s|-fashion.yaml||' | tr '\n' ' ')" >&2
    exit 1
fi
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
    echo "== probing $name (first $limit training images → 10000 test images)"
    "$cpc" probe image --corpus "$corpus" "$@" --knn --train-limit "$limit" --threads "$threads" --name "$name" \
        --json "$results" --append | tail -2
}
probe "$method" --checkpoint "$out/final.safetensors"
probe pixels --features pixels
probe random --features random --config "$config"
"$cpc" report --run "$out" > /dev/null
echo
echo "Fashion-MNIST test accuracy (10 classes): kNN (k = 200, T = 0.1) and linear probe, trained on $limit images"
"$cpc" probe table "$results"
echo "results: $results, plots and summary: $out/report.md"
