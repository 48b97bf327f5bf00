"""Exact PID of a discrete joint distribution (Bertschinger et al. 2014, "BROJA").

The atoms follow from one convex program over

    Delta_P = { Q on X1 x X2 x Y : Q(x1, y) = P(x1, y), Q(x2, y) = P(x2, y) },

namely the distribution Q* in Delta_P that minimizes I_Q(X1, X2; Y) (equivalently, since
H(Y) is fixed on Delta_P, maximizes the conditional entropy H_Q(Y | X1, X2)):

    U1 = I_Q*(X1; Y | X2) = I_Q* - I(X2; Y)          (Bertschinger et al. 2014, eq. 5)
    U2 = I_Q*(X2; Y | X1) = I_Q* - I(X1; Y)
    R  = I(X1; Y) + I(X2; Y) - I_Q*                  (co-information under Q*)
    S  = I_P(X1, X2; Y) - I_Q*(X1, X2; Y)

Solver: a feasible-start log-barrier interior-point method (Boyd & Vandenberghe 2004,
ch. 11) with equality-constrained Newton steps. Only the cells that any Q in Delta_P can
charge are variables (Q(x1,x2,y) <= min(P(x1,y), P(x2,y))), the product distribution
P(x1|y) P(x2|y) P(y) is a strictly feasible start, and every Newton step stays in the null
space of the marginal constraints, so the marginals hold to round-off throughout. The
Hessian of -H_Q(Y|X1,X2) is block diagonal over (x1, x2) with each block
diag(1/q) - 11^T/Q(x1,x2); with the barrier each block is inverted in closed form
(Sherman-Morrison), and the KKT system reduces to a Schur complement of the size of the
number of marginal constraints. The barrier parameter grows until the duality-gap bound
(number of variables / t) is below ``gap_tol`` nats.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import sparse
from scipy.sparse.linalg import splu

from pidlib.estimators._checks import check_joint
from pidlib.estimators.result import PIDResult, from_raw

LOG2 = math.log(2.0)


def _mutual_information(pxy: np.ndarray) -> float:
    """I(X;Y) in nats from a 2-d joint table."""
    px = pxy.sum(1, keepdims=True)
    py = pxy.sum(0, keepdims=True)
    m = pxy > 0
    return float(np.sum(pxy[m] * np.log(pxy[m] / (px @ py)[m])))


def _cond_entropy_neg(q: np.ndarray, blocks: sparse.csr_matrix) -> float:
    """F(q) = sum q log q - sum_b Q_b log Q_b = -H(Y | X1, X2) in nats (q > 0)."""
    Q = blocks @ q
    return float(np.sum(q * np.log(q)) - np.sum(Q * np.log(Q)))


def _solve_refined(K: sparse.csc_matrix, rhs: np.ndarray, refine: int = 4) -> np.ndarray:
    """Solve K x = rhs: a structure-keeping LU (diagonal pivots) with iterative refinement,
    falling back to SuperLU's partial pivoting when that factorization fails or the
    refined residual stays large."""
    scale = max(float(np.abs(rhs).max()), 1e-300)
    try:
        lu = splu(K, permc_spec="NATURAL", diag_pivot_thresh=0.0)
        x = lu.solve(rhs)
        for _ in range(refine):
            x += lu.solve(rhs - K @ x)
        if np.all(np.isfinite(x)) and np.abs(rhs - K @ x).max() <= 1e-12 * scale:
            return x
    except RuntimeError:
        pass
    lu = splu(K)
    x = lu.solve(rhs)
    x += lu.solve(rhs - K @ x)
    return x


def pid_exact(p, *, gap_tol: float = 1e-10, max_newton: int = 500) -> PIDResult:
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
    return _pid_exact(p, gap_tol, max_newton, _kkt_pattern)


def _kkt_pattern(pu: np.ndarray, pv: np.ndarray, rows_A: np.ndarray, cols_A: np.ndarray, nv: int, r: int):
    """Assembler of the KKT matrix [[H, A^T], [A, 0]] (scaled variables) of :func:`pid_exact`.

    ``H`` has its entries at (pu, pv); ``A`` (r x nv) has ones at (rows_A, cols_A), scaled
    by q per column. The sparsity pattern is the same at every Newton step, so its CSC
    structure is built once here; the returned ``assemble(hval, qv)`` only fills in the
    values (entries in the order H, A^T, A; CSC position k holds entry ``slot[k]``).
    """
    kr = np.concatenate([pu, cols_A, nv + rows_A])
    kc = np.concatenate([pv, nv + rows_A, cols_A])
    n = nv + r
    pattern = sparse.csc_matrix((np.arange(1, kr.size + 1, dtype=np.float64), (kr, kc)), shape=(n, n))
    pattern.sort_indices()
    slot = pattern.data.astype(np.int64) - 1
    indices, indptr = pattern.indices, pattern.indptr

    def assemble(hval: np.ndarray, qv: np.ndarray) -> sparse.csc_matrix:
        qa = qv[cols_A]
        return sparse.csc_matrix((np.concatenate([hval, qa, qa])[slot], indices, indptr), shape=(n, n))

    return assemble


def _pid_exact(p, gap_tol: float, max_newton: int, kkt) -> PIDResult:
    """:func:`pid_exact` with the KKT assembler ``kkt`` (a :func:`_kkt_pattern`-like factory)."""
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
    rows_A, cols_A = np.asarray(rows_A, dtype=np.int64), np.asarray(cols_A, dtype=np.int64)
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

    assemble = kkt(pu, pv, rows_A, cols_A, nv, r)

    def phi(qv: np.ndarray, t: float) -> float:
        return t * _cond_entropy_neg(qv, blocks) - float(np.sum(np.log(qv)))

    def newton_direction(qv: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
        """Solve the KKT system in variables scaled by q (delta = dq / q)."""
        Q = blocks @ qv
        g = t * (np.log(qv) - np.log(Q)[block]) - 1.0 / qv
        # diag(q) H diag(q) / t = diag(q) - q q^T / Q + I / t, blockwise. Dividing the
        # first block row by t balances it against the constraint rows (entries O(q)).
        hval = -qv[pu] * qv[pv] / Q[block[pu]] + diag * (qv[pu] + 1.0 / t)
        K = assemble(hval, qv)
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
