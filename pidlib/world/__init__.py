"""The classroom world: small rendered scenes and multiple-choice task families whose
dominant information atom is known by design.

Use it like any dataset::

    from pidlib.data.loaders import load_dataset
    ds = load_dataset("world:color?n=500&seed=0&split=eval")

or directly::

    from pidlib.world import make_dataset
    ds = make_dataset("color", n=500, seed=0, split="eval")

Spec syntax (after the ``world:`` prefix): ``TASK[?key=value&...]`` where ``TASK`` is a
family of :data:`FAMILIES` (see :mod:`pidlib.world.tasks` for the designed atom of each)
or ``all`` (the families interleaved round-robin), and the keys are ```n`` (number of
samples, default 500), ``seed`` (default 0), ``split`` (``train``, ``fit``, ``eval``;
default ``eval``) and ``shuffle`` (0 or 1, default 0: options in the fixed canonical
order the designed atoms assume; see :mod:`pidlib.world.tasks`).

Determinism: sample ``i`` of (task, split, seed) is drawn from its own generator seeded
with ``(seed, split, task, i)``, so it does not depend on ``n`` (the first 100 samples of
``n=500`` are the 100 samples of ``n=100``) and splits never share a generator.
"""
from __future__ import annotations

from urllib.parse import parse_qsl

import numpy as np

from pidlib.world.scene import (  # noqa: F401
    COLOR_NAMES, IMAGE_SIZE, SHAPES, Shape, caption, render, sample_scene,
)
from pidlib.world.tasks import (  # noqa: F401
    CREATURES, DOMINANT_ATOM, FACTS, FAMILIES, FOODS, HOMES, MAKERS, fact_sentences,
)

SPLITS = ("train", "fit", "eval")
_SPLIT_ID = {s: i for i, s in enumerate(SPLITS)}
_TASK_ID = {t: i for i, t in enumerate(FAMILIES)}


def _rng(task: str, split: str, seed: int, i: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), _SPLIT_ID[split], _TASK_ID[task], int(i), 7919])


def make_sample(task: str, i: int, *, seed: int = 0, split: str = "eval", shuffle: bool = False):
    """Sample ``i`` of a task family as a :class:`pidlib.data.schema.MCSample`.

    ``meta`` holds ``task`` (the family), ``atom`` (its designed dominant atom, which
    assumes the default fixed option order), ``caption`` (a description of the picture),
    ``split``, ``seed``, ``shuffled`` and ``vars`` (the discrete generating variables of
    the sample, :data:`pidlib.world.tasks.VARS`; the option order does not enter them). With ``shuffle=True`` the options are permuted
    (same scene and question as unshuffled).
    """
    from pidlib.data.schema import LETTERS, MCSample

    if task not in MAKERS:
        raise ValueError(f"unknown world task {task!r}; known: {', '.join(FAMILIES)}, all")
    if split not in _SPLIT_ID:
        raise ValueError(f"unknown world split {split!r}; known: {', '.join(SPLITS)}")
    rng = _rng(task, split, seed, i)
    d = MAKERS[task](rng)
    if shuffle:
        perm = [int(j) for j in rng.permutation(len(d["options"]))]
        d["answer"] = perm.index(d["answer"])
        d["options"] = [d["options"][j] for j in perm]
    return MCSample(
        index=f"{task}-{split}-{seed}-{i}",
        question=d["question"],
        options=list(d["options"]),
        answer=LETTERS[d["answer"]],
        image=render(d["scene"]),
        hint=None,
        meta={"task": task, "atom": DOMINANT_ATOM[task], "caption": caption(d["scene"]),
              "split": split, "seed": int(seed), "shuffled": bool(shuffle),
              "vars": {k: int(v) for k, v in d["vars"].items()}},
    )


def make_samples(task: str, n: int, *, seed: int = 0, split: str = "eval", shuffle: bool = False) -> list:
    """``n`` samples of one family, or of ``"all"`` families interleaved round-robin."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if task == "all":
        return [make_sample(FAMILIES[i % len(FAMILIES)], i // len(FAMILIES), seed=seed, split=split,
                            shuffle=shuffle) for i in range(n)]
    return [make_sample(task, i, seed=seed, split=split, shuffle=shuffle) for i in range(n)]


def parse_spec(spec: str) -> dict:
    """Parse ``"TASK?n=500&seed=0&split=eval"`` (with or without the ``world:`` prefix).

    Returns
    -------
    dict with keys ``task``, ``n``, ``seed``, ``split``.

    Raises
    ------
    ValueError
        Naming the spec and the bad part.
    """
    body = spec[len("world:"):] if spec.startswith("world:") else spec
    task, _, query = body.partition("?")
    task = task.strip() or "all"
    out = {"task": task, "n": 500, "seed": 0, "split": "eval", "shuffle": 0}
    for key, val in parse_qsl(query, keep_blank_values=True, strict_parsing=False):
        if key not in out or key == "task":
            raise ValueError(f"world spec {spec!r}: unknown key {key!r} (known: n, seed, split, shuffle)")
        if key in ("n", "seed", "shuffle"):
            try:
                out[key] = int(val)
            except ValueError:
                raise ValueError(f"world spec {spec!r}: {key} must be an integer, got {val!r}") from None
        else:
            out[key] = val
    if task != "all" and task not in MAKERS:
        raise ValueError(f"world spec {spec!r}: unknown task {task!r}; known: {', '.join(FAMILIES)}, all")
    if out["split"] not in _SPLIT_ID:
        raise ValueError(f"world spec {spec!r}: unknown split {out['split']!r}; known: {', '.join(SPLITS)}")
    if out["n"] < 0:
        raise ValueError(f"world spec {spec!r}: n must be >= 0")
    if out["shuffle"] not in (0, 1):
        raise ValueError(f"world spec {spec!r}: shuffle must be 0 or 1")
    return out


def make_dataset(task: str = "all", n: int = 500, *, seed: int = 0, split: str = "eval",
                 shuffle: bool = False):
    """A :class:`pidlib.data.schema.MCDataset` of world samples (format ``"world"``).

    The dataset name is ``world-TASK-sSEED`` (``-shuf`` appended when shuffled; the split
    is the run store's own key).
    """
    from pidlib.data.schema import MCDataset

    if task != "all" and task not in MAKERS:
        raise ValueError(f"unknown world task {task!r}; known: {', '.join(FAMILIES)}, all")
    samples = make_samples(task, n, seed=seed, split=split, shuffle=shuffle)
    return MCDataset(name=f"world-{task}-s{seed}" + ("-shuf" if shuffle else ""),
                     source=f"world:{task}?n={n}&seed={seed}&split={split}&shuffle={int(bool(shuffle))}",
                     samples=samples, format="world")


def load_world(spec: str, images=None, on_error: str = "raise"):
    """Loader for ``load_dataset("world:...")`` (``images`` and ``on_error`` are unused:
    the world renders its own pictures and has no bad rows)."""
    p = parse_spec(spec)
    return make_dataset(p["task"], p["n"], seed=p["seed"], split=p["split"], shuffle=bool(p["shuffle"]))


def text_corpus() -> list[str]:
    """Every kind of sentence the world produces in words (for tokenizer vocabularies)."""
    from pidlib.world.scene import CELLS, SIZES
    out = list(fact_sentences())
    for k in SHAPES:
        for c in COLOR_NAMES:
            for z in SIZES:
                out.append(" and ".join(f"a {z} {c} {k} at the {w}" for w in CELLS) + ".")
    return out
