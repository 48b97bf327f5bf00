"""Validation of BATCH against exact PIDs: known joints, embedded as noisy codes.

Each case of :func:`pidlib.estimators.synthetic.validation_cases` is sampled *stratified*
(every (x1, x2) cell exactly in proportion, so the sample's joint is the case's joint up to
rounding), its discrete values are embedded as random Gaussian codes plus noise, and BATCH
gets the true conditionals p(y|x1), p(y|x2), p(y|x1,x2). Its atoms are compared with
:func:`pidlib.pid_exact` of the case's joint. ``features="noise"`` replaces the codes by
pure noise: the control that shows whether the estimate uses the features at all.

Used by ``benchmarks/validation.py`` (the table in ``benchmarks/RESULTS.md`` and
``data/results/validation.csv``), the method chapter and ``tests/test_estimators_batch.py``.
"""
from __future__ import annotations

import time
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from pidlib.estimators.exact import pid_exact
from pidlib.estimators.result import ATOMS
from pidlib.estimators.synthetic import sample_discrete, validation_cases

K_PAD = 4
KEYS = ("x1", "x2", "p_y_x1", "p_y_x2", "p_y_x1x2")


def _pad(a: np.ndarray, k: int) -> np.ndarray:
    return np.concatenate([a, np.zeros((a.shape[0], k - a.shape[1]))], axis=1) if a.shape[1] < k else a


def validation_problems(cases: dict[str, np.ndarray], n_fit: int, *, n_eval: int = 1000, seed: int = 0,
                        dim: int = 64, sigma: float = 0.5, features: str = "codes") -> tuple[dict, dict]:
    """Stacked fit and eval arrays (leading problem axis, one problem per case).

    Returns ``(fit, eval)``: dicts of ``x1, x2`` (M, n, dim) and the three conditionals
    (M, n, 4), zero-padded to 4 outcomes so that every case fits one batched call.
    """
    if features not in ("codes", "noise"):
        raise ValueError(f"features: must be 'codes' or 'noise', got {features!r}")
    fit: dict[str, list] = {k: [] for k in KEYS}
    ev: dict[str, list] = {k: [] for k in KEYS}
    for j, p in enumerate(cases.values()):
        d = sample_discrete(p, n_fit, embedding="noisy", dim=dim, sigma=sigma, seed=1000 * seed + j,
                            stratified=True, n_eval=n_eval)
        if features == "noise":
            rng = np.random.default_rng(10_000 + 1000 * seed + j)
            d["x1"] = rng.normal(size=d["x1"].shape).astype(np.float32)
            d["x2"] = rng.normal(size=d["x2"].shape).astype(np.float32)
        for key in KEYS:
            a = d[key] if key in ("x1", "x2") else _pad(d[key], K_PAD)
            fit[key].append(a[:n_fit])
            ev[key].append(a[n_fit:])
    return {k: np.stack(v) for k, v in fit.items()}, {k: np.stack(v) for k, v in ev.items()}


def validate_batch(n_fit: int, *, cases: dict[str, np.ndarray] | None = None, seeds: Sequence[int] = (0,),
                   n_eval: int = 1000, features: str = "codes", **batch_kwargs) -> pd.DataFrame:
    """BATCH against the exact atoms on every case, one batched fit per seed.

    Returns one row per (case, seed): the estimated and exact atoms and totals (bits),
    ``max_error`` (largest absolute atom error), ``trained``, ``steps``, ``ci_gap``,
    ``coherent``, ``seconds`` (wall time of the batched call, shared by its cases).
    """
    from pidlib.estimators.batch import pid_batch_many

    cases = cases if cases is not None else validation_cases()
    exact = {name: pid_exact(p) for name, p in cases.items()}
    rows = []
    for seed in seeds:
        fit, ev = validation_problems(cases, n_fit, n_eval=n_eval, seed=seed, features=features)
        t0 = time.perf_counter()
        res = pid_batch_many(*(fit[k] for k in KEYS), eval_data=tuple(ev[k] for k in KEYS),
                             seeds=[seed] * len(cases), **batch_kwargs)
        dt = time.perf_counter() - t0
        for (name, ex), r in zip(exact.items(), res):
            row = {"case": name, "n_fit": n_fit, "n_eval": n_eval, "seed": seed, "features": features}
            row.update({a: getattr(r, a) for a in ATOMS}, total=r.total)
            row.update({f"exact_{a}": getattr(ex, a) for a in ATOMS}, exact_total=ex.total)
            row["max_error"] = max(abs(getattr(r, a) - getattr(ex, a)) for a in ATOMS)
            row.update(trained=r.diagnostics["trained"], steps=r.diagnostics["steps"],
                       ci_gap=r.diagnostics["ci_gap"], coherent=r.coherent, seconds=dt)
            rows.append(row)
    return pd.DataFrame(rows)


def validation_table(n_fits: Iterable[int] = (250, 500, 1000, 2000), *, seeds: Sequence[int] = (0, 1, 2),
                     features: Sequence[str] = ("codes", "noise"), **kw) -> pd.DataFrame:
    """:func:`validate_batch` over sample sizes and feature kinds, concatenated."""
    return pd.concat([validate_batch(n, seeds=seeds, features=f, **kw) for f in features for n in n_fits],
                     ignore_index=True)
