"""Chapter notebooks: committed without outputs, paired with py:percent twins in sync,
a papermill parameters cell with the common parameters, listed in the toc."""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import jupytext
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NB_DIR.glob("*.ipynb"))
REQUIRED_PARAMETERS = {"models", "datasets", "source", "n_samples", "seed", "device"}


def test_there_are_chapter_notebooks():
    assert len(NOTEBOOKS) >= 9, NOTEBOOKS


def _cells(nb):
    """Comparable view of a notebook's cells: type, source and the metadata jupytext keeps."""
    out = []
    for c in nb.cells:
        meta = {k: c.metadata[k] for k in ("tags", "mystnb") if k in c.metadata}
        out.append((c.cell_type, c.source.strip(), json.dumps(meta, sort_keys=True)))
    return out


def pair_problems(ipynb: Path) -> list[str]:
    """Why an .ipynb and its .py twin are out of sync (empty list when in sync)."""
    twin = ipynb.with_suffix(".py")
    if not twin.exists():
        return [f"{ipynb.name}: no py:percent twin {twin.name}"]
    a = jupytext.read(ipynb)
    b = jupytext.read(twin)
    ca, cb = _cells(a), _cells(b)
    problems = []
    if len(ca) != len(cb):
        problems.append(f"{ipynb.name}: {len(ca)} cells, {twin.name}: {len(cb)} cells")
    for i, (x, y) in enumerate(zip(ca, cb)):
        if x != y:
            problems.append(f"{ipynb.name} cell {i} differs from {twin.name}: {x[1][:60]!r} vs {y[1][:60]!r}")
            break
    fmt = a.metadata.get("jupytext", {}).get("formats", "")
    if "py:percent" not in fmt:
        problems.append(f"{ipynb.name}: not paired (jupytext formats {fmt!r}; run jupytext --set-formats ipynb,py:percent)")
    return problems


@pytest.mark.parametrize("ipynb", NOTEBOOKS, ids=lambda p: p.name)
def test_pair_in_sync(ipynb):
    assert pair_problems(ipynb) == []


def test_pair_check_detects_drift(tmp_path):
    src = NOTEBOOKS[0]
    ipynb = tmp_path / src.name
    ipynb.write_bytes(src.read_bytes())
    twin = tmp_path / src.with_suffix(".py").name
    twin.write_text(src.with_suffix(".py").read_text() + "\n# %%\nprint('drift')\n")
    assert pair_problems(ipynb)
    twin.unlink()
    assert pair_problems(ipynb)


def test_every_twin_has_a_notebook():
    for py in NB_DIR.glob("*.py"):
        assert py.with_suffix(".ipynb").exists(), f"{py.name} has no .ipynb"


@pytest.mark.parametrize("ipynb", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs(ipynb):
    nb = json.loads(ipynb.read_text())
    for i, c in enumerate(nb["cells"]):
        if c["cell_type"] == "code":
            assert not c.get("outputs"), f"{ipynb.name} cell {i} carries outputs"
            assert c.get("execution_count") is None, f"{ipynb.name} cell {i} has an execution count"
    assert nb["metadata"].get("kernelspec", {}).get("name") == "python3", f"{ipynb.name}: kernelspec"
    assert "papermill" not in nb["metadata"], f"{ipynb.name}: papermill metadata committed"


@pytest.mark.parametrize("ipynb", NOTEBOOKS, ids=lambda p: p.name)
def test_parameters_cell(ipynb):
    nb = json.loads(ipynb.read_text())
    params = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1, f"{ipynb.name}: {len(params)} parameters cells"
    tree = ast.parse("".join(params[0]["source"]))
    names = {t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets if isinstance(t, ast.Name)}
    assert REQUIRED_PARAMETERS <= names, f"{ipynb.name}: missing {REQUIRED_PARAMETERS - names}"
    values = {t.id: ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign)
              for t in node.targets if isinstance(t, ast.Name)}
    assert values["source"] == "cache"
    assert isinstance(values["models"], list) and isinstance(values["datasets"], list)


