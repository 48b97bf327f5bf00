"""The book's verdict rule, stated once, and the scoreboard built from it.

Every comparison of the classroom zoo with the paper ends in one of three words, decided
by the rule below and by nothing else (the book states it on its "at a glance" page and
every chapter links there).

Correlations across models (:func:`correlation_verdict`)
    The zoo's Spearman rho, a 95 % bootstrap percentile interval over models and a
    two-sided permutation p-value (exact for n <= 8 models). When the paper reports a clear
    relation (|rho_paper| >= :data:`MIN_EFFECT`):

    - **reproduced**: the interval excludes 0 on the paper's side and p < :data:`ALPHA`;
    - **reversed**: the interval excludes 0 on the other side and p < :data:`ALPHA`;
    - **inconclusive**: anything else (the interval contains 0, p >= alpha, fewer than
      :data:`MIN_N` usable models, or rho undefined).

    When the paper reports no clear relation (|rho_paper| < :data:`MIN_EFFECT`), the claim is
    "no relation": **reproduced** when the whole interval lies inside
    (-MIN_EFFECT, +MIN_EFFECT), **reversed** when it excludes 0 with p < alpha,
    **inconclusive** otherwise.

Comparisons of atoms (:func:`difference_verdict`)
    A claim "A exceeds B" (or "A falls below B") is tested on the difference d = A - B in
    bits (or in points of share), averaged over units (models, families, checkpoints), with
    a 95 % interval from a bootstrap over units in which each unit's difference is also
    perturbed by its own estimation error (from the spectra's intervals; none where the
    table has none; a difference with no interval at all is judged by the floor alone).
    The difference must clear the estimator's **noise floor**
    ``floor_bits`` (default :data:`FLOOR_BITS`, the BATCH validation error at n_fit >= 500):

    - **reproduced**: d is on the claimed side, |d| > floor, and the interval excludes 0;
    - **reversed**: d is on the other side, |d| > floor, and the interval excludes 0;
    - **inconclusive**: |d| <= floor (within the estimator's noise) or the interval contains 0.

Only usable spectra enter a verdict: coherent (the three probes can come from one joint
distribution; see :func:`read_atoms`) and, where the table says so, with a trained
estimator. The atoms of an incoherent spectrum are not a decomposition; comparing them
would compare artefacts. A verdict says how many spectra it left out and why.

A probe kind absent from the table gives **not run**, never a guess.

All atoms are read through :func:`read_atoms`, the one place that knows the spectra
table's schema (clipped atoms with ``raw_*`` columns today; unclipped atoms with
``coherent`` and ``trained`` columns after the estimator rewrite).
"""
from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterable

import numpy as np
import pandas as pd

#: Estimator noise floor in bits: the BATCH validation error at n_fit >= 500 (the
#: measurement issue's validation table states the final number; 0.05 bit is its bound).
FLOOR_BITS = 0.05
#: Coverage of every interval.
LEVEL = 0.95
#: Significance level of the permutation test.
ALPHA = 0.05
#: |rho| below which a correlation is "no clear relation" (for the paper's values).
MIN_EFFECT = 0.3
#: Fewer usable models than this: a correlation is inconclusive whatever its value.
MIN_N = 5
#: Verdict words, in the order tables list them.
REPRODUCED, REVERSED, INCONCLUSIVE, NOT_RUN = "reproduced", "reversed", "inconclusive", "not run"
VERDICTS = (REPRODUCED, REVERSED, INCONCLUSIVE)

ATOMS = ("redundancy", "unique1", "unique2", "synergy")
#: Probe kinds of the spectra table, in the order the scoreboard shows them, with labels.
PROBE_KINDS = {
    "noise": "noise, 1 draw (paper)",
    "noise8": "noise, 8 draws",
    "donors4": "donors, 4",
    "donors8": "donors, 8",
    "reference": "exact reference",
    "discretized": "discretized",
}
#: Probe kinds the scoreboard always shows (as "not run" when absent).
CORE_PROBES = ("noise", "donors4", "reference")


# ----------------------------------------------------------------------------- the atoms
def _bool_column(s: pd.Series) -> pd.Series:
    """A True/False column as read from a CSV (bools, 0/1 or the strings)."""
    if s.dtype == bool:
        return s
    m = s.map(lambda v: {"true": True, "false": False, "1": True, "0": False, "1.0": True, "0.0": False}
              .get(str(v).strip().lower(), pd.NA))
    return m.astype("boolean")


