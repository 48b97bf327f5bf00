"""Shared, once-per-session work for the book tests (imported by test_book_* and
test_notebooks_* modules): execute every chapter notebook under papermill in cache mode,
on the repository's data, on a root without cached results (the "no cached run yet"
branches), and on a synthetic spectra table in the *new* schema (unclipped atoms,
``coherent``/``trained`` columns, reference probes), and build the HTML of the first."""
from __future__ import annotations

import atexit
import functools
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
#: Small settings so every notebook runs in seconds.
FAST = {"n_samples": 300, "seed": 0}
#: Chapters with a branch that runs only when cached zoo spectra exist.
ZOO_CHAPTERS = ("00_at_a_glance", "02_method", "03_task_regimes", "04_family_strategies", "05_scaling",
                "06_layers", "07_training", "09_sensitivity")
#: The finding chapters (their scoreboard rows, their no-cache notes).
FINDING_CHAPTERS = ("03_task_regimes", "04_family_strategies", "05_scaling", "06_layers", "07_training")
_TMP = Path(tempfile.mkdtemp(prefix="pidlib-book-tests-"))
atexit.register(shutil.rmtree, _TMP, True)


def kernel_env(pidlib_root: Path) -> dict:
    env = dict(os.environ)
    env.update(PIDLIB_ROOT=str(pidlib_root), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               MPLBACKEND="module://matplotlib_inline.backend_inline", PYTHONHASHSEED="0")
    return env


def synthetic_spectra(seed: int = 0) -> pd.DataFrame:
    """A made-up spectra table in the new schema (test input only, never written to data/).

    Three probe kinds (``noise``, ``donors4``, ``reference``), final models of two families
    at three scales with two training seeds, per-layer rows, training checkpoints of one
    run; unclipped atoms that sum to the total, and ``coherent`` / ``trained`` columns
    (some spectra incoherent, one estimator untrained). Atoms stay non-negative so the
    table also passes today's schema check; incoherence is marked by the column (and by
    I1 above the total).
    """
    from pidlib.analysis.tables import ATOMS, SPECTRA_COLUMNS
    rng = np.random.default_rng(seed)
    rows = []
    tasks = ["color", "exist", "knowledge", "describe", "redundant"]
    scales = {"small": 40_000.0, "medium": 110_000.0, "large": 260_000.0}

    def row(model, fam, scale, task, layer, probes, kind="member", stage="stage2", step=1500.0, train_seed=0):
        atoms = rng.uniform(0.0, 0.5, size=4)
        coherent = probes == "reference" or rng.uniform() > 0.25
        r = dict.fromkeys(SPECTRA_COLUMNS, np.nan)
        r.update({"model": model, "family": fam, "scale": scale, "stage": stage, "step": step,
                  "dataset": f"world-{task}-s0", "task": task, "layer": layer, "n_fit": 1000, "n_eval": 1000,
                  "seed": 0, "probes": probes, "kind": kind, "train_seed": train_seed, "n_boot": 20})
        for a, v in zip(ATOMS, atoms):
            r[a] = v
            r[f"{a}_lo"], r[f"{a}_hi"] = (np.nan, np.nan) if probes == "reference" else (max(v - 0.05, 0), v + 0.05)
        r["total"] = atoms.sum()
        r["total_lo"], r["total_hi"] = r["total"] - 0.1, r["total"] + 0.1
        r["I1"], r["I2"] = atoms[0] + atoms[1], atoms[0] + atoms[2]
        if not coherent:
            r["I1"] = r["total"] + 0.3
        r["coherent"] = bool(coherent)
        r["trained"] = probes == "reference" or rng.uniform() > 0.05
        r["accuracy"] = rng.uniform(0.3, 0.95)
        r["accuracy_language_only"] = rng.uniform(0.2, r["accuracy"])
        r["d_vision"] = r["accuracy"] - r["accuracy_language_only"]
        return r

    for probes in ("noise", "donors4", "reference"):
        for fam in ("fusion", "language"):
            for sname, scale in scales.items():
                for train_seed in (0, 1):
                    m = f"data/zoo/{fam}-{sname}-s{train_seed}"
                    for t in tasks:
                        rows.append(row(m, fam, scale, t, -1, probes, train_seed=train_seed))
                        for layer in range(4):
                            rows.append(row(m, fam, scale, t, layer, probes, train_seed=train_seed))
        base = "data/zoo/emergence/fusion-medium-s0"
        for stage, steps in (("stage1", (0, 75)), ("stage2", (188, 375, 750))):
            for st in steps:
                for t in tasks:
                    rows.append(row(f"{base}/{stage}-step{st}", "fusion", scales["medium"], t, -1, probes,
                                    kind="checkpoint", stage=stage, step=float(st)))
    df = pd.DataFrame(rows)
    return df[SPECTRA_COLUMNS + [c for c in df.columns if c not in SPECTRA_COLUMNS]]


