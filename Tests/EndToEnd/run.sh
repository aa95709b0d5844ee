#!/usr/bin/env bash
# End-to-end checks against the release build (run by `make test` after the Swift suites): prepare the bundled
# corpus, train the small CPC for a few hundred steps (the loss must fall and k = 1 accuracy must be far above
# chance), embed a split to .npy, and probe phones with the trained checkpoint.
set -uo pipefail
cd "$(dirname "$0")/../.."
cpc=.build/release/cpc
steps="${E2E_STEPS:-300}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
check() {  # description, then a command that succeeds when the check passes
    local description="$1"; shift
    if "$@"; then passed=$((passed + 1)); echo "ok: $description"; else failed=$((failed + 1)); echo "FAILED: $description"; fi
}

check "cpc prepare reports the bundled corpus usable" "$cpc" prepare --corpus Corpora/synth-small --json >"$work/prepare.json"

"$cpc" train --config configs/cpc-audio-small.yaml --out "$work/run" --steps "$steps" --threads 2 >"$work/train.txt" 2>&1
check "cpc train finishes $steps steps" test -f "$work/run/final.safetensors"
learned() {
    python3 - "$work/run/log.jsonl" <<'PY'
import json, sys
log = [json.loads(line) for line in open(sys.argv[1])]
first, last = log[0], log[-1]
chance = 1 / 65
print(f"loss {first['loss']:.3f} -> {last['loss']:.3f}; k=1 accuracy {last['accuracy_k1']:.3f} (chance {chance:.3f})")
sys.exit(0 if last["loss"] < first["loss"] - 0.5 and last["accuracy_k1"] > 10 * chance else 1)
PY
}
check "the loss falls and k=1 accuracy is far above chance" learned
# The bound CPC's loss implies, log N − L_k per k, is logged and plotted by cpc report.
"$cpc" report --run "$work/run" --out "$work/report" >/dev/null
implied_bound() {
    python3 - "$work/run/log.jsonl" "$work/report" <<'PY'
import json, math, os, sys
last = [json.loads(line) for line in open(sys.argv[1])][-1]
ks = sorted(int(key[10:]) for key in last if key.startswith("mi_bound_k"))
ok = ks == list(range(1, 9)) and abs(last["mi_bound_limit"] - math.log(65)) < 1e-5
ok = ok and all(abs(last[f"mi_bound_k{k}"] - (math.log(65) - last[f"loss_k{k}"])) < 1e-4 for k in ks)
print(f"implied MI bound k=1 {last['mi_bound_k1']:.3f} nats, k=8 {last['mi_bound_k8']:.3f} (log N = {last['mi_bound_limit']:.3f})")
sys.exit(0 if ok and last["mi_bound_k1"] > 0.5 and os.path.getsize(os.path.join(sys.argv[2], "mi_bound.svg")) > 1000 else 1)
PY
}
check "CPC logs its implied MI bound log N - loss_k per k and cpc report plots it" implied_bound

"$cpc" embed --corpus Corpora/synth-small --checkpoint "$work/run/final.safetensors" --features context \
    --split Corpora/synth-small/test.txt --out "$work/test.npy" >/dev/null
shape_ok() {
    python3 - "$work/test.npy" "$work/test.index.tsv" <<'PY'
import sys, numpy as np
x = np.load(sys.argv[1])
rows = [line.split("\t") for line in open(sys.argv[2]).read().splitlines()[1:]]
print(f"embedded {x.shape} from {len(rows)} utterances")
sys.exit(0 if x.dtype == np.float32 and x.shape[1] == 128 and x.shape[0] == sum(int(r[2]) for r in rows) and len(rows) == 64 else 1)
PY
}
check "cpc embed writes a float32 .npy that numpy loads, with its index" shape_ok

"$cpc" probe phone --corpus Corpora/synth-small --checkpoint "$work/run/final.safetensors" --features context \
    --threads 2 --json "$work/probe.json" >/dev/null
