"""The exact reference spectrum of a model on the classroom world.

Every world sample is generated from a few discrete variables (``meta["vars"]``, see
:data:`pidlib.world.tasks.VARS`): a scene variable V1 (what the picture shows that the task
can ask about) and a question variable V2 (what the text asks). For a model's full-probe
predictions p(y | x_i) on n samples, the empirical joint

    P(v1, v2, y) = (1/n) sum_i 1[V1_i = v1, V2_i = v2] p(y | x_i)                        (1)

is one coherent distribution, small enough for the exact BROJA solver
(:func:`pidlib.pid_exact`). Its PID says how the model's answer depends on the picture's
and the question's *generating* variables: a ground truth of what the model does, with no
probe and no estimator in between. It is not the PID of the features (which also carry
shape, size and position; information the model draws from those is averaged out in (1)),
and, like every plug-in estimate, it is computed on a finite sample (intervals by
resampling rows).

Per task family: ``color`` V1 = the colours of the four cells (24 values), V2 = the asked
cell (4); ``exist`` V1 = the set of colours shown (6), V2 = the asked colour (4);
``describe`` V1 = the colour (4), V2 = one constant question; ``knowledge`` V1 = the number
of objects (4, unrelated to the answer), V2 = creature x relation (16); ``redundant`` V1 =
the colour, V2 = the colour named in the text (equal by construction).
"""
from __future__ import annotations

import re

import numpy as np

from pidlib.estimators import PIDResult, pid_exact

_INDEX = re.compile(r"^(?P<task>[a-z_]+)-(?P<split>[a-z]+)-(?P<seed>-?\d+)-(?P<i>\d+)$")


class ReferenceError(ValueError):
    """Rows without the generating variables a reference spectrum needs."""


def world_vars(index: str) -> dict[str, int]:
    """The generating variables of the world sample named ``index`` (``TASK-SPLIT-SEED-I``).

    Recomputes the sample's draws (no rendering); the option order (``shuffle``) does not
    enter the variables.
    """
    from pidlib.world import MAKERS, _rng

    m = _INDEX.match(str(index))
    if not m or m["task"] not in MAKERS:
        raise ReferenceError(f"sample {index!r}: not a classroom-world sample index (TASK-SPLIT-SEED-I)")
    d = MAKERS[m["task"]](_rng(m["task"], m["split"], int(m["seed"]), int(m["i"])))
    return {k: int(v) for k, v in d["vars"].items()}


def variables_of(indices) -> tuple[np.ndarray, np.ndarray]:
    """Arrays (V1, V2) of the scene and question variables of world samples."""
    vs = [world_vars(i) for i in indices]
    return np.array([v["scene"] for v in vs]), np.array([v["question"] for v in vs])


def reference_joint(v1, v2, p_full) -> np.ndarray:
    """The empirical joint (1) over the observed values of V1 and V2 (codes 0..m-1).

    Options no row charges (zero padding) are dropped; at least two outcomes remain.
    """
    v1, v2 = np.asarray(v1), np.asarray(v2)
    p = np.asarray(p_full, dtype=np.float64)
    if not (len(v1) == len(v2) == len(p)):
        raise ReferenceError(f"v1, v2 and p_full have {len(v1)}, {len(v2)} and {len(p)} rows")
    if len(p) == 0:
        raise ReferenceError("no rows")
    p = p[:, p.max(0) > 0]
    if p.shape[1] < 2:
        p = np.concatenate([p, np.zeros((len(p), 2 - p.shape[1]))], axis=1)
    _, a = np.unique(v1, return_inverse=True)
    _, b = np.unique(v2, return_inverse=True)
    joint = np.zeros((a.max() + 1, b.max() + 1, p.shape[1]))
    np.add.at(joint, (a, b), p / p.sum(1, keepdims=True))
    return joint / joint.sum()


def reference_pid(v1, v2, p_full) -> PIDResult:
    """Exact PID (:func:`pidlib.pid_exact`) of the empirical joint (1); method ``"reference"``."""
    joint = reference_joint(v1, v2, p_full)
    r = pid_exact(joint)
    diag = dict(r.diagnostics, shape=joint.shape, n=int(len(v1)))
    diag.pop("q", None)
    return PIDResult(r.redundancy, r.unique1, r.unique2, r.synergy, r.total, r.I1, r.I2, coherent=True,
                     diagnostics=diag, method="reference")
