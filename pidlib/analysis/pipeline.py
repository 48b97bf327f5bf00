"""Fresh results for the book: zoo models -> probe runs -> spectra table.

``source="fresh"`` in a notebook calls :func:`fresh_spectra`, which runs the same commands
a user would type (so the cached files carry those commands as provenance):

1. ``python -m pidlib.zoo build`` when ``models == ["zoo"]`` (the classroom zoo),
2. ``pidlib run`` for each model and dataset (a resumable run store under ``data/runs``),
3. :func:`pidlib.analysis.spectra.build_spectra` over those runs, written atomically to
   ``data/results/spectra.csv`` with ``spectra.provenance.json``.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

from pidlib.analysis.paths import data_dir, repo_root, runs_dir
from pidlib.analysis.provenance import provenance
from pidlib.analysis.spectra import build_spectra, find_runs
from pidlib.analysis.tables import default_path, load_spectra, write_spectra

ZOO = "zoo"


def _run(cmd: list[str]) -> None:
    print("$", " ".join(cmd), flush=True)
    res = subprocess.run(cmd, cwd=repo_root())
    if res.returncode != 0:
        raise RuntimeError(f"command failed with exit status {res.returncode}: {' '.join(cmd)}")


def zoo_models() -> list[str]:
    """Checkpoint folders of the zoo (``data/zoo/**/config.json``), sorted."""
    root = data_dir() / "zoo"
    return sorted(str(p.parent) for p in root.rglob("config.json")) if root.exists() else []


def fresh_spectra(models=(ZOO,), datasets=("world",), *, n_samples: int = 2000, seed: int = 0,
                  device: str = "cpu", layers: bool = False, n_boot: int = 200,
                  out: str | Path | None = None) -> pd.DataFrame:
    """Run the pipeline and write a new spectra table; returns it."""
    models = list(models)
    if models == [ZOO]:
        _run([sys.executable, "-m", "pidlib.zoo", "build"])
        models = zoo_models()
        if not models:
            raise RuntimeError("`python -m pidlib.zoo build` left no checkpoints under data/zoo")
    commands = []
    for m in models:
        for d in datasets:
            cmd = [sys.executable, "-m", "pidlib.cli", "run", "--model", str(m), "--dataset", str(d),
                   "--n-samples", str(n_samples), "--seed", str(seed), "--device", device,
                   "--out", str(runs_dir())]
            if layers:
                cmd.append("--layers")
            _run(cmd)
            commands.append(" ".join(cmd[2:]))
    runs = find_runs()
    table = build_spectra(runs, seed=seed, n_boot=n_boot)
    params = dict(models=models, datasets=list(datasets), n_samples=n_samples, seed=seed, device=device,
                  layers=layers, n_boot=n_boot)
    write_spectra(table, out or default_path(),
                  provenance(command="python -m pidlib.analysis spectra (via a notebook with source='fresh')",
                             parameters=params, runs=[str(r) for r in runs], run_commands=commands))
    return table


def get_spectra(source: str = "cache", models=(ZOO,), datasets=("world",), **kwargs) -> pd.DataFrame:
    """The spectra table for a notebook: the cached one, or a fresh one (``source="fresh"``)."""
    if source not in ("cache", "fresh"):
        raise ValueError(f"source must be 'cache' or 'fresh', got {source!r}")
    if source == "fresh":
        table = fresh_spectra(models, datasets, **kwargs)
    else:
        table = load_spectra()
    models = list(models)
    if models and models != [ZOO] and len(table):
        table = table[table["model"].isin(models)]
    return table.reset_index(drop=True)


def run_provenance(root: str | Path | None = None) -> pd.DataFrame:
    """One row per cached run store: model, dataset, split, rows, date, command, config hash."""
    rows = []
    for path in find_runs(root):
        meta = json.loads((path / "meta.json").read_text())
        rows.append({"run": str(path.relative_to(repo_root())) if path.is_relative_to(repo_root()) else str(path),
                     "model": meta.get("model", ""), "dataset": meta.get("dataset", ""),
                     "split": meta.get("split", ""), "config_hash": str(meta.get("config_hash", ""))[:12],
                     "date": meta.get("date", ""), "command": meta.get("command", "")})
    return pd.DataFrame(rows, columns=["run", "model", "dataset", "split", "config_hash", "date", "command"])
