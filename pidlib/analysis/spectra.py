"""The spectra table from cached probe runs.

Each run store (``pidlib.run`` / ``pidlib run``, stored by ``pidlib.store``) becomes rows of
the spectra table (ARCHITECTURE.md) through the one spectrum path,
:func:`pidlib.analysis.spectrum.spectra`: per task (classroom-world runs over several
tasks are split by task) and layer, the BATCH estimate of the run's probes and, on the
classroom world, the exact ``reference`` and the ``discretized`` cross-check, with
bootstrap intervals, the training and coherence verdicts and the paper's accuracy.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from pidlib.analysis.paths import runs_dir
from pidlib.analysis.spectrum import (  # noqa: F401  (re-exported: older imports)
    K_MAX, RunDataError, accuracies, probe_label, run_rows, spectra,
)
from pidlib.analysis.tables import SPECTRA_COLUMNS, validate_spectra

#: Extra string/label columns written when known.
LABEL_COLUMNS = ("config_hash", "tau", "scale_name", "kind", "train_seed", "ci_note", "correction")


# ----------------------------------------------------------------------------- reading runs
def find_runs(root: str | Path | None = None) -> list[Path]:
    """Folders under ``root`` (default ``data/runs``) that hold a run store (``meta.json``)."""
    root = Path(root) if root is not None else runs_dir()
    if not root.exists():
        return []
    return sorted(p.parent for p in root.rglob("meta.json") if any(p.parent.glob("part-*.parquet")))


def read_run(path: str | Path) -> tuple[pd.DataFrame, dict]:
    """Rows (``RunStore.read()``, which checks the parts) and metadata of one run store."""
    from pidlib.store import RunStore

    path = Path(path)
    meta_path = path / "meta.json"
    if not meta_path.exists():
        raise RunDataError(f"{path}: no meta.json, not a run store")
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as e:
        raise RunDataError(f"{meta_path}: invalid JSON ({e})") from None
    try:
        df = RunStore.from_dir(path).read()
    except ValueError as e:
        raise RunDataError(f"{path}: {e}") from None
    return df, meta


def run_arrays(df: pd.DataFrame, source: str = "run", layers: bool = False) -> dict[str, np.ndarray]:
    """Validated arrays of a run as a dict (``x1, x2, k, p_full, p_vis, p_lang`` and with
    ``layers`` ``lens_*``); see :func:`pidlib.analysis.spectrum.run_rows`."""
    if layers and "lens_full" not in df.columns:
        raise RunDataError(f"{source}: layer-wise spectra need column 'lens_full' (run with --layers)")
    r = run_rows(df, source, layers=layers)
    out = {"x1": r.x1, "x2": r.x2, "k": r.k, "p_full": r.p_full, "p_vis": r.p_vis, "p_lang": r.p_lang}
    out.update({f"lens_{p}": v for p, v in r.lens.items()})
    return out


# ----------------------------------------------------------------------------- labels
def _model_label(model: str) -> str:
    """A model id for tables: local paths inside the repository become relative paths."""
    from pidlib.analysis.paths import repo_root
    p = Path(model)
    if p.is_absolute():
        try:
            return str(p.resolve().relative_to(repo_root()))
        except ValueError:
            return model
    return model


def task_of(meta: dict) -> str:
    """The task of a run: ``meta["task"]`` (written at run time), else parsed from a
    classroom-world dataset (source ``world:TASK?...`` or name ``world-TASK-...``), else
    ``"all"``."""
    if meta.get("task"):
        return str(meta["task"])
    src = str(meta.get("dataset_source", ""))
    if src.startswith("world:"):
        return src[len("world:"):].split("?", 1)[0] or "all"
    m = re.match(r"^world-([A-Za-z0-9_]+)-s\d+", str(meta.get("dataset", "")))
    return m.group(1) if m else "all"


def model_info(meta: dict, overrides: dict | None = None) -> dict[str, Any]:
    """``family, scale, stage, step`` (and ``scale_name, kind, train_seed`` when known) of a
    run's model, from its metadata (``run_info``) or ``overrides`` keyed by model."""
    model = str(meta.get("model", ""))
    info: dict[str, Any] = {"family": "", "scale": math.nan, "stage": "", "step": math.nan}
    extra = ("scale_name", "kind", "train_seed")
    for src in (meta.get("config", {}) or {}, meta.get("model_info", {}) or {}, meta.get("run_info", {}) or {}, meta):
        for k in (*info, *extra):
            if isinstance(src, dict) and src.get(k) not in (None, ""):
                info[k] = src[k]
    if overrides:
        for key in (model, str(Path(model).resolve()) if model else "", meta.get("model_identity", "")):
            if key and key in overrides:
                info.update(overrides[key])
                break
    if not info["family"]:
        info["family"] = model.rsplit("/", 1)[-1].split("-")[0]
    return info


