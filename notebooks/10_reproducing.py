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
# # Reproducing this book
#
# ## The two commands
#
# ```bash
# make book   # the book from the cached runs in data/, offline, into _build/html
# make test   # the test suite
# ```
#
# Both create or reuse the pinned environment `.venv` (from `requirements.lock`;
# `environment.yml` states the same pins for conda). `make book` runs
# `python -m pidlib.book build`: it executes every chapter notebook with papermill
# (`source="cache"`) into `_build/book_src`, then renders those executed notebooks with
# Jupyter Book 1, warnings as errors, with MathJax and every other asset served from the
# build. `make book-fresh` does the same with `source="fresh"`: it rebuilds the zoo, reruns
# the probes and the analysis, and rewrites the cached results (with their provenance)
# before rendering.
#
# Any chapter also runs on its own:
#
# ```bash
# papermill notebooks/03_task_regimes.ipynb out.ipynb -p source cache
# ```

# %% tags=["parameters", "hide-input"]
models = ["zoo"]
datasets = ["world"]
source = "cache"
n_samples = 2000
seed = 0
device = "cpu"
exec_report = ""  # set by the build driver: path of execution_report.json

# %% tags=["hide-input"]
import json
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from pidlib.analysis import repo_root, results_dir
from pidlib.analysis.pipeline import run_provenance
from pidlib.analysis.nb import md, setup_style, glue

setup_style()
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

# %% tags=["hide-input"]
if report:
    rep = pd.DataFrame([{"notebook": r["notebook"], "status": r["status"], "seconds": r["seconds"],
                         "reused": bool(r.get("cached", False)), "parameters": json.dumps(r["parameters"])}
                        for r in report["notebooks"]])
    glue("exec_total", float(rep.seconds.sum()))
    glue("exec_n", int(len(rep)))
    md(f"Built on {report['date']} with `{report['command']}`; package versions: "
       + ", ".join(f"{k} {v}" for k, v in sorted(report["versions"].items())) + ".")
    display(rep)
else:
    rep = None
    md("This notebook was executed outside the book's build driver, so there is no execution report; "
       "run `make book` to get one.")

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Execution time of each chapter notebook (seconds, papermill, including kernel start): green when executed in this build, grey when reused from an earlier build with unchanged inputs, red when it failed.", "name": "fig-exec-times"}}
if rep is not None and len(rep):
    fig, ax = plt.subplots(figsize=(6.5, 0.35 * len(rep) + 1))
    colors = ["#c44e52" if s != "ok" else ("#8c8c8c" if reused else "#55a868")
              for s, reused in zip(rep.status, rep.reused)]
    ax.barh(rep.notebook, rep.seconds, color=colors)
    ax.invert_yaxis()
    ax.set_xlabel("seconds")
    ax.set_ylabel("")
    fig.tight_layout()
    plt.show()

# %% [markdown]
# ## Executed notebooks
#
# Each chapter's page offers its executed notebook through the download button at the
# top of the page; the same files:
#
# - {download}`01_five_distributions.ipynb`
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
# provenance. Probe runs (`data/runs/<model>/<dataset>/<split>/<config hash>/`) record
# theirs in `meta.json`:

# %% tags=["hide-input"]
runs = run_provenance()
if len(runs):
    display(runs)
else:
    md("The raw probe rows under `data/runs` are not part of the repository (about 110 MB for the zoo, over "
       "the 30 MB budget for cached data); `python -m pidlib.analysis fresh --n-samples 500 --n-boot 20` "
       "regenerates them, and the spectra table's provenance below lists every run and command that produced it.")

# %% tags=["hide-input"]
side = results_dir() / "spectra.provenance.json"
if side.exists():
    prov = json.loads(side.read_text())
    md(f"The spectra table `data/results/spectra.csv` was written on {prov.get('date', '?')} by "
       f"`{prov.get('command', '?')}` with parameters `{json.dumps(prov.get('parameters', {}))}`.")
else:
    md("No spectra table yet (`data/results/spectra.csv`).")
md("The paper's reference numbers in `data/paper/` are transcribed from arXiv 2603.29676; "
   "`data/paper/SOURCE.md` names the table each file comes from.")