probe_ok() {
    python3 - "$work/probe.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))[0]
print(f"phone accuracy {r['accuracy']:.3f} ({r['classes']} classes, {r['test_items']} frames)")
sys.exit(0 if r["task"] == "phone" and r["accuracy"] > 1 / 40 else 1)
PY
}
check "cpc probe phone writes a result above chance" probe_ok

# ABX on the trained context and on MFCC (errors are fractions; chance is one half), and the supervised reference
# trained briefly on the phone labels, probed like CPC.
"$cpc" abx --corpus Corpora/synth-small --checkpoint "$work/run/final.safetensors" --threads 2 --json "$work/abx.json" >/dev/null
"$cpc" abx --corpus Corpora/synth-small --features mfcc --threads 2 --json "$work/abx.json" --append >/dev/null
abx_ok() {
    python3 - "$work/abx.json" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))
print("ABX (within / across): " + ", ".join(f"{r['features']} {r['result']['within']:.3f} / {r['result']['across']:.3f}" for r in rows))
sys.exit(0 if [r["features"] for r in rows] == ["cpc-context", "mfcc"] and all(
    r["result"]["items"] > 1000 and 0 <= r["result"]["across"] < 0.5 for r in rows) else 1)
PY
}
check "cpc abx scores the trained context and MFCC below chance across speakers" abx_ok
"$cpc" train --config configs/supervised-phones-small.yaml --out "$work/supervised" --steps 150 --threads 2 >"$work/supervised.txt" 2>&1
"$cpc" probe phone --corpus Corpora/synth-small --checkpoint "$work/supervised/final.safetensors" --threads 2 \
    --json "$work/supervised-probe.json" >/dev/null
supervised_ok() {
    python3 - "$work/supervised/log.jsonl" "$work/supervised-probe.json" <<'PY'
import json, sys
log = [json.loads(line) for line in open(sys.argv[1])]
probe = json.load(open(sys.argv[2]))[0]
print(f"supervised reference: loss {log[0]['loss']:.3f} -> {log[-1]['loss']:.3f}, phone probe {probe['accuracy']:.3f}")
sys.exit(0 if log[-1]["loss"] < log[0]["loss"] - 0.2 and probe["accuracy"] > 2 / 40 else 1)
PY
}
check "the supervised reference (supervised-phones) learns the labels and probes above chance" supervised_ok
# A checkpoint without its sidecar is rebuilt from --config; CPC_audio's form converts both ways bit for bit.
mkdir -p "$work/bare" && cp "$work/run/final.safetensors" "$work/bare/model.safetensors"
standalone_ok() {
    ! "$cpc" embed --corpus Corpora/synth-small --checkpoint "$work/bare/model.safetensors" --split Corpora/synth-small/test.txt \
        --out "$work/bare.npy" 2>"$work/bare.err" && grep -q "has no sidecar" "$work/bare.err" \
    && "$cpc" embed --corpus Corpora/synth-small --checkpoint "$work/bare/model.safetensors" --config configs/cpc-audio-small.yaml \
        --split Corpora/synth-small/test.txt --out "$work/bare.npy" >/dev/null && cmp -s "$work/bare.npy" "$work/test.npy"
}
check "a checkpoint without sidecar needs --config, then embeds exactly as with its sidecar" standalone_ok
convert_ok() {
    "$cpc" convert Tests/Fixtures/cpc_audio_gru_layernorm.safetensors --from cpc-audio --out "$work/converted.safetensors" >/dev/null \
    && "$cpc" convert "$work/converted.safetensors" --to cpc-audio --out "$work/back.safetensors" >/dev/null \
    && python3 - Tests/Fixtures/cpc_audio_gru_layernorm.safetensors "$work/back.safetensors" <<'PY'
import json, struct, sys
def tensors(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    return {k: (v["shape"], data[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]]) for k, v in header.items()}
a, b = tensors(sys.argv[1]), tensors(sys.argv[2])
print(f"CPC_audio round trip: {len(a)} tensors")
sys.exit(0 if a == b else 1)
PY
}
check "cpc convert: CPC_audio -> ours -> CPC_audio returns every tensor bit for bit" convert_ok

