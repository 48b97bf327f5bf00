"""The I-projection of the unimodal probes as it was at commit fdb6f24: the baseline of
``benchmarks/projection_speed.py``.

Newton's method on the same dual as :func:`pidlib.estimators.project_mean`, but each step
took the best of five fixed step lengths (1 ... 1/16) even when all five increased the
dual, and the float32 weights and target were used as given (their sums differ from 1 by
about 1e-7, so the 1e-9 tolerance was out of reach and every call ran 200 steps).
"""
from __future__ import annotations

import torch


def project_mean_fixed_steps(p, target, weights=None, max_iter: int = 200, tol: float = 1e-9):
    """The former ``project_mean``: returns (q, err) like the current one."""
    dtype = p.dtype
    p, target = p.double(), target.double()
    n, k = p.shape[-2], p.shape[-1]
    wts = (torch.full(p.shape[:-1], 1.0 / n, dtype=p.dtype) if weights is None else weights.double())[..., None]
    active = target > 0
    log_p = torch.where(active.unsqueeze(-2), torch.log(p.clamp_min(0)), -torch.inf)
    lam = torch.zeros_like(target)
    eye, ones = torch.eye(k, dtype=p.dtype), torch.full((k, k), 1.0 / k, dtype=p.dtype)
    mask = (active.unsqueeze(-1) & active.unsqueeze(-2)).to(p.dtype)
    err, q = torch.full(target.shape[:-1], torch.inf, dtype=p.dtype), p
    for _ in range(max_iter):
        lq = log_p + lam.unsqueeze(-2)
        q = torch.exp(lq - torch.logsumexp(lq, -1, keepdim=True)).nan_to_num(0.0)
        grad = torch.where(active, (wts * q).sum(-2) - target, 0.0)
        err = grad.abs().sum(-1)
        if float(err.max()) < tol:
            break
        H = torch.diag_embed((wts * q).sum(-2)) - torch.einsum("...ny,...nz->...yz", wts * q, q)
        H = H * mask + eye * (1 - mask) + ones * mask + 1e-10 * eye
        step = torch.linalg.solve(H, grad.unsqueeze(-1)).squeeze(-1)
        cands = torch.stack([lam - a * step for a in (1.0, 0.5, 0.25, 0.125, 0.0625)])
        lse = torch.logsumexp(log_p.unsqueeze(0) + cands.unsqueeze(-2), -1)
        dual = (wts[..., 0].unsqueeze(0) * lse).sum(-1) - (torch.where(active, cands, 0.0) * target).sum(-1)
        lam = torch.take_along_dim(cands, dual.argmin(0)[None, ..., None], dim=0)[0]
    return q.to(dtype), err.to(dtype)
