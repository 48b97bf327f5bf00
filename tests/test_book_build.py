"""The book builds offline, strictly, from executed notebooks; MathJax is served locally."""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest
import yaml

import _book_session as S
from pidlib import book

ROOT = S.ROOT


def test_config_is_offline():
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert "sphinx-mathjax-offline" in cfg["sphinx"]["extra_extensions"]
    assert cfg["sphinx"]["config"]["mathjax_path"] == "mathjax/tex-chtml.js"
    assert cfg["launch_buttons"]["thebe"] is False
    assert cfg["execute"]["execute_notebooks"] == "off"
    for key in ("binderhub_url", "jupyterhub_url", "colab_url"):
        assert not cfg["launch_buttons"].get(key)


def test_mathjax_offline_extension_sets_local_path():
    mod = importlib.import_module("sphinx-mathjax-offline")
    assert (Path(mod.__file__).parent / "static" / "mathjax" / "tex-chtml.js").exists()

    class App:
        class config:
            mathjax_path = "https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"

        def connect(self, *a):
            pass

    app = App()
    mod.setup(app)
    assert not app.config.mathjax_path.startswith(("http:", "https:", "//"))


def test_toc_notebooks_in_order():
    nbs = [p.stem for p in book.toc_notebooks(ROOT)]
    assert nbs[0] == "00_at_a_glance" and nbs[1] == "01_five_distributions" and nbs[-1] == "10_reproducing"


def test_config_has_citations_and_exercises():
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert "sphinx_exercise" in cfg["sphinx"]["extra_extensions"]
    bib = ROOT / cfg["bibtex_bibfiles"][0]
    text = bib.read_text()
    for key in ("williams2010nonnegative", "bertschinger2014quantifying", "liang2023quantifying", "pidlvlm2026",
                "nostalgebraist2020logitlens", "belrose2023tunedlens"):
        assert f"{{{key}," in text, key
    toc = (ROOT / "_toc.yml").read_text()
    assert "book/references" in toc


def test_offline_asset_check_catches_cdn(tmp_path):
    (tmp_path / "_static" / "mathjax").mkdir(parents=True)
    (tmp_path / "_static" / "mathjax" / "tex-chtml.js").write_text("")
    (tmp_path / "a.html").write_text('<script src="_static/x.js"></script>')
    assert book.check_offline_assets(tmp_path) == []
    (tmp_path / "b.html").write_text('<link rel="stylesheet" href="https://fonts.googleapis.com/css?family=X">')
    probs = book.check_offline_assets(tmp_path)
    assert len(probs) == 1 and "b.html" in probs[0]


def test_strict_build_from_executed_notebooks():
    rc, html = S.built_html()
    assert rc == 0, "jupyter-book build -W -n --keep-going failed (see captured output)"
    assert book.check_offline_assets(html) == []
    for page in ("book/intro.html", "notebooks/01_five_distributions.html", "notebooks/10_reproducing.html"):
        assert (html / page).exists(), page
    # The executed notebooks are offered for download: the page sources carry outputs.
    src = html / "_sources" / "notebooks" / "01_five_distributions.ipynb"
    assert src.exists() and '"image/png"' in src.read_text()
    assert list((html / "_downloads").rglob("03_task_regimes.ipynb"))
    page = (html / "notebooks" / "01_five_distributions.html").read_text()
    assert "unpkg.com" not in page and "cdn.jsdelivr" not in page
    assert "_static/mathjax/tex-chtml.js" in page
    # Teaching apparatus: exercises with solutions, numbered equations, citations.
    assert page.count('class="exercise admonition') >= 3 and "solution" in page
    assert 'id="equation-eq-pid"' in page and 'href="#equation-eq-broja"' in page
    refs = (html / "book" / "references.html").read_text()
    for name in ("Williams", "Bertschinger", "Liang", "nostalgebraist", "Belrose", "2603.29676"):
        assert name in refs, name
    # The scoreboard is pasted at the start of the book.
    intro = (html / "book" / "intro.html").read_text()
    assert "pidlib-scoreboard" in intro and "exact reference" in intro
    # The page checks of `make book` pass on the built book.
    assert book.check_pages(html) == []
