"""The result type shared by every PID estimator."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

ATOMS = ("redundancy", "unique1", "unique2", "synergy")


@dataclass(frozen=True)
class PIDResult:
    """A partial information decomposition of I(X1, X2; Y), in bits.

    Attributes
    ----------
    redundancy, unique1, unique2, synergy : float
        The four atoms R, U1, U2, S (Williams & Beer 2010; Bertschinger et al. 2014), as
        estimated: **not clipped**, so that they always add up,
        R + U1 = I1, R + U2 = I2 and R + U1 + U2 + S = ``total``. With ``X1`` the visual
        and ``X2`` the language source, ``unique1`` is unique visual and ``unique2``
        unique language information. A negative atom beyond the estimator's tolerance
        means the inputs are not those of one joint distribution (``coherent`` is then
        False); :meth:`clipped` gives the paper's clipped atoms for comparison.
    total : float
        I(X1, X2; Y).
    I1, I2 : float
        I(X1; Y) and I(X2; Y) as used by the decomposition.
    coherent : bool
        Whether the inputs can come from one joint distribution of (X1, X2, Y) within the
        estimator's tolerance (always True for :func:`pidlib.pid_exact`, which takes a
        joint). BATCH sets it from ``diagnostics["coherence"]``.
    diagnostics : dict
        Estimator-specific: solver convergence, marginal errors, training, coherence, ...
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
    coherent: bool = True
    diagnostics: dict = field(default_factory=dict)
    method: str = ""

    @property
    def raw(self) -> dict[str, float]:
        """The four atoms as a dict (they are never clipped; kept for older callers)."""
        return {a: float(getattr(self, a)) for a in ATOMS}

    def clipped(self) -> dict[str, float]:
        """The atoms clipped at 0, as the paper's code reports them. They need not add up
        to ``total``: never compute shares from them."""
        return {a: max(float(getattr(self, a)), 0.0) for a in ATOMS}

    def shares(self) -> dict[str, float]:
        """Each atom's share of ``total`` (fractions summing to 1); NaN for an incoherent
        result or a total of zero, where a share has no meaning."""
        if not self.coherent or not self.total > 0:
            return {a: math.nan for a in ATOMS}
        return {a: float(getattr(self, a)) / self.total for a in ATOMS}

    def as_dict(self) -> dict[str, Any]:
        """Atoms, informations and the coherence verdict as a flat dict."""
        out: dict[str, Any] = {a: float(getattr(self, a)) for a in ATOMS}
        out.update(total=float(self.total), I1=float(self.I1), I2=float(self.I2), coherent=bool(self.coherent))
        return out

    def __repr__(self) -> str:  # compact, readable in notebooks
        body = ", ".join(f"{k}={v:.4f}" for k, v in self.as_dict().items() if k != "coherent")
        tag = "" if self.coherent else ", INCOHERENT"
        return f"PIDResult({self.method}: {body}{tag})"


def from_raw(raw: dict[str, float], total: float, I1: float, I2: float,
             diagnostics: dict[str, Any], method: str, coherent: bool = True) -> PIDResult:
    """Build a :class:`PIDResult` from atoms (kept as they are, never clipped)."""
    return PIDResult(**{a: float(raw[a]) for a in ATOMS}, total=float(total), I1=float(I1), I2=float(I2),
                     coherent=bool(coherent), diagnostics=diagnostics, method=method)
