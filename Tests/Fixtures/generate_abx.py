#!/usr/bin/env python3
"""Writes Tests/Fixtures/abx.json: a small ABX problem (random items in a few contexts, speakers and phones) scored by
an independent NumPy implementation of the protocol of Sources/Evaluation/ABX.swift, which follows CPC_audio's
cpc/eval/ABX (DTW over angular frame distances normalised by the warping path's length, ties counted one half):

- items: rows of a feature matrix, each with a phone, a context and a speaker;
- d(u, v): DTW between the items' frames (the lower-indexed item gives the rows), frame distance acos(cos) / pi,
  a zero frame at distance 1 from others and 0 from another zero frame;
- within speaker: for context c, speaker s, phones a != b with at least two a-tokens and one b-token, the error is
  the mean over x, a' (a' != x) in A and b in B of [d(x, a') > d(x, b)] + 0.5 [d(x, a') = d(x, b)];
- across speakers: A and B of speaker s, X the a-tokens of another speaker s', mean over x, a, b likewise;
- means over contexts, then over speakers (speaker pairs across), then over ordered phone pairs.

    python Tests/Fixtures/generate_abx.py   (NumPy only)
"""
import json
import math
import os

import numpy as np

rng = np.random.default_rng(5)
here = os.path.dirname(os.path.abspath(__file__))


def dtw(dist):
    n, m = dist.shape
    cost = np.zeros((n, m), dtype=np.float64)
    cost[0, 0] = dist[0, 0]
    for i in range(1, n):
        cost[i, 0] = dist[i, 0] + cost[i - 1, 0]
    for j in range(1, m):
        cost[0, j] = dist[0, j] + cost[0, j - 1]
    for i in range(1, n):
        for j in range(1, m):
            cost[i, j] = dist[i, j] + min(cost[i - 1, j], cost[i - 1, j - 1], cost[i, j - 1])
    i, j, length = n - 1, m - 1, 1
    while i > 0 and j > 0:
        up, left, diag = cost[i - 1, j], cost[i, j - 1], cost[i - 1, j - 1]
        if diag <= left and diag <= up:
            i, j = i - 1, j - 1
        elif left <= up:
            j -= 1
        else:
            i -= 1
        length += 1
    length += i + j
    return cost[n - 1, m - 1] / length


def angular(a, b):
    out = np.zeros((len(a), len(b)))
    for i, u in enumerate(a):
        for j, v in enumerate(b):
            nu, nv = np.linalg.norm(u), np.linalg.norm(v)
            if nu == 0 or nv == 0:
                out[i, j] = 0.0 if nu == 0 and nv == 0 else 1.0
            else:
                out[i, j] = math.acos(max(-1.0, min(1.0, float(u @ v / (nu * nv))))) / math.pi
    return out


# Items: 3 contexts x 3 speakers x 3 phones, 0-3 tokens each, 2-6 frames, D = 5.
dimension = 5
phone_means = rng.normal(size=(3, dimension))
speaker_offsets = 0.6 * rng.normal(size=(3, dimension))
rows, items = [], []
for context in range(3):
    for speaker in range(3):
        for phone in range(3):
            for _ in range(rng.integers(0, 4)):
                frames = int(rng.integers(2, 7))
                block = phone_means[phone] + speaker_offsets[speaker] + 0.9 * rng.normal(size=(frames, dimension))
                items.append([sum(len(r) for r in rows), frames, phone, context, speaker])
                rows.append(block)
features = np.concatenate(rows)
features[items[3][0] + 1] = 0.0  # one zero frame
# Shuffle the item order (the scores do not depend on it, the symmetric distance's row choice does).
order = rng.permutation(len(items))
items = [items[i] for i in order]


def distance(u, v):
    lo, hi = (u, v) if u < v else (v, u)
    a, b = items[lo], items[hi]
    return dtw(angular(features[a[0]:a[0] + a[1]], features[b[0]:b[0] + b[1]]))


def error(x, a, b):
    dxa, dxb = distance(x, a), distance(x, b)
    return 1.0 if dxa > dxb else (0.5 if dxa == dxb else 0.0)


cells = {}
for index, (_, _, phone, context, speaker) in enumerate(items):
    cells.setdefault((context, speaker, phone), []).append(index)
within, across = {}, {}
for (context, speaker, pa), group_a in cells.items():
    for (c2, s2, pb), group_b in cells.items():
        if c2 != context or s2 != speaker or pb == pa:
            continue
        if len(group_a) > 1:
            values = [error(x, a, b) for x in group_a for a in group_a if a != x for b in group_b]
            within.setdefault((speaker, pa, pb), {})[context] = sum(values) / len(values)
        for (c3, sx, px), group_x in cells.items():
            if c3 != context or sx == speaker or px != pa:
                continue
            values = [error(x, a, b) for x in group_x for a in group_a for b in group_b]
            across.setdefault((speaker, sx, pa, pb), {})[context] = sum(values) / len(values)


def score(table, pair_of):
    per_pair = {}
    for key, contexts in table.items():
        per_pair.setdefault(pair_of(key), []).append(sum(contexts.values()) / len(contexts))
    return float(np.mean([np.mean(v) for v in per_pair.values()]))


dtw_cases = []
for n, m in [(1, 1), (1, 4), (3, 1), (4, 6), (7, 3)]:
    dist = rng.random((n, m))
    dtw_cases.append({"rows": n, "columns": m, "distances": [float(v) for v in dist.reshape(-1)], "value": float(dtw(dist))})

case = {
    "features": {"shape": list(features.shape), "data": [float(v) for v in features.reshape(-1)]},
    "items": items,
    "within": score(within, lambda k: (k[1], k[2])),
    "across": score(across, lambda k: (k[2], k[3])),
    "within_groups": sum(len(v) for v in within.values()),
    "across_groups": sum(len(v) for v in across.values()),
    "dtw": dtw_cases,
}
with open(os.path.join(here, "abx.json"), "w") as f:
    json.dump({"generator": "Tests/Fixtures/generate_abx.py", "numpy": np.__version__, "cases": {"small": case}}, f)
print("within %.4f across %.4f, %d items" % (case["within"], case["across"], len(items)))
