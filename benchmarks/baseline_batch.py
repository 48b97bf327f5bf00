"""A plain BATCH implementation in the pattern of the published code: the benchmark baseline.

Written from the description in issue 2 and the shared notes (not copied): one estimate at
a time, ``torch.nn`` encoders, a Python loop over labels, Sinkhorn in the probability
domain alternating column and row normalization to the *unnormalized* targets p(y|x2_b) and
p(y|x1_a), an ``allclose`` check (atol 0.01) after every half step (a host sync), at most
500 iterations, and backpropagation through the unrolled loop.

To isolate the computational pattern, it shares pidlib's evaluation conventions (P(Y) from
the evaluation rows, every evaluation row kept, atoms from batch-weighted sums), so its
values are comparable with :func:`pidlib.pid_batch` to within the estimator's noise.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

LOG2 = math.log(2.0)


def _mlp(d_in: int, hidden: int, layers: int, d_out: int) -> nn.Sequential:
    mods = [nn.Linear(d_in, hidden), nn.ReLU()]
    for _ in range(layers):
        mods += [nn.Linear(hidden, hidden), nn.ReLU()]
    mods.append(nn.Linear(hidden, d_out))
    return nn.Sequential(*mods)


def _sinkhorn_label(A: torch.Tensor, r: torch.Tensor, c: torch.Tensor, max_iter: int = 500) -> torch.Tensor:
    for _ in range(max_iter):
        A = A / (A.sum(0, keepdim=True) + 1e-12) * c[None, :]
        if torch.allclose(A.sum(1), r, atol=0.01):  # host sync
            break
        A = A / (A.sum(1, keepdim=True) + 1e-12) * r[:, None]
        if torch.allclose(A.sum(0), c, atol=0.01):  # host sync
            break
    return A


def _q(enc1, enc2, x1, x2, p1, p2, k, e):
    B = x1.shape[0]
    h1 = enc1(x1).view(B, k, e)
    h2 = enc2(x2).view(B, k, e)
    h1 = (h1 - h1.mean(-1, keepdim=True)) / h1.std(-1, keepdim=True)
    h2 = (h2 - h2.mean(-1, keepdim=True)) / h2.std(-1, keepdim=True)
    qs = []
    for y in range(k):  # Python loop over labels
        A = torch.exp(h1[:, y] @ h2[:, y].T / math.sqrt(e))
        qs.append(_sinkhorn_label(A, p1[:, y], p2[:, y]))
    Q = torch.stack(qs, -1)  # (B, B, k)
    return Q / Q.sum()


def _iq(Q: torch.Tensor, py: torch.Tensor) -> torch.Tensor:
    Qab = Q.sum(-1, keepdim=True)
    m = Q > 1e-30
    return (Q[m] * torch.log((Q / Qab / py)[m])).sum()


def baseline_batch(x1, x2, p1, p2, p12, fit_idx, eval_idx, seed=0, hidden=32, embed=10, layers=3,
                   lr=1e-3, batch_size=256, epochs=8):
    torch.manual_seed(seed)
    x1, x2, p1, p2, p12 = (torch.as_tensor(np.asarray(a), dtype=torch.float32) for a in (x1, x2, p1, p2, p12))
    k = p12.shape[1]
    enc1 = _mlp(x1.shape[1], hidden, layers, embed * k)
    enc2 = _mlp(x2.shape[1], hidden, layers, embed * k)
    opt = torch.optim.Adam(list(enc1.parameters()) + list(enc2.parameters()), lr=lr)
    fit_idx = torch.as_tensor(fit_idx)
    for _ in range(epochs):
        perm = fit_idx[torch.randperm(len(fit_idx))]
        for idx in torch.tensor_split(perm, max(1, math.ceil(len(perm) / batch_size))):
            Q = _q(enc1, enc2, x1[idx], x2[idx], p1[idx], p2[idx], k, embed)
            loss = _iq(Q, Q.sum((0, 1)))
            opt.zero_grad()
            loss.backward()
            opt.step()
    eval_idx = torch.as_tensor(eval_idx)
    with torch.no_grad():
        py = p12[eval_idx].mean(0)
        kl = lambda p: torch.special.xlogy(p, p).sum() - (p * torch.log(py)).sum()  # noqa: E731
        sums = np.zeros(4)
        for idx in torch.tensor_split(eval_idx, max(1, math.ceil(len(eval_idx) / batch_size))):
            Q = _q(enc1, enc2, x1[idx], x2[idx], p1[idx], p2[idx], k, embed)
            sums += [float(kl(p1[idx])), float(kl(p2[idx])), float(kl(p12[idx])), float(_iq(Q, py)) * len(idx)]
    I1, I2, I12, IQ = sums / len(eval_idx) / LOG2
    return {"redundancy": I1 + I2 - IQ, "unique1": IQ - I2, "unique2": IQ - I1, "synergy": I12 - IQ}
