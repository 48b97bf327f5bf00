"""The spectra table: one row per PID estimate, as described in ARCHITECTURE.md.

``data/results/spectra.csv`` (plus ``spectra.provenance.json``) is written by
``python -m pidlib.analysis spectra`` from the cached probe runs and read by every finding
notebook through :func:`load_spectra`.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from pidlib.analysis.paths import results_dir
from pidlib.analysis.provenance import atomic_write_text, sidecar, write_json

ATOMS = ("redundancy", "unique1", "unique2", "synergy")
#: Short names used in figures and prose.
SYMBOLS = {"redundancy": "R", "unique1": "U1", "unique2": "U2", "synergy": "S",
           "total": "I(X1,X2;Y)", "interaction": "I(X1;X2;Y)"}

KEY_COLUMNS = ["model", "family", "scale", "stage", "step", "dataset", "task", "layer", "probes"]
SIZE_COLUMNS = ["n_fit", "n_eval", "seed", "n_boot"]
#: The atoms as estimated (never clipped: R + U1 + U2 + S = total) and the total.
VALUE_COLUMNS = list(ATOMS) + ["total"]
CI_COLUMNS = [f"{a}_{s}" for a in VALUE_COLUMNS for s in ("lo", "hi")]
#: Verdicts: whether the estimator trained and whether the probes can come from one joint.
FLAG_COLUMNS = ["coherent", "trained"]
#: What the verdicts are made of (bits; see pidlib.pid_batch).
DIAGNOSTIC_COLUMNS = ["steps", "ci_gap", "kl_vis", "kl_lang", "target_mismatch", "i1_excess", "i2_excess",
                      "min_atom"]
#: Error of the estimate against the exact classroom-world reference, with its interval.
ERROR_COLUMNS = [f"err_{a}{s}" for a in ATOMS for s in ("", "_lo", "_hi")]
EXTRA_COLUMNS = ["I1", "I2", "accuracy", "accuracy_language_only", "d_vision"]
SPECTRA_COLUMNS = (KEY_COLUMNS + SIZE_COLUMNS + VALUE_COLUMNS + CI_COLUMNS + FLAG_COLUMNS + DIAGNOSTIC_COLUMNS
                   + ERROR_COLUMNS + EXTRA_COLUMNS)
#: Probe kinds: the paper's single noise draw, K averaged draws, D donors, the exact world
#: reference and the k-means + exact cross-check.
PROBE_KINDS_DOC = "noise, noiseK, donorsD, reference, discretized"

_NUMERIC = (["scale", "step", "layer"] + SIZE_COLUMNS + VALUE_COLUMNS + CI_COLUMNS + DIAGNOSTIC_COLUMNS
            + ERROR_COLUMNS + EXTRA_COLUMNS)
_STRINGS = ["model", "family", "stage", "dataset", "task", "probes"]
#: Largest |R + U1 + U2 + S - total| a row may have (bits): the atoms form one decomposition.
SUM_TOL = 1e-3


class SpectraTableError(ValueError):
    """A spectra table that does not follow the schema."""


def default_path() -> Path:
    """``data/results/spectra.csv``."""
    return results_dir() / "spectra.csv"


def empty_spectra() -> pd.DataFrame:
    """A spectra table with the schema's columns and no rows."""
    return validate_spectra(pd.DataFrame({c: pd.Series(dtype=float if c in _NUMERIC else object)
                                          for c in SPECTRA_COLUMNS}))