def read_atoms(df: pd.DataFrame, *, tol_bits: float = FLOOR_BITS) -> pd.DataFrame:
    """The atoms of every row of a spectra table, as one decomposition, with its status.

    This is the only function of the book that reads atom columns. It understands both
    schemas of ``data/results/spectra.csv``:

    - **new** (a ``coherent`` column): ``redundancy, unique1, unique2, synergy`` are the
      unclipped atoms (they sum to ``total``); ``coherent`` and ``trained`` say whether the
      spectrum is one decomposition and whether the estimator trained;
    - **old** (``raw_*`` columns, no ``coherent``): the atom columns are clipped at 0, the
      ``raw_*`` columns hold the unclipped atoms, and coherence is computed here: a spectrum
      is incoherent when a raw atom is below ``-tol_bits`` or I(X1;Y) or I(X2;Y) exceeds
      I(X1,X2;Y) by more than ``tol_bits`` (the identities of one joint distribution).

    Parameters
    ----------
    df : DataFrame
        Rows of a spectra table (any subset of columns beyond the atoms and ``total``).
    tol_bits : float
        Tolerance of the computed coherence check (old schema only), default the noise
        floor :data:`FLOOR_BITS`.

    Returns
    -------
    DataFrame, index-aligned with ``df``
        ``redundancy, unique1, unique2, synergy, total`` (bits, unclipped),
        ``<atom>_lo``/``<atom>_hi`` and ``total_lo``/``total_hi`` where the table has
        intervals (NaN otherwise), ``coherent`` (bool), ``trained`` (bool; True where the
        table does not say), ``usable`` (coherent and trained), ``why`` (why a row is not
        usable, "" if it is), ``share_<atom>`` (% of the total; NaN unless usable and the
        total exceeds ``tol_bits``) and ``interaction`` (I1 + I2 - total, where I1, I2 exist).
    """
    missing = [c for c in (*ATOMS, "total") if c not in df.columns]
    if missing:
        raise ValueError(f"read_atoms: the spectra table lacks column(s) {missing}")
    new_schema = "coherent" in df.columns
    raw = [f"raw_{a}" for a in ATOMS]
    use_raw = not new_schema and all(c in df.columns for c in raw)
    out = pd.DataFrame(index=df.index)
    for a in ATOMS:
        col = pd.to_numeric(df[a], errors="coerce").astype(float)
        if use_raw:  # a row without raw atoms keeps its reported ones
            col = pd.to_numeric(df[f"raw_{a}"], errors="coerce").astype(float).fillna(col)
        out[a] = col
    out["total"] = pd.to_numeric(df["total"], errors="coerce").astype(float)
    for c in (*ATOMS, "total"):
        for s in ("lo", "hi"):
            col = f"{c}_{s}"
            out[col] = pd.to_numeric(df[col], errors="coerce").astype(float) if col in df.columns else np.nan

    worst = out[list(ATOMS)].min(axis=1)
    worst_atom = out[list(ATOMS)].fillna(np.inf).idxmin(axis=1) if len(out) else pd.Series(dtype=object)
    i1 = pd.to_numeric(df["I1"], errors="coerce") if "I1" in df.columns else pd.Series(np.nan, index=df.index)
    i2 = pd.to_numeric(df["I2"], errors="coerce") if "I2" in df.columns else pd.Series(np.nan, index=df.index)
    if new_schema:
        coherent = _bool_column(df["coherent"]).fillna(False).astype(bool)
    else:
        coherent = (worst >= -tol_bits) & ~(i1 > out.total + tol_bits) & ~(i2 > out.total + tol_bits)
    if "trained" in df.columns:
        trained = _bool_column(df["trained"]).fillna(True).astype(bool)
    else:
        trained = pd.Series(True, index=df.index)
    out["coherent"] = coherent.to_numpy(bool)
    out["trained"] = trained.to_numpy(bool)
    out["usable"] = out.coherent & out.trained & out.total.notna()

    sym = {"redundancy": "R", "unique1": "U1", "unique2": "U2", "synergy": "S"}

    def why(i) -> str:
        reasons = []
        if not out.at[i, "trained"]:
            reasons.append("estimator did not train")
        if not out.at[i, "coherent"]:
            if worst.at[i] < -tol_bits:
                reasons.append(f"incoherent: {sym[worst_atom.at[i]]} = {worst.at[i]:.2f} bit < 0")
            elif i1.at[i] > out.at[i, "total"] + tol_bits or i2.at[i] > out.at[i, "total"] + tol_bits:
                reasons.append("incoherent: one input alone carries more than both")
            else:
                reasons.append("incoherent")
        if math.isnan(out.at[i, "total"]):
            reasons.append("no total")
        return "; ".join(reasons)

    out["why"] = [why(i) for i in out.index]
    ok = out.usable & (out.total > tol_bits)  # a share of a total within the floor is noise
    for a in ATOMS:
        out[f"share_{a}"] = np.where(ok, 100.0 * out[a] / out.total.where(ok, 1.0), np.nan)
    out["interaction"] = i1.astype(float) + i2.astype(float) - out.total
    return out


def with_atoms(df: pd.DataFrame, *, tol_bits: float = FLOOR_BITS) -> pd.DataFrame:
    """``df`` with its atom, interval and share columns replaced by :func:`read_atoms`'
    (unclipped atoms, ``coherent``, ``trained``, ``usable``, ``why``, ``share_*``,
    ``interaction``)."""
    atoms = read_atoms(df, tol_bits=tol_bits)
    out = df.drop(columns=[c for c in atoms.columns if c in df.columns]).copy()
    return pd.concat([out, atoms], axis=1)


