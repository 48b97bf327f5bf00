"""Notebook helpers: short model names, the table formatter, the scoreboard table, setup."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pidlib.analysis import nb
from pidlib.analysis import verdicts as V


@pytest.mark.parametrize("path,short", [
    ("data/zoo/fusion-large", "fusion-L"),
    ("data/zoo/language-small-s1", "language-S s1"),
    ("data/zoo/emergence/fusion-medium/stage2-step188", "fusion-M @ stage2 188"),
    ("zoo/pooled-medium", "pooled-M"),
    ("Qwen/Qwen2.5-VL-3B-Instruct", "Qwen2.5-VL-3B-Instruct"),
])
def test_short_model(path, short):
    assert nb.short_model(path) == short


def test_table_has_no_index_no_nan_and_units():
    df = pd.DataFrame({"model": ["data/zoo/fusion-large", "data/zoo/language-small"],
                       "synergy": [0.123456, np.nan], "n": [3, 4]}, index=[7, 9])
    t = nb.table(df, units={"synergy": "bit"}, missing={"synergy": "incoherent"})
    html = t._repr_html_()
    assert "S (bit)" in html and "fusion-L" in html and "language-S" in html
    assert "data/zoo/" not in html and "NaN" not in html and "nan" not in html
    assert "incoherent" in html and "0.123" in html
    assert ">7<" not in html and ">9<" not in html  # no index
    # A per-row reason (the accessor's why column).
    t = nb.table(df[["synergy"]], missing=pd.Series(["", "incoherent: S = -0.20 bit < 0"]))
    assert "incoherent: S = -0.20 bit &lt; 0" in t.html


def test_long_tables_fold_into_a_dropdown():
    df = pd.DataFrame({"x": np.arange(30.0)})
    t = nb.table(df, max_rows=10, csv="data/results/spectra.csv")
    assert t.html.count("<details") == 1 and "other 20 of 30 rows" in t.html
    assert "data/results/spectra.csv" in t.html
    assert "<details" not in nb.table(df.head(5), max_rows=10).html


def test_cells_never_show_negative_zero():
    assert "-0.000" not in nb.table(pd.DataFrame({"x": [-1e-9]})).html


def test_scoreboard_table_cells():
    board = pd.DataFrame([
        {"key": "a", "claim": "S grows on `color`", "probes": "noise", "verdict": V.REPRODUCED,
         "numbers": "ρ = 0.90 [0.50, 1.00], p = 0.010, n = 8", "reason": ""},
        {"key": "a", "claim": "S grows on `color`", "probes": "reference", "verdict": V.NOT_RUN, "numbers": "",
         "reason": "probe kind not in the spectra table"},
    ])
    html = nb.scoreboard_table(board).html
    assert "<code>color</code>" in html and "exact reference" in html
    assert "reproduced" in html and "not run" in html and "<br>p = 0.010" in html


def test_setup_reads_the_table_once_and_filters(monkeypatch, tmp_path):
    import sys
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
    import _book_session as S
    from pidlib.analysis.tables import write_spectra
    write_spectra(S.synthetic_spectra(), tmp_path / "data" / "results" / "spectra.csv")
    monkeypatch.setenv("PIDLIB_ROOT", str(tmp_path))
    ch = nb.setup("cache")
    assert ch.have_zoo and ch.probe_kinds == ["noise", "donors4", "reference"]
    out = ch.spectra("donors4")
    assert set(out.probes) == {"donors4"} and (out.layer == -1).all() and (out.kind == "member").all()
    assert {"usable", "coherent", "why", "share_synergy"} <= set(out.columns)
    assert len(ch.spectra(None, layer="layers")) > 0
    # Incoherent rows have no shares.
    assert out.loc[~out.usable, "share_synergy"].isna().all()
    monkeypatch.setenv("PIDLIB_ROOT", str(tmp_path / "empty"))
    empty = nb.setup("cache")
    assert not empty.have_zoo and len(empty.spectra("noise")) == 0


def test_zoo_models_reads_any_manifest_fields(tmp_path, monkeypatch):
    import json
    (tmp_path / "data" / "zoo" / "fam-small").mkdir(parents=True)
    (tmp_path / "data" / "zoo" / "fam-small" / "provenance.json").write_text(json.dumps(
        {"n_params": 1234, "final_loss": {"stage2": 0.1}, "parameters": {"family": {"description": "d"}}}))
    manifest = {"models": [{"path": "fam-small", "family": "fam", "scale": "small", "kind": "member",
                            "accuracy": {"color": 0.5}, "seconds": {"stage2": 3.0}, "new_field": "x"}]}
    monkeypatch.setenv("PIDLIB_ROOT", str(tmp_path))
    m = nb.zoo_models(manifest)
    row = m.iloc[0]
    assert row.accuracy_color == 0.5 and row.n_params == 1234 and row.new_field == "x"
    assert row.final_loss_stage2 == 0.1 and row.recipe == "d"


def test_manifest_strategies():
    m = {"families": {"fusion": "tunes the LM", "pooled": {"description": "d", "strategy": "language"},
                      "odd": {"strategy": "sideways"}}}
    assert nb.manifest_strategies(m) == {"pooled": "language"}
    assert nb.manifest_strategies({}) == {}
