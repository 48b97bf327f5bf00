"""Every chapter notebook runs under papermill in cache mode (small n_samples): on the
repository's data, on a root without any cached result (the "no cached run yet"
branches), and on a synthetic spectra table in the new schema (unclipped atoms,
coherence and training flags, reference probes)."""
from __future__ import annotations

import ast
import json
import re

import pytest

import _book_session as S

CHAPTERS = sorted(p.stem for p in (S.ROOT / "notebooks").glob("*.ipynb"))
ZOO_CHAPTERS = list(S.ZOO_CHAPTERS)
GLUE_REF = re.compile(r"\{glue:(?:text|md|any|figure)?\}`([^`:]+)")


def _outputs(nb_path):
    nb = json.loads(nb_path.read_text())
    outs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
    return nb, outs


def _text(outs):
    parts = []
    for o in outs:
        data = o.get("data", {})
        parts.append("".join(data.get("text/markdown", "")) + "".join(data.get("text/plain", ""))
                     + "".join(data.get("text/html", "")) + "".join(o.get("text", "")))
    return "\n".join(parts)


def _images(outs):
    return sum("image/png" in o.get("data", {}) for o in outs)


def _glued(outs) -> dict[str, str]:
    """Glued values by key: the text/plain (or text/markdown) of each glue output."""
    out = {}
    for o in outs:
        sb = o.get("metadata", {}).get("scrapbook")
        if sb:
            data = o["data"]
            prefix = sb["mime_prefix"]
            text = data.get(prefix + "text/markdown") or data.get(prefix + "text/plain") or ""
            out[sb["name"]] = "".join(text)
    return out


def _value(glued: dict, key: str):
    """A glued plain value as Python (the text/plain repr)."""
    return ast.literal_eval(glued[key])


def _executed_ok(session: str, stem: str):
    """(notebook, outputs) of ``stem`` from an executed session, asserting it ran."""
    staging, rows = S.executed(session)
    row = next(r for r in rows if r["notebook"] == f"{stem}.ipynb")
    assert row["status"] == "ok", row.get("error")
    return _outputs(staging / "notebooks" / f"{stem}.ipynb")


@pytest.mark.parametrize("stem", CHAPTERS)
def test_runs_in_cache_mode(stem):
    nb, outs = _executed_ok("repo", stem)
    assert not [o for o in outs if o.get("output_type") == "error"]
    assert nb["metadata"]["papermill"]["parameters"]["source"] == "cache"


@pytest.mark.parametrize("session", ["repo", "nocache", "synthetic"])
def test_every_glue_reference_is_glued(session):
    """Every {glue:...}`key` a Markdown cell names is glued by the executed notebook (a
    missing key would be a broken build), and no glued text says nan."""
    staging, rows = S.executed(session)
    for row in rows:
        assert row["status"] == "ok", (row["notebook"], row.get("error"))
        nb, outs = _outputs(staging / "notebooks" / row["notebook"])
        md = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
        wanted = {k for k in GLUE_REF.findall(md) if "::" not in k}
        glued = _glued(outs)
        assert wanted <= set(glued), (row["notebook"], sorted(wanted - set(glued)))
        for k in wanted:
            assert not re.search(r"(?<![A-Za-z])(nan|NaN)(?![A-Za-z])", glued[k]), (row["notebook"], k, glued[k])


