"""The I-projection of BATCH's evaluation (eq. 3 of ``pidlib.estimators.batch``) against its
former version, on the inputs the spectra stage gives it.

Every evaluation batch of an output spectrum projects both unimodal probes of 1000 rows,
for 3 estimators x 11 bootstrap weightings, onto the batch's P(Y), in float32 weights. Two
probes are timed: a balanced one (option means 0.29/0.18/0.22/0.31) and the skewed
language-only probe of the classroom ``describe`` task (0.76/0.0005/0.04/0.20), whose
projection the former version did not find. Prints, per case, the Newton steps (calls of
``torch.linalg.solve``), seconds and the remaining L1 error of the weighted mean, for the
former version (``baseline_projection.project_mean_fixed_steps``) and the current one, in
the same run.

    python benchmarks/projection_speed.py [--repeats 3]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from baseline_projection import project_mean_fixed_steps  # noqa: E402

from pidlib.estimators import project_mean  # noqa: E402


def probe(means, m: int, R: int, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rows of a probe whose option means are about ``means``, bootstrap weights, target."""
    rng = np.random.default_rng(seed)
    logits = np.log(np.asarray(means))[None, None] + rng.normal(0, 1.0, size=(m, n, len(means)))
    p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    w = rng.multinomial(n, np.full(n, 1.0 / n), size=(m, R)).astype(np.float64)
    w[:, 0] = 1.0                                            # replicate 0: the point estimate
    w = torch.tensor(w / w.sum(-1, keepdims=True), dtype=torch.float32)
    target = torch.tensor(np.tile([0.25, 0.24, 0.24, 0.27], (m, R, 1)), dtype=torch.float32)
    return torch.tensor(p, dtype=torch.float32)[:, None].expand(m, R, n, len(means)), w, target


def timed(fn, p, target, w, repeats: int):
    calls = []
    solve = torch.linalg.solve
    torch.linalg.solve = lambda *a, **k: calls.append(1) or solve(*a, **k)
    try:
        best = float("inf")
        for _ in range(repeats):
            calls.clear()
            t = time.perf_counter()
            q, err = fn(p, target, w)
            best = min(best, time.perf_counter() - t)
    finally:
        torch.linalg.solve = solve
    return len(calls), best, float(err.max())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"{'probe':<10} {'shape':>18} | {'former: steps':>13} {'s':>7} {'L1 err':>9} | "
          f"{'now: steps':>10} {'s':>7} {'L1 err':>9} | speed-up")
    tot_b = tot_n = 0.0
    for name, means in (("balanced", (0.29, 0.18, 0.22, 0.31)), ("skewed", (0.76, 0.0005, 0.04, 0.20))):
        p, w, target = probe(means, 3, 11, 1000, seed=0)
        sb, tb, eb = timed(project_mean_fixed_steps, p, target, w, args.repeats)
        sn, tn, en = timed(project_mean, p, target, w, args.repeats)
        tot_b, tot_n = tot_b + tb, tot_n + tn
        print(f"{name:<10} {str(tuple(p.shape)):>18} | {sb:>13d} {tb:>7.3f} {eb:>9.1e} | "
              f"{sn:>10d} {tn:>7.3f} {en:>9.1e} | {tb / tn:>6.1f}x")
    print(f"{'both':<10} {'':>18} | {'':>13} {tot_b:>7.3f} {'':>9} | {'':>10} {tot_n:>7.3f} {'':>9} | "
          f"{tot_b / tot_n:>6.1f}x")


if __name__ == "__main__":
    main()
