"""Task families of the classroom world and their designed dominant PID atom.

Every family is a function ``make(rng) -> dict`` returning the fields of one
multiple-choice sample (question, options, answer index, scene). Y is the
answer *letter*, X1 the picture, X2 the question text (which includes the
option list, since :func:`pidlib.data.schema.format_question` prints it), so
the designed atom is a statement about how the letter depends on the two:

=============  =============  ==========================================================
family         dominant atom  why
=============  =============  ==========================================================
``color``      synergy        two shapes; "What color is the {shape}?" with the four
                              colours as shuffled options: the picture alone leaves two
                              candidate colours and no letter, the text alone no colour.
``exist``      synergy        POPE-like "Is there a {color} {shape}?" (yes/no, fixed
                              order), half of the negatives adversarial (the colour or
                              the shape is present on another object).
``shape``      unique1        one shape; the question and the option list are the same
                              for every sample ("Which option describes the picture?",
                              options in the fixed order of :data:`SHAPES`), so only the
                              picture carries information about the letter.
``knowledge``  unique2        "What do zorbs eat?" about fictional creatures whose facts
                              exist only in text; shuffled options; the picture is an
                              unrelated scene.
``redundant``  redundancy     one shape; "This {shape} is {color}. What color is the
                              {shape}?" with the colours in fixed order: the picture and
                              the text each determine the letter.
=============  =============  ==========================================================

Families with a fixed option order (``exist``, ``shape``, ``redundant``) do
not shuffle on purpose: shuffling would make the letter depend on the text
and turn the designed atom into synergy.
"""
from __future__ import annotations

import numpy as np

from pidlib.world.scene import COLOR_NAMES, SHAPES, sample_scene, sample_shape

#: Fictional creatures and their facts (fixed world knowledge, independent of any seed).
CREATURES = ("zorb", "blick", "frell", "quon", "tibble", "mox", "grell", "vorp")
FOODS = ("moss", "sand", "rain", "light", "stones", "honey", "leaves", "fish")
HOMES = ("caves", "trees", "rivers", "clouds", "hills", "lakes", "towers", "fields")
#: creature -> (food, home); a fixed derangement so no two creatures share a fact.
FACTS = {c: (FOODS[i], HOMES[(i * 3 + 1) % len(HOMES)]) for i, c in enumerate(CREATURES)}

#: Designed dominant atom per task family (names as in :class:`pidlib.PIDResult`).
DOMINANT_ATOM = {
    "color": "synergy",
    "exist": "synergy",
    "shape": "unique1",
    "knowledge": "unique2",
    "redundant": "redundancy",
}
FAMILIES = tuple(DOMINANT_ATOM)

SHAPE_OPTION = {k: f"a {k}" for k in SHAPES}


def _color(rng):
    scene = sample_scene(rng, 2)
    target = scene[int(rng.integers(2))]
    options = [COLOR_NAMES[i] for i in rng.permutation(len(COLOR_NAMES))]
    return dict(question=f"What color is the {target.kind}?", options=options,
                answer=options.index(target.color), scene=scene)


def _exist(rng):
    scene = sample_scene(rng, 2)
    mode = int(rng.integers(4))  # 0,1 positive; 2 adversarial negative; 3 random negative
    present = {(s.kind, s.color) for s in scene}
    if mode < 2:
        kind, color = scene[mode].kind, scene[mode].color
    else:
        while True:
            if mode == 2:  # colour of one object with the kind of the other
                kind, color = scene[0].kind, scene[1].color
                if rng.integers(2):
                    kind, color = scene[1].kind, scene[0].color
            else:
                kind = SHAPES[int(rng.integers(len(SHAPES)))]
                color = COLOR_NAMES[int(rng.integers(len(COLOR_NAMES)))]
            if (kind, color) not in present:
                break
    answer = 0 if (kind, color) in present else 1
    return dict(question=f"Is there a {color} {kind}?", options=["yes", "no"], answer=answer,
                scene=scene)


def _shape(rng):
    kind = SHAPES[int(rng.integers(len(SHAPES)))]
    color = COLOR_NAMES[int(rng.integers(len(COLOR_NAMES)))]
    scene = [sample_shape(rng, kind, color)]
    options = [SHAPE_OPTION[k] for k in SHAPES]
    return dict(question="Which option describes the picture?", options=options,
                answer=SHAPES.index(kind), scene=scene)


def _knowledge(rng):
    creature = CREATURES[int(rng.integers(len(CREATURES)))]
    food, home = FACTS[creature]
    if rng.integers(2):
        q, truth, pool = f"What do {creature}s eat?", food, FOODS
    else:
        q, truth, pool = f"Where do {creature}s live?", home, HOMES
    others = [v for v in pool if v != truth]
    pick = [others[i] for i in rng.choice(len(others), size=3, replace=False)]
    options = [truth] + pick
    options = [options[i] for i in rng.permutation(4)]
    scene = sample_scene(rng, int(rng.integers(1, 3)))
    return dict(question=q, options=options, answer=options.index(truth), scene=scene)


def _redundant(rng):
    kind = SHAPES[int(rng.integers(len(SHAPES)))]
    color = COLOR_NAMES[int(rng.integers(len(COLOR_NAMES)))]
    scene = [sample_shape(rng, kind, color)]
    return dict(question=f"This {kind} is {color}. What color is the {kind}?",
                options=list(COLOR_NAMES), answer=COLOR_NAMES.index(color), scene=scene)


MAKERS = {"color": _color, "exist": _exist, "shape": _shape, "knowledge": _knowledge,
          "redundant": _redundant}


def fact_sentences() -> list[str]:
    """The world's knowledge as plain sentences (text-only training data)."""
    out = []
    for c, (food, home) in FACTS.items():
        out.append(f"{c}s eat {food}.")
        out.append(f"{c}s live in {home}.")
    return out
