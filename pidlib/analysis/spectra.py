"""Spectra tables from cached probe runs.

A probe run (``pidlib.probes``, stored by ``pidlib.store``) holds one row per sample:
the features ``x1`` (visual) and ``x2`` (language), the three option distributions
``p_full``, ``p_vis``, ``p_lang`` (and per layer ``lens_*`` with the logit lens). This
module turns each run into rows of the spectra table (ARCHITECTURE.md): one BATCH estimate
per (run, task, layer), with a bootstrap percentile interval per atom, plus accuracy, the
language-only accuracy and D_vision = accuracy - language-only accuracy (the accuracy drop
when the image is replaced by calibrated noise).
"""
from __future__ import annotations

import inspect
import json
import math
import re
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from pidlib.analysis.paths import runs_dir
from pidlib.analysis.tables import ATOMS, SPECTRA_COLUMNS, VALUE_COLUMNS, validate_spectra

K_MAX = 4
LETTERS = "ABCDE"
ROW_SUM_TOL = 1e-3
REQUIRED_RUN_COLUMNS = ["index", "answer", "n_options", "pred", "x1", "x2", "p_full", "p_vis", "p_lang"]


class RunDataError(ValueError):
    """A cached run whose rows do not follow the run-row schema."""


# ----------------------------------------------------------------------------- reading runs
def find_runs(root: str | Path | None = None) -> list[Path]:
    """Folders under ``root`` (default ``data/runs``) that hold a run store (``meta.json``)."""
    root = Path(root) if root is not None else runs_dir()
    if not root.exists():
        return []
    return sorted(p.parent for p in root.rglob("meta.json") if any(p.parent.glob("part-*.parquet")))


def read_run(path: str | Path) -> tuple[pd.DataFrame, dict]:
    """Rows and metadata of one run store.

    Uses ``pidlib.store.RunStore`` when available (its ``read()``), else reads the parquet
    parts in the folder directly (same files, same schema).
    """
    path = Path(path)
    meta_path = path / "meta.json"
    if not meta_path.exists():
        raise RunDataError(f"{path}: no meta.json, not a run store")
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as e:
        raise RunDataError(f"{meta_path}: invalid JSON ({e})") from None
    try:  # the store owns the format (checks the config hash, refuses duplicate indices)
        from pidlib.store import RunStore
    except ImportError:  # pragma: no cover - the store is part of the package
        RunStore = None
    if RunStore is not None:
        try:
            df = RunStore.from_dir(path).read()
        except ValueError as e:
            raise RunDataError(f"{path}: {e}") from None
    else:  # pragma: no cover
        parts = sorted(path.glob("part-*.parquet"))
        if not parts:
            raise RunDataError(f"{path}: run store has no parquet parts")
        df = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    return df, meta


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
    if (p < -1e-7).any():
        i = int(np.flatnonzero((p < -1e-7).any(-1).reshape(len(df), -1).any(-1))[0])
        raise RunDataError(f"{source}: row {i} ({df['index'].iloc[i]}), column {col!r}: negative probability")
    s = p.sum(-1)
    off = np.abs(s - 1) > ROW_SUM_TOL
    if off.any():
        i = int(np.flatnonzero(off.reshape(len(df), -1).any(-1))[0])
        raise RunDataError(f"{source}: row {i} ({df['index'].iloc[i]}), column {col!r}: sums to "
                           f"{float(s.reshape(len(df), -1)[i].flat[0]):.6f}, not 1")
    pad = np.arange(p.shape[-1]) >= k.reshape((-1,) + (1,) * (p.ndim - 1))
    past = (np.where(pad, p, 0.0) > 1e-6).reshape(len(df), -1).any(-1)
    if past.any():
        i = int(np.flatnonzero(past)[0])
        raise RunDataError(f"{source}: row {i} ({df['index'].iloc[i]}), column {col!r}: probability mass past "
                           f"n_options={int(k[i])}")
    p = np.clip(p, 0, None)
    return p / p.sum(-1, keepdims=True)


