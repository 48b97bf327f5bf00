"""From stored probe rows to spectra: the one path every table, notebook and command uses.

A probe run (``pidlib.probes``, stored by ``pidlib.store``) holds one row per sample: the
features ``x1`` (visual) and ``x2`` (language), the option distributions ``p_full``,
``p_vis``, ``p_lang`` (with K > 1 noise draws or donors also every draw, ``p_*_draws``;
with the logit lens per layer, ``lens_*``) and the raw option masses. :func:`spectra`
turns one run's rows into spectra:

* the rows are split at random (``seed``) into fit and eval rows (``fit_fraction``);
* BATCH (:func:`pidlib.pid_batch_many`) is trained on the fit rows and evaluated on the
  eval rows, for the model's output and (with ``layers``) every logit-lens layer;
* with K > 1 draws per unimodal probe, the finite-K Monte Carlo bias is removed by the
  split-half (jackknife) correction :func:`split_half`;
* intervals: ``n_boot`` replicates from ``n_fits`` estimators, each trained on resampled
  fit rows from its own seed and evaluated on resampled eval rows
  (:func:`pidlib.estimators.bootstrap.bootstrap_plan`), so they cover sampling noise and
  the estimator's own variability; the interval is the *basic* bootstrap interval
  [2 theta - q_hi, 2 theta - q_lo] (bias-aware; it contains the point estimate unless the
  replicates' bias exceeds their spread, which ``ci_note`` then says);
* on the classroom world also the exact reference (:mod:`pidlib.analysis.reference`) on
  all rows, its replicates on the same resampled rows, and every estimate's error against
  it, ``err_<atom>`` with a basic interval; and the k-means + exact cross-check
  (:func:`pidlib.pid_discretized`).

Accuracy is the paper's: a sample counts as correct when its option mass reaches tau (no
uniform fallback) and the gold option has the largest probability; the language-only
accuracy is the same count on the language-only probe and D_vision = accuracy -
language-only accuracy. All rows of the run count.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pidlib.estimators.bootstrap import basic_interval, bootstrap_plan

K_MAX = 4
LETTERS = "ABCDEFGH"
ROW_SUM_TOL = 1e-3
REQUIRED_RUN_COLUMNS = ["index", "answer", "n_options", "x1", "x2", "p_full", "p_vis", "p_lang"]
ATOMS = ("redundancy", "unique1", "unique2", "synergy")
VALUES = ATOMS + ("total",)


class RunDataError(ValueError):
    """A cached run whose rows do not follow the run-row schema."""


# ----------------------------------------------------------------------------- rows
def _stack(df: pd.DataFrame, col: str, source: str, width: int | None = None) -> np.ndarray:
    rows = df[col].tolist()
    lens = {len(r) if r is not None else -1 for r in rows}
    if -1 in lens:
        i = next(i for i, r in enumerate(rows) if r is None)
        raise RunDataError(f"{source}: row {i} ({df['index'].iloc[i]}), column {col!r}: missing value")
    if len(lens) != 1:
        i = next(i for i, r in enumerate(rows) if len(r) != len(rows[0]))
        raise RunDataError(f"{source}: row {i} ({df['index'].iloc[i]}), column {col!r}: length {len(rows[i])}, "
                           f"expected {len(rows[0])} like row 0")
    arr = np.asarray(np.stack([np.asarray(r, dtype=np.float64) for r in rows]))
    if width is not None and arr.shape[1] != width:
        raise RunDataError(f"{source}: column {col!r} has length {arr.shape[1]}, expected {width}")
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise RunDataError(f"{source}: row {i} ({df['index'].iloc[i]}), column {col!r}: NaN or infinite value")
    return arr


def _check_dist(p: np.ndarray, k: np.ndarray, col: str, df: pd.DataFrame, source: str) -> np.ndarray:
    """Rows must be non-negative, zero past ``k_i`` and sum to 1 (within ``ROW_SUM_TOL``)."""
    n = len(df)
    if (p < -1e-7).any():
        i = int(np.flatnonzero((p < -1e-7).reshape(n, -1).any(-1))[0])
        raise RunDataError(f"{source}: row {i} ({df['index'].iloc[i]}), column {col!r}: negative probability")
    s = p.sum(-1)
    off = np.abs(s - 1) > ROW_SUM_TOL
    if off.any():
        i = int(np.flatnonzero(off.reshape(n, -1).any(-1))[0])
        raise RunDataError(f"{source}: row {i} ({df['index'].iloc[i]}), column {col!r}: sums to "
                           f"{float(s.reshape(n, -1)[i].flat[0]):.6f}, not 1")
    pad = np.arange(p.shape[-1]) >= k.reshape((-1,) + (1,) * (p.ndim - 1))
    past = (np.where(pad, p, 0.0) > 1e-6).reshape(n, -1).any(-1)
    if past.any():
        i = int(np.flatnonzero(past)[0])
        raise RunDataError(f"{source}: row {i} ({df['index'].iloc[i]}), column {col!r}: probability mass past "
                           f"n_options={int(k[i])}")
    p = np.clip(p, 0, None)
    return p / p.sum(-1, keepdims=True)


@dataclass
class RunRows:
    """Validated arrays of a run's rows (n rows, K_MAX option columns).

    ``draws_vis``/``draws_lang``: (n, K, K_MAX) every draw of the unimodal probes when the
    run kept them (K > 1); ``lens_*``: (n, L, K_MAX) with the logit lens; ``mass_*``: raw
    option masses (NaN when the run did not store them).
    """

    index: np.ndarray
    answer: np.ndarray
    k: np.ndarray
    x1: np.ndarray
    x2: np.ndarray
    p_full: np.ndarray
    p_vis: np.ndarray
    p_lang: np.ndarray
    mass: dict = field(default_factory=dict)
    draws_vis: np.ndarray | None = None
    draws_lang: np.ndarray | None = None
    lens: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.index)

    @staticmethod
    def concat(a: "RunRows", b: "RunRows") -> "RunRows":
        """The rows of ``a`` followed by those of ``b`` (same option width; optional columns
        only where both have them)."""
        if a.p_full.shape[1] != b.p_full.shape[1]:
            raise RunDataError(f"runs with {a.p_full.shape[1]} and {b.p_full.shape[1]} option columns")
        cat = lambda u, v: None if u is None or v is None else np.concatenate([u, v])  # noqa: E731
        return RunRows(*(np.concatenate([getattr(a, f), getattr(b, f)]) for f in
                         ("index", "answer", "k", "x1", "x2", "p_full", "p_vis", "p_lang")),
                       {key: np.concatenate([a.mass[key], b.mass[key]]) for key in a.mass if key in b.mass},
                       cat(a.draws_vis, b.draws_vis), cat(a.draws_lang, b.draws_lang),
                       {key: np.concatenate([a.lens[key], b.lens[key]]) for key in a.lens if key in b.lens})

    def subset(self, mask: np.ndarray) -> "RunRows":
        """The rows where ``mask`` holds."""
        pick = lambda a: None if a is None else a[mask]  # noqa: E731
        return RunRows(self.index[mask], self.answer[mask], self.k[mask], self.x1[mask], self.x2[mask],
                       self.p_full[mask], self.p_vis[mask], self.p_lang[mask],
                       {key: v[mask] for key, v in self.mass.items()}, pick(self.draws_vis), pick(self.draws_lang),
                       {key: v[mask] for key, v in self.lens.items()})


def run_rows(df: pd.DataFrame, source: str = "run", layers: bool = True) -> RunRows:
    """Validate a run's rows (a DataFrame as ``RunStore.read()`` gives it).

    Raises
    ------
    RunDataError
        Naming the source, the row (0-based position and sample index), the column and
        the problem: a missing column, duplicate index, n_options outside 2..K_MAX, a
        missing, NaN or wrong-length value, a negative probability, a row not summing to 1
        or probability mass past ``n_options``.
    """
    missing = [c for c in REQUIRED_RUN_COLUMNS if c not in df.columns]
    if missing:
        raise RunDataError(f"{source}: missing column(s) {missing}")
    if len(df) == 0:
        raise RunDataError(f"{source}: no rows")
    df = df.reset_index(drop=True)
    dup = df["index"].duplicated()
    if dup.any():
        raise RunDataError(f"{source}: duplicate sample index {df['index'][dup].iloc[0]!r}")
    k = df["n_options"].to_numpy().astype(int)
    full = _stack(df, "p_full", source)
    width = full.shape[1]   # K_MAX = 4, or up to 8 for files with options E-H
    if ((k < 2) | (k > width)).any():
        i = int(np.flatnonzero((k < 2) | (k > width))[0])
        raise RunDataError(f"{source}: row {i} ({df['index'].iloc[i]}): n_options={k[i]} outside 2..{width}")
    dist = {col: _check_dist(full if col == "p_full" else _stack(df, col, source, width), k, col, df, source)
            for col in ("p_full", "p_vis", "p_lang")}
    mass = {p: (df[f"mass_{p}"].to_numpy(float) if f"mass_{p}" in df.columns else np.full(len(df), np.nan))
            for p in ("full", "vis", "lang")}
    draws = {}
    for p in ("vis", "lang"):
        col = f"p_{p}_draws"
        if col in df.columns and df[col].notna().all():
            flat = _stack(df, col, source)
            if flat.shape[1] % width:
                raise RunDataError(f"{source}: column {col!r} length {flat.shape[1]} is not K*{width}")
            draws[p] = _check_dist(flat.reshape(len(df), -1, width), k, col, df, source)
    lens = {}
    if layers and "lens_full" in df.columns:
        for p in ("full", "vis", "lang"):
            col = f"lens_{p}"
            if col not in df.columns:
                raise RunDataError(f"{source}: layer-wise spectra need column {col!r} (run with --layers)")
            flat = _stack(df, col, source)
            if flat.shape[1] % width:
                raise RunDataError(f"{source}: column {col!r} length {flat.shape[1]} is not n_layers*{width}")
            lens[p] = _check_dist(flat.reshape(len(df), -1, width), k, col, df, source)
    answer = df["answer"].astype(object).where(df["answer"].notna(), None).to_numpy()
    return RunRows(df["index"].astype(str).to_numpy(), answer, k, _stack(df, "x1", source), _stack(df, "x2", source),
                   dist["p_full"], dist["p_vis"], dist["p_lang"], mass, draws.get("vis"), draws.get("lang"), lens)


# ----------------------------------------------------------------------------- accuracy
def accuracy(p: np.ndarray, answer, mass: np.ndarray | None = None, tau: float = 0.0) -> float:
    """The paper's accuracy of stored option distributions.

    A row counts as correct when its option mass reaches ``tau`` (the model answered; a
    uniform fallback counts as wrong) and the gold letter has the largest probability
    (ties, which only a fallback produces, count as wrong). Rows without a gold letter are
    left out; NaN when none has one. Without masses (``mass`` None or NaN), a row whose
    distribution is exactly uniform over its options counts as a fallback.
    """
    p = np.asarray(p, dtype=np.float64)
    gold = np.array([LETTERS.index(str(a)) if a is not None and str(a) in LETTERS else -1 for a in answer])
    has = gold >= 0
    if not has.any():
        return math.nan
    top = p.max(-1)
    unique_top = (p >= top[:, None] - 1e-9).sum(-1) == 1
    hit = unique_top & (p.argmax(-1) == gold)
    if mass is not None and np.isfinite(mass).all():
        hit &= np.asarray(mass) >= tau
    return float(hit[has].mean())


def accuracies(rows: RunRows, tau: float) -> dict[str, float]:
    """``accuracy`` (full probe), ``accuracy_language_only`` and ``d_vision`` over all rows."""
    acc = accuracy(rows.p_full, rows.answer, rows.mass.get("full"), tau)
    acc_l = accuracy(rows.p_lang, rows.answer, rows.mass.get("lang"), tau)
    return {"accuracy": acc, "accuracy_language_only": acc_l, "d_vision": acc - acc_l}


# ----------------------------------------------------------------------------- estimating
def split_rows(n: int, fit_fraction: float = 0.5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the fit and eval rows: a seeded random split, ``fit_fraction`` for fitting."""
    if not 0 < fit_fraction < 1:
        raise ValueError(f"fit_fraction must lie in (0, 1), got {fit_fraction}")
    perm = np.random.default_rng([int(seed), 2]).permutation(n)
    n_fit = int(round(fit_fraction * n))
    if n_fit < 2 or n - n_fit < 2:
        raise ValueError(f"{n} rows are too few to split into fit and eval rows")
    return np.sort(perm[:n_fit]), np.sort(perm[n_fit:])


