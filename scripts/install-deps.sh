#!/usr/bin/env bash
# Installs the Debian packages SwiftCPC builds and tests with, if any is missing. Safe to run repeatedly.
#   C libraries: OpenBLAS, FFTW (single precision), libsndfile, libsamplerate, libpng, libjpeg-turbo, zlib.
#   MPI (data-parallel training under mpirun): Open MPI (libopenmpi-dev, openmpi-bin).
#   Images: Fashion-MNIST (dataset-fashion-mnist, under /usr/share/datasets/fashion-mnist).
#   Corpus generator (Corpora/generate.py): flite, espeak-ng (+ its library), flac, fortunes-min, and numpy.
set -euo pipefail
packages=(libopenblas-dev libfftw3-dev libsndfile1-dev libsamplerate0-dev libpng-dev libturbojpeg0-dev zlib1g-dev
          libopenmpi-dev openmpi-bin dataset-fashion-mnist pkg-config
          flite espeak-ng libespeak-ng-dev flac fortunes-min gcc)
missing=()
for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y "${missing[@]}"
fi
if ! command -v swift >/dev/null 2>&1; then
    echo "error: swift not found on PATH; install Swift 6 (https://www.swift.org/install/linux/) and retry" >&2
    exit 1
fi
if ! python3 -c "import numpy" >/dev/null 2>&1; then
    echo "installing numpy for Corpora/generate.py"
    python3 -m pip install --quiet numpy || { echo "error: python3 cannot import numpy; pip install numpy" >&2; exit 1; }
fi