# Image CPC on Fashion-MNIST: a short run must leave chance (InfoNCE over 32 images × 36 patches), and the image
# probe must write its result.
fashion=/usr/share/datasets/fashion-mnist
image_steps="${E2E_IMAGE_STEPS:-150}"
"$cpc" train --config configs/cpc-image-fashion.yaml --out "$work/image" --steps "$image_steps" --threads 2 >"$work/image.txt" 2>&1
check "cpc train (image) finishes $image_steps steps" test -f "$work/image/final.safetensors"
image_learned() {
    python3 - "$work/image/log.jsonl" <<'PY'
import json, math, sys
log = [json.loads(line) for line in open(sys.argv[1])]
chance = math.log(32 * 36)
last = log[-1]
# The config predicts k = 2…4 (first_step 2 skips the overlapping neighbour): no k = 1 entries.
ks = sorted(int(key[len("loss_k"):]) for key in last if key.startswith("loss_k"))
print(f"image loss {log[0]['loss']:.3f} -> {last['loss']:.3f} (chance {chance:.3f}); k = {ks}; k=2 accuracy {last.get('accuracy_k2', float('nan')):.3f}")
# The implied MI bound per k: log N − L_k with N the batch's 1152 patches.
bound_ok = ks == [2, 3, 4] and abs(last["mi_bound_limit"] - chance) < 1e-4 and all(
    abs(last[f"mi_bound_k{k}"] - (chance - last[f"loss_k{k}"])) < 1e-4 for k in ks)
sys.exit(0 if last["loss"] < chance - 0.5 and "images_per_second" in last and bound_ok else 1)
PY
}
check "image CPC's loss falls well below chance, its implied MI bound logged per k" image_learned
"$cpc" probe image --corpus "$fashion" --checkpoint "$work/image/final.safetensors" --train-limit 2000 --test-limit 1000 \
    --pool mean,grid --name patch-cpc --threads 2 --json "$work/image-probe.json" >/dev/null
"$cpc" probe image --corpus "$fashion" --features pixels --train-limit 2000 --test-limit 1000 \
    --json "$work/image-probe.json" --append >/dev/null