def synthetic_root() -> Path:
    """A PIDLIB_ROOT with the paper's numbers and a synthetic spectra table."""
    from pidlib.analysis.tables import write_spectra
    root = _TMP / "synthetic_root"
    if not root.exists():
        (root / "data").mkdir(parents=True)
        shutil.copytree(ROOT / "data" / "paper", root / "data" / "paper")
        _copy_validation(root)
        write_spectra(synthetic_spectra(), root / "data" / "results" / "spectra.csv",
                      {"command": "tests/_book_session.py synthetic_spectra()", "note": "synthetic test input"})
    return root


def nocache_root() -> Path:
    """A PIDLIB_ROOT with the paper's numbers only: no spectra table, no zoo."""
    root = _TMP / "nocache_root"
    if not root.exists():
        (root / "data").mkdir(parents=True)
        shutil.copytree(ROOT / "data" / "paper", root / "data" / "paper")
        _copy_validation(root)
    return root


def _copy_validation(root: Path) -> None:
    """The estimator's validation table (not zoo data: every build has it)."""
    (root / "data" / "results").mkdir(parents=True, exist_ok=True)
    for name in ("validation.csv", "validation.provenance.json", "coherence_modes.csv",
                 "coherence_modes.provenance.json"):
        shutil.copy(ROOT / "data" / "results" / name, root / "data" / "results" / name)


@functools.lru_cache(maxsize=None)
def executed(kind: str = "repo") -> tuple[Path, tuple]:
    """Stage and execute chapter notebooks; returns (staging folder, report rows).

    ``kind="repo"``: every chapter on the repository's own data/ (what ``make book``
    renders); ``"synthetic"``: the chapters with a zoo branch on :func:`synthetic_root`;
    ``"nocache"``: those chapters and the world chapter on :func:`nocache_root` (no
    spectra table, no zoo).
    """
    from pidlib import book
    staging = _TMP / f"stage_{kind}"
    book.stage(ROOT, staging)
    if kind == "repo":
        pidlib_root, only, params = ROOT, None, dict(FAST)
    elif kind == "synthetic":
        pidlib_root, only, params = synthetic_root(), ZOO_CHAPTERS, dict(FAST, n_samples=200)
    elif kind == "nocache":
        pidlib_root, only, params = nocache_root(), ZOO_CHAPTERS + ("02_world_zoo",), dict(FAST, n_samples=200)
    else:
        raise ValueError(kind)
    rows = book.execute_all(ROOT, staging, fresh=False, jobs=2, timeout=600, use_cache=False,
                            params=params, env=kernel_env(pidlib_root), only=only)
    return staging, tuple(rows)


@functools.lru_cache(maxsize=None)
def built_html() -> tuple[int, Path]:
    """Build the HTML of the repo-data execution strictly; returns (exit status, html dir)."""
    from pidlib import book
    staging, _ = executed("repo")
    out = _TMP / "out"
    out.mkdir(exist_ok=True)
    rc = book.build_html(staging, out, strict=True)
    return rc, out / "_build" / "html"


def chromium() -> str | None:
    sys.path.insert(0, str(ROOT / "tools"))
    import check_html
    return check_html.find_chromium()
