#!/usr/bin/env python3
"""Writes the CPC_audio interoperability fixtures: a model with CPC_audio's architecture (its padded encoder, its
ChannelNorm with the unbiased variance, nn.GRU/nn.LSTM contexts, bias-free linear predictors whose scores are the
*mean* over channels), written by this script (from the architecture of facebookresearch/CPC_audio's cpc/model.py
and cpc/criterion/criterion.py), saved as CPC_audio saves checkpoints (a {"gEncoder", "cpcCriterion"} dict plus
checkpoint_args.json), converted by scripts/cpc_audio_checkpoint.py to Tests/Fixtures/cpc_audio_<case>.safetensors,
and its outputs on random audio in Tests/Fixtures/cpc_audio.json.

    pip install "torch==2.13.0+cpu" safetensors; python Tests/Fixtures/generate_cpc_audio.py

Cases: `gru_layernorm` (CPC_audio's normMode layerNorm = ChannelNorm, one GRU level), `lstm_batchnorm` (two LSTM
levels, BatchNorm with non-trivial running statistics, in evaluation mode) and `lstm_transformer` (CPC_audio's
defaults: LSTM context and the transformer predictor of cpc/transformers.py — per step one post-norm layer with 8
heads, feed-forward 2048 and relative positions, its skew written here as CPC_audio writes it). The script also checks that the .pt ->
safetensors -> .pt round trip of the converter gives back every tensor exactly.
"""
import json
import os
import sys
import tempfile

import torch
import torch.nn as nn
import torch.nn.functional as F

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "..", "scripts"))
import cpc_audio_checkpoint as converter  # noqa: E402
from fixture_json import t  # noqa: E402

torch.manual_seed(11)
torch.set_num_threads(1)


class ChannelNorm(nn.Module):
    """Normalises each frame over its channels (unbiased variance); affine weight and bias of shape [1, C, 1]."""

    def __init__(self, channels, eps=1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(1, channels, 1))
        self.bias = nn.Parameter(torch.zeros(1, channels, 1))
        self.eps = eps

    def forward(self, x):  # [N, C, T]
        mean = x.mean(dim=1, keepdim=True)
        var = x.var(dim=1, keepdim=True)
        return (x - mean) * torch.rsqrt(var + self.eps) * self.weight + self.bias


class Encoder(nn.Module):
    """Five convolutions (kernels 10 8 4 4 4, strides 5 4 2 2 2, padding 3 2 1 1 1), each normalised, then ReLU."""

    def __init__(self, channels, norm):
        super().__init__()
        geometry = [(10, 5, 3), (8, 4, 2), (4, 2, 1), (4, 2, 1), (4, 2, 1)]
        for i, (k, s, p) in enumerate(geometry):
            setattr(self, "conv%d" % i, nn.Conv1d(1 if i == 0 else channels, channels, k, stride=s, padding=p))
            setattr(self, "batchNorm%d" % i, ChannelNorm(channels) if norm == "layerNorm" else nn.BatchNorm1d(channels))

    def forward(self, x):  # [N, 1, S] -> [N, C, T]
        for i in range(5):
            x = F.relu(getattr(self, "batchNorm%d" % i)(getattr(self, "conv%d" % i)(x)))
        return x


class Context(nn.Module):
    def __init__(self, mode, channels, hidden, levels):
        super().__init__()
        rnn = nn.LSTM if mode == "LSTM" else nn.GRU
        self.baseNet = rnn(channels, hidden, num_layers=levels, batch_first=True)

    def forward(self, x):
        return self.baseNet(x)[0]


class Model(nn.Module):
    def __init__(self, args):
        super().__init__()
        self.gEncoder = Encoder(args["hiddenEncoder"], args["normMode"])
        self.gAR = Context(args["arMode"], args["hiddenEncoder"], args["hiddenGar"], args["nLevelsGRU"])

    def forward(self, audio):  # [N, S] -> context [N, T, H], encoded [N, T, C]
        z = self.gEncoder(audio.unsqueeze(1)).permute(0, 2, 1)
        return self.gAR(z), z


