"""Shared, once-per-session work for the book tests (imported by test_book_* and
test_notebooks_* modules): execute every chapter notebook under papermill in cache mode,
once on the repository's data and once on a synthetic spectra table (so the zoo branches
of the finding chapters run before real cached runs exist), and build the HTML."""
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
ZOO_CHAPTERS = ("02_method", "03_task_regimes", "04_family_strategies", "05_scaling", "06_layers",
                "07_training", "09_sensitivity")
_TMP = Path(tempfile.mkdtemp(prefix="pidlib-book-tests-"))
atexit.register(shutil.rmtree, _TMP, True)


def kernel_env(pidlib_root: Path) -> dict:
    env = dict(os.environ)
    env.update(PIDLIB_ROOT=str(pidlib_root), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               MPLBACKEND="module://matplotlib_inline.backend_inline", PYTHONHASHSEED="0")
    return env


def synthetic_spectra(seed: int = 0) -> pd.DataFrame:
    """A made-up but schema-valid spectra table (test input only, never written to data/)."""
    from pidlib.analysis.tables import ATOMS, SPECTRA_COLUMNS
    rng = np.random.default_rng(seed)
    rows = []
    tasks = ["color", "exist", "knowledge", "shape", "redundant"]
    models = [("fam_a", 1.0), ("fam_a", 2.0), ("fam_a", 4.0), ("fam_b", 1.0), ("fam_b", 2.0)]

    def row(model, fam, scale, task, layer, stage="", step=np.nan):
        atoms = rng.uniform(0.0, 0.5, size=4)
        r = {"model": model, "family": fam, "scale": scale, "stage": stage, "step": step, "dataset": "world",
             "task": task, "layer": layer, "n_fit": 500, "n_eval": 250, "seed": 0}
        for a, v in zip(ATOMS, atoms):
            r[a] = v
            r[f"raw_{a}"] = v
            r[f"{a}_lo"], r[f"{a}_hi"] = max(v - 0.05, 0), v + 0.05
        r["total"] = atoms.sum()
        r["total_lo"], r["total_hi"] = r["total"] - 0.1, r["total"] + 0.1
        r["I1"], r["I2"] = atoms[0] + atoms[1], atoms[0] + atoms[2]
        r["accuracy"] = rng.uniform(0.3, 0.95)
        r["accuracy_language_only"] = rng.uniform(0.2, r["accuracy"])
        r["d_vision"] = r["accuracy"] - r["accuracy_language_only"]
        return r

    for fam, scale in models:
        m = f"zoo/{fam}-{scale:g}"
        for t in tasks:
            rows.append(row(m, fam, scale, t, -1))
        for layer in range(6):
            rows.append(row(m, fam, scale, "all", layer))
        for stage, steps in (("align", (0, 50, 100)), ("instruct", (50, 100, 200))):
            for st in steps:
                rows.append(row(f"{m}@{stage}-{st}", fam, scale, "all", -1, stage, st))
    return pd.DataFrame(rows)[SPECTRA_COLUMNS]


def synthetic_root() -> Path:
    """A PIDLIB_ROOT with the paper's numbers and a synthetic spectra table."""
    from pidlib.analysis.tables import write_spectra
    root = _TMP / "synthetic_root"
    if not root.exists():
        (root / "data").mkdir(parents=True)
        shutil.copytree(ROOT / "data" / "paper", root / "data" / "paper")
        write_spectra(synthetic_spectra(), root / "data" / "results" / "spectra.csv",
                      {"command": "tests/_book_session.py synthetic_spectra()", "note": "synthetic test input"})
    return root


@functools.lru_cache(maxsize=None)
def executed(kind: str = "repo") -> tuple[Path, tuple]:
    """Stage and execute every chapter notebook; returns (staging folder, report rows).

    ``kind="repo"``: on the repository's own data/ (what ``make book`` renders);
    ``kind="synthetic"``: on :func:`synthetic_root` (finding chapters with zoo rows).
    """
    from pidlib import book
    staging = _TMP / f"stage_{kind}"
    book.stage(ROOT, staging)
    if kind == "repo":
        pidlib_root, only, params = ROOT, None, dict(FAST)
    else:  # only the chapters with a zoo branch, smaller still
        pidlib_root, only, params = synthetic_root(), ZOO_CHAPTERS, dict(FAST, n_samples=200)
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
