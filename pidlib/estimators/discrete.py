"""PID by discretization ("CVX" path of Liang et al. 2023): cluster, then solve exactly."""
from __future__ import annotations

import numpy as np
from scipy.cluster.vq import kmeans2

from pidlib.estimators._checks import check_conditional, check_features
from pidlib.estimators.exact import pid_exact
from pidlib.estimators.result import PIDResult


def _kmeans(x: np.ndarray, k: int, seed: int) -> np.ndarray:
    k = min(k, len(np.unique(x, axis=0)))
    if k <= 1:
        return np.zeros(len(x), dtype=int)
    std = x.std(0)
    xs = (x - x.mean(0)) / np.where(std > 0, std, 1.0)
    _, labels = kmeans2(xs, k, minit="++", seed=np.random.default_rng(seed), iter=30)
    return labels


def pid_discretized(x1, x2, p_y_x1x2, *, n_clusters: int = 8, seed: int = 0) -> PIDResult:
    """PID of the empirical joint after k-means discretization of each source.

    Each source's features are standardized and clustered into ``n_clusters`` groups;
    the joint is P(c1, c2, y) = (1/n) sum_i 1[c1_i] 1[c2_i] p(y | x1_i, x2_i), solved with
    :func:`pid_exact`. Only the full conditional enters: the unimodal conditionals are
    those implied by this joint. Coarse clusters merge inputs, so the result is a lower
    bound on I(X1,X2;Y) and can move information between atoms; it is a cross-check, not
    a replacement for BATCH.

    Parameters
    ----------
    x1, x2 : array (n, d1), (n, d2)
    p_y_x1x2 : array (n, k)
    n_clusters : int, default 8
        Clusters per source (capped at the number of distinct rows).
    seed : int, default 0

    Returns
    -------
    PIDResult with ``method="discretized"``; diagnostics add ``n_clusters``, ``joint``.
    """
    p = check_conditional(p_y_x1x2, "p_y_x1x2")
    n = p.shape[0]
    x1 = check_features(x1, "x1", n)
    x2 = check_features(x2, "x2", n)
    if int(n_clusters) < 1:
        raise ValueError(f"n_clusters: must be >= 1, got {n_clusters}")
    c1 = _kmeans(x1, n_clusters, seed)
    c2 = _kmeans(x2, n_clusters, seed + 1)
    joint = np.zeros((c1.max() + 1, c2.max() + 1, p.shape[1]))
    np.add.at(joint, (c1, c2), p / n)
    r = pid_exact(joint)
    diagnostics = dict(r.diagnostics, n_clusters=(int(joint.shape[0]), int(joint.shape[1])), joint=joint)
    return PIDResult(r.redundancy, r.unique1, r.unique2, r.synergy, r.total, r.I1, r.I2,
                     coherent=True, diagnostics=diagnostics, method="discretized")