def split_half(full, half_a, half_b):
    """Finite-K correction of a decomposition whose unimodal probes average K draws.

    With K draws the plug-in informations carry a Monte Carlo bias of order 1/K (a mean of
    K draws is more peaked than its expectation). A result from each half of the draws
    (K/2 each) estimates the bias: corrected = 2 full - (half_a + half_b) / 2 for every
    atom and for I1, I2 (the jackknife extrapolation to K = infinity); the total is the
    full probe's and the atoms still add up to it. Returns a :class:`pidlib.PIDResult`
    with ``diagnostics["split_half"]`` holding the uncorrected atoms.
    """
    from pidlib.estimators import PIDResult

    def corr(name):
        return 2 * getattr(full, name) - 0.5 * (getattr(half_a, name) + getattr(half_b, name))

    atoms = {a: corr(a) for a in ATOMS}
    I1, I2 = corr("I1"), corr("I2")
    diag = dict(full.diagnostics)
    coh = dict(diag.get("coherence", {}))
    tol = coh.get("tol", 0.05)
    coh.update(I1_minus_I12=I1 - full.total, I2_minus_I12=I2 - full.total, min_atom=min(atoms.values()))
    coherent = bool(coh.get("kl_vis", 0) <= tol and coh.get("kl_lang", 0) <= tol and coh["I1_minus_I12"] <= tol
                    and coh["I2_minus_I12"] <= tol and coh["min_atom"] >= -tol)
    diag.update(coherence=coh, split_half={"uncorrected": full.raw, "half_a": half_a.raw, "half_b": half_b.raw},
                trained=bool(full.diagnostics.get("trained") and half_a.diagnostics.get("trained")
                             and half_b.diagnostics.get("trained")))
    return PIDResult(**atoms, total=full.total, I1=I1, I2=I2, coherent=coherent, diagnostics=diag,
                     method=full.method)


