"""Samples with known PID: discrete sources, embedded as features, with their true conditionals.

Used to validate BATCH against :func:`pidlib.pid_exact`, in the first chapter of the book
and in the benchmarks.
"""
from __future__ import annotations

import numpy as np

from pidlib.estimators._checks import check_joint


def gate(name: str) -> np.ndarray:
    """The joint P(x1, x2, y) of a canonical two-bit gate, X1 and X2 i.i.d. uniform bits.

    ``xor``, ``and``, ``rdn`` (Y = X1 = X2), ``unq`` (Y = X1), ``copy`` (Y = (X1, X2)),
    ``sum`` (Y = X1 + X2). Exact atoms (bits) are listed in ``GATE_ATOMS``.
    """
    name = name.lower()
    if name == "rdn":
        p = np.zeros((2, 2, 2))
        p[0, 0, 0] = p[1, 1, 1] = 0.5
        return p
    fs = {"xor": (2, lambda a, b: a ^ b), "and": (2, lambda a, b: a & b), "unq": (2, lambda a, b: a),
          "copy": (4, lambda a, b: 2 * a + b), "sum": (3, lambda a, b: a + b)}
    if name not in fs:
        raise ValueError(f"gate: unknown gate {name!r}; choose from {sorted(fs) + ['rdn']}")
    ny, f = fs[name]
    p = np.zeros((2, 2, ny))
    for a in (0, 1):
        for b in (0, 1):
            p[a, b, f(a, b)] = 0.25
    return p


#: Exact atoms in bits (redundancy, unique1, unique2, synergy) of the gates.
GATE_ATOMS = {
    "xor": (0.0, 0.0, 0.0, 1.0),
    "and": (0.311278, 0.0, 0.0, 0.5),
    "rdn": (1.0, 0.0, 0.0, 0.0),
    "unq": (0.0, 1.0, 0.0, 0.0),
    "copy": (0.0, 1.0, 1.0, 0.0),
    "sum": (0.5, 0.0, 0.0, 1.0),
}


def _cells(p2: np.ndarray, n: int, rng: np.random.Generator, stratified: bool) -> np.ndarray:
    """n cell indices of the flattened (X1, X2) joint ``p2``: i.i.d. draws, or (``stratified``)
    exactly round(n p) of each cell (largest remainders), in random order."""
    if not stratified:
        return rng.choice(p2.size, size=n, p=p2.ravel())
    want = p2.ravel() * n
    counts = np.floor(want).astype(int)
    rest = n - counts.sum()
    counts[np.argsort(-(want - counts), kind="stable")[:rest]] += 1
    return rng.permutation(np.repeat(np.arange(p2.size), counts))


def sample_discrete(p, n: int, *, embedding: str = "onehot", dim: int = 64, sigma: float = 0.5,
                    seed: int = 0, stratified: bool = False, n_eval: int = 0) -> dict[str, np.ndarray]:
    """Draw n samples (x1, x2) from a joint P and return features and true conditionals.

    Parameters
    ----------
    p : array (|X1|, |X2|, |Y|)
        The joint distribution.
    n : int
        Number of samples.
    embedding : {"onehot", "noisy"}
        ``onehot``: x1, x2 are one-hot codes. ``noisy``: each value has a random Gaussian
        code in ``dim`` dimensions (unit variance per dimension) and every sample adds
        N(0, sigma^2) noise.
    seed : int
    stratified : bool, default False
        Draw exactly round(n P(x1, x2)) rows of each (x1, x2) cell (in random order)
        instead of i.i.d. rows, so that the sample's empirical joint is P up to rounding:
        an estimator's error is then not confounded with sampling noise.
    n_eval : int, default 0
        Append ``n_eval`` more rows (stratified on their own when ``stratified``) with the
        same codes: rows ``n:`` form an evaluation set.

    Returns
    -------
    dict with ``x1`` (n, d1), ``x2`` (n, d2), ``p_y_x1``, ``p_y_x2``, ``p_y_x1x2`` (n, |Y|),
    and the discrete values ``v1``, ``v2`` (n + n_eval rows each with ``n_eval``). The
    conditionals are the true ones of P (``p_y_x1x2`` rows of cells with zero mass never
    occur).
    """
    p = check_joint(p)
    rng = np.random.default_rng(seed)
    n1, n2, ny = p.shape
    p2 = p.sum(2)
    cell = np.concatenate([_cells(p2, m, rng, stratified) for m in (n, n_eval) if m])
    n = len(cell)
    v1, v2 = np.divmod(cell, n2)
    with np.errstate(invalid="ignore", divide="ignore"):
        c12 = p / p.sum(2, keepdims=True)
        c1 = p.sum(1) / p.sum((1, 2))[:, None]
        c2 = p.sum(0) / p.sum((0, 2))[:, None]
    if embedding == "onehot":
        x1, x2 = np.eye(n1)[v1], np.eye(n2)[v2]
    elif embedding == "noisy":
        codes1, codes2 = rng.normal(size=(n1, dim)), rng.normal(size=(n2, dim))
        x1 = codes1[v1] + sigma * rng.normal(size=(n, dim))
        x2 = codes2[v2] + sigma * rng.normal(size=(n, dim))
    else:
        raise ValueError(f"embedding: must be 'onehot' or 'noisy', got {embedding!r}")
    return {"x1": x1.astype(np.float32), "x2": x2.astype(np.float32), "p_y_x1": c1[v1],
            "p_y_x2": c2[v2], "p_y_x1x2": c12[v1, v2], "v1": v1, "v2": v2}


def random_joint(shape: tuple[int, int, int], seed: int) -> np.ndarray:
    """A random joint P(x1, x2, y) (Dirichlet(1) over the cells), reproducible by seed."""
    rng = np.random.default_rng(seed)
    return rng.dirichlet(np.ones(int(np.prod(shape)))).reshape(shape)


def validation_cases() -> dict[str, np.ndarray]:
    """The joints on which BATCH is validated against :func:`pidlib.pid_exact`: the gates
    AND, SUM, XOR, RDN, UNQ and COPY, and three random joints (3x3x2, 3x3x3, 4x4x4)."""
    out = {g: gate(g) for g in ("and", "sum", "xor", "rdn", "unq", "copy")}
    out.update({"rand332": random_joint((3, 3, 2), 1), "rand333": random_joint((3, 3, 3), 2),
                "rand444": random_joint((4, 4, 4), 3)})
    return out
