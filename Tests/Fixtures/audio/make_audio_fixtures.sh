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