def test_injected_parameters_cell_is_removed_from_the_book():
    staging, _ = S.executed("repo")
    nb, _ = _outputs(staging / "notebooks" / "03_task_regimes.ipynb")
    injected = [c for c in nb["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert len(injected) == 1 and "remove-cell" in injected[0]["metadata"]["tags"]


def test_five_distributions_numbers():
    staging, _ = S.executed("repo")
    nb, outs = _outputs(staging / "notebooks" / "01_five_distributions.ipynb")
    assert _images(outs) == 2
    glued = _glued(outs)
    assert abs(float(glued["and_R"]) - 0.311278) < 1e-4
    assert abs(float(glued["and_S"]) - 0.5) < 1e-4
    assert abs(float(glued["xor_II"]) + 1.0) < 1e-4
    assert _value(glued, "and_R_txt") == "0.311"


def test_world_chapter_confirms_the_designed_atoms():
    staging, _ = S.executed("repo")
    _, outs = _outputs(staging / "notebooks" / "02_world_zoo.ipynb")
    glued = _glued(outs)
    assert _value(glued, "world_n_match") == _value(glued, "world_n_fam") == "5"
    assert _images(outs) == 2  # examples and accuracies
    assert int(_value(glued, "zoo_n_final")) >= 1


def test_figures_from_paper_data_always_render():
    for session in ("repo", "nocache"):
        staging, _ = S.executed(session)
        for stem, n in (("02_method", 1), ("03_task_regimes", 2), ("05_scaling", 1), ("09_sensitivity", 1),
                        ("02_world_zoo", 1)):
            _, outs = _outputs(staging / "notebooks" / f"{stem}.ipynb")
            assert _images(outs) >= n, (session, stem)


def test_no_cache_is_said_not_invented():
    """Without data/results/spectra.csv (and without a zoo) the chapters say so and show
    no zoo numbers: every verdict is "not run"."""
    staging, rows = S.executed("nocache")
    assert {r["notebook"] for r in rows} >= {f"{s}.ipynb" for s in S.FINDING_CHAPTERS}
    for stem in (*S.FINDING_CHAPTERS, "00_at_a_glance", "02_world_zoo"):
        _, outs = _outputs(staging / "notebooks" / f"{stem}.ipynb")
        text = _text(outs)
        assert "No cached run yet" in text, stem
        for word in ("reproduced<", "reversed<", "inconclusive<"):
            assert word not in text, (stem, word)
    _, outs = _outputs(staging / "notebooks" / "00_at_a_glance.ipynb")
    glued = _glued(outs)
    assert _value(glued, "glance_reproduced") == _value(glued, "glance_not_run") == "0"


@pytest.mark.parametrize("stem", ZOO_CHAPTERS)
def test_zoo_branches_on_synthetic_table(stem):
    _, outs = _executed_ok("synthetic", stem)
    text = _text(outs)
    assert "No cached run yet" not in text
    assert _images(outs) >= (0 if stem == "00_at_a_glance" else 1)
    if stem in S.FINDING_CHAPTERS or stem == "00_at_a_glance":  # each opens with its scoreboard rows
        assert "pidlib-scoreboard" in text and "exact reference" in text, stem


def test_scoreboard_counts_match_the_verdict_module():
    """The counts the at-a-glance page states are those of V.scoreboard on the same table."""
    from pidlib.analysis import verdicts as V
    staging, _ = S.executed("synthetic")
    _, outs = _outputs(staging / "notebooks" / "00_at_a_glance.ipynb")
    glued = _glued(outs)
    expected = V.verdict_counts(V.scoreboard(S.synthetic_spectra(), seed=0))
    assert _value(glued, "glance_cells") == str(sum(expected.values()))
    for k, n in expected.items():
        assert _value(glued, f"glance_{k.replace(' ', '_')}") == str(n), k
    assert expected[V.NOT_RUN] == 0 and expected[V.REPRODUCED] + expected[V.REVERSED] > 0


def test_regime_verdicts_are_computed():
    """Chapter 3's stated counts are those of the rule applied to each comparison."""
    from pidlib.analysis import nb, paper_correlations_long
    from pidlib.analysis import verdicts as V
    from pidlib.analysis.paper import zoo_regime
    staging, _ = S.executed("synthetic")
    _, outs = _outputs(staging / "notebooks" / "03_task_regimes.ipynb")
    glued = _glued(outs)
    table = V.with_atoms(S.synthetic_spectra())
    paper = paper_correlations_long()
    counts = dict.fromkeys((*V.VERDICTS, V.NOT_RUN), 0)
    tasks = sorted(t for t in table.task.unique() if zoo_regime(t) != "other")
    for t in tasks:
        for q in ("synergy", "unique2", "total", "interaction"):
            prho = float(paper[(paper.regime == zoo_regime(t)) & (paper.quantity == q)].rho.mean())
            for k in ("noise", "donors4", "reference"):
                sub = table[(table.probes == k) & (table.layer == -1) & (table.kind == "member")]
                counts[V.task_correlation(sub, t, q, paper_rho=prho, seed=0, n_boot=2000).label] += 1
    assert _value(glued, "regimes_n_cells") == str(sum(counts.values())) == str(len(tasks) * 4 * 3)
    for k, n in counts.items():
        assert _value(glued, f"regimes_n_{k.replace(' ', '_')}") == str(n), k
    assert "reversed" in nb.VERDICT_COLORS  # the table colours every verdict word


def test_reproducing_has_execution_report():
    staging, rows = S.executed("repo")
    _, outs = _outputs(staging / "notebooks" / "10_reproducing.ipynb")
    assert "outside the book's build driver" not in _text(outs)
    assert _images(outs) == 1