image_probe_ok() {
    python3 - "$work/image-probe.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print("image probe: " + ", ".join(f"{x['features']} {x['accuracy']:.3f}" for x in r))
sys.exit(0 if [x["features"] for x in r] == ["patch-cpc", "patch-cpc-grid", "pixels"] and all(x["task"] == "linear" and x["accuracy"] > 0.3 for x in r) else 1)
PY
}
check "cpc probe image writes CPC (mean and grid from one extraction) and pixel results well above chance" image_probe_ok
# The pair methods through the registry: SimCLR, MoCo, BYOL, SimSiam, SwAV (multi-crop, queue), DeepCluster v2
# (memory of all 60000 images, k-means), Barlow Twins, VICReg and W-MSE on Fashion-MNIST with a small backbone for a
# few dozen steps (the loss must fall; the online probe is logged — under LARS it needs more steps than this to
# learn), then the kNN and linear probes on the backbone's features.
for method in simclr moco byol simsiam swav deepcluster barlow vicreg wmse; do
    sed -e 's/width: 16/width: 4/; s/blocks: \[2, 2, 2, 2\]/blocks: [1, 1, 1]/; s/batch_size: 256/batch_size: 64/; s/batch_size: 128/batch_size: 64/' \
        -e 's/hidden: \[512\]/hidden: [64]/; s/hidden: \[512, 512\]/hidden: [64, 64]/; s/output: 512/output: 64/' \
        -e 's/queue_size: 4096/queue_size: 512/; s/queue_start_step: 250/queue_start_step: 20/' \
        -e 's/freeze_prototypes_steps: 20/freeze_prototypes_steps: 5/; s/warmup_steps: 50/warmup_steps: 5/; s/warmup_steps: 100/warmup_steps: 5/' \
        -e 's/log_every: 20/log_every: 5/; s/validate_every: [24]00/validate_every: 40/; s/checkpoint_every: [24]00/checkpoint_every: 40/' \
        "configs/$method-fashion.yaml" >"$work/$method.yaml"
    if [ "$method" = wmse ]; then  # 4 views of 64; embeddings of 16 whitened in sub-batches of 32 (at least 2 × 16)
        sed -i 's/hidden: \[1024\]/hidden: [64]/; s/output: 64/output: 16/; s/whitening_size: 128/whitening_size: 32/' "$work/$method.yaml"
    fi
    "$cpc" train --config "$work/$method.yaml" --out "$work/$method" --steps 40 --threads 2 >"$work/$method.txt" 2>&1
    check "cpc train ($method) finishes 40 steps" test -f "$work/$method/final.safetensors"
    pair_learned() {
        python3 - "$work/$1/log.jsonl" <<'PY'
import json, sys
log = [json.loads(line) for line in open(sys.argv[1])]
first, last = log[0], log[-1]
method = sys.argv[1].split('/')[-2]
print(f"{method}: loss {first['ssl_loss']:.3f} -> {last['ssl_loss']:.3f}; "
      f"online probe {last['online_accuracy']:.3f}; collapse std {last['collapse_std']:.3f}")
# BYOL's loss (2 − 2·cos, twice) starts near 1.5 on this small run, the contrastive losses near log(batch), SimSiam's
# near 0 (its floor is −1), SwAV's near log K (its codes are near uniform while the prototypes are frozen).
drop = {"byol": 0.1 * first["ssl_loss"], "swav": 0.05}.get(method, 0.2)
sys.exit(0 if last["ssl_loss"] < first["ssl_loss"] - drop and "online_accuracy" in last and "validation_loss" in last else 1)
PY
    }
    check "$method's loss falls, with the online probe and validation logged" pair_learned "$method"
    "$cpc" probe image --corpus "$fashion" --checkpoint "$work/$method/final.safetensors" --knn --train-limit 2000 \
        --test-limit 1000 --threads 2 --epochs 5 --json "$work/$method-probe.json" >/dev/null
    pair_probed() {
        python3 - "$work/$1-probe.json" "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"{sys.argv[2]} probes: " + ", ".join(f"{x['task']} {x['accuracy']:.3f}" for x in r))
sys.exit(0 if [x["task"] for x in r] == ["knn", "linear"] and all(x["features"] == sys.argv[2] and x["accuracy"] > 0.3 for x in r) else 1)
PY
    }
    check "cpc probe image --knn reads $method's backbone: kNN and linear well above chance" pair_probed "$method"
done

# The dimensional-collapse spectrum: logged at each validation, plotted by `cpc report`, printed by `cpc spectrum`.
"$cpc" report --run "$work/vicreg" >/dev/null
"$cpc" spectrum --checkpoint "$work/vicreg/final.safetensors" --checkpoint "$work/barlow/final.safetensors" --images 256 \
    --threads 2 --json "$work/spectrum.json" --plot "$work/spectrum.svg" >"$work/spectrum.txt"
spectrum_ok() {
    python3 - "$work/spectrum.json" "$work/vicreg" "$work/spectrum.svg" <<'PY'
import json, os, sys
both = json.load(open(sys.argv[1]))
s = both[0]
rows = {r["representation"]: r for r in s["representations"]}
log = [json.loads(line) for line in open(os.path.join(sys.argv[2], "log.jsonl"))]
logged = [l for l in log if "spectrum_projector" in l]
print("cpc spectrum: " + ", ".join(f"{n} width {r['width']} effective rank {r['effective_rank']:.1f}" for n, r in rows.items())
      + f"; {len(logged)} validations logged a spectrum")
ok = set(rows) == {"backbone", "projector"} and rows["projector"]["width"] == 64 and len(rows["backbone"]["singular_values"]) == 16
ok = ok and all(1 < r["effective_rank"] <= r["width"] for r in rows.values())
ok = ok and len(logged) == 1 and len(logged[0]["spectrum_projector"]) == 64 and logged[0]["spectrum_projector"] == sorted(logged[0]["spectrum_projector"], reverse=True)
ok = ok and [b["method"] for b in both] == ["vicreg", "barlow"] and "barlow" in open(sys.argv[3]).read()
sys.exit(0 if ok and os.path.getsize(os.path.join(sys.argv[2], "spectrum.svg")) > 1000 else 1)
PY
}
check "cpc spectrum and cpc report: VICReg's backbone and projector spectra, logged at validation and plotted" spectrum_ok

