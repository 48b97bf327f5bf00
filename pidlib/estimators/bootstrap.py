"""Bootstrap intervals for PID atoms (the paper reports none).

Replicates resample the fit rows and the evaluation rows with replacement (each within
itself) and refit the estimator from a fresh seed, so an interval covers sampling noise and
the estimator's own variability. The interval is the *basic* bootstrap interval
[2 theta - q_hi, 2 theta - q_lo] (q the replicates' quantiles): plug-in informations are
biased under resampling, and the basic interval moves against that bias where the
percentile interval moves with it. It contains the point estimate unless the replicates'
bias exceeds their spread; ``BootstrapResult.contains_point`` says where that happened.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pidlib.estimators.batch import _split, _validate_set, pid_batch_many
from pidlib.estimators.result import ATOMS, PIDResult

QUANTITIES = ATOMS + ("total", "I1", "I2")


@dataclass(frozen=True)
class BootstrapResult:
    """A point estimate with basic bootstrap intervals.

    Attributes
    ----------
    point : PIDResult
        The estimate on the original rows.
    replicates : pandas.DataFrame
        One row per bootstrap replicate: the atoms, ``total``, ``I1``, ``I2`` (bits),
        ``coherent``.
    intervals : dict
        ``{quantity: (lo, hi)}``, basic bootstrap intervals (:func:`basic_interval`).
    contains_point : dict
        ``{quantity: bool}``: False where the point estimate lies outside its interval
        (the replicates' bias exceeds their spread).
    ci : float
    """

    point: PIDResult
    replicates: pd.DataFrame
    intervals: dict = field(default_factory=dict)
    contains_point: dict = field(default_factory=dict)
    ci: float = 0.95

    def summary(self) -> pd.DataFrame:
        """Point estimate and interval per quantity, as a table."""
        rows = [{"quantity": q, "estimate": getattr(self.point, q), "lo": lo, "hi": hi,
                 "contains_point": self.contains_point.get(q, True)}
                for q, (lo, hi) in self.intervals.items()]
        return pd.DataFrame(rows).set_index("quantity")


def percentile_interval(values, ci: float = 0.95) -> tuple[float, float]:
    """The central ``ci`` range (quantiles) of a 1-d sample of replicate values."""
    if not 0.0 < ci < 1.0:
        raise ValueError(f"ci: must lie in (0, 1), got {ci}")
    v = np.asarray(values, dtype=float)
    lo, hi = np.quantile(v, [(1 - ci) / 2, (1 + ci) / 2])
    return float(lo), float(hi)


def basic_interval(point: float, replicates, ci: float = 0.95) -> tuple[float, float, bool]:
    """The basic bootstrap interval [2 theta - q_hi, 2 theta - q_lo] of ``point`` = theta and
    whether it contains theta; NaN bounds when fewer than 2 finite replicates."""
    reps = np.asarray(replicates, dtype=float)
    reps = reps[np.isfinite(reps)]
    if len(reps) < 2 or not np.isfinite(point):
        return math.nan, math.nan, True
    q_lo, q_hi = percentile_interval(reps, ci)
    lo, hi = 2 * point - q_hi, 2 * point - q_lo
    return float(lo), float(hi), bool(lo <= point <= hi)


def bootstrap_pid(x1, x2, p_y_x1, p_y_x2, p_y_x1x2, *, n_boot: int = 50, ci: float = 0.95,
                  seed: int = 0, eval_data: tuple | None = None, eval_fraction: float = 1 / 3,
                  device: str = "cpu", chunk: int | None = None, **config) -> BootstrapResult:
    """BATCH estimate with basic bootstrap intervals for every atom.

    Each replicate resamples the fit rows and the evaluation rows with replacement (each
    set within itself) and refits the encoders from a fresh seed, so the interval covers
    both sampling noise and the estimator's own variability. All replicates train
    together through :func:`pid_batch_many` (``chunk`` bounds memory).

    Parameters
    ----------
    x1, x2, p_y_x1, p_y_x2, p_y_x1x2, eval_data, eval_fraction, device, **config
        As in :func:`pidlib.pid_batch`.
    n_boot : int, default 50
        Number of replicates.
    ci : float, default 0.95
        Coverage of the intervals.
    seed : int, default 0
        Seed of the point estimate; replicate b uses seed + 1 + b for both the
        resampling and the encoders.

    Returns
    -------
    BootstrapResult
    """
    if int(n_boot) < 2:
        raise ValueError(f"n_boot: need at least 2 replicates, got {n_boot}")
    percentile_interval([0.0], ci)  # validates ci
    X1, X2, P1, P2, P12 = _validate_set(x1, x2, p_y_x1, p_y_x2, p_y_x1x2)
    if any(a.shape[0] != 1 for a in (X1, X2, P1, P2, P12)):
        raise ValueError("bootstrap_pid: takes one estimate's rows (no leading problem axis)")
    n = P12.shape[1]
    if eval_data is not None:
        E = _validate_set(*eval_data, tag=" (eval_data)")
        ne = E[4].shape[1]
        arrays = [np.concatenate([a, b], axis=1)[0] for a, b in zip((X1, X2, P1, P2, P12), E)]
        fit_rows, eval_rows = np.arange(n), np.arange(n, n + ne)
    else:
        arrays = [a[0] for a in (X1, X2, P1, P2, P12)]
        fit_rows, eval_rows = _split(n, eval_fraction, seed)
    seeds = [seed] + [seed + 1 + b for b in range(n_boot)]
    fit_idx, eval_idx = [fit_rows], [eval_rows]
    for s in seeds[1:]:
        rng = np.random.default_rng(s)
        fit_idx.append(rng.choice(fit_rows, size=fit_rows.size, replace=True))
        eval_idx.append(rng.choice(eval_rows, size=eval_rows.size, replace=True))
    results = pid_batch_many(*arrays, seeds=seeds, fit_idx=np.stack(fit_idx), eval_idx=np.stack(eval_idx),
                             device=device, chunk=chunk, **config)
    point: PIDResult = results[0]
    reps = pd.DataFrame([r.as_dict() for r in results[1:]])
    intervals, contains = {}, {}
    for q in QUANTITIES:
        lo, hi, ok = basic_interval(getattr(point, q), reps[q], ci)
        intervals[q], contains[q] = (lo, hi), ok
    return BootstrapResult(point=point, replicates=reps, intervals=intervals, contains_point=contains, ci=ci)
