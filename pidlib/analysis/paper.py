"""The paper's reported numbers (``data/paper``), in tidy form.

The CSVs are transcribed from arXiv 2603.29676 (see ``data/paper/SOURCE.md``). Columns
are checked on load: a missing file or column raises an error naming the file.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from pidlib.analysis.paths import paper_dir

#: Expected columns per reference file.
PAPER_COLUMNS = {
    "correlations": ["dataset", "regime", "rho_S", "p_S", "rho_U2", "p_U2", "rho_I_total",
                     "rho_interaction"],
    "dvision": ["dataset", "rho_dvision_S", "p"],
    "scaling": ["family", "scales_B", "small_to_medium_dAcc", "small_to_medium_dS",
                "small_to_medium_dU2", "medium_to_large_dAcc", "medium_to_large_dS"],
}

#: Paper column -> the spectra-table quantity it correlates with accuracy.
CORRELATION_TARGETS = {
    "rho_S": "synergy",
    "rho_U2": "unique2",
    "rho_I_total": "total",
    "rho_interaction": "interaction",
}

#: The paper's four datasets and their regime (Findings 1–2).
PAPER_REGIMES = {
    "MMBench": "synergy-driven",
    "POPE": "synergy-driven",
    "Reefknot": "knowledge-driven",
    "PMC-VQA": "knowledge-driven",
}


def load_paper(name: str, directory: str | Path | None = None) -> pd.DataFrame:
    """Read one of the paper's tables: ``"correlations"``, ``"dvision"`` or ``"scaling"``.

    P-value columns stay strings as printed (``"<0.001"``); empty cells are ``NA``.
    """
    if name not in PAPER_COLUMNS:
        raise ValueError(f"unknown paper table {name!r}; expected one of {sorted(PAPER_COLUMNS)}")
    path = Path(directory or paper_dir()) / f"{name}.csv"
    if not path.exists():
        raise FileNotFoundError(f"{path}: paper reference table not found (see data/paper/SOURCE.md)")
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in PAPER_COLUMNS[name] if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}")
    for col in df.columns:
        if col.startswith("rho") or col.endswith("dAcc") or col.endswith("dS") or col.endswith("dU2"):
            for i, v in enumerate(df[col]):
                if v.strip() == "":
                    continue
                try:
                    float(v)
                except ValueError:
                    raise ValueError(f"{path}: row {i + 2}, column {col!r}: {v!r} is not a number") from None
            df[col] = pd.to_numeric(df[col].replace("", None))
    df = df.replace("", pd.NA)
    return df


def paper_correlations_long(directory: str | Path | None = None) -> pd.DataFrame:
    """The paper's accuracy correlations as rows ``dataset, regime, quantity, rho, p``."""
    wide = load_paper("correlations", directory)
    rows = []
    for _, r in wide.iterrows():
        for col, quantity in CORRELATION_TARGETS.items():
            pcol = {"rho_S": "p_S", "rho_U2": "p_U2"}.get(col)
            rows.append({"dataset": r["dataset"], "regime": r["regime"], "quantity": quantity,
                         "rho": float(r[col]),
                         "p": (None if pcol is None or pd.isna(r[pcol]) else str(r[pcol]))})
    return pd.DataFrame(rows)


def regime_means(directory: str | Path | None = None) -> pd.DataFrame:
    """Mean of the paper's rho per regime and quantity (a compact summary for plots)."""
    long = paper_correlations_long(directory)
    return long.groupby(["regime", "quantity"], as_index=False)["rho"].mean()


def zoo_regime(task: str) -> str:
    """The paper regime a classroom-world task family belongs to, by its designed atom.

    ``synergy`` families (``color``, ``exist``) are synergy-driven like MMBench and POPE,
    the ``unique2`` family (``knowledge``) is knowledge-driven like Reefknot and PMC-VQA;
    other families have no analogue in the paper (``"other"``).
    """
    from pidlib.world.tasks import DOMINANT_ATOM
    atom = DOMINANT_ATOM.get(str(task).split(":")[-1])
    return {"synergy": "synergy-driven", "unique2": "knowledge-driven"}.get(atom, "other")


def designed_atom(task: str) -> str | None:
    """The atom a classroom-world task family was designed to make dominant (or None)."""
    from pidlib.world.tasks import DOMINANT_ATOM
    return DOMINANT_ATOM.get(str(task).split(":")[-1])
