"""Spectra-table schema, atomic writes with provenance, the paper's reference tables."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from pidlib.analysis import paper as P
from pidlib.analysis.tables import (SPECTRA_COLUMNS, SpectraTableError, add_derived, empty_spectra,
                                    interaction_information, load_spectra, validate_spectra, write_spectra)


def _table(n=3):
    rows = []
    for i in range(n):
        r = {c: 0.1 for c in SPECTRA_COLUMNS}
        r.update(model=f"m{i}", family="f", stage="", dataset="world", task="color", layer=-1, probes="noise",
                 redundancy=0.1, unique1=0.0, unique2=0.2, synergy=0.3, total=0.6, I1=0.1, I2=0.3,
                 coherent=True, trained=True)
        rows.append(r)
    return pd.DataFrame(rows)


def test_roundtrip_with_provenance(tmp_path):
    path = tmp_path / "results" / "spectra.csv"
    write_spectra(_table(), path, {"command": "test", "parameters": {}})
    back = load_spectra(path)
    assert list(back.columns) == SPECTRA_COLUMNS
    assert back["synergy"].tolist() == [0.3, 0.3, 0.3]
    assert back["coherent"].dtype == bool and back["coherent"].all()
    prov = json.loads((tmp_path / "results" / "spectra.provenance.json").read_text())
    assert prov["command"] == "test"
    assert not list(path.parent.glob(".*tmp"))


def test_missing_file_is_empty_table(tmp_path):
    t = load_spectra(tmp_path / "absent.csv")
    assert len(t) == 0 and list(t.columns) == SPECTRA_COLUMNS
    assert len(empty_spectra()) == 0


def test_errors_name_source_row_and_problem(tmp_path):
    t = _table()
    with pytest.raises(SpectraTableError, match=r"x\.csv: missing column\(s\) \['synergy'\]"):
        validate_spectra(t.drop(columns=["synergy"]), source="x.csv")
    bad = t.copy()
    bad.loc[1, "synergy"] = 0.0   # a clipped atom: the atoms no longer add up to the total
    with pytest.raises(SpectraTableError, match="row 2: the atoms sum to 0.300000, not the total 0.600000"):
        validate_spectra(bad)
    neg = t.copy()
    neg.loc[1, ["synergy", "total"]] = [-0.5, -0.2]  # negative atoms are kept when they add up
    assert validate_spectra(neg)["synergy"].iloc[1] == -0.5
    bad = t.astype({"coherent": object})
    bad.loc[0, "coherent"] = "maybe"
    with pytest.raises(SpectraTableError, match="row 1, column 'coherent': 'maybe' is not true/false"):
        validate_spectra(bad)
    bad = t.astype({"accuracy": object})
    bad.loc[2, "accuracy"] = "high"
    with pytest.raises(SpectraTableError, match="row 3, column 'accuracy': 'high' is not a number"):
        validate_spectra(bad)
    path = tmp_path / "s.csv"
    bad.to_csv(path, index=False)
    with pytest.raises(SpectraTableError, match="s.csv"):
        load_spectra(path)


def test_interaction_information_is_R_minus_S_for_consistent_atoms():
    t = _table()
    t["I1"] = t.redundancy + t.unique1
    t["I2"] = t.redundancy + t.unique2
    t["total"] = t[["redundancy", "unique1", "unique2", "synergy"]].sum(axis=1)
    np.testing.assert_allclose(interaction_information(t), t.redundancy - t.synergy)
    d = add_derived(t)
    np.testing.assert_allclose(d[[c for c in d.columns if c.startswith("share_")]].sum(axis=1), 100.0)
    t.loc[1, "coherent"] = False   # no share of an incoherent spectrum
    d = add_derived(t)
    assert d.loc[1, [c for c in d.columns if c.startswith("share_")]].isna().all()
    assert d.loc[0, "share_synergy"] == pytest.approx(50.0)


def test_paper_tables_load():
    c = P.load_paper("correlations")
    assert list(c.dataset) == ["MMBench", "POPE", "Reefknot", "PMC-VQA"]
    assert c.rho_S.tolist() == [0.750, 0.742, 0.357, 0.432]
    assert P.load_paper("dvision").rho_dvision_S.iloc[0] == pytest.approx(0.809)
    s = P.load_paper("scaling")
    assert s.set_index("family").loc["InternVL2.5", "small_to_medium_dU2"] == pytest.approx(-55.6)
    long = P.paper_correlations_long()
    assert len(long) == 16 and set(long.quantity) == {"synergy", "unique2", "total", "interaction"}
    assert set(long.regime) == {"synergy-driven", "knowledge-driven"}


def test_paper_bad_file_names_row(tmp_path):
    (tmp_path / "dvision.csv").write_text("dataset,rho_dvision_S,p\nMMBench,0.8,<0.001\nPOPE,zero,0.1\n")
    with pytest.raises(ValueError, match=r"dvision.csv: row 3, column 'rho_dvision_S'"):
        P.load_paper("dvision", tmp_path)
    with pytest.raises(FileNotFoundError, match="scaling.csv"):
        P.load_paper("scaling", tmp_path)
    with pytest.raises(ValueError, match="unknown paper table"):
        P.load_paper("nope")


def test_zoo_regimes():
    assert P.zoo_regime("color") == "synergy-driven"
    assert P.zoo_regime("exist") == "synergy-driven"
    assert P.zoo_regime("knowledge") == "knowledge-driven"
    assert P.zoo_regime("shape") == "other"
    assert P.designed_atom("redundant") == "redundancy"
