#!/usr/bin/env bash
# Data-parallel cost on this machine (docs/PERFORMANCE.md, "Data parallelism"): the paper CPC config (batch 8 of
# 20480 samples) trained for STEPS steps as 1 rank × 2 threads and as 2 ranks × 1 thread (mpirun), ROUNDS times each,
# alternating. Prints, per round, the seconds per step after the first log window and, for 2 ranks, the share of the
# wall time spent in collectives (the trainer's communication_fraction), then the medians.
# Usage: bench/distributed.sh [STEPS=25] [ROUNDS=3]   (release build first: swift build -c release)
set -euo pipefail
cd "$(dirname "$0")/.."
steps="${1:-25}"
rounds="${2:-3}"
cpc=.build/release/cpc
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mpi=(mpirun --oversubscribe -np 2)
if [ "$(id -u)" -eq 0 ]; then mpi=(mpirun --allow-run-as-root --oversubscribe -np 2); fi
sed -e 's/log_every: [0-9]*/log_every: 5/; s/validate_every: [0-9]*/validate_every: 100000/; s/checkpoint_every: [0-9]*/checkpoint_every: 100000/' \
    configs/cpc-audio-paper.yaml >"$work/paper.yaml"
for round in $(seq 1 "$rounds"); do
    "$cpc" train --config "$work/paper.yaml" --out "$work/one-$round" --steps "$steps" --threads 2 >/dev/null
    "${mpi[@]}" "$cpc" train --config "$work/paper.yaml" --out "$work/two-$round" --steps "$steps" --threads 1 >/dev/null
done
python3 - "$work" "$rounds" <<'PY'
import json, statistics, sys
work, rounds = sys.argv[1], int(sys.argv[2])
def rate(folder):
    log = [json.loads(line) for line in open(f"{folder}/log.jsonl")]
    # Seconds per step after the first window (start-up, cache filling); the communication share over the same steps.
    first, last = log[0], log[-1]
    per_step = (last["elapsed_seconds"] - first["elapsed_seconds"]) / (last["step"] - first["step"])
    shares = [e["communication_fraction"] for e in log[1:] if "communication_fraction" in e]
    return per_step, (statistics.mean(shares) if shares else None)
one = [rate(f"{work}/one-{r}")[0] for r in range(1, rounds + 1)]
two = [rate(f"{work}/two-{r}") for r in range(1, rounds + 1)]
for r in range(rounds):
    print(f"round {r + 1}: 1 rank x 2 threads {one[r]:.3f} s/step; 2 ranks x 1 thread {two[r][0]:.3f} s/step, "
          f"{100 * two[r][1]:.1f} % in collectives")
m1, m2 = statistics.median(one), statistics.median(t for t, _ in two)
print(f"median: 1 x 2 threads {m1:.3f} s/step, 2 x 1 thread {m2:.3f} s/step (ratio {m2 / m1:.2f}), "
      f"communication {100 * statistics.median(c for _, c in two):.1f} % of the 2-rank step")
PY
