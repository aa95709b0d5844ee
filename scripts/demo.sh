#!/usr/bin/env bash
# `make demo`: train the small CPC on the bundled corpus for a few minutes, then probe phones and speakers with the
# freshly trained CPC (context, encoder), the shipped pre-trained CPC (context), MFCC and random init.
# Writes runs/demo/probes.json and prints the table. Usage: scripts/demo.sh [steps] [threads]
set -euo pipefail
cd "$(dirname "$0")/.."
steps="${1:-800}"
threads="${2:-2}"
cpc=.build/release/cpc
corpus=Corpora/synth-small
out=runs/demo
pretrained=models/cpc-audio-pretrained.safetensors
rm -rf "$out"
mkdir -p "$out"
echo "== training configs/cpc-audio-small.yaml for $steps steps on $corpus"
"$cpc" train --config configs/cpc-audio-small.yaml --out "$out" --steps "$steps" --threads "$threads" | grep -v '^ \|^{\|^}'
results="$out/probes.json"
probe() {  # name, then the feature arguments
    local name="$1"; shift
    echo "== probing $name"
    "$cpc" probe phone --corpus "$corpus" "$@" --threads "$threads" --name "$name" --json "$results" --append | tail -1
    "$cpc" probe speaker --corpus "$corpus" "$@" --threads "$threads" --name "$name" --json "$results" --append | tail -2
}
probe cpc-context --checkpoint "$out/final.safetensors" --features context
probe cpc-encoder --checkpoint "$out/final.safetensors" --features encoder
if [ -f "$pretrained" ]; then
    probe pretrained-context --checkpoint "$pretrained" --features context
else
    echo "warning: $pretrained is missing; skipping the pre-trained rows" >&2
fi
probe mfcc --features mfcc
probe random --features random --config configs/cpc-audio-small.yaml
"$cpc" report --run "$out" > /dev/null
echo
echo "Linear-probe accuracy on the bundled corpus (test split; phone: 40 classes per 10 ms frame; speaker: 16 classes)"
"$cpc" probe table "$results"
echo "results: $results, plots and summary: $out/report.md"
