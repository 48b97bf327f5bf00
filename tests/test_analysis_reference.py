"""The exact reference spectrum of the classroom world: a model that answers perfectly has
the designed atoms, one that ignores its inputs has none; the generating variables come
back from the sample index alone."""
from __future__ import annotations

import numpy as np
import pytest

from pidlib.analysis.reference import ReferenceError, reference_joint, reference_pid, variables_of, world_vars
from pidlib.world import DOMINANT_ATOM, FAMILIES, make_samples


@pytest.mark.parametrize("task", FAMILIES)
def test_a_perfect_model_has_the_designed_atom(task):
    ss = make_samples(task, 800, seed=1)
    v1, v2 = variables_of([s.index for s in ss])
    assert [world_vars(s.index) for s in ss[:5]] == [s.meta["vars"] for s in ss[:5]]
    p = np.zeros((len(ss), 4))
    for i, s in enumerate(ss):
        p[i, "ABCD".index(s.answer)] = 1.0
    r = reference_pid(v1, v2, p)
    atoms = {a: getattr(r, a) for a in ("redundancy", "unique1", "unique2", "synergy")}
    assert max(atoms, key=atoms.get) == DOMINANT_ATOM[task]
    assert atoms[DOMINANT_ATOM[task]] >= 0.8 * r.total > 0.5
    assert sum(atoms.values()) == pytest.approx(r.total, abs=1e-6) and r.coherent and r.method == "reference"


def test_a_model_that_ignores_its_inputs_has_nothing():
    ss = make_samples("color", 400, seed=2)
    v1, v2 = variables_of([s.index for s in ss])
    r = reference_pid(v1, v2, np.full((len(ss), 4), 0.25))
    assert abs(r.total) < 1e-9


def test_bad_input_is_named():
    with pytest.raises(ReferenceError, match="not a classroom-world sample index"):
        variables_of(["MMBench-17"])
    with pytest.raises(ReferenceError, match="rows"):
        reference_joint([0, 1], [0], np.full((2, 2), 0.5))
