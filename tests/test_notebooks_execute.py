"""Every chapter notebook runs under papermill in cache mode (small n_samples), on the
repository's data and on a synthetic spectra table that exercises the zoo branches."""
from __future__ import annotations

import json

import pytest

import _book_session as S

CHAPTERS = sorted(p.stem for p in (S.ROOT / "notebooks").glob("*.ipynb"))
ZOO_CHAPTERS = list(S.ZOO_CHAPTERS)


def _outputs(nb_path):
    nb = json.loads(nb_path.read_text())
    outs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
    return nb, outs


def _text(outs):
    parts = []
    for o in outs:
        data = o.get("data", {})
        parts.append("".join(data.get("text/markdown", "")) + "".join(data.get("text/plain", "")) + "".join(o.get("text", "")))
    return "\n".join(parts)


def _images(outs):
    return sum("image/png" in o.get("data", {}) for o in outs)


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


def test_five_distributions_numbers():
    staging, _ = S.executed("repo")
    nb, outs = _outputs(staging / "notebooks" / "01_five_distributions.ipynb")
    assert _images(outs) == 2
    glued = {o["metadata"]["scrapbook"]["name"]: o["data"][o["metadata"]["scrapbook"]["mime_prefix"] + "text/plain"]
             for o in outs if o.get("metadata", {}).get("scrapbook")}
    assert abs(float(glued["and_R"]) - 0.311278) < 1e-4
    assert abs(float(glued["and_S"]) - 0.5) < 1e-4
    assert abs(float(glued["xor_II"]) + 1.0) < 1e-4


def test_figures_from_paper_data_always_render():
    staging, _ = S.executed("repo")
    for stem, n in (("02_method", 1), ("03_task_regimes", 2), ("05_scaling", 1), ("09_sensitivity", 1)):
        _, outs = _outputs(staging / "notebooks" / f"{stem}.ipynb")
        assert _images(outs) >= n, stem


def test_no_cache_is_said_not_invented():
    """Without data/results/spectra.csv the finding chapters say so (and show no zoo numbers)."""
    if (S.ROOT / "data" / "results" / "spectra.csv").exists():
        pytest.skip("cached spectra exist; the no-cache branch is covered by the synthetic run's absence check")
    staging, _ = S.executed("repo")
    for stem in ("03_task_regimes", "04_family_strategies", "05_scaling", "06_layers", "07_training"):
        _, outs = _outputs(staging / "notebooks" / f"{stem}.ipynb")
        assert "No cached run yet" in _text(outs), stem


@pytest.mark.parametrize("stem", ZOO_CHAPTERS)
def test_zoo_branches_on_synthetic_table(stem):
    _, outs = _executed_ok("synthetic", stem)
    text = _text(outs)
    assert "No cached run yet" not in text or stem == "09_sensitivity"
    assert _images(outs) >= 1


def test_regime_verdicts_are_computed():
    staging, _ = S.executed("synthetic")
    _, outs = _outputs(staging / "notebooks" / "03_task_regimes.ipynb")
    text = _text(outs)
    assert "In total:" in text
    assert any(w in text for w in ("agrees", "disagrees", "inconclusive"))


def test_reproducing_has_execution_report():
    staging, rows = S.executed("repo")
    _, outs = _outputs(staging / "notebooks" / "10_reproducing.ipynb")
    assert "outside the book's build driver" not in _text(outs)
    assert _images(outs) == 1