def run_arrays(df: pd.DataFrame, source: str = "run", layers: bool = False) -> dict[str, np.ndarray]:
    """Validated arrays of a run: ``x1, x2, p_full, p_vis, p_lang`` (and ``lens_*``)."""
    missing = [c for c in REQUIRED_RUN_COLUMNS if c not in df.columns]
    if missing:
        raise RunDataError(f"{source}: missing column(s) {missing}")
    if len(df) == 0:
        raise RunDataError(f"{source}: no rows")
    dup = df["index"].duplicated()
    if dup.any():
        raise RunDataError(f"{source}: duplicate sample index {df['index'][dup].iloc[0]!r}")
    k = df["n_options"].to_numpy()
    if ((k < 2) | (k > K_MAX)).any():
        i = int(np.flatnonzero((k < 2) | (k > K_MAX))[0])
        raise RunDataError(f"{source}: row {i} ({df['index'].iloc[i]}): n_options={k[i]} outside 2..{K_MAX}")
    out = {"x1": _stack(df, "x1", source), "x2": _stack(df, "x2", source), "k": k}
    for col in ("p_full", "p_vis", "p_lang"):
        out[col] = _check_dist(_stack(df, col, source, K_MAX), k, col, df, source)
    if layers:
        for col in ("lens_full", "lens_vis", "lens_lang"):
            if col not in df.columns:
                raise RunDataError(f"{source}: layer-wise spectra need column {col!r} (run with --layers)")
            flat = _stack(df, col, source)
            if flat.shape[1] % K_MAX:
                raise RunDataError(f"{source}: column {col!r} length {flat.shape[1]} is not n_layers*{K_MAX}")
            out[col] = _check_dist(flat.reshape(len(df), -1, K_MAX), k, col, df, source)
    return out


def accuracies(df: pd.DataFrame, arrays: dict[str, np.ndarray]) -> dict[str, float]:
    """Accuracy of the full probe (``pred``) and of the language-only probe, and D_vision."""
    gold = df["answer"].astype(object)
    has = gold.notna() & gold.astype(str).isin(list(LETTERS))
    if not has.any():
        return {"accuracy": math.nan, "accuracy_language_only": math.nan, "d_vision": math.nan}
    g = gold[has].astype(str).to_numpy()
    acc = float(np.mean(df["pred"][has].astype(str).to_numpy() == g))
    lang = np.array(list(LETTERS))[arrays["p_lang"].argmax(-1)][has.to_numpy()]
    acc_l = float(np.mean(lang == g))
    return {"accuracy": acc, "accuracy_language_only": acc_l, "d_vision": acc - acc_l}


