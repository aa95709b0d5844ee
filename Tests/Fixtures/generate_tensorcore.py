#!/usr/bin/env python3
"""Writes Tests/Fixtures/tensorcore.json: PyTorch reference values for the TensorCore op tests.

Run with PyTorch's CPU build (pinned): pip install "torch==2.13.0+cpu"; python Tests/Fixtures/generate_tensorcore.py
Each case stores its inputs (in SwiftCPC's channels-last layout), an upstream gradient `upstream`, the forward
output, and the gradients of sum(output * upstream) with respect to each input. Tests read this file only.
"""
import json
import os

import torch
import torch.nn.functional as F

torch.manual_seed(20261125)
cases = {}


def t(x):
    x = x.detach().contiguous()
    return {"shape": list(x.shape), "data": [float(v) for v in x.reshape(-1).tolist()]}


def record(name, inputs, fn, extra=None, grads=True):
    """inputs: dict name -> tensor in torch layout; fn(**inputs) -> output."""
    leaves = {k: v.clone().requires_grad_(grads and v.is_floating_point()) for k, v in inputs.items()}
    out = fn(**leaves)
    upstream = torch.randn_like(out)
    entry = {k: t(v) for k, v in inputs.items()}
    entry["output"] = t(out)
    entry["upstream"] = t(upstream)
    if grads:
        (out * upstream).sum().backward()
        for k, v in leaves.items():
            if v.requires_grad:
                entry["grad_" + k] = t(v.grad)
    if extra:
        entry.update(extra)
    cases[name] = entry


# matmul: plain, transposed operands, batched, batch times matrix.
record("matmul", {"a": torch.randn(5, 7), "b": torch.randn(7, 3)}, lambda a, b: a @ b)
record("matmul_tA_tB", {"a": torch.randn(7, 5), "b": torch.randn(3, 7)}, lambda a, b: a.T @ b.T)
record("matmul_batched", {"a": torch.randn(4, 5, 6), "b": torch.randn(4, 6, 3)}, lambda a, b: a @ b)
record("matmul_batch_by_matrix", {"a": torch.randn(4, 5, 6), "b": torch.randn(6, 3)}, lambda a, b: a @ b)