def _world_task(index: str) -> str | None:
    m = re.match(r"^([a-z_]+)-(train|fit|eval)-", str(index))
    return m.group(1) if m else None


# ----------------------------------------------------------------------------- table rows
def spectra_from_run(path: str | Path, *, layers: bool = True, n_samples: int | None = None,
                     layer_samples: int | None = 1000,
                     fit_fraction: float = 0.5, seed: int = 0, n_boot: int = 0, level: float = 0.95,
                     overrides: dict | None = None, batch_kwargs: dict | None = None,
                     discretized: bool | None = None) -> pd.DataFrame:
    """Spectra-table rows of one run store: per task and layer (see module docstring).

    ``n_samples`` keeps a seeded random subset of the rows; ``fit_fraction``, ``seed``,
    ``n_boot`` and ``level`` go to :func:`pidlib.analysis.spectrum.spectra`.
    ``layer_samples`` (default 1000; ``None``: all): the per-layer (logit-lens) spectra of a
    task use a seeded random subset of this many of its rows, the output spectrum all of
    them; the rows' ``n_fit``/``n_eval`` columns say how many each used. ``discretized``:
    add the discretized cross-check (default: on classroom-world rows; ``False`` when
    another run of the same model and task supplies it).
    """
    df, meta = read_run(path)
    source = str(path)
    if n_samples is not None and len(df) > n_samples:
        df = df.sample(n=n_samples, random_state=seed).sort_values("index")
    df = df.reset_index(drop=True)
    info = model_info(meta, overrides)
    cfg = meta.get("config", {}) or {}
    tau = float(cfg.get("tau", 0.0) if cfg.get("tau") is not None else 0.0)
    tasks = df["index"].map(_world_task)
    groups = [(task_of(meta), df)]
    if tasks.notna().all() and tasks.nunique() > 1:
        groups = [(str(t), g.reset_index(drop=True)) for t, g in df.groupby(tasks, sort=True)]
    rows = []
    for task, g in groups:
        rr = run_rows(g, f"{source} [task {task}]", layers=layers)
        base = {"model": _model_label(str(meta.get("model", Path(path).name))), **info,
                "dataset": str(meta.get("dataset", "")), "task": task,
                "config_hash": str(meta.get("config_hash", "")), "tau": tau}
        kw = dict(probes=probe_label(cfg), tau=tau, fit_fraction=fit_fraction, seed=seed, n_boot=n_boot,
                  ci=level, batch_kwargs=batch_kwargs, discretized=discretized)
        split_layers = bool(layers and rr.lens and layer_samples is not None and len(g) > layer_samples)
        for r in spectra(rr, layers=layers and not split_layers, **kw):
            rows.append({**base, **r})
        if split_layers:  # the layers on a subset: the lens spectra cost one fit per layer
            sub = g.sample(n=layer_samples, random_state=seed).sort_values("index").reset_index(drop=True)
            sr = run_rows(sub, f"{source} [task {task}, {layer_samples} rows for the layers]", layers=True)
            rows += [{**base, **r} for r in spectra(sr, layers=True, output=False, **kw)]
    out = pd.DataFrame(rows)
    for c in SPECTRA_COLUMNS:
        if c not in out.columns:
            out[c] = math.nan
    extra = [c for c in LABEL_COLUMNS if c in out.columns]
    return validate_spectra(out[SPECTRA_COLUMNS + extra], source=source)


def build_spectra(paths: Iterable[str | Path] | None = None, **kwargs) -> pd.DataFrame:
    """Concatenate :func:`spectra_from_run` over run stores (default: all under ``data/runs``).

    Runs of one model on one task share its full-probe predictions, so their ``reference``
    and ``discretized`` rows agree; the table keeps the first of each.
    """
    paths = list(paths) if paths is not None else find_runs()
    return combine_spectra([spectra_from_run(p, **kwargs) for p in paths])


def combine_spectra(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """One table from per-run tables (see :func:`build_spectra`)."""
    if not frames:
        from pidlib.analysis.tables import empty_spectra
        return empty_spectra()
    table = pd.concat(frames, ignore_index=True)
    shared = table["probes"].isin(["reference", "discretized"])
    dup = shared & table.duplicated(["model", "dataset", "task", "layer", "probes"], keep="first")
    return validate_spectra(table[~dup].reset_index(drop=True))
