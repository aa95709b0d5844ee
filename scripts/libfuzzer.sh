#!/usr/bin/env bash
# Coverage-guided fuzzing of the readers of a user's file with libFuzzer (Swift's -sanitize=fuzzer), one reader at a
# time, from the committed seeds (Tests/Fuzz/seeds/<reader>/, copied to a scratch corpus that grows).
#   scripts/libfuzzer.sh READER [SECONDS=60] [extra libFuzzer flags…]    READER: wav, flac, png, jpeg, idx, idx.gz,
#                                                                         npy, safetensors, sidecar, labels, split,
#                                                                         manifest, config, or all
# Findings (crash-*, oom-*, timeout-*) are written to $LIBFUZZER_OUT/<reader>/ (default runs/libfuzzer); the exit
# status is non-zero on a finding.
set -euo pipefail
cd "$(dirname "$0")/.."
reader="${1:?usage: scripts/libfuzzer.sh READER [SECONDS] [libFuzzer flags…]}"
seconds="${2:-60}"
shift $(( $# >= 2 ? 2 : 1 ))
# lld: gold fails on this link (an internal error in its DWARF reader).
swift build -c release --product cpc-libfuzz --scratch-path .build-libfuzzer \
    -Xswiftc -sanitize=fuzzer -Xswiftc -DLIBFUZZER -Xswiftc -Xclang-linker -Xswiftc -fuse-ld=lld >&2
binary=.build-libfuzzer/release/cpc-libfuzz
readers=("$reader")
if [ "$reader" = all ]; then readers=(safetensors sidecar npy idx idx.gz png jpeg wav flac labels split manifest config); fi
status=0
for r in "${readers[@]}"; do
    seeds="Tests/Fuzz/seeds/$r"
    [ "$r" = idx.gz ] && seeds=Tests/Fuzz/seeds/idx
    out="${LIBFUZZER_OUT:-runs/libfuzzer}/$r"
    mkdir -p "$out/corpus"
    cp -n "$seeds"/* "$out/corpus/" 2>/dev/null || true
    echo "== $r: $seconds s" >&2
    if ! CPC_FUZZ_READER="$r" "$binary" "$out/corpus" -max_total_time="$seconds" -rss_limit_mb=4096 -timeout=20 \
        -max_len=65536 -artifact_prefix="$out/" -print_final_stats=1 "$@" 2>"$out/log.txt"; then
        status=1
        echo "$r: FINDING (see $out/log.txt and $out/crash-* / oom-* / timeout-*)" >&2
    fi
    grep -E "^stat::number_of_executed_units|^stat::new_units_added|cov: " "$out/log.txt" | tail -3 | sed "s/^/$r: /" >&2
done
exit $status