# conv1d: inputs stored channels-last [N, T, C]; torch computes in [N, C, T].
def conv1d_case(name, n, t_len, c, o, k, stride, padding, dilation, groups):
    x = torch.randn(n, t_len, c)
    w = torch.randn(o, c // groups, k) * 0.3
    b = torch.randn(o)

    def fn(x, w, b):
        return F.conv1d(x.transpose(1, 2), w, b, stride=stride, padding=padding, dilation=dilation,
                        groups=groups).transpose(1, 2)

    record(name, {"x": x, "w": w, "b": b}, fn,
           {"stride": [stride], "padding": [padding], "dilation": [dilation], "groups": [groups]})


conv1d_case("conv1d_cpc_like", 2, 40, 3, 4, 8, 4, 0, 1, 1)
conv1d_case("conv1d_padded_dilated_grouped", 2, 17, 4, 6, 3, 2, 2, 2, 2)


def conv2d_case(name, n, h, w_, c, o, kh, kw, stride, padding, dilation, groups):
    x = torch.randn(n, h, w_, c)
    w = torch.randn(o, c // groups, kh, kw) * 0.3
    b = torch.randn(o)

    def fn(x, w, b):
        return F.conv2d(x.permute(0, 3, 1, 2), w, b, stride=stride, padding=padding, dilation=dilation,
                        groups=groups).permute(0, 2, 3, 1)

    record(name, {"x": x, "w": w, "b": b}, fn,
           {"stride": list(stride), "padding": list(padding), "dilation": list(dilation), "groups": [groups]})


conv2d_case("conv2d_basic", 2, 6, 5, 3, 4, 3, 3, (1, 1), (1, 1), (1, 1), 1)
conv2d_case("conv2d_strided_grouped", 2, 9, 8, 4, 6, 3, 2, (2, 3), (1, 0), (1, 2), 2)

# log-softmax / cross-entropy / logsumexp / softmax.
record("log_softmax", {"x": torch.randn(4, 6) * 3}, lambda x: F.log_softmax(x, dim=1))
record("softmax_axis0", {"x": torch.randn(5, 3) * 2}, lambda x: F.softmax(x, dim=0))
targets = torch.tensor([2, 0, 5, 1, 3])
record("cross_entropy_mean", {"x": torch.randn(5, 6) * 2}, lambda x: F.cross_entropy(x, targets),
       {"targets": targets.tolist()})
targets_ignored = torch.tensor([2, -100, 5, 1, -100])
record("cross_entropy_ignore", {"x": torch.randn(5, 6) * 2},
       lambda x: F.cross_entropy(x, targets_ignored, ignore_index=-100), {"targets": targets_ignored.tolist()})
record("cross_entropy_none", {"x": torch.randn(5, 6) * 2},
       lambda x: F.cross_entropy(x, targets, reduction="none"), {"targets": targets.tolist()})
record("logsumexp", {"x": torch.randn(3, 4, 5) * 4}, lambda x: torch.logsumexp(x, dim=1))

# cosine similarity and normalisation.
record("cosine_similarity", {"a": torch.randn(4, 8), "b": torch.randn(4, 8)},
       lambda a, b: F.cosine_similarity(a, b, dim=1))
record("cosine_similarity_broadcast", {"a": torch.randn(4, 1, 8), "b": torch.randn(1, 5, 8)},
       lambda a, b: F.cosine_similarity(a, b, dim=-1))
record("normalize", {"x": torch.randn(3, 7)}, lambda x: F.normalize(x, dim=1))

# activations and elementwise.
record("gelu", {"x": torch.randn(20) * 2}, lambda x: F.gelu(x))
record("gelu_tanh", {"x": torch.randn(20) * 2}, lambda x: F.gelu(x, approximate="tanh"))
record("sigmoid_tanh", {"x": torch.randn(20) * 3}, lambda x: torch.sigmoid(x) * torch.tanh(x))
record("variance", {"x": torch.randn(4, 6)}, lambda x: torch.var(x, dim=1))

# pooling (channels-last storage).
record("max_pool2d", {"x": torch.randn(2, 6, 7, 3)},
       lambda x: F.max_pool2d(x.permute(0, 3, 1, 2), 3, stride=2, padding=1).permute(0, 2, 3, 1))
record("avg_pool2d", {"x": torch.randn(2, 6, 7, 3)},
       lambda x: F.avg_pool2d(x.permute(0, 3, 1, 2), 3, stride=2, padding=1).permute(0, 2, 3, 1))


# linear algebra; matrices enter through symmetrisation so gradients do not depend on convention.
def spd(n):
    m = torch.randn(n, n)
    return m @ m.T + n * torch.eye(n)


record("cholesky", {"a": spd(5)}, lambda a: torch.linalg.cholesky(0.5 * (a + a.T)))
lower = torch.tril(torch.randn(4, 4)) + 3 * torch.eye(4)
record("triangular_solve", {"t": lower, "b": torch.randn(4, 3)},
       lambda t, b: torch.linalg.solve_triangular(torch.tril(t), b, upper=False))
sym = torch.randn(5, 5)
sym = sym + sym.T
record("eigh_values", {"a": sym}, lambda a: torch.linalg.eigh(0.5 * (a + a.T))[0])


def eigh_vectors_fn(a):
    # Eigenvector signs are arbitrary: compare a sign-invariant function, V diag(λ²) Vᵀ columnwise squares.
    values, vectors = torch.linalg.eigh(0.5 * (a + a.T))
    return vectors ** 2


record("eigh_vectors_squared", {"a": sym}, eigh_vectors_fn)

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tensorcore.json")
with open(path, "w") as f:
    json.dump({"generator": "Tests/Fixtures/generate_tensorcore.py", "torch": torch.__version__, "cases": cases}, f)
print(f"wrote {len(cases)} cases to {path}")
