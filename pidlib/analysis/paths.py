"""Where the book's data lives.

Notebooks run from anywhere (``papermill notebooks/NN.ipynb out.ipynb`` from the repository
root, the build driver's staging folder, a user's working directory), so paths are resolved
once here: ``$PIDLIB_ROOT`` if set, else the repository that holds this (editable) package,
else the current directory.
"""
from __future__ import annotations

import os
from pathlib import Path


def repo_root() -> Path:
    """The repository root: ``$PIDLIB_ROOT``, else the checkout holding ``pidlib``, else cwd."""
    env = os.environ.get("PIDLIB_ROOT")
    if env:
        return Path(env).resolve()
    here = Path(__file__).resolve().parents[2]
    if (here / "pidlib").is_dir() and (here / "_toc.yml").exists():
        return here
    return Path.cwd().resolve()


def data_dir() -> Path:
    """``<root>/data``."""
    return repo_root() / "data"


def paper_dir() -> Path:
    """``data/paper``: the paper's reported numbers."""
    return data_dir() / "paper"


def runs_dir() -> Path:
    """``data/runs``: cached probe runs (one run store per folder)."""
    return data_dir() / "runs"


def results_dir() -> Path:
    """``data/results``: derived spectra tables read by the notebooks."""
    return data_dir() / "results"
