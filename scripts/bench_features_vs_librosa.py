#!/usr/bin/env python3
"""Compares `cpc bench features` with librosa on the same files, in the same run, on one thread.

    pip install librosa numpy soundfile; swift build -c release
    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python3 scripts/bench_features_vs_librosa.py [--files 64]
Prints both throughputs (seconds of audio per second) and the ratios.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(variable, "1")
import librosa  # noqa: E402
import soundfile  # noqa: E402

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
parser = argparse.ArgumentParser()
parser.add_argument("--corpus", default=os.path.join(root, "Corpora/synth-small"))
parser.add_argument("--files", type=int, default=64)
parser.add_argument("--repeats", type=int, default=3)
parser.add_argument("--cpc", default=os.path.join(root, ".build/release/cpc"))
args = parser.parse_args()

paths = sorted(os.path.join(d, f) for d, _, fs in os.walk(args.corpus) for f in fs if f.endswith(".flac"))
paths = sorted(paths, key=lambda p: os.path.basename(p))[: args.files]


def median_seconds(body):
    body()
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        body()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


audio = []
decode = median_seconds(lambda: audio.__setitem__(slice(None), [soundfile.read(p, dtype="float32")[0] for p in paths]))
seconds = sum(len(a) for a in audio) / 16000
settings = dict(sr=16000, n_fft=400, hop_length=160, n_mels=40)
logmel = median_seconds(lambda: [librosa.power_to_db(librosa.feature.melspectrogram(y=a, **settings)) for a in audio])
mfcc = median_seconds(lambda: [librosa.feature.mfcc(y=a, n_mfcc=13, **settings) for a in audio])
ours = json.loads(subprocess.run([args.cpc, "bench", "features", "--json", "--threads", "1", "--corpus", args.corpus,
                                  "--files", str(args.files), "--repeats", str(args.repeats)],
                                 check=True, capture_output=True, text=True).stdout)
rows = [("decode", seconds / decode, ours["decode_audio_seconds_per_second"]),
        ("log-mel", seconds / logmel, ours["logmel_audio_seconds_per_second"]),
        ("MFCC", seconds / mfcc, ours["mfcc_audio_seconds_per_second"])]
print(f"{len(paths)} files, {seconds:.1f} s of audio, one thread, median of {args.repeats}")
print(f"{'':8} {'librosa':>10} {'SwiftCPC':>10} {'ratio':>7}   (seconds of audio per second)")
for name, theirs, mine in rows:
    print(f"{name:8} {theirs:10.0f} {mine:10.0f} {mine / theirs:7.1f}x")
json.dump({name: {"librosa": theirs, "swiftcpc": mine, "ratio": mine / theirs} for name, theirs, mine in rows}, sys.stderr)
