#!/usr/bin/env python3
"""Checks the reverse direction of checkpoint interoperability: a safetensors file written by SwiftCPC
(Tests/Fixtures/swift_conv_gru.safetensors, rewritten by the Swift test with SWIFTCPC_WRITE_FIXTURES=1) loads with
safetensors.torch into the PyTorch ConvGRU of generate_layers.py with the same names and shapes, and gives the
outputs Swift computed (Tests/Fixtures/swift_conv_gru.json).

    pip install "torch==2.13.0+cpu" safetensors; python Tests/Fixtures/check_swift_checkpoint.py
"""
import json
import os

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file

here = os.path.dirname(os.path.abspath(__file__))


class ConvGRU(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Conv1d(1, 4, 10, stride=5)
        self.norm = nn.BatchNorm1d(4)
        self.gru = nn.GRU(4, 6, batch_first=True)

    def forward(self, audio):
        z = F.relu(self.norm(self.encoder(audio.unsqueeze(1))))
        return self.gru(z.transpose(1, 2))[0]


state = load_file(os.path.join(here, "swift_conv_gru.safetensors"))
model = ConvGRU()
expected = model.state_dict()
assert set(state) == set(expected), f"names differ: {set(state) ^ set(expected)}"
for name, tensor in state.items():
    assert tensor.shape == expected[name].shape, f"{name}: {tuple(tensor.shape)} vs {tuple(expected[name].shape)}"
    assert tensor.dtype == expected[name].dtype, f"{name}: {tensor.dtype} vs {expected[name].dtype}"
model.load_state_dict(state, strict=True)
model.eval()
io = json.load(open(os.path.join(here, "swift_conv_gru.json")))
audio = torch.tensor(io["audio"]["data"]).reshape(io["audio"]["shape"])
swift_output = torch.tensor(io["output"]["data"]).reshape(io["output"]["shape"])
with torch.no_grad():
    output = model(audio)
difference = (output - swift_output).abs().max().item()
assert difference < 1e-5, f"outputs differ by {difference}"
print(f"ok: {len(state)} tensors load in PyTorch with matching names, shapes and dtypes; outputs agree to {difference:.2e}")
