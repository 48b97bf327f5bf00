"""Spearman correlations with bootstrap intervals, on small synthetic tables."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from pidlib.analysis.correlations import correlation_table, spearman, spearman_ci, verdict


def test_spearman_matches_scipy_with_ties():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 5, size=30).astype(float)
    y = x + rng.normal(size=30)
    assert spearman(x, y) == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)


def test_monotone_gives_one_and_degenerate_interval():
    x = np.arange(10.0)
    r = spearman_ci(x, x ** 3, n_boot=500, seed=0)
    assert r["rho"] == pytest.approx(1.0)
    assert r["lo"] == pytest.approx(1.0) and r["hi"] == pytest.approx(1.0)
    assert r["p"] < 1e-6


def test_interval_contains_estimate_and_is_deterministic():
    rng = np.random.default_rng(2)
    x = rng.normal(size=25)
    y = 0.5 * x + rng.normal(size=25)
    a = spearman_ci(x, y, n_boot=1000, seed=3)
    b = spearman_ci(x, y, n_boot=1000, seed=3)
    assert a == b
    assert a["lo"] <= a["rho"] <= a["hi"]
    c = spearman_ci(x, y, n_boot=1000, seed=4)
    assert (c["lo"], c["hi"]) != (a["lo"], a["hi"])


def test_interval_coverage_on_independent_data():
    """With no relation, the 90 % interval should contain 0 most of the time."""
    rng = np.random.default_rng(5)
    hits = 0
    for _ in range(40):
        x, y = rng.normal(size=30), rng.normal(size=30)
        r = spearman_ci(x, y, n_boot=400, level=0.9, seed=int(rng.integers(1 << 30)))
        hits += r["lo"] <= 0 <= r["hi"]
    assert hits >= 30


def test_strong_relation_excludes_zero():
    rng = np.random.default_rng(6)
    x = rng.normal(size=40)
    r = spearman_ci(x, x + 0.3 * rng.normal(size=40), n_boot=1000)
    assert r["lo"] > 0.5


def test_small_or_constant_inputs_are_nan():
    assert math.isnan(spearman_ci([1, 2], [3, 4])["rho"])
    assert math.isnan(spearman_ci([1, 1, 1, 1], [1, 2, 3, 4])["rho"])
    r = spearman_ci([1, 2, np.nan, 4, 5], [2, 1, 3, np.nan, 6], n_boot=10)
    assert r["n"] == 3


def test_bad_arguments():
    with pytest.raises(ValueError, match="same length"):
        spearman_ci([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="level"):
        spearman_ci([1, 2, 3], [1, 2, 3], level=1.5)


def test_correlation_table_groups_and_columns():
    rng = np.random.default_rng(7)
    rows = []
    for task, sign in (("color", 1), ("knowledge", -1)):
        for m in range(8):
            acc = m / 8
            rows.append({"task": task, "model": f"m{m}", "accuracy": acc, "synergy": sign * acc + 0.01 * rng.normal(),
                         "unique2": rng.normal()})
    df = pd.DataFrame(rows)
    t = correlation_table(df, quantities=["synergy", "unique2"], by="task", n_boot=300)
    assert list(t.columns[:8]) == ["task", "quantity", "rho", "p", "p_perm", "lo", "hi", "n"]
    assert len(t) == 4
    s = t.set_index(["task", "quantity"])
    assert s.loc[("color", "synergy"), "rho"] == pytest.approx(1.0)
    assert s.loc[("knowledge", "synergy"), "rho"] == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="column 'nope'"):
        correlation_table(df, quantities=["nope"], by="task")


def test_verdict():
    assert verdict(0.75, 0.8, 0.4, 0.95) == "agrees"
    assert verdict(0.75, -0.6, -0.9, -0.2) == "disagrees"
    assert verdict(0.75, 0.3, -0.2, 0.7) == "inconclusive"
    assert verdict(0.75, math.nan, math.nan, math.nan) == "inconclusive"
    assert verdict(-0.009, 0.8, 0.5, 0.95) == "disagrees"   # paper: no clear relation
    assert verdict(-0.009, 0.1, 0.05, 0.2) == "agrees"


def test_permutation_pvalue():
    from pidlib.analysis.correlations import permutation_pvalue, spearman_ci

    x = np.arange(12.0)
    assert permutation_pvalue(x, x, n_perm=2000) < 0.002           # a perfect rank relation
    assert permutation_pvalue(x, -x, n_perm=2000) < 0.002          # two-sided
    rng = np.random.default_rng(3)
    ps = [permutation_pvalue(rng.normal(size=12), rng.normal(size=12), n_perm=500, seed=i) for i in range(40)]
    assert 0.3 < np.mean(ps) < 0.7                                  # about uniform under independence
    r = spearman_ci(x, x + rng.normal(scale=3, size=12), n_boot=200)
    assert set(r) >= {"rho", "p", "p_perm", "lo", "hi", "n"} and r["n"] == 12 and 0 < r["p_perm"] <= 1
    assert np.isnan(permutation_pvalue(x, np.ones(12)))
