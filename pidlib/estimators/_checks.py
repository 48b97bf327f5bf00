"""Input validation: every problem raises ValueError naming the argument and the problem."""
from __future__ import annotations

import numpy as np

ROW_SUM_TOL = 1e-4


def as_float_array(x, name: str, ndim: int) -> np.ndarray:
    try:
        a = np.asarray(x, dtype=np.float64) if not hasattr(x, "detach") else x.detach().cpu().double().numpy()
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name}: cannot be read as a float array ({e})") from None
    if a.ndim != ndim:
        raise ValueError(f"{name}: expected a {ndim}-d array, got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"{name}: is empty (shape {a.shape})")
    bad = ~np.isfinite(a)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{name}: contains NaN or infinite values (first at index {where})")
    return a


def check_joint(p, name: str = "p", tol: float = 1e-6) -> np.ndarray:
    """A joint distribution over (X1, X2, Y): 3-d, non-negative, sums to 1."""
    a = as_float_array(p, name, 3)
    if min(a.shape) < 1 or a.shape[2] < 2:
        raise ValueError(f"{name}: Y must take at least 2 values, got shape {a.shape}")
    if (a < 0).any():
        where = tuple(int(i) for i in np.argwhere(a < 0)[0])
        raise ValueError(f"{name}: negative probability {a[where]:.3g} at index {where}")
    s = a.sum()
    if abs(s - 1.0) > tol:
        raise ValueError(f"{name}: must sum to 1, sums to {s:.8g}")
    return a / s


def check_conditional(p, name: str, n: int | None = None, k: int | None = None,
                      tol: float = ROW_SUM_TOL) -> np.ndarray:
    """Rows of conditional distributions p(y | .): (n, k), k >= 2, rows sum to 1."""
    a = as_float_array(p, name, 2)
    if a.shape[1] < 2:
        raise ValueError(f"{name}: needs at least 2 outcomes (k >= 2), got k = {a.shape[1]}")
    if n is not None and a.shape[0] != n:
        raise ValueError(f"{name}: has {a.shape[0]} rows, expected {n} (one per sample)")
    if k is not None and a.shape[1] != k:
        raise ValueError(f"{name}: has {a.shape[1]} outcomes, expected {k} like the other conditionals")
    if (a < 0).any():
        r, c = (int(i) for i in np.argwhere(a < 0)[0])
        raise ValueError(f"{name}: negative probability {a[r, c]:.3g} at row {r}, column {c}")
    dev = np.abs(a.sum(axis=1) - 1.0)
    if (dev > tol).any():
        r = int(np.argmax(dev))
        raise ValueError(f"{name}: row {r} sums to {a[r].sum():.6g}, not 1 (tolerance {tol})")
    return a / a.sum(axis=1, keepdims=True)


def check_features(x, name: str, n: int | None = None) -> np.ndarray:
    a = as_float_array(x, name, 2)
    if n is not None and a.shape[0] != n:
        raise ValueError(f"{name}: has {a.shape[0]} rows, expected {n} (one per sample)")
    return a
