#!/usr/bin/env python3
"""Writes Tests/Fixtures/audio_features.json: librosa/numpy references for the spectral front end, computed on the
first 0.5 s of a bundled utterance (Corpora/synth-small/100/1/100-1-0000.flac) and on the committed sweep.

    pip install librosa==0.11.0 numpy; python Tests/Fixtures/generate_audio_features.py
Settings: 16 kHz, n_fft 400, hop 160, Hann window, centred frames with zero padding, 40 mel bands, 13 MFCCs.
All matrices are stored time-major [frames, features] (librosa's transposed).
"""
import json
import os

import librosa
import numpy as np
import soundfile  # librosa's reader

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(os.path.dirname(here))
cases = {}


def t(x):
    x = np.asarray(x, dtype=np.float64)
    return {"shape": list(x.shape), "data": [float(v) for v in x.reshape(-1)]}


y, sr = soundfile.read(os.path.join(root, "Corpora/synth-small/100/1/100-1-0000.flac"), dtype="float32")
assert sr == 16000
y = y[:8000]
common = dict(sr=16000, n_fft=400, hop_length=160, win_length=400, window="hann", center=True, pad_mode="constant")
stft = librosa.stft(y, n_fft=400, hop_length=160, win_length=400, window="hann", center=True, pad_mode="constant")
mel_slaney = librosa.feature.melspectrogram(y=y, n_mels=40, htk=False, norm="slaney", power=2.0, **common)
mel_htk = librosa.feature.melspectrogram(y=y, n_mels=40, htk=True, norm=None, power=2.0, **common)
mfcc = librosa.feature.mfcc(y=y, n_mfcc=13, n_mels=40, dct_type=2, norm="ortho", **common)
cases["utterance"] = {
    "samples": t(y),
    "power": t((np.abs(stft) ** 2).T),
    "logmel_slaney": t(librosa.power_to_db(mel_slaney, ref=1.0, amin=1e-10, top_db=None).T),
    "logmel_slaney_top80": t(librosa.power_to_db(mel_slaney, ref=1.0, amin=1e-10, top_db=80.0).T),
    "logmel_htk": t(librosa.power_to_db(mel_htk, ref=1.0, amin=1e-10, top_db=None).T),
    "mfcc": t(mfcc.T),
    "mfcc_delta": t(librosa.feature.delta(mfcc, width=9, order=1, mode="nearest").T),
    "mfcc_delta_delta": t(librosa.feature.delta(librosa.feature.delta(mfcc, width=9, mode="nearest"), width=9,
                                                mode="nearest").T),
    "mel_basis_slaney": t(librosa.filters.mel(sr=16000, n_fft=400, n_mels=40, htk=False, norm="slaney").T),
    "mel_basis_htk": t(librosa.filters.mel(sr=16000, n_fft=400, n_mels=40, htk=True, norm=None).T),
}
with open(os.path.join(here, "audio_features.json"), "w") as f:
    json.dump({"generator": "Tests/Fixtures/generate_audio_features.py", "librosa": librosa.__version__, "cases": cases}, f)
print("wrote", ", ".join(cases["utterance"].keys()))
