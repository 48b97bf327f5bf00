"""Task families of the classroom world and their designed dominant PID atom.

Every family is a function ``make(rng) -> dict`` returning the fields of one
multiple-choice sample (question, options, answer index, scene). Y is the answer
*letter*, X1 the picture, X2 the question text (which includes the option list, since
:func:`pidlib.data.schema.format_question` prints it), so the designed atom is a
statement about how the letter depends on the two.

Options are listed in a **fixed canonical order** (the order of :data:`COLOR_NAMES`,
:data:`SHAPES`, :data:`FOODS`, :data:`HOMES`, yes/no), so the letter names the content.
Two reasons: (1) the atoms stay clean -- with shuffled options the letter depends on the
option text in every family, which adds synergy everywhere; (2) finding a content word
among shuffled options and copying its letter is an induction-style circuit that the
zoo's tiny models do not learn within the CPU budget (measured: after 600 steps of
text-only pretraining, tasks that need it stayed at chance while the fixed-order ones
were solved). ``make_sample(..., shuffle=True)`` (spec key ``shuffle=1``) shuffles the
options of any family for experiments with stronger models; the designed atoms below are
for the default, unshuffled world.

=============  =============  ==========================================================
family         dominant atom  why (unshuffled)
=============  =============  ==========================================================
``color``      synergy        four objects of four distinct colours, one per cell of the
                              2 x 2 grid; "What color is the object at the {cell}?". The
                              picture always shows all four colours and the question
                              names only a place, so each alone says nothing about the
                              letter; together they fix it (2 bits, all synergy).
``exist``      synergy        POPE-like "Is there a {color} object?" (yes/no) about a
                              two-object scene; the colour asked about is one of the two
                              shown or one of the two absent, with probability 1/2 each,
                              so it is uniform over the four colours whatever the
                              picture, and P(yes) is 1/2 given either input alone (an
                              XOR-like 1 bit, all synergy).
``describe``   unique1        one object; "Which option describes the picture?" with the
                              four colours as options for every sample: only the
                              picture carries information.
``knowledge``  unique2        "What do zorbs eat?" / "Where do zorbs live?" about
                              fictional creatures whose facts exist only in text; the
                              picture is an unrelated scene.
``redundant``  redundancy     one object; "This {shape} is {color}. What color is the
                              {shape}?": the picture and the text each fix the letter.
=============  =============  ==========================================================

An earlier ``exist`` asked "Is there a {color} object at the {cell}?", which also needs
the object's place; no zoo model learned it within the CPU budget (accuracy stayed at
chance after 700 stage-2 steps), so the colour-only form replaced it. Both are pure
synergy by construction; the place-binding task lives on in ``color``.

Why ``color`` is the hardest family, and what the zoo does about it (the world itself
was left as it is; measured on the zoo's tiny models, 2-core CPU, zoo version 3): with
four colours always in the picture, attending to the picture as a whole says nothing
about the answer, so a model must *select* the tokens of one place (or read features
that bind colour to place). Variants tried first (large and small fusion models, 600 to
1000 stage-2 steps; runs listed in ``benchmarks/RESULTS.md``, section "Zoo v3") stayed at
0.18-0.28, one at 0.39: a lower or higher learning rate (1e-3, 8e-3), a colour-only
stage 2, a diamond layout with one-word places ("at the top"), the reverse question
("Where is the red object?"), extra place-by-place descriptions in stage 2, and a
curriculum of partly filled grids. A single object's place ("Where is the object?") *is*
learned within 300 steps, so the visual tokens do say where things are; binding colour
to place is what is missing.
Three changes to the *vision* side made ``color`` learnable: (1) the tower's position
embeddings start 20 x larger (at CLIP's default scale a linear probe told the place of a
projected patch token for 23 % of tokens, chance 6 %; 88 % after), (2) contrastive
pretraining with hard negatives that move the objects to other cells, and (3) two-layer
towers trained for 400 steps: the colour in each cell became linearly readable from the
*mean* of the projected tokens (56 % -> 77 % for the large tower, chance 25 %), and the
large fusion model went from 0.25 (after all 1000 stage-2 steps) to 0.78 (after 800).
Smaller towers bind less (small 57 %); the small and medium fusion models reached 0.33
and 0.38 in the same runs.

Questions are about colours and places, not shapes, on purpose: a ViT trained from
scratch on a CPU budget learns colour at once but shape slowly (measured: a supervised
2-layer ViT reached 72 % shape accuracy after 600 steps, and the zoo's models stayed near
chance on a shape question), and the designed atoms need the visual attribute to be
learned. Shapes still vary in every picture and appear in captions.
"""
from __future__ import annotations

from pidlib.world.scene import COLOR_NAMES, SHAPES, sample_scene, sample_shape

