"""pid_exact against known values, an independent convex solver, and PID's properties."""
import numpy as np
import pytest

from pidlib import pid_exact
from pidlib.estimators import GATE_ATOMS, gate

ATOMS = ("redundancy", "unique1", "unique2", "synergy")


def atoms(r):
    return np.array([getattr(r, a) for a in ATOMS])


@pytest.mark.parametrize("name", sorted(GATE_ATOMS))
def test_gates(name):
    r = pid_exact(gate(name))
    np.testing.assert_allclose(atoms(r), GATE_ATOMS[name], atol=1e-5)
    assert r.diagnostics["converged"]
    assert r.diagnostics["marginal_error"] < 1e-8


def test_ruus():
    # X1 = (r, u1, s1), X2 = (r, u2, s2), Y = (r, u1, u2, s1 xor s2): one bit of each atom.
    p = np.zeros((8, 8, 16))
    for r in (0, 1):
        for u1 in (0, 1):
            for u2 in (0, 1):
                for s1 in (0, 1):
                    for s2 in (0, 1):
                        x1, x2 = 4 * r + 2 * u1 + s1, 4 * r + 2 * u2 + s2
                        y = 8 * r + 4 * u1 + 2 * u2 + (s1 ^ s2)
                        p[x1, x2, y] = 1 / 32
    r = pid_exact(p)
    np.testing.assert_allclose(atoms(r), [1, 1, 1, 1], atol=1e-5)
    assert r.total == pytest.approx(4.0)


# Integer weights from the shared notes, with atoms from three agreeing solvers.
REFERENCE = [
    ([[[49, 1], [110, 43], [33, 112]], [[142, 73], [147, 10], [1, 56]], [[45, 60], [61, 2], [31, 26]]],
     (0.009130, 0, 0.166995, 0.101859)),
    ([[[27, 18], [17, 1], [30, 89]], [[17, 7], [8, 465], [66, 8]], [[1, 84], [29, 1], [127, 7]]],
     (0.132062, 0, 0.095579, 0.362831)),
    ([[[8, 111], [42, 4], [8, 36]], [[21, 20], [390, 17], [13, 179]], [[11, 25], [1, 5], [59, 50]]],
     (0.072851, 0, 0.362287, 0.108927)),
    ([[[125, 35], [1, 1], [25, 222]], [[20, 68], [41, 69], [7, 185]], [[34, 5], [126, 3], [27, 7]]],
     (0.164495, 0.084346, 0.066185, 0.136329)),
]


@pytest.mark.parametrize("weights,expected", REFERENCE)
def test_reference_values(weights, expected):
    w = np.array(weights, dtype=float)
    r = pid_exact(w / w.sum())
    np.testing.assert_allclose(atoms(r), expected, atol=2e-6)  # references have 6 decimals


def cvx_min_iq(p):
    """Independent solution: max H_Q(Y|X1,X2) over Delta_P with cvxpy + Clarabel (exp cone)."""
    cp = pytest.importorskip("cvxpy")
    n1, n2, ny = p.shape
    q = cp.Variable(n1 * n2 * ny, nonneg=True)
    idx = np.arange(n1 * n2 * ny).reshape(n1, n2, ny)
    cons = []
    for i in range(n1):
        for y in range(ny):
            cons.append(cp.sum(q[idx[i, :, y]]) == p[i, :, y].sum())
    for j in range(n2):
        for y in range(ny):
            cons.append(cp.sum(q[idx[:, j, y]]) == p[:, j, y].sum())
    # Q(x1, x2) repeated over y, as a linear map of q.
    S = np.zeros((n1 * n2 * ny, n1 * n2 * ny))
    for i in range(n1):
        for j in range(n2):
            S[np.ix_(idx[i, j], idx[i, j])] = 1.0
    Qrep = S @ q
    prob = cp.Problem(cp.Minimize(cp.sum(cp.rel_entr(q, Qrep))), cons)  # = -H(Y|X1X2)
    prob.solve(solver=cp.CLARABEL, tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    qv = np.clip(q.value, 0, None).reshape(n1, n2, ny)
    py = p.sum((0, 1))
    hy = -np.sum(py[py > 0] * np.log(py[py > 0]))
    return (hy + prob.value) / np.log(2), qv


def _mi_bits(pxy):
    px, py = pxy.sum(1, keepdims=True), pxy.sum(0, keepdims=True)
    m = pxy > 0
    return float(np.sum(pxy[m] * np.log2(pxy[m] / (px @ py)[m])))


@pytest.mark.parametrize("shape,seed,conc", [((2, 2, 2), 0, 1.0), ((3, 3, 2), 1, 1.0), ((4, 3, 3), 2, 0.5),
                                             ((6, 6, 3), 3, 1.0), ((5, 7, 4), 4, 0.2), ((8, 8, 4), 5, 1.0)])
def test_random_against_convex_solver(shape, seed, conc):
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.full(int(np.prod(shape)), conc)).reshape(shape)
    r = pid_exact(p)
    iq, _ = cvx_min_iq(p)
    I1, I2 = _mi_bits(p.sum(1)), _mi_bits(p.sum(0))
    I12 = _mi_bits(p.reshape(-1, shape[2]))
    expected = np.array([I1 + I2 - iq, iq - I2, iq - I1, I12 - iq])
    np.testing.assert_allclose([r.raw[a] for a in ATOMS], expected, atol=1e-5)
    assert r.diagnostics["marginal_error"] < 1e-8
    assert r.diagnostics["converged"]


def test_properties_on_random_distributions():
    rng = np.random.default_rng(7)
    for shape in [(3, 4, 2), (5, 5, 3), (16, 16, 4)]:
        p = rng.dirichlet(np.full(int(np.prod(shape)), 0.5)).reshape(shape)
        r = pid_exact(p)
        a = atoms(r)
        assert (a >= 0).all()
        assert a.sum() == pytest.approx(r.total, abs=1e-6)
        assert r.redundancy + r.unique1 == pytest.approx(r.I1, abs=1e-6)
        assert r.redundancy + r.unique2 == pytest.approx(r.I2, abs=1e-6)
        # Swapping X1 and X2 swaps U1 and U2.
        s = pid_exact(p.transpose(1, 0, 2))
        np.testing.assert_allclose(atoms(s), a[[0, 2, 1, 3]], atol=1e-6)
        # Relabeling outcomes of X1, X2 or Y changes nothing.
        perm = [rng.permutation(n) for n in shape]
        t = pid_exact(p[perm[0]][:, perm[1]][:, :, perm[2]])
        np.testing.assert_allclose(atoms(t), a, atol=1e-6)


def test_zero_rows_and_deterministic_cases():
    # An unused value of X1 (all-zero slice) and a Y fully determined by both sources.
    p = np.zeros((3, 2, 2))
    p[0, 0, 0] = p[1, 1, 1] = 0.5
    r = pid_exact(p)
    np.testing.assert_allclose(atoms(r), [1, 0, 0, 0], atol=1e-6)


@pytest.mark.parametrize("bad,match", [
    (np.ones((2, 2)) / 4, "3-d"),
    (np.full((2, 2, 2), 0.2), "sum to 1"),
    (np.array([[[0.5, -0.1], [0.3, 0.3]], [[0, 0], [0, 0]]]) / 1.0, "negative"),
    (np.full((2, 2, 2), np.nan), "NaN"),
    (np.full((2, 2, 1), 0.25), "at least 2"),
])
def test_bad_input(bad, match):
    with pytest.raises(ValueError, match=match) as e:
        pid_exact(bad)
    assert str(e.value).startswith("p:")