# The MI bounds on Poole et al.'s staircase, shortened (2 → 8 → 10 nats, 600 steps a level, two seeds): InfoNCE never
# exceeds log N and saturates near it at 10 nats; NWJ and TUBA vary more than InfoNCE at 8 and 10 nats.
"$cpc" mi --bound infonce,nwj,tuba --schedule 2,8,10 --steps-per-level 600 --seeds 2 --threads 2 --json "$work/mi.json" \
    --summary "$work/mi-summary.json" --plot "$work/mi.svg" >"$work/mi.txt" 2>&1
staircase_ok() {
    python3 - "$work/mi.json" "$work/mi-summary.json" "$work/mi.svg" <<'PY'
import json, math, os, sys
rows, summary = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
log_n = math.log(64)
stat = {(s["bound"], s["true_mi"]): s for s in summary}
infonce = [r["estimate"] for r in rows if r["bound"] == "infonce"]
at10 = stat[("infonce", 10)]["bias"] + 10
print(f"InfoNCE max {max(infonce):.3f} (log N {log_n:.3f}), mean at 10 nats {at10:.3f}; variance at 8 / 10 nats: "
      + ", ".join(f"{b} {stat[(b, 8)]['variance']:.3f} / {stat[(b, 10)]['variance']:.3f}" for b in ("infonce", "nwj", "tuba")))
ok = len(rows) == 3 * 2 * 1800 and max(infonce) <= log_n + 1e-4 and log_n - 0.6 < at10 <= log_n
ok = ok and all(stat[(b, level)]["variance"] > stat[("infonce", level)]["variance"] for b in ("nwj", "tuba") for level in (8, 10))
sys.exit(0 if ok and os.path.getsize(sys.argv[3]) > 10000 else 1)
PY
}
check "cpc mi: InfoNCE stays under log N and saturates; NWJ and TUBA vary more at 8-10 nats" staircase_ok

# Data parallelism over MPI (docs/DISTRIBUTED.md), 2 ranks on this machine: for every method, 2 ranks × n give one
# process's loss and gradients on the global batch of 2n, a few trainer steps give its weights (the ranks stay
# bit-identical), checkpoints resume across world sizes, and the all-gather passes a gradient check across ranks.
mpirun=(mpirun --oversubscribe)
if [ "$(id -u)" -eq 0 ]; then mpirun=(mpirun --allow-run-as-root --oversubscribe); fi
mpi=("${mpirun[@]}" -np 2)
mpi_checks_ok() {
    "${mpi[@]}" "$(dirname "$cpc")/cpc-mpi-check" --work "$work/mpi" >"$work/mpi.txt" 2>&1
    local status=$?
    grep -E "^(ok|FAILED|all distributed|[0-9]+ distributed)" "$work/mpi.txt" | sed 's/^/    /'
    return $status
}
mkdir -p "$work/mpi"
check "distributed checks (cpc-mpi-check on 2 ranks): world-size invariance of every method, resume across world sizes" mpi_checks_ok
# The CLI: `mpirun -np 2 cpc train` against `cpc train` on one process (same config, same global batches), the ranks
# placed through a hostfile as on several machines (here both on localhost).
sed -e 's/window: 10240/window: 5120/; s/channels: 128/channels: 32/; s/hidden: 128/hidden: 32/; s/log_every: 25/log_every: 2/' \
    -e 's/checkpoint_every: 250/checkpoint_every: 4/; s/validate_every: 250/validate_every: 4/; s/validation_batches: 4/validation_batches: 1/' \
    configs/cpc-audio-small.yaml >"$work/mpi-cpc.yaml"