# ----------------------------------------------------------------------------- estimating
def _split(n: int, n_fit: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    if n_fit is None:
        n_fit = n // 2
    if not 0 < n_fit < n:
        raise ValueError(f"n_fit={n_fit} must leave rows for both fitting and evaluation (n={n})")
    return np.sort(perm[:n_fit]), np.sort(perm[n_fit:])


def _call(fn, *args, **kwargs):
    """Call ``fn`` with only the keyword arguments it accepts."""
    params = inspect.signature(fn).parameters
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return fn(*args, **kwargs)
    return fn(*args, **{k: v for k, v in kwargs.items() if k in params})


def _row_from_result(r, n_fit: int, n_eval: int, seed: int) -> dict[str, float]:
    row = {a: float(getattr(r, a)) for a in VALUE_COLUMNS}
    row.update({f"raw_{a}": float(r.raw.get(a, getattr(r, a))) for a in ATOMS})
    row.update(I1=float(r.I1), I2=float(r.I2), n_fit=n_fit, n_eval=n_eval, seed=seed)
    for a in VALUE_COLUMNS:
        row[f"{a}_lo"] = row[f"{a}_hi"] = math.nan
    return row


def estimate(x1, x2, p_vis, p_lang, p_full, *, n_fit: int | None = None, seed: int = 0,
             n_boot: int = 0, level: float = 0.95, batch_kwargs: dict | None = None) -> dict[str, float]:
    """One BATCH spectrum of a run (or one layer of it), optionally with bootstrap intervals.

    Rows are split at random (``seed``) into ``n_fit`` fitting rows and the rest for
    evaluation. Returns the atoms (clipped), raw atoms, total, I1, I2, and with
    ``n_boot >= 2`` the percentile interval ``<atom>_lo``/``<atom>_hi`` of
    :func:`pidlib.bootstrap_pid` (which resamples fit and evaluation rows and refits).
    """
    from pidlib import bootstrap_pid, pid_batch  # imported lazily: torch is heavy

    if n_boot == 1 or n_boot < 0:
        raise ValueError(f"n_boot must be 0 (no interval) or at least 2, got {n_boot}")
    fit, ev = _split(len(x1), n_fit, seed)
    kw = dict(batch_kwargs or {})
    fit_data = (x1[fit], x2[fit], p_vis[fit], p_lang[fit], p_full[fit])
    eval_data = (x1[ev], x2[ev], p_vis[ev], p_lang[ev], p_full[ev])
    if n_boot:
        b = _call(bootstrap_pid, *fit_data, eval_data=eval_data, n_boot=n_boot, ci=level, seed=seed, **kw)
        row = _row_from_result(b.point, len(fit), len(ev), seed)
        row.update(interval_columns(b))
        return row
    r = _call(pid_batch, *fit_data, eval_data=eval_data, seed=seed, **kw)
    return _row_from_result(r, len(fit), len(ev), seed)


def estimate_layers(x1, x2, lens_vis, lens_lang, lens_full, *, n_fit: int | None = None, seed: int = 0,
                    batch_kwargs: dict | None = None) -> list[dict[str, float]]:
    """One spectrum per layer, fitted together with :func:`pidlib.pid_batch_many`.

    ``lens_*`` have shape (n, n_layers, k); the features are shared by every layer.
    No bootstrap interval (a per-layer bootstrap multiplies the cost by ``n_boot``).
    """
    from pidlib import pid_batch_many

    fit, ev = _split(len(x1), n_fit, seed)
    L = lens_full.shape[1]
    P = [np.ascontiguousarray(np.moveaxis(a, 1, 0)) for a in (lens_vis, lens_lang, lens_full)]
    res = _call(pid_batch_many, x1[fit], x2[fit], *(a[:, fit] for a in P), seeds=[seed] * L,
                eval_data=(x1[ev], x2[ev], *(a[:, ev] for a in P)), **dict(batch_kwargs or {}))
    return [_row_from_result(r, len(fit), len(ev), seed) for r in res]


def interval_columns(res: Any) -> dict[str, float]:
    """Normalize a bootstrap result to ``{<atom>_lo, <atom>_hi}`` columns.

    Accepts a mapping ``atom -> (lo, hi)``, or an object with ``intervals`` /
    ``lo``+``hi`` mappings (whatever :func:`pidlib.bootstrap_pid` returns).
    """
    if hasattr(res, "intervals"):
        res = res.intervals
    if hasattr(res, "lo") and hasattr(res, "hi"):
        lo, hi = res.lo, res.hi
        res = {a: (lo[a], hi[a]) for a in VALUE_COLUMNS if a in lo}
    out = {}
    for a in VALUE_COLUMNS:
        if a in res:
            lo, hi = res[a]
            out[f"{a}_lo"], out[f"{a}_hi"] = float(lo), float(hi)
    return out


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
    """The task family of a run: ``meta["task"]``, else parsed from a classroom-world dataset
    (source ``world:TASK?...`` or name ``world-TASK-sSEED``), else ``"all"``."""
    if meta.get("task"):
        return str(meta["task"])
    src = str(meta.get("dataset_source", ""))
    if src.startswith("world:"):
        return src[len("world:"):].split("?", 1)[0] or "all"
    m = re.match(r"^world-([A-Za-z0-9_]+)-s\d+", str(meta.get("dataset", "")))
    return m.group(1) if m else "all"


def model_info(meta: dict, overrides: dict | None = None) -> dict[str, Any]:
    """``family, scale, stage, step`` of a run's model, from its metadata or ``overrides``."""
    model = str(meta.get("model", ""))
    info = {"family": "", "scale": math.nan, "stage": "", "step": math.nan}
    for src in (meta.get("config", {}) or {}, meta.get("model_info", {}) or {}, meta):
        for k in info:
            if isinstance(src, dict) and src.get(k) not in (None, ""):
                info[k] = src[k]
    if overrides:
        for key in (model, str(Path(model).resolve()) if model else ""):
            if key in overrides:
                info.update(overrides[key])
                break
    if not info["family"]:
        info["family"] = model.rsplit("/", 1)[-1].split("-")[0]
    return info


def probe_label(config: dict) -> str:
    """How a run's unimodal probes replaced the other input: ``"noise"`` (one noise draw,
    the paper's probes), ``"noiseK"`` (K draws averaged) or ``"donorsD"`` (D other
    samples' inputs averaged)."""
    donors = int(config.get("donors", 0) or 0)
    draws = int(config.get("noise_draws", 1) or 1)
    if donors:
        return f"donors{donors}"
    return "noise" if draws == 1 else f"noise{draws}"


def spectra_from_run(path: str | Path, *, layers: bool = False, n_samples: int | None = None,
                     fit_fraction: float = 0.5, seed: int = 0, n_boot: int = 0, level: float = 0.95,
                     overrides: dict | None = None, batch_kwargs: dict | None = None) -> pd.DataFrame:
    """Spectra-table rows of one run store: per task (if the rows carry ``task``) and layer."""
    df, meta = read_run(path)
    source = str(path)
    if n_samples is not None and len(df) > n_samples:
        df = df.sample(n=n_samples, random_state=seed).sort_values("index")
    df = df.reset_index(drop=True)
    info = model_info(meta, overrides)
    groups = [(task_of(meta), df)]
    if "task" in df.columns and df["task"].nunique() > 1:
        groups = [("all", df)] + [(str(t), g.reset_index(drop=True)) for t, g in df.groupby("task", sort=True)]
    rows = []
    for task, g in groups:
        arr = run_arrays(g, f"{source} [task {task}]", layers=layers)
        n_fit = max(1, int(round(fit_fraction * len(g))))
        cfg = meta.get("config", {}) or {}
        base = {"model": _model_label(str(meta.get("model", Path(path).name))), **info, "dataset": str(meta.get("dataset", "")),
                "task": task, **accuracies(g, arr), "config_hash": str(meta.get("config_hash", "")),
                "tau": cfg.get("tau", math.nan), "noise_scale": cfg.get("noise_scale", math.nan),
                "probes": probe_label(cfg)}
        rows.append({**base, "layer": -1, **estimate(arr["x1"], arr["x2"], arr["p_vis"], arr["p_lang"], arr["p_full"],
                                                      n_fit=n_fit, seed=seed, n_boot=n_boot, level=level,
                                                      batch_kwargs=batch_kwargs)})
        if layers:
            per_layer = estimate_layers(arr["x1"], arr["x2"], arr["lens_vis"], arr["lens_lang"], arr["lens_full"],
                                        n_fit=n_fit, seed=seed, batch_kwargs=batch_kwargs)
            rows.extend({**base, "layer": li, **r} for li, r in enumerate(per_layer))
    out = pd.DataFrame(rows)
    for c in SPECTRA_COLUMNS:
        if c not in out.columns:
            out[c] = math.nan
    extra = [c for c in ("config_hash", "tau", "noise_scale", "probes", "scale_name", "kind") if c in out.columns]
    return validate_spectra(out[SPECTRA_COLUMNS + extra], source=source)


def build_spectra(paths: Iterable[str | Path] | None = None, **kwargs) -> pd.DataFrame:
    """Concatenate :func:`spectra_from_run` over run stores (default: all under ``data/runs``).

    A run whose rows carry ``lens_*`` columns is also estimated per layer unless
    ``layers=False`` is passed.
    """
    paths = list(paths) if paths is not None else find_runs()
    layers = kwargs.pop("layers", None)
    frames = []
    for p in paths:
        use_layers = layers
        if use_layers is None:
            df, _ = read_run(p)
            use_layers = "lens_full" in df.columns
        frames.append(spectra_from_run(p, layers=use_layers, **kwargs))
    if not frames:
        from pidlib.analysis.tables import empty_spectra
        return empty_spectra()
    return validate_spectra(pd.concat(frames, ignore_index=True))
