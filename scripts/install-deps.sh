#!/usr/bin/env bash
# Installs the Debian packages SwiftCPC builds against, if any is missing. Safe to run repeatedly.
set -euo pipefail
packages=(libopenblas-dev libfftw3-dev libsndfile1-dev pkg-config)
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
