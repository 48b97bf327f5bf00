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


@dataclass(frozen=True)
class BootstrapPlan:
    """Which rows each replicate uses: ``n_fits`` estimators, each evaluated ``1 + n_evals`` times.

    Estimator s (seed ``seed + s``) trains on ``fit_idx[s]`` (s = 0: the fit rows as they
    are; s >= 1: resampled with replacement) and is evaluated on the eval rows weighted by
    ``eval_weights[s, e]`` (e = 0: every row once; e >= 1: bootstrap multiplicities), whose
    row lists are ``eval_idx[s, e]``. (s, e) = (0, 0) is the point estimate; every other
    pair is a replicate, ``n_fits * (1 + n_evals) - 1`` in all. Evaluation replicates of one
    estimator share its kernel, so they cost a fraction of a refit.
    """

    fit_idx: np.ndarray        # (S, n_fit)
    eval_idx: np.ndarray       # (S, 1 + E, n_eval)
    eval_weights: np.ndarray   # (S, 1 + E, n_eval_rows) weights over the positions of ``eval_rows``
    eval_rows: np.ndarray      # (n_eval,) the eval rows the weights refer to
    seeds: list

    @property
    def n_replicates(self) -> int:
        return int(self.eval_idx.shape[0] * self.eval_idx.shape[1] - 1)

    def order(self) -> list[tuple[int, int]]:
        """(s, e) of the point estimate and then of every replicate, in result order."""
        S, E1 = self.eval_idx.shape[:2]
        return [(s, e) for s in range(S) for e in range(E1)]

    def rows(self) -> list[np.ndarray]:
        """The rows (fit and eval, with repeats) of the point estimate and of every replicate."""
        return [np.concatenate([self.fit_idx[s], self.eval_idx[s, e]]) for s, e in self.order()]


def bootstrap_plan(fit_rows: np.ndarray, eval_rows: np.ndarray, n_boot: int, *, n_fits: int = 3,
                   seed: int = 0) -> BootstrapPlan:
    """A :class:`BootstrapPlan` with at least ``n_boot`` replicates from ``n_fits`` estimators
    (``n_boot`` = 0: the point estimate only)."""
    fit_rows, eval_rows = np.asarray(fit_rows), np.asarray(eval_rows)
    S = 1 if n_boot == 0 else max(1, min(int(n_fits), n_boot + 1))
    E = 0 if n_boot == 0 else max(0, math.ceil((n_boot + 1) / S) - 1)
    fit_idx, eval_idx, weights = [], [], []
    ne = eval_rows.size
    for s in range(S):
        rng = np.random.default_rng([int(seed), 17, s])
        fit_idx.append(fit_rows if s == 0 else rng.choice(fit_rows, size=fit_rows.size, replace=True))
        ev, w = [eval_rows], [np.ones(ne)]
        for _ in range(E):
            pos = rng.integers(0, ne, size=ne)
            ev.append(np.sort(eval_rows[pos]))
            w.append(np.bincount(pos, minlength=ne).astype(float))
        eval_idx.append(np.stack(ev))
        weights.append(np.stack(w))
    return BootstrapPlan(np.stack(fit_idx), np.stack(eval_idx), np.stack(weights), eval_rows,
                         [int(seed) + s for s in range(S)])


def plan_results(plan: BootstrapPlan, results: list[PIDResult]) -> tuple[PIDResult, list[PIDResult]]:
    """The point estimate and the replicates, in plan order ((s, e) row-major, (0, 0) left
    out), from the S results of :func:`pidlib.pid_batch_many` run on the plan."""
    reps = []
    for s, r in enumerate(results):
        evals = [r] + [PIDResult(**{k: v for k, v in d.items()}, coherent=True, method=r.method,
                                 diagnostics={"seed": r.diagnostics.get("seed"), "eval_replicate": e + 1})
                       for e, d in enumerate(r.diagnostics.get("eval_replicates", []))]
        reps += evals if s else evals[1:]
    return results[0], reps


def bootstrap_pid(x1, x2, p_y_x1, p_y_x2, p_y_x1x2, *, n_boot: int = 50, n_fits: int = 5, ci: float = 0.95,
                  seed: int = 0, eval_data: tuple | None = None, eval_fraction: float = 1 / 3,
                  device: str = "cpu", chunk: int | None = None, **config) -> BootstrapResult:
    """BATCH estimate with basic bootstrap intervals for every atom.

    Replicates resample the rows and the estimator (:func:`bootstrap_plan`): ``n_fits``
    estimators, each trained on resampled fit rows from its own seed (the first on the rows
    as they are), each evaluated on the eval rows and on resamples of them, so the interval
    covers sampling noise and the estimator's own variability.

    Parameters
    ----------
    x1, x2, p_y_x1, p_y_x2, p_y_x1x2, eval_data, eval_fraction, device, **config
        As in :func:`pidlib.pid_batch`.
    n_boot : int, default 50
        Least number of replicates.
    n_fits : int, default 5
        Estimators trained (each refit costs about as much as the point estimate; an
        evaluation replicate a fraction of that).
    ci : float, default 0.95
        Coverage of the intervals.
    seed : int, default 0
        Seed of the point estimate and of the plan.

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
    plan = bootstrap_plan(fit_rows, eval_rows, int(n_boot), n_fits=n_fits, seed=seed)
    S = len(plan.seeds)
    results = pid_batch_many(*arrays, seeds=plan.seeds, fit_idx=plan.fit_idx,
                             eval_idx=np.broadcast_to(eval_rows, (S, eval_rows.size)),
                             eval_weights=plan.eval_weights, device=device, chunk=chunk, **config)
    point, rep_results = plan_results(plan, results)
    reps = pd.DataFrame([r.as_dict() for r in rep_results])
    intervals, contains = {}, {}
    for q in QUANTITIES:
        lo, hi, ok = basic_interval(getattr(point, q), reps[q], ci)
        intervals[q], contains[q] = (lo, hi), ok
    return BootstrapResult(point=point, replicates=reps, intervals=intervals, contains_point=contains, ci=ci)
