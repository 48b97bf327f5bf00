"""BATCH's two hot spots, against their former versions in the same run.

1. The training loss: I_Q of a 10-iteration Sinkhorn coupling and its gradient, one Adam
   step's worth (forward + backward) at the training shapes of the spectra stage
   (M estimates x k = 4 labels x 128 x 128 minibatch grids; M = 5 for an output
   spectrum, 9 with four logit-lens layers). Former: autograd through the unrolled
   iterations (``sinkhorn_log`` with broadcast multiply-and-sum products, then ``_iq``);
   now: ``sinkhorn_iq``, the hand-written backward (eq. 4 of ``pidlib.estimators.batch``).
2. The evaluation I_Q: of the Sinkhorn couplings and of the conditional-independence
   couplings of 11 bootstrap weightings on one 1000 x 1000 grid per label and estimate
   (M = 5). Former: the (M, 11, k, B, B) joint formed, exponentiated and summed (``_iq``);
   now: ``_iq_coupling`` and ``_iq_product``, which form only Q(a, b).

Prints milliseconds per call (best of ``--repeats``), the ratio, and the largest
difference of the values (and of the gradients), in one process with one torch thread.

    python benchmarks/batch_training.py [--repeats 5] [--smoke]

``--smoke``: small shapes (a check that the script runs, no figures).
"""
from __future__ import annotations

import argparse
import platform
import time

import torch

from pidlib.estimators.batch import _iq, _iq_coupling, _iq_product, _targets, sinkhorn_iq


def former_sinkhorn(logK, log_r, log_c, n_iter):
    """The training Sinkhorn as it was: autograd through broadcast multiply-and-sum."""
    K = torch.exp(logK)
    g = torch.zeros_like(log_c)
    for _ in range(n_iter):
        g = g - g.mean(-1, keepdim=True)
        f = log_r - torch.log((K * torch.exp(g).unsqueeze(-2)).sum(-1))
        g = log_c - torch.log((K * torch.exp(f).unsqueeze(-1)).sum(-2))
    return logK + f.unsqueeze(-1) + g.unsqueeze(-2)


def best_ms(fn, repeats: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best * 1e3


def training(M: int, repeats: int, k: int = 4, B: int = 128, n_iter: int = 10):
    g = torch.Generator().manual_seed(M)
    logK = (torch.randn(M, k, B, B, generator=g) * 0.8).clamp(-2.85, 2.85)
    p1 = torch.softmax(2 * torch.randn(M, B, k, generator=g), -1)
    p2 = torch.softmax(2 * torch.randn(M, B, k, generator=g), -1)
    r, c = _targets(p1, p2, True)
    lr, lc, lpy = r.log(), c.log(), c.sum(-1).log()
    out = {}

    def step(new):
        x = logK.clone().requires_grad_()
        iq = sinkhorn_iq(x, lr, lc, lpy, n_iter) if new else _iq(former_sinkhorn(x, lr, lc, n_iter), lpy)
        iq.sum().backward()
        out[new] = (iq.detach(), x.grad)

    t_old, t_new = best_ms(lambda: step(False), repeats), best_ms(lambda: step(True), repeats)
    dv = float((out[True][0] - out[False][0]).abs().max())
    dg = float((out[True][1] - out[False][1]).abs().max() / out[False][1].abs().max())
    return t_old, t_new, dv, dg


def evaluation(repeats: int, M: int = 5, R: int = 11, k: int = 4, B: int = 1000):
    g = torch.Generator().manual_seed(0)
    logK = (torch.randn(M, k, B, B, generator=g) * 0.8).clamp(-2.85, 2.85)
    f = torch.randn(M, R, k, B, generator=g) * 0.3 - 7.0
    gg = torch.randn(M, R, k, B, generator=g) * 0.3 - 7.0
    lpy = torch.log_softmax(torch.randn(M, R, k, generator=g), -1)
    r = torch.rand(M, R, k, B, generator=g) / (k * B) * 2
    c = torch.rand(M, R, k, B, generator=g)
    c = c * (r.sum(-1, keepdim=True) / c.sum(-1, keepdim=True))
    rc = max(1, (1 << 25) // (M * k * B * B))

    def former():
        out = torch.empty(M, R, 2, dtype=torch.float64)
        for r0 in range(0, R, rc):
            rs = slice(r0, min(R, r0 + rc))
            out[:, rs, 0] = _iq(logK[:, None] + f[:, rs, :, :, None] + gg[:, rs, :, None, :], lpy[:, rs]).double()
            tot = r[:, rs].sum(-1)
            log_ci = (torch.log(r[:, rs].clamp_min(1e-20))[..., :, None] + torch.log(c[:, rs].clamp_min(1e-20))[..., None, :]
                      - torch.log(tot.clamp_min(1e-20))[..., None, None])
            out[:, rs, 1] = _iq(log_ci, lpy[:, rs]).double()
        return out

    def now():
        return torch.stack([_iq_coupling(logK, f, gg, lpy)[0], _iq_product(r, c, lpy)], -1)

    t_old, t_new = best_ms(former, repeats), best_ms(now, repeats)
    return t_old, t_new, float((former() - now()).abs().max())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--smoke", action="store_true", help="small shapes, one repeat")
    args = ap.parse_args()
    if args.smoke:
        args.repeats = 1
    torch.set_num_threads(1)
    print(f"# {platform.machine()} {platform.processor() or ''}, torch {torch.__version__}, 1 thread")
    print(f"{'case':42s} {'former ms':>10s} {'now ms':>8s} {'ratio':>6s}  difference")
    B, Be = (32, 60) if args.smoke else (128, 1000)
    for M in (5, 9):
        t_old, t_new, dv, dg = training(M, args.repeats, B=B)
        print(f"{f'training step, M={M} x 4 x {B} x {B}':42s} {t_old:10.1f} {t_new:8.1f} {t_old / t_new:6.2f}  "
              f"I_Q {dv:.1e} nats, gradient {dg:.1e} (relative)")
    t_old, t_new, dv = evaluation(max(1, args.repeats // 2), B=Be)
    print(f"{f'evaluation I_Q, 5 x 11 x 4 x {Be} x {Be}':42s} {t_old:10.1f} {t_new:8.1f} {t_old / t_new:6.2f}  "
          f"I_Q {dv:.1e} nats")


if __name__ == "__main__":
    main()
