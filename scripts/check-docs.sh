#!/usr/bin/env bash
# The API documentation: every public declaration of TensorCore, Layers, Objectives and Methods has a doc comment
# (scripts/missing-docs.py lists any that lacks one), and DocC builds each target's documentation without a warning.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
python3 scripts/missing-docs.py --strict | grep -v ": 0 public declarations" || true
python3 scripts/missing-docs.py --strict >/dev/null || status=1
for target in TensorCore Layers Objectives Methods; do
    log="$(mktemp)"
    if ! swift package generate-documentation --target "$target" >"$log" 2>&1; then
        echo "FAILED: swift package generate-documentation --target $target"; tail -20 "$log"; status=1
    elif grep -q "^warning" "$log"; then
        echo "FAILED: DocC warnings in $target:"; grep -A4 "^warning" "$log"; status=1
    else
        echo "ok: DocC builds $target's documentation without warnings"
    fi
    rm -f "$log"
done
exit $status
