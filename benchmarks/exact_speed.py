"""Seconds per exact PID at the sizes the spectra stage solves, against the former solver.

The spectra of a classroom-world run solve ``pid_exact`` 20-30 times (the exact reference
and the discretized cross-check of every bootstrap replicate, the reference of every
logit-lens layer). This times it on the joints those calls see -- the reference joint of
each task family (scene and question variables of 1000 world samples, model-like
predictions drawn from a Dirichlet) and an 8 x 8 discretized joint -- against
``baseline_exact.pid_exact_bmat``, the solver before its KKT pattern was built once
(same Newton iterations; it assembled the matrix with ``scipy.sparse.bmat`` per step).

    python benchmarks/exact_speed.py [--repeats 3]

Prints, per joint, its shape, the number of variables, the Newton steps, seconds per
solve for both, the speed-up and the largest atom difference (bits).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from baseline_exact import pid_exact_bmat  # noqa: E402

from pidlib import pid_exact  # noqa: E402
from pidlib.analysis.reference import reference_joint, variables_of  # noqa: E402
from pidlib.world import make_samples  # noqa: E402
from pidlib.world.tasks import FAMILIES  # noqa: E402

ATOMS = ("redundancy", "unique1", "unique2", "synergy")


def joints(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for task in FAMILIES:
        samples = make_samples(task, n, seed=0, split="eval")
        v1, v2 = variables_of([s.index for s in samples])
        k = max(len(s.options) for s in samples)
        p = rng.dirichlet(np.full(k, 0.3), size=n)
        out[f"reference {task}"] = reference_joint(v1, v2, p)
    c1, c2 = rng.integers(0, 8, n), rng.integers(0, 8, n)
    disc = np.zeros((8, 8, 4))
    np.add.at(disc, (c1, c2), rng.dirichlet(np.full(4, 0.3), size=n) / n)
    out["discretized 8x8"] = disc
    return out


def timed(fn, repeats: int):
    best, r = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        r = fn()
        best = min(best, time.perf_counter() - t)
    return r, best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--n", type=int, default=1000, help="world samples per reference joint")
    args = ap.parse_args(argv)
    print(f"{'joint':22s} {'shape':>12s} {'vars':>5s} {'steps':>5s} {'before':>9s} {'now':>9s} {'speed-up':>8s} "
          f"{'max|diff|':>10s}")
    tot_b = tot_n = 0.0
    for name, p in joints(args.n).items():
        new, tn = timed(lambda: pid_exact(p), args.repeats)
        old, tb = timed(lambda: pid_exact_bmat(p), args.repeats)
        diff = max(abs(getattr(new, a) - getattr(old, a)) for a in ATOMS)
        tot_b, tot_n = tot_b + tb, tot_n + tn
        print(f"{name:22s} {str(p.shape):>12s} {new.diagnostics['n_variables']:5d} "
              f"{new.diagnostics['newton_steps']:5d} {tb * 1e3:7.1f}ms {tn * 1e3:7.1f}ms {tb / tn:7.1f}x "
              f"{diff:10.2e}")
    print(f"{'all':22s} {'':>12s} {'':>5s} {'':>5s} {tot_b * 1e3:7.1f}ms {tot_n * 1e3:7.1f}ms {tot_b / tot_n:7.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
