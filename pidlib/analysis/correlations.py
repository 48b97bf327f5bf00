"""Rank correlations across models, with bootstrap percentile intervals.

The paper reports Spearman's rho across 26 models without intervals; the book adds a
bootstrap interval (resampling models with replacement) to every correlation, because
the zoo has few models and a rho from a handful of points is fragile.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy import stats


def _rankdata(a: np.ndarray) -> np.ndarray:
    return stats.rankdata(a, axis=-1)


def spearman(x, y) -> float:
    """Spearman's rho of two 1-d arrays (NaN if either is constant or n < 3)."""
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-d of the same length, got {x.shape} and {y.shape}")
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    rx, ry = _rankdata(x), _rankdata(y)
    return float(np.corrcoef(rx, ry)[0, 1])


def permutation_pvalue(x, y, *, n_perm: int = 5000, seed: int = 0) -> float:
    """Two-sided permutation p-value of Spearman's rho: the share of random pairings of x
    with y whose |rho| reaches the observed one, counting the observed pairing
    ((1 + hits) / (1 + n_perm), never 0). NaN when rho is undefined."""
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    rho = spearman(x, y)
    if math.isnan(rho):
        return math.nan
    rng = np.random.default_rng(seed)
    rx = _rankdata(x)
    ry = _rankdata(y)
    rx = rx - rx.mean()
    ry = ry - ry.mean()
    perm = np.argsort(rng.random((n_perm, len(y))), axis=1)
    rys = ry[perm]
    rhos = (rys @ rx) / np.sqrt((rx ** 2).sum() * (ry ** 2).sum())
    hits = int((np.abs(rhos) >= abs(rho) - 1e-12).sum())
    return (1 + hits) / (1 + n_perm)


def spearman_ci(x, y, *, n_boot: int = 2000, level: float = 0.95, seed: int = 0, n_perm: int = 5000) -> dict:
    """Spearman's rho, its p-value and a bootstrap percentile interval.

    Parameters
    ----------
    x, y : array-like, shape (n,)
        Paired observations (e.g. accuracy and synergy of n models). Rows with NaN in
        either are dropped.
    n_boot : int
        Bootstrap resamples of the n pairs (with replacement).
    level : float
        Coverage of the percentile interval.
    seed : int
        Seed of the resampling generator (results are deterministic for a seed).

    Returns
    -------
    dict
        ``rho``, ``p`` (two-sided, scipy's t approximation), ``p_perm`` (two-sided
        permutation p-value, :func:`permutation_pvalue` with ``n_perm`` pairings), ``lo``,
        ``hi``, ``n`` and ``n_boot_valid`` (resamples with a defined rho; ties can make a
        resample constant). With fewer than 3 pairs every statistic is NaN.
    """
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-d of the same length, got {x.shape} and {y.shape}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be positive, got {n_boot}")
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    n = len(x)
    out = {"rho": math.nan, "p": math.nan, "p_perm": math.nan, "lo": math.nan, "hi": math.nan, "n": n,
           "n_boot_valid": 0}
    rho = spearman(x, y)
    if math.isnan(rho):
        return out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = float(stats.spearmanr(x, y).pvalue)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    rx = _rankdata(x[idx])
    ry = _rankdata(y[idx])
    rx = rx - rx.mean(1, keepdims=True)
    ry = ry - ry.mean(1, keepdims=True)
    den = np.sqrt((rx ** 2).sum(1) * (ry ** 2).sum(1))
    valid = den > 0
    boots = (rx * ry).sum(1)[valid] / den[valid]
    alpha = (1 - level) / 2
    lo, hi = (np.quantile(boots, [alpha, 1 - alpha]) if len(boots) else (math.nan, math.nan))
    out.update(rho=rho, p=p, p_perm=permutation_pvalue(x, y, n_perm=n_perm, seed=seed), lo=float(lo), hi=float(hi),
               n_boot_valid=int(valid.sum()))
    return out


def correlation_table(df: pd.DataFrame, *, x: str = "accuracy", quantities=("synergy", "unique2", "total", "interaction"),
                      by: str = "dataset", n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Spearman rho of ``x`` against each quantity, across the rows of each ``by`` group.

    ``df`` has one row per model and group (e.g. the output-layer spectra of one dataset).
    Returns rows ``<by>, quantity, rho, p, p_perm, lo, hi, n``.
    """
    for c in [x, by, *quantities]:
        if c not in df.columns:
            raise ValueError(f"correlation_table: column {c!r} not in the table (have {list(df.columns)})")
    rows = []
    for key, g in df.groupby(by, sort=True):
        for q in quantities:
            r = spearman_ci(g[x].to_numpy(float), g[q].to_numpy(float), n_boot=n_boot, level=level, seed=seed)
            rows.append({by: key, "quantity": q, **r})
    return pd.DataFrame(rows, columns=[by, "quantity", "rho", "p", "p_perm", "lo", "hi", "n", "n_boot_valid"])


def verdict(paper_rho: float, rho: float, lo: float, hi: float, *, min_effect: float = 0.3) -> str:
    """Plain-words comparison of a zoo correlation with the paper's.

    ``"agrees"``: the paper reports a clear relation (|rho| >= ``min_effect``) and the zoo's
    interval excludes 0 on the same side; ``"disagrees"``: the zoo's interval excludes 0
    on the other side, or the paper reports no clear relation and the zoo's interval
    excludes 0 with |rho| >= ``min_effect``;
    ``"inconclusive"``: the zoo's interval contains 0 (or rho is undefined).
    """
    if any(map(lambda v: v is None or (isinstance(v, float) and math.isnan(v)), (rho, lo, hi))):
        return "inconclusive"
    if lo <= 0 <= hi:
        return "inconclusive"
    zoo_sign = 1 if lo > 0 else -1
    if abs(paper_rho) < min_effect:
        return "disagrees" if abs(rho) >= min_effect else "agrees"
    return "agrees" if zoo_sign == np.sign(paper_rho) else "disagrees"