echo "localhost slots=2" >"$work/hosts"
"${mpi[@]}" --hostfile "$work/hosts" "$cpc" train --config "$work/mpi-cpc.yaml" --out "$work/mpi-run" --steps 8 >"$work/mpi-run.txt" 2>&1
"$cpc" train --config "$work/mpi-cpc.yaml" --out "$work/mpi-one" --steps 8 --threads 1 >"$work/mpi-one.txt" 2>&1
mpi_cli_ok() {
    python3 - "$work/mpi-one" "$work/mpi-run" <<'PY'
import json, struct, sys
from array import array
def tensors(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    return {k: array("f", data[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]]) for k, v in header.items()}
one, two = (tensors(f"{d}/final.safetensors") for d in sys.argv[1:3])
scale = max(abs(x) for t in one.values() for x in t)
worst = max(abs(a - b) for k in one for a, b in zip(one[k], two[k])) / scale
logs = [[json.loads(line) for line in open(f"{d}/log.jsonl")] for d in sys.argv[1:3]]
steps_ok = [e["step"] for e in logs[1]] == [e["step"] for e in logs[0]] == [2, 4, 6, 8]
ranks_ok = all(e.get("ranks") == 2 for e in logs[1]) and all("ranks" not in e for e in logs[0])
loss = max(abs(a["loss"] - b["loss"]) for a, b in zip(*logs))
print(f"mpirun -np 2 cpc train vs one process: weights within {worst:.1e} (relative), logged losses within {loss:.1e}")
sys.exit(0 if set(one) == set(two) and worst < 1e-4 and loss < 1e-4 and steps_ok and ranks_ok else 1)
PY
}
check "mpirun -np 2 cpc train = cpc train on one process (weights, one log written by rank 0)" mpi_cli_ok
# Faults: a config that cannot split over the ranks ends the job with a message naming the key and the rank; a rank
# killed mid-run ends the job (mpirun names the rank) and the newest checkpoint stays loadable.
sed -e 's/batch_size: 16/batch_size: 15/' "$work/mpi-cpc.yaml" >"$work/mpi-odd.yaml"
mpi_odd_ok() {
    ! timeout 120 "${mpi[@]}" "$cpc" train --config "$work/mpi-odd.yaml" --out "$work/mpi-odd" --steps 2 >"$work/mpi-odd.txt" 2>&1 \
    && grep -q "rank [01] of 2" "$work/mpi-odd.txt" && grep -q "data.batch_size" "$work/mpi-odd.txt"
}
check "a config that does not split over 2 ranks: the job ends, naming data.batch_size and the rank" mpi_odd_ok
# One rank that cannot read its data (an MPMD launch: rank 1's corpus is missing, as on a node without the data):
# it ends the job on every rank, naming itself and the cause; rank 0, waiting in a collective, does not hang.
sed -e 's#corpus: Corpora/synth-small#corpus: /nonexistent/corpus#' "$work/mpi-cpc.yaml" >"$work/mpi-missing.yaml"
mpi_missing_ok() {
    ! timeout 120 "${mpirun[@]}" -np 1 "$cpc" train --config "$work/mpi-cpc.yaml" --out "$work/mpi-missing" --steps 4 \
        : -np 1 "$cpc" train --config "$work/mpi-missing.yaml" --out "$work/mpi-missing" --steps 4 >"$work/mpi-missing.txt" 2>&1 \
    && grep -q "error (rank 1 of 2): /nonexistent/corpus" "$work/mpi-missing.txt"
}
check "a rank that cannot read its data ends the job on every rank, naming the rank and the cause" mpi_missing_ok
mpi_kill_ok() {
    timeout 120 "${mpi[@]}" "$cpc" train --config "$work/mpi-cpc.yaml" --out "$work/mpi-kill" --steps 100000 >"$work/mpi-kill.txt" 2>&1 &
    local job=$!
    for _ in $(seq 1 600); do [ -f "$work/mpi-kill/checkpoints/step-8.json" ] && break; sleep 0.2; done
    local root other
    root="$(cat "$work/mpi-kill/.lock")"
    # The ranks' command lines start with the binary (the rank processes are named "exe" after their re-exec).
    other="$(pgrep -f "^$cpc train --config $work/mpi-cpc.yaml --out $work/mpi-kill" | grep -vx "$root" | head -1)"
    [ -n "$other" ] && kill -9 "$other"
    wait "$job"
    local status=$?
    local newest
    newest="$(ls "$work/mpi-kill/checkpoints" | grep -E '^step-[0-9]+\.safetensors$' | sort -t- -k2 -n | tail -1)"
    echo "    killed pid $other (rank 1); mpirun exit $status: $(grep -m1 -i "rank 1" "$work/mpi-kill.txt" | cut -c1-120); newest $newest"
    [ "$status" -ne 0 ] && grep -qi "rank 1" "$work/mpi-kill.txt" && "$cpc" inspect "$work/mpi-kill/checkpoints/$newest" >/dev/null
}
check "killing one rank mid-run ends the job naming the rank; the newest checkpoint loads" mpi_kill_ok
mpi_usr1_ok() {
    "${mpi[@]}" "$cpc" train --config "$work/mpi-cpc.yaml" --out "$work/mpi-usr1" --steps 100000 >"$work/mpi-usr1.txt" 2>&1 &
    local job=$!
    for _ in $(seq 1 600); do [ -f "$work/mpi-usr1/checkpoints/step-8.json" ] && break; sleep 0.2; done
    kill -USR1 "$job"
    ( sleep 120; kill -9 "$job" 2>/dev/null ) &  # a watchdog, should the signal not stop it
    local watchdog=$!
    wait "$job"
    local status=$? stopped
    kill "$watchdog" 2>/dev/null
    stopped="$(grep -ao "stopped at step [0-9]*" "$work/mpi-usr1.txt" | grep -o "[0-9]*$")"
    echo "    mpirun exit $status, stopped at step $stopped; resumed on one process to step $((stopped + 2))"
    [ "$status" -eq 130 ] && [ -n "$stopped" ] && [ -f "$work/mpi-usr1/checkpoints/step-$stopped.json" ] \
    && "$cpc" train --config "$work/mpi-cpc.yaml" --out "$work/mpi-usr1" --steps "$((stopped + 2))" --resume --threads 1 \
        >"$work/mpi-usr1-resume.txt" 2>&1 && grep -q "finished after $((stopped + 2)) steps" "$work/mpi-usr1-resume.txt"
}
check "SIGUSR1 to mpirun checkpoints every rank's run at one step; it resumes on one process" mpi_usr1_ok

