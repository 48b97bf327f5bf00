"""Fresh results for the book or for your own models: models -> probe runs -> spectra table.

``source="fresh"`` in a notebook calls :func:`fresh_spectra`, which runs, in this process:

1. ``python -m pidlib.zoo build --config full`` when ``models == ["zoo"]`` (the classroom
   zoo; resumable, models already built are skipped), then every model of its
   ``manifest.json`` (members and emergence checkpoints),
2. :func:`pidlib.run` for each model, dataset and probe set (resumable run stores; the
   equivalent ``pidlib run ...`` command is recorded as provenance), with the labels the
   analysis needs (task, family, scale, stage, step, kind) written into each run's
   ``meta.json`` at run time (``run_info``); ``datasets == ["world"]`` means one
   classroom-world dataset per task family,
3. :func:`pidlib.analysis.spectra.build_spectra` over exactly those runs, written atomically
   with a provenance sidecar.

Where the results go
    For the zoo (``models == ["zoo"]``, no ``out_dir``): ``data/runs`` and the committed
    ``data/results/spectra.csv``. For any other models: ``out_dir`` (default
    ``./pidlib-results``), as ``OUT_DIR/runs/`` and ``OUT_DIR/spectra.csv``; writing a
    non-zoo table over ``data/results/spectra.csv`` is refused.

Datasets
    ``"world"``, ``"world:TASK?n=...&seed=..."`` or a file spec ``"FORMAT:PATH"``, with the
    image folder as ``"FORMAT:PATH@IMAGE_DIR"`` (``"pope:/data/pope.jsonl@/data/val2014"``).
    Runs on the paper's benchmarks carry the benchmark's name as ``task`` (``MMBench``,
    ``POPE``, ``Reefknot``, ``PMC-VQA``: the ``dataset`` column of ``data/paper``), so
    tables compare per benchmark; user models are labelled ``kind == "user"``.
"""
from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from pidlib.analysis.paths import data_dir, repo_root, runs_dir
from pidlib.analysis.provenance import provenance
from pidlib.analysis.spectra import combine_spectra, find_runs, spectra_from_run
from pidlib.analysis.tables import default_path, load_spectra, write_spectra

ZOO = "zoo"
WORLD = "world"
USER = "user"
#: Default output folder (in the working directory) for runs and spectra of non-zoo models.
DEFAULT_USER_OUT = "pidlib-results"

#: Dataset format -> the paper's benchmark name (``dataset`` column of ``data/paper``).
BENCHMARKS = {"mmbench": "MMBench", "pope": "POPE", "reefknot": "Reefknot", "pmcvqa": "PMC-VQA"}

#: Probe configurations a fresh run can produce: name -> extra :func:`pidlib.run` options
#: (and the equivalent ``pidlib run`` arguments), which models ("all", or "members": the
#: zoo's final models and user models) and for which models the logit lens is stored
#: (True, False or "members"). ``noise`` is the paper's probe; ``donors4`` the
#: cross-sample probe whose spectra agree with the exact reference on the zoo (method
#: chapter). The lens is stored for members only: the checkpoints and stage-1 models are
#: read at the output, and the cached run fits the 2-core budget that way. ``"samples":
#: "other"`` runs a probe set at ``n_samples_other`` rows on every model: donor probes
#: cost three times the rows of the noise probes (one full, D visual-only and D
#: language-only rows per sample).
PROBE_SETS = {
    "noise": {"options": {}, "args": [], "models": "all", "layers": "members"},
    "donors4": {"options": {"donors": 4}, "args": ["--donors", "4"], "models": "members", "layers": False,
                "samples": "other"},
    "noise8": {"options": {"noise_draws": 8}, "args": ["--noise-draws", "8"], "models": "members", "layers": False},
    "donors8": {"options": {"donors": 8}, "args": ["--donors", "8"], "models": "members", "layers": False},
}
#: Samples per stored part in the pipeline's probe runs: the classroom models probe a batch
#: faster than a part is written, so their rows are written 256 at a time (runner
#: ``write_every``; a ``kill -9`` loses at most 256 samples or 30 s, which a resume redoes).
WRITE_EVERY = 256
#: What ``fresh`` runs unless told otherwise (the cached results in ``data/``).
DEFAULT_PROBE_SETS = ("noise", "donors4")
DEFAULT_PROBES = "noise"