# ----------------------------------------------------------------------------- verdicts
@dataclass
class Verdict:
    """One comparison's outcome and the numbers it rests on.

    ``label`` is one of :data:`VERDICTS` or :data:`NOT_RUN`; ``estimate`` is rho (for a
    correlation) or the mean difference (bits, or points for shares); ``lo``/``hi`` its
    interval; ``p`` the permutation p-value (correlations only); ``n`` the units used and
    ``n_left_out`` those left out (not usable), ``reason`` a few words on why the label.
    """

    label: str
    kind: str = "correlation"
    estimate: float = math.nan
    lo: float = math.nan
    hi: float = math.nan
    p: float = math.nan
    n: int = 0
    n_left_out: int = 0
    unit: str = ""
    reason: str = ""
    extra: dict = field(default_factory=dict)

    def numbers(self, digits: int = 2) -> str:
        """The numbers in words: ``rho = 0.83 [0.32, 1.00], p = 0.02, n = 6``."""
        if self.label == NOT_RUN:
            return ""
        parts = []
        if not math.isnan(self.estimate):
            name = "ρ" if self.kind == "correlation" else "Δ"
            unit = f" {self.unit}" if self.unit else ""
            iv = (f" [{self.lo:.{digits}f}, {self.hi:.{digits}f}]"
                  if not (math.isnan(self.lo) or math.isnan(self.hi)) else " (no interval)")
            sign = "+" if self.kind != "correlation" and self.estimate > 0 else ""
            parts.append(f"{name} = {sign}{self.estimate:.{digits}f}{unit}{iv}")
        if not math.isnan(self.p):
            parts.append(f"p = {self.p:.3f}" if self.p >= 0.001 else "p < 0.001")
        parts.append(f"n = {self.n}" + (f" (+{self.n_left_out} unusable)" if self.n_left_out else ""))
        return ", ".join(parts)

    def text(self, digits: int = 2) -> str:
        """``reproduced: rho = ...`` (with the reason when not reproduced/reversed)."""
        if self.label == NOT_RUN:
            return NOT_RUN
        s = f"{self.label}: {self.numbers(digits)}"
        if self.label == INCONCLUSIVE and self.reason:
            s += f" ({self.reason})"
        return s

    def as_dict(self) -> dict:
        d = asdict(self)
        d.pop("extra")
        d["numbers"] = self.numbers()
        return d


