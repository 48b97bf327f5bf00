"""Seconds per BATCH estimate and for a layer-wise sweep: pidlib against a plain baseline.

Run: ``.venv/bin/python benchmarks/estimators.py`` (``make bench``); ``--smoke`` for a tiny
run that only checks the script works. Both implementations run in the same process with
the same thread count, on the same data:

* single estimate: n = 2000 fit + 1000 eval rows, k = 4 options, d = 896 and d = 3584
  (the feature sizes of 2B and 7B models); pidlib with its defaults (at least 150 Adam
  steps, evaluation grids of up to 1024 rows), the baseline with the paper's 8 epochs of
  256-row batches (64 steps) and 256-row evaluation batches;
* sweep: 33 layers x 5 seeds = 165 estimates sharing one feature matrix (d = 896), one set
  of conditionals per layer, fitted with ``pid_batch_many``. The baseline runs
  ``--baseline-problems`` of the 165 one by one; its sweep time is that mean times 165
  (the baseline is a Python loop over estimates, so it scales linearly) and is marked as
  extrapolated in the output.

The data: discrete X1, X2 in {0..3} (uniform), embedded as noisy Gaussian codes in d
dimensions; per layer a conditional table p(y|x1,x2) that moves from uninformative to a
random informative table with depth; p(y|x1), p(y|x2) are its exact marginals, so every
estimate has an exact answer (pid_exact) to compare with.
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from baseline_batch import baseline_batch  # noqa: E402

from pidlib import pid_batch, pid_batch_many, pid_exact  # noqa: E402

ATOMS = ("redundancy", "unique1", "unique2", "synergy")


def layer_tables(n_layers: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    target = rng.dirichlet(np.full(4, 0.3), size=(4, 4))  # an informative p(y|x1,x2)
    w = np.linspace(0.0, 1.0, n_layers) ** 2
    return (1 - w)[:, None, None, None] * 0.25 + w[:, None, None, None] * target[None]


def make_data(n: int, d: int, tables: np.ndarray, seed: int = 0):
    rng = np.random.default_rng(seed)
    v1, v2 = rng.integers(0, 4, n), rng.integers(0, 4, n)
    codes1, codes2 = rng.normal(size=(4, d)), rng.normal(size=(4, d))
    x1 = (codes1[v1] + 0.5 * rng.normal(size=(n, d))).astype(np.float32)
    x2 = (codes2[v2] + 0.5 * rng.normal(size=(n, d))).astype(np.float32)
    p12 = tables[:, v1, v2]
    p1 = tables.mean(2)[:, v1]
    p2 = tables.mean(1)[:, v2]
    return x1, x2, p1, p2, p12


def exact_atoms(table: np.ndarray) -> np.ndarray:
    r = pid_exact(table / 16.0)  # uniform (x1, x2)
    return np.array([getattr(r, a) for a in ATOMS])


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--baseline-problems", type=int, default=2)
    ap.add_argument("--smoke", action="store_true", help="tiny sizes; checks that the script runs")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    n_fit, n_eval, layers, seeds, dims = 2000, 1000, 33, 5, (896, 3584)
    kw, ours_kw = {}, {}
    if args.smoke:
        n_fit, n_eval, layers, seeds, dims = 300, 150, 3, 2, (16,)
        kw, ours_kw = dict(epochs=1), dict(epochs=1, min_steps=10)
    n = n_fit + n_eval
    fit, ev = np.arange(n_fit), np.arange(n_fit, n)
    print(f"# machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
          f"torch {torch.__version__}, python {platform.python_version()}")

    print("\n## single estimate (n = %d fit + %d eval, k = 4)" % (n_fit, n_eval))
    tables = layer_tables(2)
    for d in dims:
        x1, x2, p1, p2, p12 = make_data(n, d, tables[-1:], seed=1)
        b, tb = timed(lambda: baseline_batch(x1, x2, p1[0], p2[0], p12[0], fit, ev, **kw))
        ours, to = timed(lambda: pid_batch(x1[:n_fit], x2[:n_fit], p1[0, :n_fit], p2[0, :n_fit], p12[0, :n_fit],
                                           eval_data=(x1[n_fit:], x2[n_fit:], p1[0, n_fit:], p2[0, n_fit:],
                                                      p12[0, n_fit:]), **ours_kw))
        diff = max(abs(b[a] - getattr(ours, a)) for a in ATOMS)
        ex = exact_atoms(tables[-1])
        err = max(abs(getattr(ours, a) - ex[i]) for i, a in enumerate(ATOMS))
        berr = max(abs(b[a] - ex[i]) for i, a in enumerate(ATOMS))
        print(f"d={d:5d}  baseline {tb:7.2f} s   pidlib {to:6.2f} s   speed-up {tb / to:5.1f}x   "
              f"max|pidlib-baseline| {diff:.4f} bit   max|pidlib-exact| {err:.4f} bit   "
              f"max|baseline-exact| {berr:.4f} bit   pidlib steps {ours.diagnostics['steps']}")

    print(f"\n## sweep: {layers} layers x {seeds} seeds = {layers * seeds} estimates, d = {dims[0]}")
    tables = layer_tables(layers)
    x1, x2, p1, p2, p12 = make_data(n, dims[0], tables, seed=2)
    M = layers * seeds
    P = lambda a: np.repeat(a, seeds, axis=0)  # noqa: E731  problem m = (layer m // seeds, seed m % seeds)
    seed_list = [m % seeds for m in range(M)]
    fit_idx = np.broadcast_to(fit, (M, n_fit))
    eval_idx = np.broadcast_to(ev, (M, n_eval))
    ours, to = timed(lambda: pid_batch_many(x1, x2, P(p1), P(p2), P(p12), seeds=seed_list, fit_idx=fit_idx,
                                            eval_idx=eval_idx, chunk=33, **ours_kw))
    nb = min(args.baseline_problems, M)
    picks = np.linspace(0, M - 1, nb).round().astype(int)
    diffs, tbs = [], []
    for m in picks:
        layer = m // seeds
        b, tb = timed(lambda: baseline_batch(x1, x2, p1[layer], p2[layer], p12[layer], fit, ev,
                                             seed=seed_list[m], **kw))
        tbs.append(tb)
        diffs.append(max(abs(b[a] - getattr(ours[m], a)) for a in ATOMS))
    tb_sweep = float(np.mean(tbs)) * M
    exact = np.stack([exact_atoms(t) for t in tables])
    est = np.array([[getattr(r, a) for a in ATOMS] for r in ours]).reshape(layers, seeds, 4).mean(1)
    print(f"pidlib (pid_batch_many)      {to:8.1f} s   ({to / M:.2f} s per estimate)")
    print(f"baseline (extrapolated from {nb} of {M} estimates, {np.mean(tbs):.1f} s each)  {tb_sweep:8.1f} s")
    print(f"speed-up for the sweep       {tb_sweep / to:8.1f}x")
    print(f"max|pidlib-baseline| over the {nb} shared estimates: {max(diffs):.4f} bit")
    print(f"max|mean over seeds - exact| over layers: {np.abs(est - exact).max():.4f} bit")


if __name__ == "__main__":
    main()