def _run(cmd: list[str]) -> None:
    print("$", " ".join(cmd), flush=True)
    res = subprocess.run(cmd, cwd=repo_root())
    if res.returncode != 0:
        raise RuntimeError(f"command failed with exit status {res.returncode}: {' '.join(cmd)}")


def zoo_models(zoo: str | Path | None = None) -> dict[str, dict]:
    """Models of a built zoo: ``{path: {family, scale, scale_name, stage, kind, step[, train_seed]}}``
    from its manifest.

    ``scale`` is the model's parameter count (from the manifest, else its
    ``provenance.json``) so that scales sort numerically; the scale name is kept in
    ``scale_name``. ``train_seed`` is there when the manifest records the training seed.
    """
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
        if str(m.get("stage")) == "init" or Path(m["path"]).parts[0] in ("smoke", "class"):
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
            out[key]["train_seed"] = int(m["seed"])
    return out


def world_specs(n_samples: int, seed: int = 0) -> list[str]:
    """One classroom-world dataset spec per task family."""
    from pidlib.world.tasks import FAMILIES
    return [f"world:{t}?n={n_samples}&seed={seed}&split=eval" for t in FAMILIES]


def dataset_task(spec: str) -> str:
    """The ``task`` label of a dataset spec: the world's task family, the paper's benchmark
    name for its formats, else the format."""
    fmt, _, rest = str(spec).partition(":")
    fmt = fmt.strip().lower()
    if fmt == WORLD:
        return rest.split("?", 1)[0] or "all"
    return BENCHMARKS.get(fmt, fmt)


def model_label(model: str) -> str:
    """How a model appears in spectra tables: a local directory inside the repository as a
    relative path, another local directory as its real path, a hub id as given."""
    from pidlib.models.identity import model_identity

    ident = model_identity(str(model))
    p = Path(ident)
    if p.is_absolute():
        try:
            return str(p.relative_to(repo_root()))
        except ValueError:
            return ident
    return ident


def output_paths(models, out_dir: str | Path | None = None, out: str | Path | None = None,
                 runs_root: str | Path | None = None, zoo_config: str = "full") -> tuple[Path, Path]:
    """``(runs folder, spectra table)`` of a fresh run (see the module docstring). A zoo of
    another configuration than ``full`` (``class``, ``smoke``) writes
    ``data/results/CONFIG/spectra.csv``, never the book's table.

    Raises
    ------
    ValueError
        When a run of other models than the zoo would write ``data/results/spectra.csv``.
    """
    zoo = list(models) == [ZOO]
    if zoo and out_dir is None:
        runs, table = runs_dir(), default_path()
        if zoo_config != "full":
            table = default_path().parent / zoo_config / "spectra.csv"
    else:
        base = Path(out_dir).expanduser() if out_dir is not None else Path.cwd() / DEFAULT_USER_OUT
        runs, table = base / "runs", base / "spectra.csv"
    runs = Path(runs_root).expanduser() if runs_root is not None else runs
    table = Path(out).expanduser() if out is not None else table
    if not zoo and table.resolve() == default_path().resolve():
        raise ValueError(f"{table} is the committed spectra table of the classroom zoo; a run on other models "
                         "writes its own table: pass out_dir (e.g. out_dir='my-results')")
    return runs, table


def _model_path(model) -> str:
    """A zoo model's repository-relative path made absolute (notebooks run from anywhere)."""
    p = Path(str(model))
    if not p.is_absolute() and not p.exists() and (repo_root() / p).exists():
        return str(repo_root() / p)
    return str(model)


def _cli_command(model, spec, runs, device, seed, n_samples, tau, layers, extra) -> str:
    cmd = ["pidlib", "run", "--model", str(model), "--dataset", spec, "--out", str(runs), "--device", device,
           "--seed", str(seed), "--limit", str(n_samples), "--tau", f"{tau:g}", "--no-progress",
           "--write-every", str(WRITE_EVERY), *extra]
    if layers:
        cmd.append("--layers")
    return " ".join(shlex.quote(c) for c in cmd)