class RelativeAttention(nn.Module):
    """Causal scaled dot-product attention whose scores add Q @ Krelpos laid out by CPC_audio's skew: a zero column
    in front, a reshape to [S + 1, S] and the first row dropped (buffers `z` and `mask` as CPC_audio registers)."""

    def __init__(self, size_seq, dk):
        super().__init__()
        self.Krelpos = nn.Parameter(torch.empty(dk, size_seq).uniform_(-1 / dk ** 0.5, 1 / dk ** 0.5))
        self.register_buffer("z", torch.zeros(1, size_seq, 1))
        mask = 1 - torch.tril(torch.ones(size_seq, size_seq))
        mask[mask == 1] = -float("inf")
        self.register_buffer("mask", mask.unsqueeze(0))
        self.size_seq = size_seq

    def forward(self, q, k, v):  # [B, S, dk]
        scores = torch.bmm(q, k.transpose(-2, -1))
        b = q.size(0)
        qp = torch.cat((self.z.expand(b, -1, -1), q.matmul(self.Krelpos)), 2)
        scores = scores + qp.view(b, self.size_seq + 1, self.size_seq)[:, 1:, :]
        return torch.bmm(torch.softmax(scores / k.size(-1) ** 0.5 + self.mask, dim=2), v)


class MultiHead(nn.Module):
    def __init__(self, size_seq, dmodel, heads):
        super().__init__()
        self.Wo, self.Wk, self.Wq, self.Wv = (nn.Linear(dmodel, dmodel, bias=False) for _ in range(4))
        self.heads, self.dk = heads, dmodel // heads
        self.Att = RelativeAttention(size_seq, self.dk)

    def split(self, x):
        b, t = x.shape[:2]
        return x.view(b, t, self.heads, self.dk).transpose(1, 2).contiguous().view(b * self.heads, t, self.dk)

    def forward(self, x):
        b, t = x.shape[:2]
        y = self.Att(self.split(self.Wq(x)), self.split(self.Wk(x)), self.split(self.Wv(x)))
        return self.Wo(y.view(b, self.heads, t, self.dk).transpose(1, 2).contiguous().view(b, t, self.heads * self.dk))


class FeedForward(nn.Module):
    def __init__(self, dmodel, dff):
        super().__init__()
        self.lin1, self.lin2 = nn.Linear(dmodel, dff), nn.Linear(dff, dmodel)

    def forward(self, x):
        return self.lin2(F.relu(self.lin1(x)))


class TransformerLayer(nn.Module):
    """CPC_audio's predictor layer: post-norm, 8 heads, feed-forward 2048 (evaluation: no dropout)."""

    def __init__(self, size_seq, dmodel, heads=8, dff=2048):
        super().__init__()
        self.multihead = MultiHead(size_seq, dmodel, heads)
        self.ln_multihead = nn.LayerNorm(dmodel)
        self.ffnetwork = FeedForward(dmodel, dff)
        self.ln_ffnetwork = nn.LayerNorm(dmodel)

    def forward(self, x):
        y = self.ln_multihead(x + self.multihead(x))
        return self.ln_ffnetwork(y + self.ffnetwork(y))


class Prediction(nn.Module):
    def __init__(self, args):
        super().__init__()
        if args["rnnMode"] == "transformer":
            size_seq = args["sizeWindow"] // 160 - args["nPredicts"]
            self.predictors = nn.ModuleList(nn.Sequential(TransformerLayer(size_seq, args["hiddenEncoder"]))
                                            for _ in range(args["nPredicts"]))
        else:
            self.predictors = nn.ModuleList(nn.Linear(args["hiddenGar"], args["hiddenEncoder"], bias=False)
                                            for _ in range(args["nPredicts"]))


