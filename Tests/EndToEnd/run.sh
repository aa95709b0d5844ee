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
echo "end-to-end: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
