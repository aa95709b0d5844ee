#!/usr/bin/env bash
# Makes the small audio files the decoding tests read (run once; the outputs are committed). Needs sox with its
# format handlers (apt-get install sox libsox-fmt-all). The same 0.3 s sweep in several formats and encodings,
# a 440 Hz tone at 44.1 kHz stereo for resampling and mix-down, and broken files.
set -euo pipefail
cd "$(dirname "$0")"
sweep=(synth 0.3 sine 300-3000 vol 0.5)
sox -n -r 16000 -c 1 -b 16 -e signed-integer sweep-pcm16.wav "${sweep[@]}"
sox -n -r 16000 -c 1 -b 24 -e signed-integer sweep-pcm24.wav "${sweep[@]}"
sox -n -r 16000 -c 1 -b 32 -e floating-point sweep-float32.wav "${sweep[@]}"
sox -n -r 16000 -c 1 -b 16 sweep.flac "${sweep[@]}"
sox -n -r 16000 -c 1 sweep.ogg "${sweep[@]}"
sox -n -r 16000 -c 2 -b 16 sweep-stereo.wav "${sweep[@]}"
sox -n -r 8000 -c 1 -b 16 sweep-8k.wav "${sweep[@]}"
sox -n -r 44100 -c 2 -b 16 tone440-44k-stereo.wav synth 0.5 sine 440 vol 0.5
head -c 100 sweep.flac > truncated.flac
: > empty.wav
echo "this is not audio" > text.wav
sox -n -r 16000 -c 1 -b 16 no-frames.wav trim 0 0
# A FLAC stream whose header does not give its length (encoded from a pipe to a pipe: total samples 0 = unknown).
python3 -c 'import sys, wave; sys.stdout.buffer.write(wave.open("sweep-pcm16.wav").readframes(10**9))' \
    | flac --silent --force-raw-format --endian=little --sign=signed --channels=1 --bps=16 --sample-rate=16000 -c - > streamed.flac
# A float WAV holding one NaN and one infinity (sample 1000 and 2000 of 4800).
python3 - <<'PY'
import math, struct
samples = [0.5 * math.sin(0.05 * i) for i in range(4800)]
samples[1000], samples[2000] = float("nan"), float("inf")
data = struct.pack("<4800f", *samples)
header = b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 3, 1, 16000, 64000, 4, 32)
open("nan-float32.wav", "wb").write(header + b"data" + struct.pack("<I", len(data)) + data)
PY