@pytest.mark.parametrize("ipynb", NOTEBOOKS, ids=lambda p: p.name)
def test_figures_have_captions(ipynb):
    nb = json.loads(ipynb.read_text())
    for i, c in enumerate(nb["cells"]):
        src = "".join(c["source"]) if c["cell_type"] == "code" else ""
        if "plt.show()" in src:
            fig = c["metadata"].get("mystnb", {}).get("figure", {})
            assert fig.get("caption") and fig.get("name"), f"{ipynb.name} cell {i}: figure without caption/name"


@pytest.mark.parametrize("ipynb", NOTEBOOKS, ids=lambda p: p.name)
def test_visible_code_is_narrated(ipynb):
    """A code cell the reader sees (no hide/remove tag) follows a Markdown cell that
    introduces it; the parameters cell is removed from the book."""
    nb = json.loads(ipynb.read_text())
    for i, c in enumerate(nb["cells"]):
        if c["cell_type"] != "code":
            continue
        tags = set(c["metadata"].get("tags", []))
        if "parameters" in tags:
            assert "remove-cell" in tags, f"{ipynb.name}: the parameters cell shows in the book"
            continue
        if not tags & {"hide-input", "remove-input", "remove-cell"}:
            assert i > 0 and nb["cells"][i - 1]["cell_type"] == "markdown", \
                f"{ipynb.name} cell {i}: visible code without narration before it"
            long = [line for line in "".join(c["source"]).splitlines() if len(line) > 72]
            assert not long, f"{ipynb.name} cell {i}: visible lines over 72 characters scroll sideways: {long}"


@pytest.mark.parametrize("ipynb", NOTEBOOKS, ids=lambda p: p.name)
def test_chapter_opens_with_a_question_and_an_overview(ipynb):
    nb = json.loads(ipynb.read_text())
    first = nb["cells"][0]
    assert first["cell_type"] == "markdown", f"{ipynb.name}: the first cell is not prose"
    text = "".join(first["source"])
    title = next(line for line in text.splitlines() if line.startswith("# "))
    # a question; the finding chapters follow it with the zoo's answer (tests/test_book_answers.py)
    assert "?" in title, f"{ipynb.name}: title {title!r} is not a question"
    assert ":::{admonition} In this chapter" in text, f"{ipynb.name}: no overview of what the reader will learn"
    # The parameters cell comes after the opening prose (no code toggle first on the page).
    assert nb["cells"][1]["cell_type"] == "code" and "parameters" in nb["cells"][1]["metadata"].get("tags", [])


def test_exercises_where_named():
    for stem in ("01_five_distributions", "02_method", "09_sensitivity"):
        text = (NB_DIR / f"{stem}.py").read_text()
        n_ex = text.count("```{exercise}")
        n_sol = text.count("```{solution}") + text.count("```{solution-start}")
        assert n_ex >= 2 and n_sol == n_ex, (stem, n_ex, n_sol)


@pytest.mark.parametrize("ipynb", NOTEBOOKS, ids=lambda p: p.name)
def test_prose_is_not_built_in_python(ipynb):
    """Sentences live in Markdown cells with glued values: no f-string Markdown output."""
    nb = json.loads(ipynb.read_text())
    for i, c in enumerate(nb["cells"]):
        if c["cell_type"] == "code":
            src = "".join(c["source"])
            assert not re.search(r"\bmd\(\s*f[\"']", src), f"{ipynb.name} cell {i}: md(f'...') builds prose in Python"


def test_atom_columns_are_read_through_the_accessor():
    """No notebook reads the raw_* columns or computes shares itself (the schema lives in
    pidlib.analysis.verdicts.read_atoms)."""
    for py in NB_DIR.glob("*.py"):
        text = py.read_text()
        assert "raw_" not in text, py.name
        assert "add_derived" not in text, py.name


def test_toc_lists_every_notebook_and_page():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + [ch["file"] for part in toc["parts"] for ch in part["chapters"]]
    for f in files:
        assert (ROOT / f"{f}.ipynb").exists() or (ROOT / f"{f}.md").exists(), f
    for nb in NOTEBOOKS:
        assert f"notebooks/{nb.stem}" in files, f"{nb.name} not in _toc.yml"