@dataclass
class Estimate:
    """A point estimate, its bootstrap replicates and (on the world) the paired references."""

    point: object
    replicates: list
    reference: object = None
    reference_replicates: list = field(default_factory=list)


def batch_estimates(x1, x2, variants: dict[str, tuple], plan, *, n_fits: dict[str, int] | None = None,
                    halves: dict[str, tuple] | None = None, batch_kwargs: dict | None = None) -> dict[str, tuple]:
    """BATCH for several sets of conditionals on shared features, all in one batched call.

    ``variants``: name -> (p_vis, p_lang, p_full), each (n, k). ``plan``: a
    :class:`pidlib.estimators.bootstrap.BootstrapPlan` (the point estimate and its
    replicates). ``n_fits``: name -> how many of the plan's estimators to train for that
    variant (default all; with fewer, its replicates only resample the eval rows of the
    first estimator). ``halves``: name -> ((p_vis_a, p_lang_a), (p_vis_b, p_lang_b)) for the
    split-half correction (:func:`split_half`); the halves train the plan's first estimator
    only, and replicate (s, e) is corrected with the halves' replicate (0, e).
    Returns name -> (point PIDResult, [replicate PIDResults]) in plan order.
    """
    from pidlib.estimators import pid_batch_many
    from pidlib.estimators.bootstrap import BootstrapPlan, plan_results

    halves = halves or {}
    n_fits = n_fits or {}
    S_all = plan.fit_idx.shape[0]
    problems, keys = [], []
    for name, (pv, pl, pf) in variants.items():
        S = min(S_all, n_fits.get(name, S_all))
        problems += [((pv, pl, pf), s) for s in range(S)]
        keys += [(name, "full", s) for s in range(S)]
        if name in halves:
            (va, la), (vb, lb) = halves[name]
            problems += [((va, la, pf), 0), ((vb, lb, pf), 0)]
            keys += [(name, "a", 0), (name, "b", 0)]
    P = [np.stack([np.broadcast_to(pr[j], pr[2].shape) for pr, _ in problems]) for j in range(3)]
    ss = [s for _, s in problems]
    n_ev = plan.eval_rows.size
    res = pid_batch_many(x1, x2, *P, seeds=[plan.seeds[s] for s in ss], fit_idx=plan.fit_idx[ss],
                         eval_idx=np.broadcast_to(plan.eval_rows, (len(ss), n_ev)),
                         eval_weights=plan.eval_weights[ss], **dict(batch_kwargs or {}))
    by = {}
    for key, r in zip(keys, res):
        by.setdefault(key[:2], []).append(r)
    out = {}
    for name in variants:
        fits = by[(name, "full")]
        sub = BootstrapPlan(plan.fit_idx[:len(fits)], plan.eval_idx[:len(fits)], plan.eval_weights[:len(fits)],
                            plan.eval_rows, plan.seeds[:len(fits)])
        point, reps = plan_results(sub, fits)
        allr = [point] + reps
        if name in halves:
            a = plan_results(BootstrapPlan(*(x[:1] for x in (plan.fit_idx, plan.eval_idx, plan.eval_weights)),
                                           plan.eval_rows, plan.seeds[:1]), by[(name, "a")])
            b = plan_results(BootstrapPlan(*(x[:1] for x in (plan.fit_idx, plan.eval_idx, plan.eval_weights)),
                                           plan.eval_rows, plan.seeds[:1]), by[(name, "b")])
            ha, hb = [a[0]] + a[1], [b[0]] + b[1]
            E1 = plan.eval_idx.shape[1]
            allr = [split_half(f, ha[i % E1], hb[i % E1]) for i, f in enumerate(allr)]
        out[name] = (allr[0], allr[1:], len(fits))
    return out


