# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (pidlib)
#     language: python
#     name: python3
# ---

# %% [markdown]
# (ch-reproducing)=
# # How do I reproduce this book?
#
# :::{admonition} In this chapter
# :class: tip
# - the two commands that rebuild everything, and what each does;
# - how long each chapter took to execute in this build, and with which parameters;
# - where every number in `data/` came from: the command, its parameters and its date.
# :::
#
# ## The two commands
#
# ```bash
# make book   # the book from the cached runs in data/ (offline)
# make test   # the test suite
# ```
#
# Both create or reuse the pinned environment `.venv` (from `requirements.lock`;
# `environment.yml` states the same pins for conda). `make book` runs
# `python -m pidlib.book build`: it executes every chapter notebook with papermill
# (`source="cache"`) into `_build/book_src`, then renders those executed notebooks with
# Jupyter Book 1, warnings as errors, with MathJax and every other asset served from the
# build, and checks the pages (figures sharp at the page's width, no bare missing value or
# file path in a table, prose before code). `make book-fresh` does the same with
# `source="fresh"`: it rebuilds the zoo, reruns the probes and the analysis, and rewrites
# the cached results (with their provenance) before rendering.
#
# Any chapter also runs on its own:
#
# ```bash
# papermill notebooks/03_task_regimes.ipynb out.ipynb -p source cache
# ```

# %% tags=["parameters", "remove-cell"]
models = ["zoo"]
datasets = ["world"]
source = "cache"
n_samples = 2000
seed = 0
device = "cpu"
exec_report = ""  # set by the build driver: path of execution_report.json

# %% tags=["remove-cell"]
import json
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from pidlib.analysis import nb, results_dir

ch = nb.setup(source, models=models, datasets=datasets, n_samples=n_samples, seed=seed, device=device, load=False)
report = None
if exec_report and Path(exec_report).exists():
    report = json.loads(Path(exec_report).read_text())

# %% [markdown]
# ## Execution report
#
# How long each chapter notebook took to execute, and with which parameters. A notebook
# whose inputs (its source, its parameters, the `pidlib` sources and the files under
# `data/`) are unchanged since an earlier build is reused from `_build/exec_cache`
# (`reused`, grey in the figure, with the time of that earlier execution). This chapter
# itself runs last and is not in its own report.

# %% tags=["remove-input"]
if report:
    rep = pd.DataFrame([{"notebook": r["notebook"], "status": r["status"], "seconds": r["seconds"],
                         "reused": bool(r.get("cached", False)),
                         "parameters": ", ".join(f"{k}={v}" for k, v in r["parameters"].items())}
                        for r in report["notebooks"]])
    nb.glue_num("exec_total", rep.seconds.sum(), 0)
    nb.glue_num("exec_n", len(rep), 0)
    nb.glue_md("exec_date", str(report.get("date", "n/a")))
    nb.glue_md("exec_command", f"`{report.get('command', 'n/a')}`")
    nb.glue_md("exec_versions", ", ".join(f"{k} {v}" for k, v in sorted(report.get("versions", {}).items())))
    display(nb.table(rep, units={"seconds": "s"}, digits={"seconds": 1}, model_col=None, max_rows=20))
else:
    rep = None
    for k in ("exec_total", "exec_n"):
        nb.glue_num(k, None, missing="n/a (not built by make book)")
    for k in ("exec_date", "exec_command", "exec_versions"):
        nb.glue_md(k, "n/a (this notebook ran outside the book's build driver)")
    nb.md("This notebook was executed outside the book's build driver, so there is no execution report; "
          "run `make book` to get one.")

# %% [markdown]
# This build ran {glue:text}`exec_n` chapter notebooks, {glue:text}`exec_total` seconds
# of execution in all (two notebooks at a time), on {glue:md}`exec_date`, with
# {glue:md}`exec_command`; package versions: {glue:md}`exec_versions`.

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Execution time of each chapter notebook (seconds, papermill, including kernel start): green when executed in this build, grey when reused from an earlier build with unchanged inputs, red when it failed.", "name": "fig-exec-times"}}
if rep is not None and len(rep):
    fig, ax = plt.subplots(figsize=(nb.FIG_WIDTH, 0.3 * len(rep) + 1))
    colors = ["#c44e52" if s != "ok" else ("#8c8c8c" if reused else "#55a868")
              for s, reused in zip(rep.status, rep.reused)]
    ax.barh(rep.notebook, rep.seconds, color=colors)
    ax.invert_yaxis()
    ax.set_xlabel("seconds")
    ax.set_ylabel("")
    plt.show()

# %% [markdown]
# ## Executed notebooks
#
# Each chapter's page offers its executed notebook through the download button at the
# top of the page; the same files:
#
# - {download}`00_at_a_glance.ipynb`
# - {download}`01_five_distributions.ipynb`
# - {download}`02_world_zoo.ipynb`
# - {download}`02_method.ipynb`
# - {download}`03_task_regimes.ipynb`
# - {download}`04_family_strategies.ipynb`
# - {download}`05_scaling.ipynb`
# - {download}`06_layers.ipynb`
# - {download}`07_training.ipynb`
# - {download}`09_sensitivity.ipynb`
#
# ## Provenance of every cached run
#
# Every file under `data/` is written by a command of this repository and carries its
# provenance. The raw probe rows (`data/runs/<model>/<dataset>/<split>/<run key>/`, each
# with its `meta.json`) are not part of the repository; the spectra table's provenance
# lists every command that produced it: the zoo build and one equivalent `pidlib run`
# command per probe run ({glue:text}`n_run_commands` commands; unfold the output below):

# %% tags=["remove-cell"]
side = results_dir() / "spectra.provenance.json"
prov = json.loads(side.read_text()) if side.exists() else {}
nb.glue_md("spectra_date", str(prov.get("date", "n/a (no spectra table)")))
nb.glue_md("spectra_command", f"`{prov.get('command', 'n/a')}`")
params = dict(prov.get("parameters", {}))
if len(params.get("models") or []) > 3:  # the zoo's 50 models: their list is in the provenance file
    params["models"] = f"{len(params['models'])} models (listed in spectra.provenance.json)"
nb.glue_md("spectra_params", f"`{json.dumps(params)}`")
cmds = prov.get("run_commands") or []
nb.glue_num("n_run_commands", len(cmds), 0)

# %% tags=["remove-input", "hide-output"]
print("\n".join(cmds) if cmds else "This build's spectra table records no run commands.")

# %% [markdown]
# The spectra table `data/results/spectra.csv` was written on {glue:md}`spectra_date` by
# {glue:md}`spectra_command` with parameters {glue:md}`spectra_params`. The paper's
# reference numbers in `data/paper/` are transcribed from arXiv 2603.29676;
# `data/paper/SOURCE.md` names the table each file comes from.
