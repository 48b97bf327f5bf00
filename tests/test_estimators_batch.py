"""BATCH against exact values on data whose PID is known, determinism, batching, bad input.

Tolerances. With the true conditionals plugged in, BATCH's error has a floor set by the
minibatch: the optimum over a batch of 256 rows differs from the population optimum by
about 0.02 bit for AND-like distributions (shared notes, "weak point 5"; also measured
here). Gates whose optimum sits at a product-like interior point (XOR, RDN, UNQ, COPY)
come out within a few thousandths of a bit. Hence 0.01 bit for those and 0.035 bit for
AND, SUM and random joints.
"""
import numpy as np
import pytest
import torch

from pidlib import pid_batch, pid_batch_many, pid_exact
from pidlib.estimators import gate, sample_discrete, sinkhorn_log

ATOMS = ("redundancy", "unique1", "unique2", "synergy")


def run(d, **kw):
    return pid_batch(d["x1"], d["x2"], d["p_y_x1"], d["p_y_x2"], d["p_y_x1x2"], **kw)


def max_err(r, p):
    ex = pid_exact(p)
    return max(abs(r.raw[a] - getattr(ex, a)) for a in ATOMS)


@pytest.mark.parametrize("name,tol", [("xor", 0.01), ("rdn", 0.01), ("unq", 0.01), ("copy", 0.01),
                                      ("and", 0.035), ("sum", 0.035)])
def test_gates_onehot(name, tol):
    p = gate(name)
    r = run(sample_discrete(p, 2400, seed=1), seed=0)
    assert max_err(r, p) <= tol, r
    assert r.diagnostics["sinkhorn_marginal_error"] < 1e-4


@pytest.mark.parametrize("name,tol", [("xor", 0.02), ("and", 0.05)])
def test_gates_noisy_embeddings(name, tol):
    p = gate(name)
    r = run(sample_discrete(p, 2400, embedding="noisy", dim=64, sigma=0.5, seed=3), seed=1)
    assert max_err(r, p) <= tol, r


def test_random_joints_batched():
    # Three random 3x3x2 joints estimated in one pid_batch_many call (leading problem axis).
    rng = np.random.default_rng(11)
    ps = [rng.dirichlet(np.ones(18)).reshape(3, 3, 2) for _ in range(3)]
    ds = [sample_discrete(p, 2400, seed=i) for i, p in enumerate(ps)]
    stack = {k: np.stack([d[k] for d in ds]) for k in ("x1", "x2", "p_y_x1", "p_y_x2", "p_y_x1x2")}
    rs = pid_batch_many(stack["x1"], stack["x2"], stack["p_y_x1"], stack["p_y_x2"], stack["p_y_x1x2"],
                        seeds=[0, 1, 2])
    for r, p in zip(rs, ps):
        assert max_err(r, p) <= 0.035, r


def test_many_equals_single_and_is_deterministic():
    d = sample_discrete(gate("and"), 900, embedding="noisy", dim=16, seed=5)
    args = (d["x1"], d["x2"], d["p_y_x1"], d["p_y_x2"], d["p_y_x1x2"])
    kw = dict(epochs=2, batch_size=128, min_steps=0)
    single = [pid_batch(*args, seed=s, **kw) for s in (3, 4)]
    many = pid_batch_many(*args, seeds=[3, 4], **kw)
    for a, b in zip(single, many):
        for atom in ATOMS:
            assert a.raw[atom] == pytest.approx(b.raw[atom], abs=1e-4)
    again = pid_batch(*args, seed=3, **kw)
    assert again.raw == single[0].raw  # bit-identical for a seed on CPU
    assert single[0].raw != single[1].raw


def test_shared_features_per_problem_conditionals():
    # The layer-sweep shape: one feature matrix, one set of conditionals per "layer".
    d0 = sample_discrete(gate("xor"), 1200, seed=0)
    d1 = sample_discrete(gate("rdn"), 1200, seed=0)
    P = lambda k: np.stack([d0[k], d0[k]])  # noqa: E731
    rs = pid_batch_many(d0["x1"], d0["x2"], P("p_y_x1"), P("p_y_x2"), P("p_y_x1x2"), seeds=[0, 1], epochs=3,
                        min_steps=0)
    assert len(rs) == 2 and all(r.synergy > 0.9 for r in rs)
    with pytest.raises(ValueError, match="rows"):
        pid_batch_many(d0["x1"], d0["x2"], P("p_y_x1"), P("p_y_x2"), d1["p_y_x1x2"][:10], seeds=[0, 1])


