"""Bootstrap intervals, the discretized (k-means + exact) path, and the result type."""
import numpy as np
import pytest

from pidlib import bootstrap_pid, pid_discretized, pid_exact
from pidlib.estimators import gate, sample_discrete
from pidlib.estimators.bootstrap import basic_interval, percentile_interval


def test_bootstrap_intervals_cover_point_and_truth():
    d = sample_discrete(gate("xor"), 900, seed=0)
    b = bootstrap_pid(d["x1"], d["x2"], d["p_y_x1"], d["p_y_x2"], d["p_y_x1x2"], n_boot=6, min_steps=40, seed=0)
    assert len(b.replicates) == 9          # at least n_boot: 5 estimators x 2 evaluations - the point
    lo, hi = b.intervals["synergy"]
    assert lo <= hi and 0.9 < lo <= 1.01 and 0.99 <= hi <= 1.1     # near the truth (1 bit)
    # XOR's plug-in total is largest on a balanced sample (resampling unbalances P(Y)), so the
    # replicates lean below the point and the basic interval leans above it; where the point
    # falls outside, contains_point says so
    for q, ok in b.contains_point.items():
        lo, hi = b.intervals[q]
        assert ok == (lo <= getattr(b.point, q) <= hi)
    assert b.replicates["total"].max() <= b.point.total + 0.001
    table = b.summary()
    assert list(table.index[:4]) == ["redundancy", "unique1", "unique2", "synergy"]
    # Replicates differ: resampling and refitting happened.
    assert b.replicates["synergy"].std() > 0


def test_bootstrap_bad_arguments():
    d = sample_discrete(gate("xor"), 60, seed=0)
    args = (d["x1"], d["x2"], d["p_y_x1"], d["p_y_x2"], d["p_y_x1x2"])
    with pytest.raises(ValueError, match="n_boot"):
        bootstrap_pid(*args, n_boot=1)
    with pytest.raises(ValueError, match="ci"):
        bootstrap_pid(*args, ci=1.5)


def test_percentile_and_basic_intervals():
    assert percentile_interval(np.arange(101), 0.9) == pytest.approx((5.0, 95.0))
    # basic: reflected around the point; replicates biased down by 10 move the interval up
    lo, hi, ok = basic_interval(50.0, np.arange(101) - 10.0, 0.9)
    assert (lo, hi) == pytest.approx((15.0, 105.0)) and ok
    lo, hi, ok = basic_interval(50.0, np.arange(101) + 60.0, 0.9)   # bias beyond the spread: said so
    assert not ok and hi < 50.0


@pytest.mark.parametrize("name", ["and", "copy", "rdn"])
def test_discretized_equals_exact_on_separable_codes(name):
    # With well-separated codes k-means recovers the values, so the discretized PID is the
    # exact PID of the sample's empirical joint.
    p = gate(name)
    d = sample_discrete(p, 2000, embedding="noisy", dim=8, sigma=0.05, seed=4)
    r = pid_discretized(d["x1"], d["x2"], d["p_y_x1x2"], n_clusters=2, seed=0)
    emp = np.zeros(p.shape)
    np.add.at(emp, (d["v1"], d["v2"]), d["p_y_x1x2"] / 2000)
    ex = pid_exact(emp)
    for a in ("redundancy", "unique1", "unique2", "synergy"):
        assert getattr(r, a) == pytest.approx(getattr(ex, a), abs=1e-6)


def test_result_dict_and_repr():
    r = pid_exact(gate("xor"))
    d = r.as_dict()
    assert set(d) >= {"redundancy", "unique1", "unique2", "synergy", "total", "I1", "I2", "coherent"}
    assert "synergy=1.0000" in repr(r) and "INCOHERENT" not in repr(r)
    assert r.clipped()["synergy"] == pytest.approx(1.0) and r.shares()["synergy"] == pytest.approx(1.0)
