"""What an MMBench user expects beside the spectrum: CircularEval, per-category accuracy and
per-category spectra of one probe run.

``mmbench_report(run)`` reads a run (:class:`pidlib.store.RunStore`, or its directory)
and the dataset's metadata (categories and circular groups: the dataset spec recorded in
the run's ``meta.json``, or ``dataset=``), and reports

- **accuracy**: the paper's rule (:func:`pidlib.analysis.spectrum.accuracy`: option mass
  >= tau and the gold letter strictly on top) over every row with a gold answer, and over
  the original questions only (the row whose index equals its circular group, i.e.
  ``index < 1e6``);
- **CircularEval** (MMBench's own metric, VLMEvalKit ``g_index = index % 1e6``): the rows
  sharing ``index % 1_000_000`` (``meta["circular_group"]``, parsed by the loaders) are
  the rotations of one question, and the question counts as correct only when every
  rotation is correct by the rule above; accuracy over the questions;
- the same **per category** (``category``) and per ``l2_category``, each with its row and
  question counts, and the language-only accuracy (the same rule on the language-only
  probe) beside it;
- **per-category spectra**: :func:`pidlib.analysis.spectrum.spectra` on the run's rows of
  each category that has at least ``min_rows`` rows (default 100: the fit/eval split
  leaves about 50 rows each for BATCH; fewer give spectra dominated by estimator noise),
  the model's output only. Smaller categories are listed under ``too_small``.

The CLI is ``pidlib mmbench RUNDIR [--json]`` (``pidlib mmbench --help``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["mmbench_report", "circular_accuracy", "MIN_ROWS", "CIRCULAR_MODULUS"]

#: Rows per category below which no per-category spectrum is estimated.
MIN_ROWS = 100
#: Rotations of one MMBench question share ``index % CIRCULAR_MODULUS``.
CIRCULAR_MODULUS = 1_000_000


def circular_accuracy(p: np.ndarray, answer, groups, mass=None, tau: float = 0.0) -> tuple[float, int]:
    """CircularEval: ``(accuracy over questions, number of questions)``.

    A question (the rows sharing a ``groups`` value) counts as correct when every one of
    its rows with a gold answer is correct by :func:`pidlib.analysis.spectrum.accuracy`;
    questions without any gold answer are left out (NaN accuracy when none is left).
    """
    from pidlib.analysis.spectrum import accuracy

    groups = np.asarray(groups, dtype=object)
    answer = np.asarray(answer, dtype=object)
    hits, n = 0, 0
    for g in dict.fromkeys(groups.tolist()):
        m = groups == g
        a = accuracy(p[m], answer[m], None if mass is None else mass[m], tau)
        if a == a:   # not NaN: the question has gold answers
            n += 1
            hits += int(a == 1.0)
    return (hits / n if n else float("nan")), n


def _open(run):
    from pidlib.store import RunStore

    if isinstance(run, RunStore):
        return run
    return RunStore.from_dir(Path(run))


def _dataset_meta(store, dataset, images) -> tuple[dict[str, dict], str]:
    """index -> sample meta, and where it came from."""
    from pidlib.data.loaders import load_dataset
    from pidlib.data.schema import MCDataset

    if isinstance(dataset, MCDataset):
        ds, where = dataset, dataset.source
    else:
        spec = dataset
        if spec is None:
            sources = (store.meta().get("data") or {}).get("sources") or []
            spec = next((s.get("spec") for s in sources if s.get("spec")), None)
            if spec is None:
                raise ValueError(f"{store.dir}: meta.json names no dataset spec; pass the dataset (CLI --dataset)")
        ds, where = load_dataset(spec, images=images, on_error="skip"), spec
    return {str(s.index): dict(s.meta) for s in ds.samples}, where


def _acc_block(rows, sel: np.ndarray, groups: np.ndarray, tau: float) -> dict:
    from pidlib.analysis.spectrum import accuracy

    mf, ml = rows.mass.get("full"), rows.mass.get("lang")
    pick = lambda m: None if m is None else m[sel]  # noqa: E731
    circ, n_q = circular_accuracy(rows.p_full[sel], rows.answer[sel], groups[sel], pick(mf), tau)
    circ_l, _ = circular_accuracy(rows.p_lang[sel], rows.answer[sel], groups[sel], pick(ml), tau)
    orig = sel & np.array([str(i) == str(g) for i, g in zip(rows.index, groups)])
    return {"n_rows": int(sel.sum()), "n_questions": int(n_q),
            "accuracy": accuracy(rows.p_full[sel], rows.answer[sel], pick(mf), tau),
            "accuracy_language_only": accuracy(rows.p_lang[sel], rows.answer[sel], pick(ml), tau),
            "accuracy_original": (accuracy(rows.p_full[orig], rows.answer[orig], None if mf is None else mf[orig], tau)
                                  if orig.any() else float("nan")),
            "circular_accuracy": circ, "circular_accuracy_language_only": circ_l}


def mmbench_report(run, dataset=None, *, images=None, min_rows: int = MIN_ROWS, spectra: bool = True,
                   n_boot: int = 0, seed: int = 0, fit_fraction: float = 0.5, batch_kwargs: dict | None = None
                   ) -> dict[str, Any]:
    """CircularEval, per-category accuracy and per-category spectra of one MMBench run.

    Parameters
    ----------
    run : pidlib.store.RunStore or path
        The run (its directory, holding ``meta.json``).
    dataset : str or MCDataset, optional
        The dataset's spec (``"mmbench:MMBench_DEV_EN.tsv"``, ``"mmbench-hf:DIR"``) or
        loaded dataset, for the categories and circular groups. Default: the spec recorded
        in the run's ``meta.json``.
    images : path, optional
        Image folder for the spec.
    min_rows : int
        Rows a category needs for its own spectrum (default :data:`MIN_ROWS` = 100).
    spectra : bool
        Estimate per-category spectra (default True).
    n_boot, seed, fit_fraction, batch_kwargs
        Passed to :func:`pidlib.analysis.spectrum.spectra`.

    Returns
    -------
    dict
        ``run``, ``dataset``, ``tau``, ``probes``, ``min_rows``, ``overall`` (accuracy
        block), ``categories`` and ``l2_categories`` ({name: accuracy block}),
        ``spectra`` ({category: output-layer spectrum row}), ``too_small`` ({category:
        n_rows}). An accuracy block has ``n_rows``, ``n_questions``, ``accuracy``,
        ``accuracy_language_only``, ``accuracy_original``, ``circular_accuracy``,
        ``circular_accuracy_language_only``.

    Raises
    ------
    ValueError
        When a stored row's index is not in the dataset, or ``min_rows`` < 4.
    """
    from pidlib.analysis.spectrum import probe_label, run_rows
    from pidlib.analysis.spectrum import spectra as estimate

    if not isinstance(min_rows, int) or min_rows < 4:
        raise ValueError(f"min_rows must be an integer >= 4, got {min_rows!r}")
    store = _open(run)
    cfg = store.meta().get("config") or store.config
    tau = float(cfg.get("tau", 0.0) or 0.0)
    rows = run_rows(store.read(), str(store.dir), layers=False)
    meta, where = _dataset_meta(store, dataset, images)
    missing = [i for i in rows.index if str(i) not in meta]
    if missing:
        raise ValueError(f"{store.dir}: {len(missing)} stored rows are not in the dataset {where} "
                         f"(e.g. {missing[:3]}); pass the dataset the run probed")
    groups = np.array([meta[str(i)].get("circular_group", str(i)) for i in rows.index], dtype=object)
    groups = np.array([str(g) for g in groups], dtype=object)
    cats = np.array([meta[str(i)].get("category") or "(none)" for i in rows.index], dtype=object)
    l2 = np.array([meta[str(i)].get("l2_category") or "(none)" for i in rows.index], dtype=object)
    every = np.ones(len(rows), dtype=bool)
    report: dict[str, Any] = {"run": str(store.dir), "dataset": where, "tau": tau, "probes": probe_label(cfg),
                              "min_rows": min_rows, "overall": _acc_block(rows, every, groups, tau),
                              "categories": {c: _acc_block(rows, cats == c, groups, tau) for c in sorted(set(cats))},
                              "l2_categories": {c: _acc_block(rows, l2 == c, groups, tau) for c in sorted(set(l2))},
                              "spectra": {}, "too_small": {}}
    for c in sorted(set(cats)):
        sel = cats == c
        if sel.sum() < min_rows:
            report["too_small"][c] = int(sel.sum())
            continue
        if not spectra:
            continue
        res = estimate(rows.subset(sel), probes=probe_label(cfg), tau=tau, fit_fraction=fit_fraction, seed=seed,
                       n_boot=n_boot, layers=False, batch_kwargs=batch_kwargs)
        out = next(r for r in res if r["layer"] < 0 and r["probes"] == probe_label(cfg))
        report["spectra"][c] = {k: (float(v) if isinstance(v, (np.floating, float)) else v) for k, v in out.items()}
    return report
