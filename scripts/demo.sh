#!/usr/bin/env bash
# `make demo`: train the small CPC on the bundled corpus for a few minutes, then probe phones and speakers and measure
# ABX phone discriminability with the freshly trained CPC (context, encoder), the shipped pre-trained CPC (context),
# the shipped supervised reference (the same network trained on the phone labels), MFCC and random init.
# Writes runs/demo/probes.json and runs/demo/abx.json and prints both tables.
# Usage: scripts/demo.sh [steps] [threads]
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
abx="$out/abx.json"
probe() {  # name, then the feature arguments
    local name="$1"; shift
    echo "== probing $name"
    "$cpc" probe phone --corpus "$corpus" "$@" --threads "$threads" --name "$name" --json "$results" --append | tail -1
    "$cpc" probe speaker --corpus "$corpus" "$@" --threads "$threads" --name "$name" --json "$results" --append | tail -2
    # ABX over the train split's utterances (more triphone groups than the test split's; no labels are trained on).
    # Each call prints every row so far; the last call's table is printed at the end.
    "$cpc" abx --corpus "$corpus" --split "$corpus/train.txt" "$@" --threads "$threads" --name "$name" --json "$abx" --append \
        > "$out/abx.txt"
    tail -1 "$out/abx.txt"
}
probe cpc-context --checkpoint "$out/final.safetensors" --features context
probe cpc-encoder --checkpoint "$out/final.safetensors" --features encoder
if [ -f "$pretrained" ]; then
    probe pretrained-context --checkpoint "$pretrained" --features context
else
    echo "warning: $pretrained is missing; skipping the pre-trained rows" >&2
fi
supervised=models/supervised-phones-small.safetensors
if [ -f "$supervised" ]; then
    probe supervised-context --checkpoint "$supervised" --features context
fi
probe mfcc --features mfcc
probe random --features random --config configs/cpc-audio-small.yaml
"$cpc" report --run "$out" > /dev/null
echo
echo "Linear-probe accuracy on the bundled corpus (test split; phone: 40 classes per 10 ms frame; speaker: 16 classes)"
"$cpc" probe table "$results"
echo
echo "ABX error on the train split's utterances (lower is better; triphone items, DTW over angular distances)"
grep '^|' "$out/abx.txt"
echo "results: $results, $abx, plots and summary: $out/report.md"