class Criterion(nn.Module):
    def __init__(self, args):
        super().__init__()
        self.wPrediction = Prediction(args)

    def positive_scores(self, c, z):
        """CPC_audio's score of each true future: mean over channels of W_k c_t * z_{t+k}, [N, W, K]."""
        k_steps = len(self.wPrediction.predictors)
        w = c.shape[1] - k_steps
        scores = []
        for k, predictor in enumerate(self.wPrediction.predictors, start=1):
            scores.append((predictor(c[:, :w]) * z[:, k:k + w]).mean(dim=2))
        return torch.stack(scores, dim=2)


cases = {}
base = {"hiddenEncoder": 16, "hiddenGar": 12, "nPredicts": 3, "negativeSamplingExt": 32, "sizeWindow": 20480,
        "samplingType": "samesequence", "rnnMode": "linear", "cpc_mode": None, "encoder_type": "cpc",
        "speakerEmbedding": 0, "learningRate": 2e-4, "nEpoch": 200}
for name, extra in [("gru_layernorm", {"arMode": "GRU", "normMode": "layerNorm", "nLevelsGRU": 1}),
                    ("lstm_batchnorm", {"arMode": "LSTM", "normMode": "batchNorm", "nLevelsGRU": 2}),
                    # CPC_audio's defaults: LSTM context, transformer predictor (context as wide as the encoder; the
                    # 3200-sample window gives sizeSeq = 20 - 3 = 17 positions, all of the 20-frame audio's scores).
                    ("lstm_transformer", {"arMode": "LSTM", "normMode": "layerNorm", "nLevelsGRU": 1, "hiddenGar": 16,
                                          "rnnMode": "transformer", "sizeWindow": 3200})]:
    args = dict(base, **extra)
    model, criterion = Model(args), Criterion(args)
    with torch.no_grad():
        for module in model.modules():  # non-trivial affine parameters and running statistics
            if isinstance(module, (ChannelNorm, nn.BatchNorm1d)):
                module.weight.copy_(1 + 0.2 * torch.randn_like(module.weight))
                module.bias.copy_(0.1 * torch.randn_like(module.bias))
            if isinstance(module, nn.BatchNorm1d):
                module.running_mean.copy_(0.3 * torch.randn_like(module.running_mean))
                module.running_var.copy_(0.5 + torch.rand_like(module.running_var))
                module.num_batches_tracked.fill_(17)
    model.eval()
    audio = 0.3 * torch.randn(2, 3237)  # floor(3237 / 160) = 20 frames
    with torch.no_grad():
        context, encoded = model(audio)
        scores = criterion.positive_scores(context, encoded)
    folder = tempfile.mkdtemp()
    pt = os.path.join(folder, "checkpoint_3.pt")
    torch.save({"gEncoder": model.state_dict(), "cpcCriterion": criterion.state_dict(), "optimizer": {}, "best": None}, pt)
    with open(os.path.join(folder, "checkpoint_args.json"), "w") as f:
        json.dump(args, f)
    out = os.path.join(here, "cpc_audio_%s.safetensors" % name)
    converter.to_safetensors(pt, out)
    # The converter's round trip gives back every tensor exactly (dtype included).
    back = os.path.join(folder, "back", "checkpoint_0.pt")
    os.makedirs(os.path.dirname(back))
    converter.to_pt(out, back)
    restored = torch.load(back, weights_only=False)
    for part, state in [("gEncoder", model.state_dict()), ("cpcCriterion", criterion.state_dict())]:
        assert set(restored[part]) == set(state), (part, set(restored[part]) ^ set(state))
        for key, tensor in state.items():
            assert restored[part][key].dtype == tensor.dtype and torch.equal(restored[part][key], tensor), key
    with open(os.path.join(os.path.dirname(back), "checkpoint_args.json")) as f:
        assert json.load(f) == args
    cases[name] = {"audio": t(audio), "context": t(context), "encoded": t(encoded), "positive_scores": t(scores),
                   "args": args}

with open(os.path.join(here, "cpc_audio.json"), "w") as f:
    json.dump({"generator": "Tests/Fixtures/generate_cpc_audio.py", "torch": torch.__version__, "cases": cases}, f)
print("wrote", ", ".join(sorted(cases)))
