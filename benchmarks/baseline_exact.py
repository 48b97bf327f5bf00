"""The exact PID solver as it was before the KKT pattern was built once: the baseline of
``benchmarks/exact_speed.py``. The same solver as :func:`pidlib.pid_exact` (it runs
``pidlib.estimators.exact._pid_exact``) with the KKT matrix assembled as at commit a3e2f33:
``scipy.sparse.bmat`` of the Hessian and ``A diag(q)`` at every Newton step."""
from __future__ import annotations

import numpy as np
from scipy import sparse

from pidlib.estimators.exact import _pid_exact
from pidlib.estimators.result import PIDResult


def kkt_bmat(pu, pv, rows_A, cols_A, nv: int, r: int):
    """The former assembler: a fresh ``sparse.bmat`` per call (same signature as
    :func:`pidlib.estimators.exact._kkt_pattern`)."""
    A = sparse.csr_matrix((np.ones(len(rows_A)), (rows_A, cols_A)), shape=(r, nv))

    def assemble(hval: np.ndarray, qv: np.ndarray) -> sparse.csc_matrix:
        Hs = sparse.csc_matrix((hval, (pu, pv)), shape=(nv, nv))
        As = A @ sparse.diags(qv)
        return sparse.bmat([[Hs, As.T], [As, None]], format="csc")

    return assemble


def pid_exact_bmat(p, *, gap_tol: float = 1e-10, max_newton: int = 500) -> PIDResult:
    """:func:`pidlib.pid_exact` with the former per-step KKT assembly."""
    return _pid_exact(p, gap_tol, max_newton, kkt_bmat)