def fresh_spectra(models=(ZOO,), datasets=(WORLD,), *, n_samples: int = 2000, n_samples_other: int = 1000,
                  layer_samples: int = 1000, seed: int = 0,
                  device: str = "cpu", layers: bool = True, n_boot: int = 10, zoo_config: str = "full",
                  probe_sets=DEFAULT_PROBE_SETS, tau: float = 0.3, out_dir: str | Path | None = None,
                  out: str | Path | None = None, runs_root: str | Path | None = None,
                  progress: bool = False, jobs: int = 1) -> pd.DataFrame:
    """Run the pipeline in this process and write a new spectra table; returns it.

    Parameters
    ----------
    models : list of str
        ``["zoo"]`` (the classroom zoo, built first) or Hugging Face ids / local folders.
    datasets : list of str
        ``["world"]`` (one world spec per task family), ``"world:..."`` specs, or file specs
        ``"FORMAT:PATH"`` / ``"FORMAT:PATH@IMAGE_DIR"``.
    n_samples : int
        Samples per model and dataset (``--limit``), default 2000: the output spectra fit on
        half and evaluate on the other half.
    n_samples_other : int
        Samples per dataset for the zoo's emergence checkpoints and stage-1 (aligned)
        models, default 1000 (500 fit + 500 eval rows).
    layer_samples : int
        Rows per run for the per-layer (logit-lens) spectra, default 1000.
    seed, device, layers, tau
        Passed to :func:`pidlib.run` (``tau`` default 0.3, the paper's).
    n_boot : int
        Bootstrap replicates per estimate.
    probe_sets : tuple of str
        Names of :data:`PROBE_SETS` (default :data:`DEFAULT_PROBE_SETS`); each adds its
        runs (and a ``probes`` value).
    out_dir : str or Path, optional
        Where runs and the spectra table go (see :func:`output_paths`); required in
        effect for other models than the zoo (default ``./pidlib-results``).
    out, runs_root : str or Path, optional
        The spectra table and the runs folder, when they should not be under ``out_dir``.
    progress : bool
        Progress bars of the probe runs.
    jobs : int
        Worker processes for the probe runs and for the spectra (default 1: this process);
        each uses one torch thread (on the 2-core machine, ``jobs=2``). Stage timings are
        printed and kept in the table's provenance (``timings_seconds``).
    """
    from pidlib.models.identity import model_identity

    models = list(models)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    unknown = [p for p in probe_sets if p not in PROBE_SETS]
    if unknown:
        raise ValueError(f"unknown probe sets {unknown}; known: {', '.join(PROBE_SETS)}")
    runs, table_path = output_paths(models, out_dir, out, runs_root, zoo_config=zoo_config)
    overrides: dict[str, dict] = {}
    commands = []
    if models == [ZOO]:
        cmd = [sys.executable, "-m", "pidlib.zoo", "build", "--config", zoo_config, "--jobs", str(max(1, jobs))]
        if not progress:
            cmd.append("--quiet")
        _run(cmd)
        commands.append(" ".join(cmd[1:]))
        from pidlib.zoo.build import default_out
        overrides = zoo_models(repo_root() / default_out(zoo_config))
        models = sorted(overrides)
    else:
        overrides = {m: {"kind": USER} for m in models}
    members = [m for m in models if overrides.get(m, {}).get("kind", "member") in ("member", USER)]
    def specs_for(n):
        out = []
        for d in datasets:
            out.extend(world_specs(n, seed) if d == WORLD else [d])
        return out

    timings["build"] = time.perf_counter() - t0
    jobs_ = []
    for name in probe_sets:
        ps = PROBE_SETS[name]
        for m in (models if ps["models"] == "all" else members):
            use_layers = bool(layers and (ps["layers"] is True or (ps["layers"] == "members" and m in members)))
            info = {k: v for k, v in overrides.get(m, {}).items() if v == v and v not in (None, "")}
            n = n_samples if (m in members and ps.get("samples") != "other") else n_samples_other
            for d in specs_for(n):
                command = _cli_command(_model_path(m), d, runs, device, seed, n, tau, use_layers, ps["args"])
                kw = dict(device=device, seed=seed, limit=n, tau=tau, layers=use_layers, progress=progress,
                          write_every=WRITE_EVERY,
                          command=command, run_info={**info, "task": dataset_task(d)}, **ps["options"])
                jobs_.append((_model_path(m), d, str(runs), kw))
                commands.append(command)
    t0 = time.perf_counter()
    run_dirs = [Path(r) for r in _map(_probe_job, jobs_, jobs)]
    timings["probe"] = time.perf_counter() - t0
    by_identity = {model_identity(_model_path(m)): v for m, v in overrides.items()}
    t0 = time.perf_counter()
    skw = dict(seed=seed, n_boot=n_boot, overrides=by_identity, layer_samples=layer_samples)
    # the discretized cross-check is kept once per (model, task) (combine_spectra keeps the
    # first): later runs of the same model and task (the donor probes) skip it
    first, spectra_jobs = set(), []
    for (model, d, _, _), r in zip(jobs_, run_dirs):
        key = (model, dataset_task(d))
        spectra_jobs.append((str(r), dict(skw, discretized=None if key not in first else False)))
        first.add(key)
    table = combine_spectra(list(_map(_spectra_job, spectra_jobs, jobs)))
    timings["spectra"] = time.perf_counter() - t0
    params = dict(models=models, datasets=sorted({d for _, d, _, _ in jobs_}), n_samples=n_samples, n_samples_other=n_samples_other,
                  layer_samples=layer_samples, seed=seed, device=device,
                  layers=layers, n_boot=n_boot, zoo_config=zoo_config, probe_sets=list(probe_sets), tau=tau,
                  runs=str(runs), table=str(table_path), jobs=jobs)
    print("stage timings (s): " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items()), flush=True)
    write_spectra(table, table_path,
                  provenance(command="pidlib.analysis.pipeline.fresh_spectra (python -m pidlib.analysis fresh)",
                             parameters=params, runs=[str(r) for r in run_dirs], run_commands=commands,
                             timings_seconds={k: round(v, 1) for k, v in timings.items()}))
    return table


