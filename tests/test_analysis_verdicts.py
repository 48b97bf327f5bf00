"""The book's verdict rule, the atom accessor and the scoreboard (pidlib.analysis.verdicts)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from pidlib.analysis import verdicts as V
from pidlib.analysis.tables import SPECTRA_COLUMNS


# ----------------------------------------------------------------------------- permutation p
def test_permutation_p_exact_small_n():
    # n = 4, perfectly monotone: |rho| = 1 for the identity and the reversal of 24 orderings.
    assert V.permutation_p([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(2 / 24)
    # n = 5: 2 of 120.
    assert V.permutation_p(np.arange(5), np.arange(5) ** 2) == pytest.approx(2 / 120)


def test_permutation_p_monte_carlo_and_undefined():
    rng = np.random.default_rng(0)
    x = rng.normal(size=30)
    p_strong = V.permutation_p(x, x + 0.1 * rng.normal(size=30), n_perm=2000)
    p_null = V.permutation_p(x, rng.normal(size=30), n_perm=2000)
    assert p_strong < 0.001 + 1 / 2001 and p_null > 0.05
    assert math.isnan(V.permutation_p([1, 2, 3], [5, 5, 5]))
    assert math.isnan(V.permutation_p([1, 2], [1, 2]))


# ----------------------------------------------------------------------------- correlations
def test_correlation_reproduced_reversed_and_inconclusive():
    x = np.arange(8.0)
    up = x + np.array([0.1, -0.1, 0.2, 0.0, -0.2, 0.1, 0.0, 0.3])
    v = V.correlation_verdict(x, up, paper_rho=0.75)
    assert v.label == V.REPRODUCED and v.lo > 0 and v.p < V.ALPHA and v.n == 8
    v = V.correlation_verdict(x, -up, paper_rho=0.75)
    assert v.label == V.REVERSED
    # Four models: even a perfect rank correlation cannot pass (p >= 1/12).
    v = V.correlation_verdict(x[:4], up[:4], paper_rho=0.75)
    assert v.label == V.INCONCLUSIVE and "fewer than" in v.reason
    # Noise: the interval contains zero.
    rng = np.random.default_rng(1)
    v = V.correlation_verdict(rng.normal(size=12), rng.normal(size=12), paper_rho=0.75)
    assert v.label == V.INCONCLUSIVE and v.lo < 0 < v.hi


def test_correlation_against_a_paper_without_a_clear_relation():
    # The paper's rho 0.09 means "no clear relation": a strong zoo relation contradicts it.
    x = np.arange(10.0)
    v = V.correlation_verdict(x, x ** 1.5, paper_rho=0.09)
    assert v.extra["sign"] == 0 and v.label == V.REVERSED
    # A zoo interval inside +-MIN_EFFECT reproduces "no relation" (many models, no relation).
    rng = np.random.default_rng(3)
    a = rng.normal(size=400)
    v = V.correlation_verdict(a, rng.normal(size=400), paper_rho=0.09, n_perm=500)
    assert v.label == V.REPRODUCED


def test_correlation_drops_nan_pairs_and_counts_them():
    x = [1, 2, 3, np.nan, 5, 6, 7]
    y = [1, 2, 3, 4, np.nan, 6, 7]
    v = V.correlation_verdict(x, y, sign=1, n_left_out=2)
    assert v.n == 5 and v.n_left_out == 4
    with pytest.raises(ValueError):
        V.correlation_verdict(x, y)
    with pytest.raises(ValueError):
        V.correlation_verdict(x, y, paper_rho=0.5, sign=1)


# ----------------------------------------------------------------------------- differences
def test_difference_respects_the_noise_floor():
    # Passes by 0.002 bit with a tight interval: not a pass.
    v = V.difference_verdict([0.002, 0.0021, 0.0019], [0.0001] * 3, sign=1, floor=0.05)
    assert v.label == V.INCONCLUSIVE and "floor" in v.reason
    v = V.difference_verdict([0.2, 0.25, 0.18], [0.01] * 3, sign=1, floor=0.05)
    assert v.label == V.REPRODUCED and v.lo > 0
    v = V.difference_verdict([0.2, 0.25, 0.18], [0.01] * 3, sign=-1, floor=0.05)
    assert v.label == V.REVERSED
    # Large mean but an interval across zero.
    v = V.difference_verdict([0.6, -0.4, 0.5, -0.3], None, sign=1, floor=0.05)
    assert v.label == V.INCONCLUSIVE and v.lo < 0 < v.hi


def test_difference_without_interval_uses_the_floor_alone():
    v = V.difference_verdict([0.11], None, sign=1, floor=0.05)
    assert v.label == V.REPRODUCED and math.isnan(v.lo) and "no interval" in v.numbers()
    v = V.difference_verdict([0.04], None, sign=1, floor=0.05)
    assert v.label == V.INCONCLUSIVE
    v = V.difference_verdict([np.nan, np.nan], sign=1)
    assert v.label == V.INCONCLUSIVE and v.n == 0 and v.n_left_out == 2
    with pytest.raises(ValueError):
        V.difference_verdict([1.0], sign=0)


def test_share_floor():
    assert V.share_floor(1.0, 0.5, 0.05) == pytest.approx(10.0)
    assert V.share_floor(0.0, 1.0) == math.inf


def test_verdict_text():
    v = V.Verdict(V.INCONCLUSIVE, estimate=0.83, lo=0.0, hi=1.0, p=0.058, n=6, reason="interval contains 0")
    assert v.text() == "inconclusive: ρ = 0.83 [0.00, 1.00], p = 0.058, n = 6 (interval contains 0)"
    d = V.Verdict(V.REPRODUCED, kind="difference", estimate=0.17, lo=0.13, hi=0.21, n=1, n_left_out=8, unit="bit")
    assert d.numbers() == "Δ = +0.17 bit [0.13, 0.21], n = 1 (+8 unusable)"
    assert V.not_run().text() == "not run"


# ----------------------------------------------------------------------------- the accessor
def _old_rows():
    """Two rows in today's schema: clipped atoms with raw_* (one incoherent)."""
    rows = []
    for raw, i1, i2 in (((0.1, 0.2, 0.3, 0.4), 0.3, 0.4), ((0.5, -0.3, 0.2, -0.1), 0.2, 0.7)):
        # the old schema: no coherence/training flags, clipped atoms beside raw_* ones
        r = dict.fromkeys([c for c in SPECTRA_COLUMNS if c not in ("coherent", "trained")], np.nan)
        for a, v in zip(V.ATOMS, raw):
            r[f"raw_{a}"] = v
            r[a] = max(v, 0.0)
        r.update(total=sum(raw), I1=i1, I2=i2, model="m", task="color")
        rows.append(r)
    return pd.DataFrame(rows)