def test_raw_atoms_sum_to_total_and_eval_data():
    p = gate("and")
    fit, ev = sample_discrete(p, 1600, seed=0), sample_discrete(p, 800, seed=1)
    keys = ("x1", "x2", "p_y_x1", "p_y_x2", "p_y_x1x2")
    r = pid_batch(*(fit[k] for k in keys), eval_data=tuple(ev[k] for k in keys), seed=0)
    assert sum(r.raw.values()) == pytest.approx(r.total, abs=1e-6)
    assert r.diagnostics["n_fit"] == 1600 and r.diagnostics["n_eval"] == 800
    assert len(r.diagnostics["loss_curve"]) == 300  # max(8 epochs x ceil(1600/256) batches, min_steps)
    assert max_err(r, p) <= 0.035


def test_incoherent_probes_report_negative_synergy():
    # Independent Dirichlet(0.3) conditionals are not those of one joint distribution:
    # the atoms show it (negative synergy, the clipped atoms would hide it) and the result
    # says so.
    rng = np.random.default_rng(0)
    n = 1500
    x1, x2 = rng.normal(size=(n, 8)), rng.normal(size=(n, 8))
    p1, p2, p12 = (rng.dirichlet(np.full(4, 0.3), size=n) for _ in range(3))
    r = pid_batch(x1, x2, p1, p2, p12, seed=0, min_steps=50)
    assert r.synergy < -0.05
    assert r.clipped()["synergy"] == 0.0
    assert not r.coherent and "INCOHERENT" in repr(r)
    assert r.diagnostics["coherence"]["min_atom"] == pytest.approx(r.synergy)


def test_zero_padded_options_are_ignored():
    d = sample_discrete(gate("xor"), 1200, seed=0)
    pad = lambda a: np.concatenate([a, np.zeros((a.shape[0], 2))], axis=1)  # noqa: E731
    r = pid_batch(d["x1"], d["x2"], pad(d["p_y_x1"]), pad(d["p_y_x2"]), pad(d["p_y_x1x2"]), seed=0, min_steps=30)
    assert r.synergy == pytest.approx(1.0, abs=0.02)


def test_sinkhorn_meets_both_marginals():
    g = torch.Generator().manual_seed(0)
    logK = (torch.rand(3, 2, 50, 50, generator=g) * 5.7 - 2.85)
    r = torch.rand(3, 2, 50, generator=g)
    c = torch.rand(3, 2, 50, generator=g)
    c = c * r.sum(-1, keepdim=True) / c.sum(-1, keepdim=True)
    pi = torch.exp(sinkhorn_log(logK, r.log(), c.log(), 300))
    torch.testing.assert_close(pi.sum(-1), r, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(pi.sum(-2), c, atol=1e-5, rtol=1e-4)


GOOD = sample_discrete(gate("xor"), 60, seed=0)


def _args(**over):
    a = {k: GOOD[k].copy() for k in ("x1", "x2", "p_y_x1", "p_y_x2", "p_y_x1x2")}
    a.update(over)
    return a


@pytest.mark.parametrize("over,match", [
    (dict(x1=np.ones((59, 2))), r"^x1: has 59 rows, expected 60"),
    (dict(p_y_x2=np.full((60, 3), 1 / 3)), r"^p_y_x2: has 3 outcomes"),
    (dict(p_y_x1=np.full((60, 2), 0.6)), r"^p_y_x1: row 0 sums to 1.2"),
    (dict(p_y_x1x2=np.where(np.arange(120).reshape(60, 2) == 7, np.nan, 0.5)), r"^p_y_x1x2: contains NaN"),
    (dict(p_y_x2=np.tile([1.2, -0.2], (60, 1))), r"^p_y_x2: negative probability"),
    (dict(p_y_x1x2=np.ones((60, 1))), r"^p_y_x1x2: needs at least 2 outcomes"),
    (dict(x2=np.ones(60)), r"^x2: expected 2 or 3 dimensions"),
])
def test_bad_input(over, match):
    with pytest.raises(ValueError, match=match):
        pid_batch(**_args(**over))


def test_bad_parameters():
    with pytest.raises(TypeError, match="unknown BATCH parameter"):
        pid_batch(**_args(), hiden=3)
    with pytest.raises(ValueError, match="batch_size"):
        pid_batch(**_args(), batch_size=0)
    with pytest.raises(ValueError, match="eval_fraction"):
        pid_batch(**_args(), eval_fraction=1.5)