def _halves(draws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    K = draws.shape[1]
    h = K // 2
    return draws[:, :h].mean(1), draws[:, h:2 * h].mean(1)


def _row(est: Estimate, ci: float) -> dict:
    """Table columns of one estimate: values, intervals, flags and errors vs the reference."""
    p = est.point
    d = p.diagnostics
    coh = d.get("coherence", {})
    row = {a: float(getattr(p, a)) for a in VALUES}
    row.update(I1=float(p.I1), I2=float(p.I2), coherent=bool(p.coherent))
    row.update(trained=bool(d.get("trained", d.get("converged", True))), steps=d.get("steps", math.nan),
               ci_gap=d.get("ci_gap", math.nan), kl_vis=coh.get("kl_vis", math.nan),
               kl_lang=coh.get("kl_lang", math.nan), target_mismatch=coh.get("target_mismatch", math.nan),
               i1_excess=coh.get("I1_minus_I12", float(p.I1 - p.total)),
               i2_excess=coh.get("I2_minus_I12", float(p.I2 - p.total)),
               min_atom=min(float(getattr(p, a)) for a in ATOMS))
    bad = []
    for a in VALUES:
        lo, hi, ok = basic_interval(row[a], [getattr(r, a) for r in est.replicates], ci)
        row[f"{a}_lo"], row[f"{a}_hi"] = lo, hi
        if not ok:
            bad.append(a)
    ref = est.reference
    for a in ATOMS:
        if ref is None:
            row[f"err_{a}"] = row[f"err_{a}_lo"] = row[f"err_{a}_hi"] = math.nan
            continue
        e = float(getattr(p, a) - getattr(ref, a))
        reps = [getattr(r, a) - getattr(rr, a) for r, rr in zip(est.replicates, est.reference_replicates)]
        lo, hi, ok = basic_interval(e, reps, ci)
        row[f"err_{a}"], row[f"err_{a}_lo"], row[f"err_{a}_hi"] = e, lo, hi
        if not ok:
            bad.append(f"err_{a}")
    row["ci_note"] = (f"point outside its basic interval for {', '.join(bad)}: the replicates' bias exceeds "
                      f"their spread" if bad else "")
    row["n_boot"] = len(est.replicates)
    return row


def probe_label(config: dict) -> str:
    """How a run's unimodal probes replaced the other input: ``"noise"`` (one noise draw,
    the paper's probes), ``"noiseK"`` (K draws averaged) or ``"donorsD"`` (D other
    samples' inputs averaged)."""
    donors = int(config.get("donors", 0) or 0)
    draws = int(config.get("noise_draws", 1) or 1)
    if donors:
        return f"donors{donors}"
    return "noise" if draws == 1 else f"noise{draws}"


def spectra(rows: RunRows, *, eval_rows: RunRows | None = None, probes: str = "noise", tau: float = 0.0,
            fit_fraction: float = 0.5,
            seed: int = 0, n_boot: int = 0, n_fits: int = 3, n_fits_layers: int = 1, ci: float = 0.95,
            layers: bool = True, output: bool = True, reference: bool | None = None,
            discretized: bool | None = None, correct_draws: bool = True,
            batch_kwargs: dict | None = None) -> list[dict]:
    """Spectra of one run's rows (one task): the model's output and, with ``layers`` and
    logit-lens columns, every layer; on the classroom world also the exact reference and
    the discretized cross-check.

    Parameters
    ----------
    rows : RunRows
        From :func:`run_rows`.
    eval_rows : RunRows, optional
        Separate evaluation rows (e.g. another file): ``rows`` are then all fit rows and
        ``fit_fraction`` is not used.
    probes : str
        Label of the run's unimodal probes (:func:`probe_label`), written into every row.
    tau : float
        The run's confidence threshold (for the accuracy).
    fit_fraction, seed
        The fit/eval split (:func:`split_rows`) and the base seed of estimators and resamples.
    n_boot : int
        Least number of bootstrap replicates (0: no intervals); see
        :func:`pidlib.estimators.bootstrap.bootstrap_plan`.
    n_fits, n_fits_layers : int
        Estimators trained per output spectrum (default 3) and per logit-lens layer
        (default 1: the layers' replicates resample the eval rows of one estimator, so their
        intervals leave out the estimator's seed-to-seed variability).
    ci : float
        Coverage of the intervals.
    layers : bool
        Estimate every logit-lens layer too (when the rows have them).
    output : bool
        Estimate the output spectrum (default); False with ``layers`` gives the layers'
        rows only (each estimate has its own seed from the plan, so they are the same
        rows either way).
    reference, discretized : bool, optional
        Add ``probes="reference"`` / ``"discretized"`` rows and errors against the
        reference; default: when the rows are classroom-world samples.
    correct_draws : bool
        Apply :func:`split_half` when the rows keep K >= 2 draws per unimodal probe.
    batch_kwargs : dict
        Passed to :func:`pidlib.pid_batch_many`.

    Returns
    -------
    list of dict, one per (probes, layer): the columns of the spectra table except the
    model's and dataset's identity.
    """
    from pidlib.analysis.reference import ReferenceError, reference_pid, variables_of

    if n_boot < 0 or n_boot == 1:
        raise ValueError(f"n_boot must be 0 (no interval) or at least 2, got {n_boot}")
    if eval_rows is not None:
        fit, ev = np.arange(len(rows)), np.arange(len(rows), len(rows) + len(eval_rows))
        rows = RunRows.concat(rows, eval_rows)
        if len(fit) < 2 or len(ev) < 2:
            raise ValueError("need at least 2 fit and 2 eval rows")
    else:
        fit, ev = split_rows(len(rows), fit_fraction, seed)
    n = len(rows)
    plan = bootstrap_plan(fit, ev, n_boot, n_fits=n_fits, seed=seed)
    world = True
    try:
        v1, v2 = variables_of(rows.index)
    except ReferenceError:
        world = False
    reference = world if reference is None else reference
    discretized = world if discretized is None else discretized
    if reference and not world:
        raise ValueError("reference spectra need classroom-world rows (their generating variables)")

    variants = {"output": (rows.p_vis, rows.p_lang, rows.p_full)} if output else {}
    halves = {}
    if output and correct_draws and rows.draws_vis is not None and rows.draws_vis.shape[1] >= 2:
        halves["output"] = tuple(zip(_halves(rows.draws_vis), _halves(rows.draws_lang)))
    L = rows.lens["full"].shape[1] if (layers and rows.lens) else 0
    for li in range(L):
        variants[f"layer{li}"] = (rows.lens["vis"][:, li], rows.lens["lang"][:, li], rows.lens["full"][:, li])
    est = batch_estimates(rows.x1, rows.x2, variants, plan, halves=halves,
                          n_fits={f"layer{li}": n_fits_layers for li in range(L)}, batch_kwargs=batch_kwargs)

    base = {"n_fit": int(len(fit)), "n_eval": int(len(ev)), "seed": int(seed), **accuracies(rows, tau),
            "correction": "split-half" if halves else ""}
    out = []
    all_rows = plan.rows()
    for name, (point, reps, n_used) in est.items():
        layer = -1 if name == "output" else int(name[5:])
        pf = rows.p_full if layer < 0 else rows.lens["full"][:, layer]
        used = all_rows[: n_used * plan.eval_idx.shape[1]]    # the rows of this estimate's replicates
        e = Estimate(point, reps)
        if reference:
            # the output's reference with its replicates; a layer's at its point only (one
            # exact PID per replicate and layer was the slowest part of a layer sweep)
            refs = [reference_pid(v1[ix], v2[ix], pf[ix]) for ix in (used if layer < 0 else used[:1])]
            e.reference, e.reference_replicates = refs[0], refs[1:]
            out.append({**base, "layer": layer, "probes": "reference", **_row(Estimate(refs[0], refs[1:]), ci),
                        "n_fit": 0, "n_eval": int(n), "correction": ""})
        out.append({**base, "layer": layer, "probes": probes, **_row(e, ci)})
        if discretized and layer < 0:
            from pidlib.estimators import pid_discretized
            ds = [pid_discretized(rows.x1[ix], rows.x2[ix], pf[ix], seed=seed + r) for r, ix in enumerate(used)]
            de = Estimate(ds[0], ds[1:], e.reference, e.reference_replicates)
            out.append({**base, "layer": layer, "probes": "discretized", **_row(de, ci),
                        "n_fit": 0, "n_eval": int(n), "correction": ""})
    return out
