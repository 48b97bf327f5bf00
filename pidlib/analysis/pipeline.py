"""Fresh results for the book: zoo models -> probe runs -> spectra table.

``source="fresh"`` in a notebook calls :func:`fresh_spectra`, which runs the same commands
a user would type (so the cached files carry those commands as provenance):

1. ``python -m pidlib.zoo build --config full`` when ``models == ["zoo"]`` (the classroom
   zoo; resumable, models already built are skipped), then every model of its
   ``manifest.json`` (members and emergence checkpoints),
2. ``pidlib run --model M --dataset D --split eval --out data/runs --layers ...`` for each
   model and dataset (resumable run stores under ``data/runs``); ``datasets == ["world"]``
   means one classroom-world dataset per task family,
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
WORLD = "world"

#: Probe configurations a fresh run produces: name -> extra ``pidlib run`` arguments, which
#: models ("all", or "members": the zoo's final models only) and whether the logit lens
#: is stored. ``noise`` is the paper's probe and the one every finding chapter reads.
PROBE_SETS = {
    "noise": {"args": [], "models": "all", "layers": True},
    "noise8": {"args": ["--noise-draws", "8"], "models": "members", "layers": False},
    "donors8": {"args": ["--donors", "8"], "models": "all", "layers": False},
}
DEFAULT_PROBES = "noise"


def _run(cmd: list[str]) -> None:
    print("$", " ".join(cmd), flush=True)
    res = subprocess.run(cmd, cwd=repo_root())
    if res.returncode != 0:
        raise RuntimeError(f"command failed with exit status {res.returncode}: {' '.join(cmd)}")


def _pidlib_cli() -> list[str]:
    exe = Path(sys.executable).parent / "pidlib"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "pidlib.cli"]


def zoo_models(zoo: str | Path | None = None) -> dict[str, dict]:
    """Models of a built zoo: ``{path: {family, scale, scale_name, stage, kind, step[, seed]}}``
    from its manifest.

    ``scale`` is the model's parameter count (from the manifest, else its
    ``provenance.json``) so that scales sort numerically; the scale name is kept in
    ``scale_name``. ``seed`` (the training seed) is there when the manifest records one.
    """
    import re

    zoo = Path(zoo) if zoo is not None else data_dir() / "zoo"
    man_path = zoo / "manifest.json"
    if not man_path.exists():
        raise FileNotFoundError(f"{man_path}: no zoo manifest (run `python -m pidlib.zoo build --config full`)")
    man = json.loads(man_path.read_text())
    provs = {}
    for m in man["models"]:
        f = zoo / m["path"] / "provenance.json"
        provs[m["path"]] = json.loads(f.read_text()) if f.exists() else {}
    # parameter count per scale name (older manifests: checkpoints do not record it; their scale's models do)
    n_params = {str(m.get("scale")): m.get("n_params") or provs[m["path"]]["n_params"] for m in man["models"]
                if (m.get("n_params") or provs[m["path"]].get("n_params")) and m.get("scale")}
    out = {}
    for m in man["models"]:
        if str(m.get("stage")) == "init" or Path(m["path"]).parts[0] == "smoke":
            continue  # untrained weights and the test fixture are not zoo members
        parts = Path(m["path"]).parts
        # emergence/FAMILY-SCALE[-sSEED]/...: the member's folder name, seed suffix dropped
        member = re.sub(r"-s\d+$", "", parts[1]) if len(parts) > 2 and parts[0] == "emergence" else ""
        family = m.get("family") or member.split("-")[0]
        scale_name = str(m.get("scale") or (member.split("-", 1)[-1] if member else ""))
        path = zoo / m["path"]
        try:  # inside the repository: a relative path, so run-store names do not embed /home/...
            key = str(path.resolve().relative_to(repo_root()))
        except ValueError:
            key = str(path)
        out[key] = {
            "family": str(family or ""), "scale": float(n_params.get(scale_name, "nan")), "scale_name": scale_name,
            "stage": str(m.get("stage") or ""), "kind": str(m.get("kind") or ""),
            "step": float(m["step"]) if m.get("step") is not None else float("nan")}
        if m.get("seed") is not None:
            out[key]["seed"] = int(m["seed"])
    return out


def world_specs(n_samples: int, seed: int = 0) -> list[str]:
    """One classroom-world dataset spec per task family."""
    from pidlib.world.tasks import FAMILIES
    return [f"world:{t}?n={n_samples}&seed={seed}&split=eval" for t in FAMILIES]


def fresh_spectra(models=(ZOO,), datasets=(WORLD,), *, n_samples: int = 2000, seed: int = 0,
                  device: str = "cpu", layers: bool = True, n_boot: int = 200, zoo_config: str = "full",
                  probe_sets=tuple(PROBE_SETS), out: str | Path | None = None) -> pd.DataFrame:
    """Run the pipeline and write a new spectra table; returns it.

    ``probe_sets`` names entries of :data:`PROBE_SETS`; each adds its runs (and a
    ``probes`` value in the table). ``layers=False`` stores no logit lens in any of them.
    """
    models = list(models)
    unknown = [p for p in probe_sets if p not in PROBE_SETS]
    if unknown:
        raise ValueError(f"unknown probe sets {unknown}; known: {', '.join(PROBE_SETS)}")
    overrides: dict[str, dict] = {}
    commands = []
    if models == [ZOO]:
        cmd = [sys.executable, "-m", "pidlib.zoo", "build", "--config", zoo_config]
        _run(cmd)
        commands.append(" ".join(cmd[1:]))
        overrides = zoo_models()
        models = sorted(overrides)
    members = [m for m in models if overrides.get(m, {}).get("kind", "member") == "member"]
    specs = []
    for d in datasets:
        specs.extend(world_specs(n_samples, seed) if d == WORLD else [d])
    run_dirs = []
    for name in probe_sets:
        ps = PROBE_SETS[name]
        for m in (models if ps["models"] == "all" else members):
            for d in specs:
                cmd = _pidlib_cli() + ["run", "--model", str(m), "--dataset", d, "--split", "eval",
                                       "--out", str(runs_dir()), "--device", device, "--seed", str(seed),
                                       "--limit", str(n_samples), "--no-progress", *ps["args"]]
                if layers and ps["layers"]:
                    cmd.append("--layers")
                _run(cmd)
                commands.append(" ".join(["pidlib", *cmd[len(_pidlib_cli()):]]))
    wanted = {str(m) for m in models}
    want_cfg = {name: PROBE_SETS[name] for name in probe_sets}
    from pidlib.analysis.spectra import probe_label
    runs = []
    for r in find_runs():
        meta = json.loads((r / "meta.json").read_text())
        cfg = meta.get("config", {}) or {}
        label = probe_label(cfg)
        if meta.get("model") not in wanted or label not in want_cfg:
            continue
        if cfg.get("seed") != seed or bool(cfg.get("layers")) != bool(layers and want_cfg[label]["layers"]):
            continue  # a run of other settings (kept in the store, not in this table)
        runs.append(r)
    table = build_spectra(runs, seed=seed, n_boot=n_boot, overrides=overrides)
    params = dict(models=models, datasets=specs, n_samples=n_samples, seed=seed, device=device,
                  layers=layers, n_boot=n_boot, zoo_config=zoo_config, probe_sets=list(probe_sets))
    write_spectra(table, out or default_path(),
                  provenance(command="python -m pidlib.analysis fresh (pidlib.analysis.pipeline.fresh_spectra)",
                             parameters=params, runs=[str(r) for r in runs], run_commands=commands))
    return table


_FRESH_DONE: dict[tuple, pd.DataFrame] = {}


def get_spectra(source: str = "cache", models=(ZOO,), datasets=(WORLD,), *, probes: str | None = DEFAULT_PROBES,
                **kwargs) -> pd.DataFrame:
    """The spectra table for a notebook: the cached one, or a fresh one (``source="fresh"``).

    With ``"fresh"`` the pipeline runs (resumable: finished runs are reused by the run
    store) and the new table is written before it is returned. Models other than the zoo
    filter the table to those models. ``probes`` keeps the rows of one probe configuration
    (``"noise"``, the paper's, by default; ``"donors8"``, ``"noise8"``, see
    :data:`PROBE_SETS`); ``None`` keeps all, with their ``probes`` column.
    """
    if source not in ("cache", "fresh"):
        raise ValueError(f"source must be 'cache' or 'fresh', got {source!r}")
    if source == "fresh":
        key = (tuple(models), tuple(datasets), tuple(sorted((k, str(v)) for k, v in kwargs.items())))
        if key not in _FRESH_DONE:
            _FRESH_DONE[key] = fresh_spectra(models, datasets, **kwargs)
        table = _FRESH_DONE[key]
    else:
        table = load_spectra()
    models = list(models)
    if models and models != [ZOO] and len(table):
        table = table[table["model"].isin(models)]
    if probes is not None and len(table):
        have = table["probes"].fillna(DEFAULT_PROBES) if "probes" in table.columns else \
            pd.Series(DEFAULT_PROBES, index=table.index)
        table = table[have == probes]
    return table.reset_index(drop=True)


def run_provenance(root: str | Path | None = None) -> pd.DataFrame:
    """One row per cached run store: model, dataset, split, rows, date, command, config hash."""
    rows = []
    base = repo_root()
    for path in find_runs(root):
        meta = json.loads((path / "meta.json").read_text())
        rel = str(path.relative_to(base)) if path.is_relative_to(base) else str(path)
        rows.append({"run": rel, "model": meta.get("model", ""), "dataset": meta.get("dataset", ""),
                     "split": meta.get("split", ""), "config_hash": str(meta.get("config_hash", ""))[:12],
                     "date": meta.get("date", ""), "command": meta.get("command", "")})
    return pd.DataFrame(rows, columns=["run", "model", "dataset", "split", "config_hash", "date", "command"])
