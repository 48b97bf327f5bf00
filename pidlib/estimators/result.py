"""The result type shared by every PID estimator."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ATOMS = ("redundancy", "unique1", "unique2", "synergy")


@dataclass(frozen=True)
class PIDResult:
    """A partial information decomposition of I(X1, X2; Y), in bits.

    Attributes
    ----------
    redundancy, unique1, unique2, synergy : float
        The four atoms R, U1, U2, S (Williams & Beer 2010; Bertschinger et al. 2014),
        clipped at 0. With ``X1`` the visual and ``X2`` the language source, ``unique1``
        is unique visual and ``unique2`` unique language information.
    total : float
        I(X1, X2; Y). For the exact estimator the clipped atoms sum to it up to solver
        tolerance; for BATCH the *raw* atoms sum to it by construction.
    I1, I2 : float
        I(X1; Y) and I(X2; Y).
    raw : dict
        The atoms before clipping (may be negative for estimators that are not exact).
    diagnostics : dict
        Estimator-specific: solver convergence, marginal errors, loss curve, ...
    method : str
        ``"exact"``, ``"batch"`` or ``"discretized"``.
    """

    redundancy: float
    unique1: float
    unique2: float
    synergy: float
    total: float
    I1: float
    I2: float
    raw: dict = field(default_factory=dict)
    diagnostics: dict = field(default_factory=dict)
    method: str = ""

    def as_dict(self, raw: bool = False) -> dict[str, float]:
        """Atoms and informations as a flat dict (``raw_*`` keys added with ``raw=True``)."""
        out = {a: getattr(self, a) for a in ATOMS}
        out.update(total=self.total, I1=self.I1, I2=self.I2)
        if raw:
            out.update({f"raw_{a}": float(self.raw[a]) for a in ATOMS if a in self.raw})
        return out

    def __repr__(self) -> str:  # compact, readable in notebooks
        body = ", ".join(f"{k}={v:.4f}" for k, v in self.as_dict().items())
        return f"PIDResult({self.method}: {body})"


def from_raw(raw: dict[str, float], total: float, I1: float, I2: float,
             diagnostics: dict[str, Any], method: str) -> PIDResult:
    """Build a :class:`PIDResult` from raw atoms, clipping each at zero."""
    clipped = {a: max(float(raw[a]), 0.0) for a in ATOMS}
    return PIDResult(**clipped, total=float(total), I1=float(I1), I2=float(I2),
                     raw={a: float(raw[a]) for a in ATOMS}, diagnostics=diagnostics, method=method)