#: Fictional creatures and their facts (fixed world knowledge, independent of any seed).
CREATURES = ("zorb", "blick", "frell", "quon", "tibble", "mox", "grell", "vorp")
FOODS = ("moss", "sand", "rain", "honey")
HOMES = ("caves", "trees", "rivers", "clouds")
#: creature -> (food, home): every food and every home is shared by two creatures, and
#: no two creatures share both.
FACTS = {c: (FOODS[i % 4], HOMES[(i + i // 4) % 4]) for i, c in enumerate(CREATURES)}

#: Designed dominant atom per task family (names as in :class:`pidlib.PIDResult`).
DOMINANT_ATOM = {
    "color": "synergy",
    "exist": "synergy",
    "describe": "unique1",
    "knowledge": "unique2",
    "redundant": "redundancy",
}
FAMILIES = tuple(DOMINANT_ATOM)

def _cell_colors(scene) -> int:
    """The colours of the four grid cells as one integer: a permutation of the four
    colours (``color`` scenes fill every cell), coded base 4 in cell order."""
    by_cell = {s.cell: COLOR_NAMES.index(s.color) for s in scene}
    return sum(by_cell[c] * 4 ** c for c in range(4))


def _color_set(scene) -> int:
    """The set of colours shown, as a 4-bit mask (bit c set when colour c is shown)."""
    return sum(1 << COLOR_NAMES.index(s.color) for s in scene)


def _color(rng):
    scene = sample_scene(rng, 4)
    target = scene[int(rng.integers(4))]
    options = list(COLOR_NAMES)
    cell = int(target.cell)
    return dict(question=f"What color is the object at the {target.where}?", options=options,
                answer=options.index(target.color), scene=scene,
                vars={"scene": _cell_colors(scene), "question": cell})


def _exist(rng):
    scene = sample_scene(rng, 2)
    shown = [s.color for s in scene]
    absent = [c for c in COLOR_NAMES if c not in shown]
    present = bool(rng.integers(2))
    color = (shown if present else absent)[int(rng.integers(2))]
    return dict(question=f"Is there a {color} object?", options=["yes", "no"],
                answer=0 if present else 1, scene=scene,
                vars={"scene": _color_set(scene), "question": COLOR_NAMES.index(color)})


def _describe(rng):
    kind = SHAPES[int(rng.integers(len(SHAPES)))]
    color = COLOR_NAMES[int(rng.integers(len(COLOR_NAMES)))]
    scene = [sample_shape(rng, kind, color)]
    options = list(COLOR_NAMES)
    return dict(question="Which option describes the picture?", options=options,
                answer=options.index(color), scene=scene,
                vars={"scene": COLOR_NAMES.index(color), "question": 0,
                      "shape": SHAPES.index(kind)})


def _knowledge(rng):
    creature = CREATURES[int(rng.integers(len(CREATURES)))]
    food, home = FACTS[creature]
    if rng.integers(2):
        q, truth, options = f"What do {creature}s eat?", food, list(FOODS)
    else:
        q, truth, options = f"Where do {creature}s live?", home, list(HOMES)
    relation = 0 if options == list(FOODS) else 1
    scene = sample_scene(rng, int(rng.integers(1, 5)))
    return dict(question=q, options=options, answer=options.index(truth), scene=scene,
                vars={"scene": len(scene) - 1, "question": 2 * CREATURES.index(creature) + relation})


def _redundant(rng):
    kind = SHAPES[int(rng.integers(len(SHAPES)))]
    color = COLOR_NAMES[int(rng.integers(len(COLOR_NAMES)))]
    scene = [sample_shape(rng, kind, color)]
    return dict(question=f"This {kind} is {color}. What color is the {kind}?",
                options=list(COLOR_NAMES), answer=COLOR_NAMES.index(color), scene=scene,
                vars={"scene": COLOR_NAMES.index(color), "question": COLOR_NAMES.index(color),
                      "shape": SHAPES.index(kind)})


#: The discrete generating variables each family records in ``meta["vars"]`` (the scene
#: variable ``scene`` and the question variable ``question``; ``shape`` where the picture
#: has one object). They define the exact reference PID (``pidlib.analysis.reference``).
#: ``color``: scene = cell colours (a permutation, base-4 code), question = asked cell;
#: ``exist``: scene = shown colour set (bit mask), question = asked colour;
#: ``describe``: scene = colour, question = 0 (one question for every sample);
#: ``knowledge``: scene = number of objects - 1 (unrelated to the question),
#: question = 2 * creature + relation (0 eat, 1 live);
#: ``redundant``: scene = colour, question = colour named in the text.
VARS = ("scene", "question")

MAKERS = {"color": _color, "exist": _exist, "describe": _describe, "knowledge": _knowledge,
          "redundant": _redundant}


def fact_sentences() -> list[str]:
    """The world's knowledge as plain sentences (text-only training data)."""
    out = []
    for c, (food, home) in FACTS.items():
        out.append(f"{c}s eat {food}.")
        out.append(f"{c}s live in {home}.")
    return out
