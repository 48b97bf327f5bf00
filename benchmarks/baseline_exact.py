"""The exact PID solver as it was before the KKT pattern was built once: the baseline of
``benchmarks/exact_speed.py``. Identical to ``pidlib.estimators.exact.pid_exact`` at commit
a3e2f33 (it assembled the KKT matrix with ``scipy.sparse.bmat`` at every Newton step)."""
from __future__ import annotations

import numpy as np
from scipy import sparse

from pidlib.estimators._checks import check_joint
from pidlib.estimators.exact import LOG2, _cond_entropy_neg, _mutual_information, _solve_refined
from pidlib.estimators.result import PIDResult, from_raw


def pid_exact_bmat(p, *, gap_tol: float = 1e-10, max_newton: int = 500) -> PIDResult:
    """Exact PID (BROJA) of a joint distribution over (X1, X2, Y).

    Parameters
    ----------
    p : array_like, shape (|X1|, |X2|, |Y|)
        The joint distribution P(x1, x2, y); non-negative, sums to 1 (within 1e-6; it is
        renormalized). |Y| >= 2.
    gap_tol : float, default 1e-10
        Stop when the barrier method's duality-gap bound, in nats, is below this. The
        atoms are then within ``gap_tol`` nats of the optimum of the convex program.
    max_newton : int, default 500
        Cap on the total number of Newton steps.

    Returns
    -------
    PIDResult
        Atoms in bits (``method="exact"``). ``diagnostics`` holds ``converged``,
        ``newton_steps``, ``gap_bound_bits``, ``marginal_error`` (max abs deviation of
        Q*'s (X1,Y) and (X2,Y) marginals from P's) and ``q`` (the optimal Q*).

    Raises
    ------
    ValueError
        If ``p`` is not a 3-d non-negative array summing to 1 with |Y| >= 2.

    Examples
    --------
    >>> import numpy as np
    >>> p = np.zeros((2, 2, 2))
    >>> for a in (0, 1):
    ...     for b in (0, 1):
    ...         p[a, b, a ^ b] = 0.25
    >>> round(pid_exact(p).synergy, 6)
    1.0
    """
    p = check_joint(p)
    n1, n2, ny = p.shape
    p1 = p.sum(1)  # (x1, y)
    p2 = p.sum(0)  # (x2, y)
    py = p.sum((0, 1))

    I1 = _mutual_information(p1)
    I2 = _mutual_information(p2)
    I12 = _mutual_information(p.reshape(n1 * n2, ny))

    # Variables: cells that a Q in Delta_P can charge.
    support = (p1[:, None, :] > 0) & (p2[None, :, :] > 0)
    ii, jj, yy = np.nonzero(support)
    nv = ii.size
    with np.errstate(divide="ignore", invalid="ignore"):
        q = p1[ii, yy] * p2[jj, yy] / py[yy]
    block = ii * n2 + jj
    _, block = np.unique(block, return_inverse=True)
    nb = int(block.max()) + 1
    blocks = sparse.csr_matrix((np.ones(nv), (block, np.arange(nv))), shape=(nb, nv))

    # Equality constraints A q = b: every supported (x1, y) row, and every supported
    # (x2, y) row but one per y (the two families share each y's total).
    rows_A, cols_A, b = [], [], []
    r = 0
    for (i, y) in zip(*np.nonzero(p1 > 0)):
        idx = np.nonzero((ii == i) & (yy == y))[0]
        rows_A += [r] * idx.size
        cols_A += idx.tolist()
        b.append(p1[i, y])
        r += 1
    for y in range(ny):
        js = np.nonzero(p2[:, y] > 0)[0]
        for j in js[1:]:
            idx = np.nonzero((jj == j) & (yy == y))[0]
            rows_A += [r] * idx.size
            cols_A += idx.tolist()
            b.append(p2[j, y])
            r += 1
    A = sparse.csr_matrix((np.ones(len(rows_A)), (rows_A, cols_A)), shape=(r, nv))
    b_vec = np.asarray(b, dtype=float)

    # Index pairs (u, v) of variables in the same (x1, x2) block: the Hessian's pattern.
    order = np.argsort(block, kind="stable")
    starts = np.searchsorted(block[order], np.arange(nb + 1))
    pu, pv = [], []
    for bi in range(nb):
        cells = order[starts[bi]:starts[bi + 1]]
        pu.append(np.repeat(cells, cells.size))
        pv.append(np.tile(cells, cells.size))
    pu = np.concatenate(pu)
    pv = np.concatenate(pv)
    diag = pu == pv

    def phi(qv: np.ndarray, t: float) -> float:
        return t * _cond_entropy_neg(qv, blocks) - float(np.sum(np.log(qv)))

    def newton_direction(qv: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
        """Solve the KKT system in variables scaled by q (delta = dq / q)."""
        Q = blocks @ qv
        g = t * (np.log(qv) - np.log(Q)[block]) - 1.0 / qv
        # diag(q) H diag(q) / t = diag(q) - q q^T / Q + I / t, blockwise. Dividing the
        # first block row by t balances it against the constraint rows (entries O(q)).
        hval = -qv[pu] * qv[pv] / Q[block[pu]] + diag * (qv[pu] + 1.0 / t)
        Hs = sparse.csc_matrix((hval, (pu, pv)), shape=(nv, nv))
        As = A @ sparse.diags(qv)
        K = sparse.bmat([[Hs, As.T], [As, None]], format="csc")
        # Infeasible-start Newton: the second block also removes round-off drift b - A q.
        rhs = np.concatenate([-qv * g / t, b_vec - A @ qv])
        # Diagonal pivots keep the block structure (fast); iterative refinement with the
        # same factorization restores the accuracy that pivoting would have bought.
        sol = _solve_refined(K, rhs)
        return qv * sol[:nv], g

    t = 10.0 * max(float(nv), 1.0)
    mu = 100.0
    center_tol = 1e-8  # Newton decrement^2 / 2 in barrier units: F within 1e-8 / t
    steps = 0
    converged = False
    while True:
        # Centering: Newton's method on phi_t restricted to A q = b. At large t the
        # decrement stops shrinking at round-off level, hence the per-centering cap.
        inner = 0
        while steps < max_newton and inner < 25:
            inner += 1
            dq, g = newton_direction(q, t)
            lam2 = float(-g @ dq)
            steps += 1
            if lam2 / 2.0 <= center_tol:
                break
            neg = dq < 0
            smax = float(np.min(-q[neg] / dq[neg])) if neg.any() else np.inf
            s = min(1.0, 0.99 * smax)
            f0 = phi(q, t)
            while s > 1e-14:
                qn = q + s * dq
                if np.all(qn > 0) and phi(qn, t) <= f0 - 0.25 * s * lam2:
                    break
                s *= 0.5
            if s <= 1e-14:
                break
            q = q + s * dq
        if nv / t < gap_tol:
            converged = steps < max_newton
            break
        if steps >= max_newton:
            break
        t *= mu

    # Atoms from the optimum.
    Hy = -float(np.sum(py[py > 0] * np.log(py[py > 0])))
    IQ = Hy + _cond_entropy_neg(q, blocks)
    raw = {
        "redundancy": (I1 + I2 - IQ) / LOG2,
        "unique1": (IQ - I2) / LOG2,
        "unique2": (IQ - I1) / LOG2,
        "synergy": (I12 - IQ) / LOG2,
    }
    qfull = np.zeros_like(p)
    qfull[ii, jj, yy] = q
    marginal_error = max(float(np.abs(qfull.sum(1) - p1).max()), float(np.abs(qfull.sum(0) - p2).max()))
    diagnostics = {
        "converged": bool(converged),
        "newton_steps": steps,
        "gap_bound_bits": nv / t / LOG2,
        "marginal_error": marginal_error,
        "n_variables": int(nv),
        "q": qfull,
    }
    return from_raw(raw, total=I12 / LOG2, I1=I1 / LOG2, I2=I2 / LOG2,
                    diagnostics=diagnostics, method="exact")