# Hostile input: the mutation fuzzer over every reader of a user's file, a bounded run (the million-input runs and
# their figures are in docs/ROBUSTNESS.md); it exits non-zero on an error that does not name the file, and a crash or
# a hang kills it.
fuzz_ok() { "$(dirname "$cpc")/cpc-fuzz" --iterations 3000 --seed 11 --timeout 20 >"$work/fuzz.txt" 2>&1 && grep -c "no crash, no hang" "$work/fuzz.txt" | grep -qx 13; }
check "cpc-fuzz: 3000 mutated inputs for each of the 13 readers, no crash, no hang, every error names the file" fuzz_ok
# The same readers under libFuzzer (coverage-guided; scripts/libfuzzer.sh builds cpc-libfuzz with -sanitize=fuzzer in
# .build-libfuzzer): 5 s each from the committed seeds; a crash, an out-of-memory, a timeout or an error that does not
# name the file is a finding.
libfuzz_ok() {
    LIBFUZZER_OUT="$work/libfuzzer" scripts/libfuzzer.sh all 5 >"$work/libfuzzer.txt" 2>&1
    local status=$?
    grep -E "stat::number_of_executed_units|FINDING" "$work/libfuzzer.txt" | awk '{print "    " $0}' | paste -sd ' ' | cut -c1-400
    return $status
}
check "libFuzzer: 5 s of coverage-guided inputs for each of the 13 readers, no finding" libfuzz_ok

echo "end-to-end: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