def test_read_atoms_old_schema_uses_raw_atoms_and_computes_coherence():
    a = V.read_atoms(_old_rows())
    assert a.loc[0, "synergy"] == pytest.approx(0.4)
    assert a.loc[1, "unique1"] == pytest.approx(-0.3)  # unclipped
    np.testing.assert_allclose(a[list(V.ATOMS)].sum(axis=1), a.total)
    assert list(a.coherent) == [True, False] and list(a.usable) == [True, False]
    assert "incoherent" in a.loc[1, "why"] and a.loc[0, "why"] == ""
    # Shares only for the usable row, and they add up to 100.
    assert a.loc[0, [f"share_{x}" for x in V.ATOMS]].sum() == pytest.approx(100.0)
    assert a.loc[1, [f"share_{x}" for x in V.ATOMS]].isna().all()
    assert a.loc[0, "interaction"] == pytest.approx(0.3 + 0.4 - 1.0)


def test_read_atoms_new_schema_trusts_its_columns():
    df = _old_rows().drop(columns=[f"raw_{a}" for a in V.ATOMS])
    df.loc[1, list(V.ATOMS)] = [0.5, -0.3, 0.2, -0.1]  # unclipped in the new schema
    df["coherent"] = ["True", "False"]  # as read back from a CSV
    df["trained"] = [False, True]
    a = V.read_atoms(df)
    assert a.loc[1, "unique1"] == pytest.approx(-0.3)
    assert list(a.coherent) == [True, False] and list(a.trained) == [False, True]
    assert not a.usable.any()
    assert "did not train" in a.loc[0, "why"]


def test_read_atoms_tiny_totals_have_no_shares():
    df = _old_rows().iloc[:1].copy()
    for a, v in zip(V.ATOMS, (0.001, 0.002, 0.003, 0.004)):
        df[a] = df[f"raw_{a}"] = v
    df["total"], df["I1"], df["I2"] = 0.01, 0.003, 0.004
    a = V.read_atoms(df)
    assert a.usable.all() and a[[f"share_{x}" for x in V.ATOMS]].isna().all(axis=None)


def test_read_atoms_names_missing_columns():
    with pytest.raises(ValueError, match="total"):
        V.read_atoms(pd.DataFrame({"redundancy": [0.0], "unique1": [0], "unique2": [0], "synergy": [0]}))