def validate_spectra(df: pd.DataFrame, source: str = "spectra table") -> pd.DataFrame:
    """Check the schema and value ranges; return a copy with normalized dtypes.

    Raises
    ------
    SpectraTableError
        Naming the source, the row (1-based data row) and the problem.
    """
    missing = [c for c in SPECTRA_COLUMNS if c not in df.columns]
    if missing:
        raise SpectraTableError(f"{source}: missing column(s) {missing}")
    out = df.copy()
    for c in _NUMERIC:
        conv = pd.to_numeric(out[c], errors="coerce")
        bad = conv.isna() & out[c].notna() & (out[c].astype(str).str.strip() != "")
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise SpectraTableError(f"{source}: row {i + 1}, column {c!r}: {out[c].iloc[i]!r} is not a number")
        out[c] = conv.astype(float)
    for c in _STRINGS:
        out[c] = out[c].astype(object).where(out[c].notna(), "")
        out[c] = out[c].map(str)
    for c in FLAG_COLUMNS:
        vals = out[c].map(lambda v: {"true": True, "false": False}.get(str(v).strip().lower(), v))
        bad = ~vals.map(lambda v: isinstance(v, (bool, np.bool_)))
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise SpectraTableError(f"{source}: row {i + 1}, column {c!r}: {out[c].iloc[i]!r} is not true/false")
        out[c] = vals.astype(bool)
    gap = (out[list(ATOMS)].sum(axis=1) - out["total"]).abs()
    off = gap > SUM_TOL
    if off.any():
        i = int(np.flatnonzero(off.to_numpy())[0])
        raise SpectraTableError(f"{source}: row {i + 1}: the atoms sum to {out[list(ATOMS)].iloc[i].sum():.6f}, "
                                f"not the total {out['total'].iloc[i]:.6f} (atoms must not be clipped)")
    if len(out) and out["model"].eq("").any():
        i = int(np.flatnonzero(out["model"].eq("").to_numpy())[0])
        raise SpectraTableError(f"{source}: row {i + 1}: empty model name")
    return out[SPECTRA_COLUMNS + [c for c in out.columns if c not in SPECTRA_COLUMNS]]


def load_spectra(path: str | Path | None = None) -> pd.DataFrame:
    """Read and validate a spectra table; an empty table (with columns) if the file is absent.

    Use ``len(df) == 0`` to detect "no cached run yet".
    """
    path = Path(path) if path is not None else default_path()
    if not path.exists():
        return empty_spectra()
    return validate_spectra(pd.read_csv(path), source=str(path))


def write_spectra(df: pd.DataFrame, path: str | Path | None = None, provenance: dict | None = None) -> Path:
    """Validate and atomically write a spectra table, with a provenance sidecar."""
    path = Path(path) if path is not None else default_path()
    df = validate_spectra(df, source=str(path))
    buf = io.StringIO()
    df.to_csv(buf, index=False, float_format="%.6g")
    atomic_write_text(path, buf.getvalue())
    if provenance is not None:
        write_json(sidecar(path), provenance)
    return path


def interaction_information(df: pd.DataFrame) -> pd.Series:
    """Interaction information I(X1;X2;Y) = I(X1;Y) + I(X2;Y) - I(X1,X2;Y) (bits).

    Equal to R - S; unlike the atoms of a coherent decomposition it can be negative.
    """
    return df["I1"] + df["I2"] - df["total"]


def add_derived(df: pd.DataFrame) -> pd.DataFrame:
    """Add ``interaction`` (I1 + I2 - total) and each atom's share of the total
    (``share_*``, in %). Shares are only defined for coherent rows with a positive total;
    elsewhere they are NaN (never computed from clipped atoms)."""
    out = df.copy()
    out["interaction"] = interaction_information(out)
    ok = out["coherent"].astype(bool) & (out["total"] > 0)
    tot = out["total"].where(ok)
    for a in ATOMS:
        out[f"share_{a}"] = 100.0 * out[a] / tot
    return out


def final_models(df: pd.DataFrame) -> pd.DataFrame:
    """The finished models of a table: zoo ``member`` rows when the table marks a ``kind``
    (training checkpoints and stage-1-only models are left out), else every row."""
    if "kind" in df.columns and df["kind"].eq("member").any():
        return df[df["kind"] == "member"]
    return df


def training_series(df: pd.DataFrame) -> pd.DataFrame:
    """Rows of training checkpoints (zoo ``checkpoint`` rows when marked, else every row
    with a stage and a step)."""
    if "kind" in df.columns and df["kind"].eq("checkpoint").any():
        df = df[df["kind"] == "checkpoint"]
    return df[df["step"].notna() & (df["stage"] != "")]