def _spearman_rows(x: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Spearman rho of ``x`` with each row of ``ys`` (ties by average ranks)."""
    from scipy import stats
    rx = stats.rankdata(x)
    ry = stats.rankdata(ys, axis=-1)
    rx = rx - rx.mean()
    ry = ry - ry.mean(axis=-1, keepdims=True)
    den = np.sqrt((rx ** 2).sum() * (ry ** 2).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return (ry @ rx) / den


def permutation_p(x, y, *, n_perm: int = 20000, seed: int = 0, exact_max: int = 8) -> float:
    """Two-sided permutation p-value of Spearman's rho of ``x`` and ``y``.

    Exact (all n! orderings of ``y``) for n <= ``exact_max``, else Monte Carlo with
    ``n_perm`` permutations and the (count + 1) / (n_perm + 1) estimate. NaN when rho is
    undefined (n < 3 or a constant input).
    """
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    n = len(x)
    if n < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    obs = abs(float(_spearman_rows(x, y[None, :])[0]))
    eps = 1e-12
    if n <= exact_max:
        perms = np.array(list(itertools.permutations(range(n))))
        rhos = np.abs(_spearman_rows(x, y[perms]))
        return float(np.mean(rhos >= obs - eps))
    rng = np.random.default_rng(seed)
    ys = np.stack([rng.permutation(y) for _ in range(n_perm)])
    rhos = np.abs(_spearman_rows(x, ys))
    return float((np.sum(rhos >= obs - eps) + 1) / (n_perm + 1))


def correlation_verdict(x, y, *, paper_rho: float | None = None, sign: int | None = None,
                        level: float = LEVEL, alpha: float = ALPHA, min_effect: float = MIN_EFFECT,
                        min_n: int = MIN_N, n_boot: int = 2000, n_perm: int = 20000, seed: int = 0,
                        n_left_out: int = 0) -> Verdict:
    """Verdict on a correlation across models (the rule in the module docstring).

    Parameters
    ----------
    x, y : array-like, shape (n,)
        Paired values per model (e.g. accuracy and synergy); pairs with a NaN are dropped
        (and counted in ``n_left_out``).
    paper_rho : float, optional
        The paper's rho; its sign is the claim when |paper_rho| >= ``min_effect``, else the
        claim is "no clear relation".
    sign : {+1, -1, 0}, optional
        The claim directly (instead of ``paper_rho``): +1 positive, -1 negative, 0 none.
    level, alpha, min_effect, min_n : see the module constants.
    n_boot, n_perm, seed : bootstrap resamples, permutations (beyond the exact range), seed.
    n_left_out : int
        Units already left out upstream (not usable), reported with the verdict.
    """
    from pidlib.analysis.correlations import spearman_ci

    if (paper_rho is None) == (sign is None):
        raise ValueError("give exactly one of paper_rho and sign")
    if sign is None:
        sign = 0 if abs(paper_rho) < min_effect else int(np.sign(paper_rho))
    if sign not in (-1, 0, 1):
        raise ValueError(f"sign must be -1, 0 or +1, got {sign}")
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-d of the same length, got {x.shape} and {y.shape}")
    keep = np.isfinite(x) & np.isfinite(y)
    n_left_out += int((~keep).sum())
    x, y = x[keep], y[keep]
    n = len(x)
    v = Verdict(INCONCLUSIVE, kind="correlation", n=n, n_left_out=n_left_out,
                extra={"sign": sign, "paper_rho": paper_rho})
    if n < 3:
        v.reason = f"{n} usable model{'s' if n != 1 else ''}"
        return v
    ci = spearman_ci(x, y, n_boot=n_boot, level=level, seed=seed)
    v.estimate, v.lo, v.hi = float(ci["rho"]), float(ci["lo"]), float(ci["hi"])
    v.p = permutation_p(x, y, n_perm=n_perm, seed=seed)
    if any(math.isnan(t) for t in (v.estimate, v.lo, v.hi, v.p)):
        v.reason = "rho undefined (a constant input)"
        return v
    if n < min_n:
        v.reason = f"{n} usable models, fewer than {min_n}"
        return v
    excludes_zero = v.lo > 0 or v.hi < 0
    side = 1 if v.lo > 0 else -1
    if sign == 0:
        if -min_effect < v.lo and v.hi < min_effect:
            v.label, v.reason = REPRODUCED, f"interval inside ±{min_effect}"
        elif excludes_zero and v.p < alpha:
            v.label, v.reason = REVERSED, "a clear relation where the paper reports none"
        else:
            v.reason = "interval too wide to rule a relation in or out"
        return v
    if not excludes_zero:
        v.reason = "interval contains 0"
    elif v.p >= alpha:
        v.reason = f"permutation p = {v.p:.2f}"
    else:
        v.label = REPRODUCED if side == sign else REVERSED
    return v


def difference_verdict(diffs, errors=None, *, sign: int = 1, floor: float = FLOOR_BITS, level: float = LEVEL,
                       n_boot: int = 4000, seed: int = 0, unit: str = "bit", n_left_out: int = 0) -> Verdict:
    """Verdict on a claim "A - B has sign ``sign``" from per-unit differences.

    Parameters
    ----------
    diffs : array-like, shape (n,)
        The difference A - B per unit (model, family, checkpoint series); NaN entries are
        dropped and counted in ``n_left_out``.
    errors : array-like, shape (n,), optional
        Standard error of each unit's difference (from the spectra's intervals; NaN or
        absent = unknown, treated as 0).
    sign : {+1, -1}
        The claim: +1 "A exceeds B", -1 "A falls below B".
    floor : float
        The noise floor the mean difference must clear (bits; for shares the same floor
        expressed in points, see :func:`share_floor`).
    level, n_boot, seed : interval coverage, bootstrap resamples and seed.
    unit : str
        Unit of the difference, for display.
    """
    if sign not in (-1, 1):
        raise ValueError(f"sign must be -1 or +1, got {sign}")
    if floor < 0:
        raise ValueError(f"floor must be >= 0, got {floor}")
    d = np.asarray(diffs, float).ravel()
    e = np.zeros_like(d) if errors is None else np.nan_to_num(np.asarray(errors, float).ravel(), nan=0.0)
    if e.shape != d.shape:
        raise ValueError(f"errors must match diffs, got {e.shape} and {d.shape}")
    keep = np.isfinite(d)
    n_left_out += int((~keep).sum())
    d, e = d[keep], np.abs(e[keep])
    n = len(d)
    v = Verdict(INCONCLUSIVE, kind="difference", n=n, n_left_out=n_left_out, unit=unit,
                extra={"sign": sign, "floor": floor})
    if n == 0:
        v.reason = "no usable spectra"
        return v
    v.estimate = float(d.mean())
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    boots = (d[idx] + e[idx] * rng.standard_normal((n_boot, n))).mean(axis=1)
    a = (1 - level) / 2
    v.lo, v.hi = (float(q) for q in np.quantile(boots, [a, 1 - a]))
    if n == 1 and e[0] == 0:
        v.lo = v.hi = math.nan  # one unit without an error estimate: no interval to speak of
    excludes_zero = (v.lo > 0 or v.hi < 0) if not math.isnan(v.lo) else v.estimate != 0
    if abs(v.estimate) <= floor:
        v.reason = f"|Δ| within the noise floor of {floor:.2g} {unit}"
    elif not excludes_zero:
        v.reason = "interval contains 0"
    else:
        v.label = REPRODUCED if np.sign(v.estimate) == sign else REVERSED
    return v


def share_floor(total_a: float, total_b: float, floor_bits: float = FLOOR_BITS) -> float:
    """The noise floor in points of share for a comparison of shares of two spectra:
    ``floor_bits`` as a percentage of the smaller total (a share moves by at least that
    much when one atom moves by ``floor_bits``)."""
    t = min(total_a, total_b)
    if not t > 0:
        return math.inf
    return 100.0 * floor_bits / t


def not_run() -> Verdict:
    return Verdict(NOT_RUN, reason="probe kind not in the spectra table")


# ----------------------------------------------------------------------------- findings
def designed_atoms() -> dict[str, str]:
    """Task family -> its designed dominant atom (the classroom world's design)."""
    from pidlib.world.tasks import DOMINANT_ATOM
    return dict(DOMINANT_ATOM)


def tasks_with_atom(atom: str, tasks: Iterable[str] | None = None) -> list[str]:
    """Task families designed for ``atom`` (among ``tasks`` when given), sorted."""
    d = designed_atoms()
    names = sorted(t for t, a in d.items() if a == atom)
    if tasks is not None:
        have = set(tasks)
        names = [t for t in names if t in have]
    return names


def family_strategy(family: str) -> str:
    """The strategy a zoo family was built to have: ``"fusion"`` for a family whose
    language model is tuned on the multimodal data (the LLaVA-1.5 recipe), ``"language"``
    for one whose language model stays frozen or that is starved of fusion data, else
    ``"other"``. Read from the family's name (``fusion*``, ``language*``, ``frozen*``,
    ``*starved*``); a zoo manifest with a ``strategy`` per family overrides it through
    :func:`scoreboard`'s ``strategies`` argument."""
    f = str(family).lower()
    if f.startswith("fusion"):
        return "fusion"
    if f.startswith(("language", "frozen")) or "starv" in f:
        return "language"
    return "other"


@dataclass
class Finding:
    """One row of the scoreboard: a claim of the paper and how the zoo tests it.

    ``test(table, ctx)`` receives the usable-or-not rows of one probe kind (atoms read by
    :func:`with_atoms`) and returns a :class:`Verdict`.
    """

    key: str
    chapter: str
    claim: str
    test: Callable[[pd.DataFrame, dict], Verdict]


def _final(df: pd.DataFrame) -> pd.DataFrame:
    """Final models of a table (zoo ``member`` rows when marked), output layer, per task."""
    out = df
    if "layer" in out.columns:
        out = out[out.layer == -1]
    if "kind" in out.columns and out["kind"].eq("member").any():
        out = out[out["kind"] == "member"]
    if "task" in out.columns and (out.task != "all").any():
        out = out[out.task != "all"]
    return out


def _mean_atoms(g: pd.DataFrame, cols: list[str]) -> pd.Series:
    return g[cols].mean()


def _se(g: pd.DataFrame, col: str) -> float:
    """Standard error of the mean of ``col`` over the rows of ``g`` from their intervals
    (half-width / z of the level); NaN when no row has an interval."""
    if f"{col}_lo" not in g.columns:
        return math.nan
    z = 1.959963984540054
    half = (g[f"{col}_hi"] - g[f"{col}_lo"]) / (2 * z)
    half = half.dropna()
    if half.empty:
        return math.nan
    return float(np.sqrt((half ** 2).sum()) / len(half))


def task_correlation(df: pd.DataFrame, task: str, quantity: str, *, x: str = "accuracy",
                     paper_rho: float | None = None, sign: int | None = None, seed: int = 0,
                     n_boot: int = 2000) -> Verdict:
    """Verdict on the Spearman rho of ``x`` and ``quantity`` across the final models of a
    table (atoms read by :func:`with_atoms`), on one task family.

    Atoms, shares and the interaction information are taken from usable spectra only
    (the others are left out and counted); the total and accuracies from every spectrum.
    Several rows of one model (e.g. seeds) are averaged.
    """
    d = _final(df)
    if d.empty or "task" not in d.columns:
        return Verdict(INCONCLUSIVE, reason="no spectra")
    g = d[d.task == task]
    if g.empty:
        return Verdict(INCONCLUSIVE, reason=f"no spectra of `{task}`")
    needs_atoms = quantity in (*ATOMS, "interaction") or quantity.startswith("share_")
    usable = g.usable.astype(bool) if needs_atoms else pd.Series(True, index=g.index)
    left = int((~usable).groupby(g.model).all().sum())
    g = g[usable]
    g = g.groupby("model", as_index=False)[[x, quantity]].mean()
    return correlation_verdict(g[x].to_numpy(float), g[quantity].to_numpy(float), paper_rho=paper_rho, sign=sign,
                               n_left_out=left, seed=seed, n_boot=n_boot)


def corr_test(task_atom: str, quantity: str, x: str = "accuracy", paper_rho: float | None = None,
              sign: int | None = None, task: str | None = None):
    """A finding test: :func:`task_correlation` on one task family (``task``) or, with
    ``task_atom``, on the first task family designed for that atom."""

    def test(df: pd.DataFrame, ctx: dict) -> Verdict:
        tasks = [task] if task else tasks_with_atom(task_atom, df.task.unique() if "task" in df.columns else ())
        if not tasks:
            return Verdict(INCONCLUSIVE, reason="no spectra of this task family")
        return task_correlation(df, tasks[0], quantity, x=x, paper_rho=paper_rho, sign=sign,
                                seed=ctx.get("seed", 0), n_boot=ctx.get("n_boot", 2000))

    return test


def family_test(atom: str, higher: str, task_atom: str | None = "synergy"):
    """A finding test: the ``higher`` strategy's family has more ``atom`` than the other
    strategy's, on the task families designed for ``task_atom`` (all when None). Units:
    (task family, scale, training seed) cells where both strategies have a usable spectrum."""

    def test(df: pd.DataFrame, ctx: dict) -> Verdict:
        d = _final(df)
        if d.empty or "family" not in d.columns:
            return Verdict(INCONCLUSIVE, reason="no final models")
        strat = ctx.get("strategies") or {}
        d = d.assign(_strategy=d.family.map(lambda f: strat.get(f, family_strategy(f))))
        if task_atom is not None:
            d = d[d.task.isin(tasks_with_atom(task_atom))]
        lower = "language" if higher == "fusion" else "fusion"
        d = d[d._strategy.isin([higher, lower])]
        left = int((~d.usable).sum())
        d = d[d.usable]
        keys = [k for k in ("task", "scale", "train_seed") if k in d.columns]
        diffs, errs = [], []
        for _, g in d.groupby(keys, dropna=False):
            a, b = g[g._strategy == higher], g[g._strategy == lower]
            if a.empty or b.empty:
                continue
            diffs.append(float(a[atom].mean() - b[atom].mean()))
            errs.append(float(np.sqrt(np.nan_to_num(_se(a, atom)) ** 2 + np.nan_to_num(_se(b, atom)) ** 2)))
        if not diffs:
            return Verdict(INCONCLUSIVE, n_left_out=left, reason="no cell with a usable spectrum of both families")
        return difference_verdict(diffs, errs, sign=1, floor=ctx["floor_bits"], n_left_out=left,
                                  seed=ctx.get("seed", 0))

    return test


def scale_test(atom: str, sign: int, task_atom: str = "synergy"):
    """A finding test: the share of ``atom`` in the spectrum changes with sign ``sign`` from
    the smallest to the largest scale of each family, on the task families designed for
    ``task_atom`` (shares averaged over them, and over a scale's models), as the paper
    reports it per family. A family counts only when every one of those spectra at both
    scales has a share (usable, total above the floor); the others are left out and
    counted. The floor is the noise floor as a share of the smaller total
    (:func:`share_floor`), averaged over the families."""

    def test(df: pd.DataFrame, ctx: dict) -> Verdict:
        d = _final(df)
        if d.empty or "scale" not in d.columns:
            return Verdict(INCONCLUSIVE, reason="no scales")
        d = d[d.task.isin(tasks_with_atom(task_atom)) & d.scale.notna()]
        share = f"share_{atom}"
        diffs, errs, floors, left = [], [], [], 0
        for _, g in d.groupby("family"):
            scales = sorted(g.scale.unique())
            if len(scales) < 2:
                continue
            lo_g, hi_g = g[g.scale == scales[0]], g[g.scale == scales[-1]]
            if lo_g[share].isna().any() or hi_g[share].isna().any():
                left += 1
                continue
            diffs.append(float(hi_g[share].mean() - lo_g[share].mean()))
            t_lo, t_hi = float(lo_g.total.mean()), float(hi_g.total.mean())
            se_a, se_b = _se(hi_g, atom), _se(lo_g, atom)
            errs.append(float(100 * np.sqrt(np.nan_to_num(se_a / t_hi) ** 2 + np.nan_to_num(se_b / t_lo) ** 2)))
            floors.append(share_floor(t_lo, t_hi, ctx["floor_bits"]))
        if not diffs:
            return Verdict(INCONCLUSIVE, n_left_out=left,
                           reason="no family with shares (usable spectra above the floor) at both ends of its scales")
        return difference_verdict(diffs, errs, sign=sign, floor=float(np.mean(floors)), unit="points",
                                  n_left_out=left, seed=ctx.get("seed", 0))

    return test


def layer_test(atom: str, position: int):
    """A finding test: ``atom`` at the layer ``position`` from the end (-1 last, -2
    penultimate) exceeds its maximum over every other layer, per model (all-task rows or
    the mean over task families); usable layer spectra only."""

    def test(df: pd.DataFrame, ctx: dict) -> Verdict:
        d = df[df.layer >= 0] if "layer" in df.columns else df.iloc[:0]
        if "kind" in d.columns and d["kind"].eq("member").any():
            d = d[d["kind"] == "member"]
        if d.empty:
            return Verdict(INCONCLUSIVE, reason="no layer-wise spectra")
        d = d[d.task == "all"] if (d.task == "all").any() else d
        diffs, errs, left = [], [], 0
        for _, g in d.groupby("model"):
            per = g.groupby("layer").agg(value=(atom, "mean"), usable=("usable", "all")).sort_index()
            if len(per) < 3:
                continue
            if not per.usable.all():
                left += 1
                continue
            target = per.index[position]
            diffs.append(float(per.value.loc[target] - per.value.drop(target).max()))
            errs.append(math.nan)
        if not diffs:
            return Verdict(INCONCLUSIVE, n_left_out=left, reason="no model with usable spectra at every layer")
        return difference_verdict(diffs, errs, sign=1, floor=ctx["floor_bits"], n_left_out=left,
                                  seed=ctx.get("seed", 0))

    return test


def emergence_units(df: pd.DataFrame, atom: str = "synergy", task_atom: str = "synergy") -> pd.DataFrame:
    """The training runs of a table and ``atom`` at the end of each stage.

    A training run is a (family, scale, training seed) with spectra at alignment (stage-1) and at
    instruction-tuning (stage-2) steps, checkpoints and final models alike, on the task
    families designed for ``task_atom`` (averaged over them), output layer. Returns one
    row per run: ``family, scale, train_seed`` (where present), ``align_step``, ``instr_step``,
    ``align`` and ``instr`` (the atom, bits), ``diff`` (instr - align), ``err`` (its
    standard error from the spectra's intervals, NaN when none) and ``usable`` (both
    end spectra usable).
    """
    cols = ["align_step", "instr_step", "align", "instr", "diff", "err", "usable"]
    d = df[df.layer == -1] if "layer" in df.columns else df
    if d.empty or "stage" not in d.columns or "step" not in d.columns:
        return pd.DataFrame(columns=cols)
    d = d[d.task.isin(tasks_with_atom(task_atom)) & d.step.notna()]
    d = d.assign(_kind=d.stage.map(stage_kind))
    d = d[d._kind.isin(["alignment", "instruction"])]
    keys = [k for k in ("family", "scale", "train_seed") if k in d.columns]
    rows = []
    for key, g in d.groupby(keys, dropna=False):
        ends = {}
        for k in ("alignment", "instruction"):
            gk = g[g._kind == k]
            if not gk.empty:
                ends[k] = gk[gk.step == gk.step.max()]
        if len(ends) < 2:
            continue
        a, b = ends["instruction"], ends["alignment"]
        key = key if isinstance(key, tuple) else (key,)
        rows.append({**dict(zip(keys, key)), "align_step": float(b.step.iloc[0]), "instr_step": float(a.step.iloc[0]),
                     "align": float(b[atom].mean()), "instr": float(a[atom].mean()),
                     "diff": float(a[atom].mean() - b[atom].mean()),
                     "err": float(np.sqrt(np.nan_to_num(_se(a, atom)) ** 2 + np.nan_to_num(_se(b, atom)) ** 2)),
                     "usable": bool(a.usable.all() and b.usable.all())})
    return pd.DataFrame(rows, columns=keys + cols)


def emergence_test(atom: str = "synergy", task_atom: str = "synergy"):
    """A finding test: ``atom`` at the last instruction-tuning step exceeds ``atom`` at the
    last alignment step, per training run (:func:`emergence_units`); usable spectra only."""

    def test(df: pd.DataFrame, ctx: dict) -> Verdict:
        u = emergence_units(df, atom, task_atom)
        if u.empty:
            return Verdict(INCONCLUSIVE, reason="no training run with spectra at both stages")
        left = int((~u.usable).sum())
        u = u[u.usable]
        if u.empty:
            return Verdict(INCONCLUSIVE, n_left_out=left,
                           reason="no training run with usable spectra at the end of both stages")
        return difference_verdict(u["diff"], u["err"], sign=1, floor=ctx["floor_bits"], n_left_out=left,
                                  seed=ctx.get("seed", 0))

    return test


def stage_kind(stage: str) -> str:
    """A checkpoint's stage name -> ``"alignment"``, ``"instruction"`` or ``"other"``."""
    s = str(stage).lower()
    if any(k in s for k in ("align", "pretrain", "stage1", "projector")):
        return "alignment"
    if any(k in s for k in ("instruct", "sft", "stage2", "finetune")):
        return "instruction"
    return "other"


def paper_rho(quantity: str, regime: str) -> float:
    """The paper's mean rho(accuracy, quantity) over its datasets of one regime."""
    from pidlib.analysis.paper import paper_correlations_long
    p = paper_correlations_long()
    return float(p[(p.regime == regime) & (p.quantity == quantity)].rho.mean())


def paper_dvision_rho() -> float:
    """The paper's mean rho(D_vision, S) over its four datasets."""
    from pidlib.analysis.paper import load_paper
    return float(load_paper("dvision").rho_dvision_S.astype(float).mean())


def default_findings() -> list[Finding]:
    """The paper's findings as the zoo tests them, one scoreboard row each."""
    syn = tasks_with_atom("synergy")
    kno = tasks_with_atom("unique2")
    rows = []
    for t in syn:
        rows.append(Finding(f"F1-{t}", "ch-regimes",
                            f"more synergy S, higher accuracy (ρ > 0) on `{t}`",
                            corr_test("synergy", "synergy", paper_rho=paper_rho("synergy", "synergy-driven"), task=t)))
    for t in kno:
        rows.append(Finding(f"F2-{t}", "ch-regimes",
                            f"more unique language information U2, higher accuracy (ρ > 0) on `{t}`",
                            corr_test("unique2", "unique2", paper_rho=paper_rho("unique2", "knowledge-driven"),
                                      task=t)))
    for t in syn:
        rows.append(Finding(f"F2-dvision-{t}", "ch-regimes",
                            f"more synergy S, larger accuracy drop without the image (ρ > 0) on `{t}`",
                            corr_test("synergy", "synergy", x="d_vision", paper_rho=paper_dvision_rho(), task=t)))
    rows += [
        Finding("F3-synergy", "ch-families", "the LM-tuned (fusion) family has more S than the frozen-LM family "
                "(synergy tasks)", family_test("synergy", "fusion")),
        Finding("F4-unique2", "ch-families", "the frozen-LM family has more U2 than the LM-tuned family "
                "(all tasks)", family_test("unique2", "language", task_atom=None)),
        Finding("scaling-S", "ch-scaling", "the S share grows from the smallest to the largest scale "
                "(synergy tasks)", scale_test("synergy", +1)),
        Finding("scaling-U2", "ch-scaling", "the U2 share shrinks from the smallest to the largest scale "
                "(synergy tasks)", scale_test("unique2", -1)),
        Finding("F5-U2", "ch-layers", "U2 peaks at the penultimate layer", layer_test("unique2", -2)),
        Finding("F5-S", "ch-layers", "S appears at the last layer", layer_test("synergy", -1)),
        Finding("F6-S", "ch-training", "S grows in instruction tuning, after alignment (synergy tasks)",
                emergence_test()),
    ]
    return rows


def probe_kinds(df: pd.DataFrame, always: Iterable[str] = CORE_PROBES) -> list[str]:
    """Probe kinds to show: the core ones (present or not), then any others present, in
    :data:`PROBE_KINDS` order."""
    have = set(df["probes"].fillna("noise")) if "probes" in df.columns else ({"noise"} if len(df) else set())
    order = list(PROBE_KINDS) + sorted(have - set(PROBE_KINDS))
    return [p for p in order if p in set(always) or p in have]


def scoreboard(spectra: pd.DataFrame, findings: list[Finding] | None = None, *, chapters: Iterable[str] | None = None,
               probes: Iterable[str] | None = None, floor_bits: float = FLOOR_BITS, seed: int = 0,
               n_boot: int = 2000, strategies: dict | None = None) -> pd.DataFrame:
    """The scoreboard: one row per finding and probe kind, with its verdict and numbers.

    Parameters
    ----------
    spectra : DataFrame
        The spectra table (any schema :func:`read_atoms` reads; with a ``probes`` column,
        missing = ``"noise"``).
    findings : list of Finding, optional
        Default :func:`default_findings`.
    chapters : iterable of str, optional
        Keep the findings of these chapters (their ``ch-*`` labels).
    probes : iterable of str, optional
        Probe kinds (columns); default :func:`probe_kinds` (absent core kinds -> "not run").
    floor_bits : float
        The noise floor of every comparison of atoms.
    strategies : dict, optional
        Family -> ``"fusion"``/``"language"`` overriding :func:`family_strategy`.

    Returns
    -------
    DataFrame
        ``key, chapter, claim, probes, verdict, estimate, lo, hi, p, n, n_left_out, unit,
        reason, numbers`` (``verdict`` is ``"not run"`` for an absent probe kind).
    """
    findings = default_findings() if findings is None else findings
    if chapters is not None:
        keep = set(chapters)
        findings = [f for f in findings if f.chapter in keep]
    table = spectra.copy()
    if "probes" not in table.columns:
        table["probes"] = "noise"
    table["probes"] = table["probes"].fillna("noise").replace("", "noise")
    kinds = list(probes) if probes is not None else probe_kinds(table)
    ctx = {"floor_bits": floor_bits, "seed": seed, "n_boot": n_boot, "strategies": strategies or {}}
    rows = []
    for kind in kinds:
        sub = table[table.probes == kind]
        sub = with_atoms(sub) if len(sub) else sub
        for f in findings:
            v = not_run() if sub.empty else f.test(sub, ctx)
            rows.append({"key": f.key, "chapter": f.chapter, "claim": f.claim, "probes": kind,
                         **{k: val for k, val in v.as_dict().items() if k not in ("label", "kind")},
                         "verdict": v.label, "kind": v.kind})
    cols = ["key", "chapter", "claim", "probes", "verdict", "kind", "estimate", "lo", "hi", "p", "n", "n_left_out",
            "unit", "reason", "numbers"]
    return pd.DataFrame(rows, columns=cols)


def verdict_counts(board: pd.DataFrame) -> dict[str, int]:
    """How many cells of a scoreboard carry each verdict (``not run`` included)."""
    c = board["verdict"].value_counts()
    return {k: int(c.get(k, 0)) for k in (*VERDICTS, NOT_RUN)}


#: Probe kinds whose verdicts answer a chapter's question, in order of trust: the exact
#: reference (no estimator, no probes) where it was run, else the donor probes.
ANSWER_PROBES = ("reference", "donors4", "donors8")

#: The answer to a chapter's question -> the words its title and first sentence use.
ANSWERS = {
    "yes": "yes, in the zoo",
    "partly": "partly, in the zoo",
    "opposite": "no: the zoo shows the opposite",
    "no": "no: not reproduced by the zoo",
    "not run": "not run",
}


def chapter_answer(board: pd.DataFrame, chapter: str, probes: Iterable[str] = ANSWER_PROBES) -> tuple[str, str]:
    """The answer a scoreboard gives to one chapter's question: ``(probe kind, answer)``.

    The verdicts of the chapter's findings are read from the first kind in ``probes``
    that was run (default: the exact reference, else the donor probes). ``answer`` is a
    key of :data:`ANSWERS`: ``"yes"`` when every finding is reproduced, ``"partly"`` when
    some are, ``"opposite"`` when none is and at least one is reversed, ``"no"`` when all
    are inconclusive, ``"not run"`` when no kind in ``probes`` was run.
    """
    b = board[board.chapter == chapter]
    for kind in probes:
        g = b[b.probes == kind]
        if g.empty or (g.verdict == NOT_RUN).all():
            continue
        v = g.verdict[g.verdict != NOT_RUN]
        if (v == REPRODUCED).all():
            return kind, "yes"
        if (v == REPRODUCED).any():
            return kind, "partly"
        if (v == REVERSED).any():
            return kind, "opposite"
        return kind, "no"
    return "", "not run"