# ----------------------------------------------------------------------------- scoreboard
def _table(new_schema: bool, probes=("noise", "donors4"), seed=0):
    """Final models of two families at three scales with a known structure: the fusion
    family has more synergy, synergy grows with accuracy on the synergy tasks."""
    rng = np.random.default_rng(seed)
    rows = []
    for probe in probes:
        for fam, boost in (("fusion", 0.4), ("language", 0.0)):
            for k, scale in enumerate((1e4, 2e4, 4e4)):
                for s in (0, 1):
                    model = f"data/zoo/{fam}-{['small', 'medium', 'large'][k]}-s{s}"
                    for task in ("color", "exist", "knowledge", "describe", "redundant"):
                        acc = 0.3 + 0.1 * k + 0.2 * (boost > 0) + 0.01 * s
                        syn = 0.1 + boost + 0.1 * k + 0.02 * s + 0.001 * rng.normal()
                        atoms = [0.1, 0.1, 0.2, syn]
                        r = dict.fromkeys([c for c in SPECTRA_COLUMNS
                                           if new_schema or c not in ("coherent", "trained")], np.nan)
                        r.update(model=model, family=fam, scale=scale, stage="stage2", step=100.0, task=task,
                                 dataset=f"world-{task}-s0", layer=-1, kind="member", probes=probe,
                                 accuracy=acc, d_vision=acc - 0.25, total=sum(atoms), I1=0.2, I2=0.3)
                        for a, v in zip(V.ATOMS, atoms):
                            r[a] = r[f"raw_{a}"] = v
                            r[f"{a}_lo"], r[f"{a}_hi"] = v - 0.01, v + 0.01
                        if new_schema:
                            r["coherent"], r["trained"] = True, True
                        rows.append(r)
    return pd.DataFrame(rows)


@pytest.mark.parametrize("new_schema", [False, True])
def test_scoreboard_on_both_schemas(new_schema):
    board = V.scoreboard(_table(new_schema), n_boot=500)
    assert set(board.probes) == {"noise", "donors4", "reference"}
    ref = board[board.probes == "reference"]
    assert (ref.verdict == V.NOT_RUN).all() and (ref.numbers == "").all()
    noise = board[board.probes == "noise"].set_index("key")
    assert noise.loc["F1-color", "verdict"] == V.REPRODUCED and noise.loc["F1-color", "n"] == 12
    assert noise.loc["F3-synergy", "verdict"] == V.REPRODUCED
    assert noise.loc["scaling-S", "verdict"] == V.REPRODUCED
    assert noise.loc["F5-U2", "verdict"] == V.INCONCLUSIVE  # no layer rows
    counts = V.verdict_counts(board)
    assert sum(counts.values()) == len(board) and counts[V.NOT_RUN] == len(ref)


def test_scoreboard_leaves_incoherent_spectra_out():
    t = _table(True, probes=("noise",))
    t.loc[t.family == "fusion", "coherent"] = False
    board = V.scoreboard(t, chapters=["ch-families", "ch-regimes"], probes=["noise"], n_boot=300).set_index("key")
    assert board.loc["F3-synergy", "verdict"] == V.INCONCLUSIVE
    assert board.loc["F3-synergy", "n_left_out"] > 0
    assert board.loc["F1-color", "n"] == 6 and board.loc["F1-color", "n_left_out"] == 6
    assert set(board.chapter) == {"ch-families", "ch-regimes"}


def test_scoreboard_reversal_is_reported():
    t = _table(False, probes=("noise",))
    t["synergy"] = np.where(t.family == "fusion", 0.05, 0.6)
    t["raw_synergy"] = t["synergy"]
    t["total"] = t[list(V.ATOMS)].sum(axis=1)
    board = V.scoreboard(t, chapters=["ch-families"], probes=["noise"], n_boot=300).set_index("key")
    assert board.loc["F3-synergy", "verdict"] == V.REVERSED


def test_scoreboard_of_an_empty_table_says_not_run():
    from pidlib.analysis.tables import empty_spectra
    board = V.scoreboard(empty_spectra())
    assert len(board) and (board.verdict == V.NOT_RUN).all()


def test_emergence_units_pick_stage_ends():
    rows = []
    for stage, step, syn in (("stage1", 0, 0.0), ("stage1", 75, 0.05), ("stage2", 188, 0.2), ("stage2", 750, 0.5)):
        for task in ("color", "exist"):
            r = dict.fromkeys(SPECTRA_COLUMNS, np.nan)
            r.update(model=f"m@{step}", family="fusion", scale=1e5, stage=stage, step=float(step), task=task, layer=-1,
                     redundancy=0.0, unique1=0.0, unique2=0.0, synergy=syn, total=syn, I1=0.0, I2=0.0,
                     coherent=True, trained=True)
            rows.append(r)
    u = V.emergence_units(V.with_atoms(pd.DataFrame(rows)))
    assert len(u) == 1
    assert u.align_step.iloc[0] == 75 and u.instr_step.iloc[0] == 750
    assert u["diff"].iloc[0] == pytest.approx(0.45) and u.usable.iloc[0]


def test_family_strategy_from_names():
    assert V.family_strategy("fusion") == "fusion"
    assert V.family_strategy("language") == "language"
    assert V.family_strategy("frozen-lm") == "language"
    assert V.family_strategy("pooled") == "other"