def _probe_job(job) -> str:
    """One probe run (a worker process's unit of work); returns the run directory."""
    import torch

    from pidlib.runner import run

    torch.set_num_threads(1)
    model, spec, runs, kw = job
    print("$", kw["command"], flush=True)
    return str(run(model, spec, runs, **kw).dir)


def _spectra_job(job) -> pd.DataFrame:
    """The spectra-table rows of one run (a worker process's unit of work)."""
    import torch

    torch.set_num_threads(1)
    path, kw = job
    t0 = time.perf_counter()
    out = spectra_from_run(path, **kw)
    print(f"spectra: {len(out)} rows in {time.perf_counter() - t0:.0f} s <- {path}", flush=True)
    return out


def _map(fn, items: list, jobs: int):
    """``fn`` over ``items`` in this process (``jobs`` <= 1) or in ``jobs`` worker processes
    (:func:`pidlib.workers.map_processes`: spawned, one torch thread each), results in order."""
    from pidlib.workers import map_processes

    return map_processes(fn, items, jobs)


_FRESH_DONE: dict[tuple, pd.DataFrame] = {}


def get_spectra(source: str = "cache", models=(ZOO,), datasets=(WORLD,), *, probes: str | None = DEFAULT_PROBES,
                out_dir: str | Path | None = None, **kwargs) -> pd.DataFrame:
    """The spectra table for a notebook: the cached one, or a fresh one (``source="fresh"``).

    With ``"fresh"`` the pipeline runs (resumable: finished runs are reused by the run
    store) and the new table is written before it is returned (to ``out_dir``, see
    :func:`fresh_spectra`; ``tau`` and the other keyword arguments are passed on). With
    ``"cache"`` the table is read from ``out_dir/spectra.csv`` when ``out_dir`` is given,
    else from ``data/results/spectra.csv``. Models other than the zoo filter the table to
    those models (any spelling of a local folder). ``probes`` keeps the rows of one probe
    configuration (``"noise"``, the paper's, by default; ``"donors4"``, ``"noise8"``, see
    :data:`PROBE_SETS`); ``None`` keeps all, with their ``probes`` column.
    """
    if source not in ("cache", "fresh"):
        raise ValueError(f"source must be 'cache' or 'fresh', got {source!r}")
    if source == "fresh":
        key = (tuple(models), tuple(datasets), str(out_dir), tuple(sorted((k, str(v)) for k, v in kwargs.items())))
        if key not in _FRESH_DONE:
            _FRESH_DONE[key] = fresh_spectra(models, datasets, out_dir=out_dir, **kwargs)
        table = _FRESH_DONE[key]
    elif out_dir is not None:
        table = load_spectra(Path(out_dir).expanduser() / "spectra.csv")
    else:
        table = load_spectra()
    models = list(models)
    if models and models != [ZOO] and len(table):
        wanted = set()
        for m in models:
            wanted |= {str(m), model_label(str(m))}
        table = table[table["model"].isin(wanted)]
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
                     "date": meta.get("created", meta.get("date", "")), "command": meta.get("command", "")})
    return pd.DataFrame(rows, columns=["run", "model", "dataset", "split", "config_hash", "date", "command"])
