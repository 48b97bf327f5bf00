"""The classroom world: determinism, schema, designed information structure, loader."""
import itertools
from collections import Counter

import numpy as np
import pytest

from pidlib.world import (COLOR_NAMES, DOMINANT_ATOM, FACTS, FAMILIES, SHAPES, make_dataset,
                          make_sample, make_samples, parse_spec)
from pidlib.world.scene import IMAGE_SIZE, render, sample_scene


def _same(a, b):
    return (a.index == b.index and a.question == b.question and a.options == b.options
            and a.answer == b.answer and a.meta == b.meta
            and np.array_equal(np.asarray(a.image), np.asarray(b.image)))


@pytest.mark.parametrize("task", FAMILIES)
def test_deterministic_and_prefix_stable(task):
    a = make_samples(task, 30, seed=3, split="fit")
    b = make_samples(task, 30, seed=3, split="fit")
    assert all(_same(x, y) for x, y in zip(a, b))
    c = make_samples(task, 10, seed=3, split="fit")  # sample i does not depend on n
    assert all(_same(x, y) for x, y in zip(a, c))
    d = make_samples(task, 30, seed=4, split="fit")
    assert not all(_same(x, y) for x, y in zip(a, d))
    e = make_samples(task, 30, seed=3, split="eval")
    assert len({s.index for s in a} & {s.index for s in e}) == 0


@pytest.mark.parametrize("task", FAMILIES)
def test_schema(task):
    for s in make_samples(task, 40, seed=0):
        assert 2 <= len(s.options) <= 4
        assert s.answer in "ABCD"[: len(s.options)]
        assert s.meta["task"] == task and s.meta["atom"] == DOMINANT_ATOM[task]
        assert s.image.size == (IMAGE_SIZE, IMAGE_SIZE) and s.image.mode == "RGB"
        assert len(set(s.options)) == len(s.options)


def _objects(caption):
    """caption -> {cell words: (size, color, kind)}."""
    out = {}
    for part in caption.rstrip(".").split(" and "):
        words = part.split()
        cell = " ".join(words[words.index("the") + 1:]) if "at" in words else ""
        out[cell] = tuple(words[1:4])
    return out


def test_answers_are_correct_by_construction():
    for s in make_samples("color", 50):
        cell = s.question.split("at the ")[1].rstrip("?")
        assert s.options[s.answer_index] == _objects(s.meta["caption"])[cell][1]
    for s in make_samples("exist", 80):
        color = s.question.split()[3]
        objs = _objects(s.meta["caption"])
        assert len(objs) == 2
        assert (s.answer == "A") == any(o[1] == color for o in objs.values())
    for s in make_samples("describe", 30):
        assert s.options[s.answer_index] == _objects(s.meta["caption"])[""][1]
    for s in make_samples("knowledge", 50):
        creature = s.question.split()[2][:-1]
        food, home = FACTS[creature]
        assert s.options[s.answer_index] == (food if "eat" in s.question else home)
    for s in make_samples("redundant", 30):
        assert s.options[s.answer_index] in s.question and s.options[s.answer_index] in s.meta["caption"]


def _mi(xs, ys):
    """Plug-in mutual information (bits) between two discrete sequences."""
    n = len(xs)
    pxy = Counter(zip(xs, ys)); px = Counter(xs); py = Counter(ys)
    return sum(c / n * np.log2(c * n / (px[x] * py[y])) for (x, y), c in pxy.items())


def _image_key(s):
    return s.meta["caption"]


def test_designed_information_structure():
    """The letter's dependence on question text and picture, measured on the data itself.

    The picture is summarised by its caption (a complete description of what the tasks
    ask about), except for ``color`` where the caption is unique per sample; there the
    set of colours shown stands for "what the picture alone can tell"."""
    n = 2000
    for task in FAMILIES:
        ss = make_samples(task, n, seed=1, split="fit")
        y = [s.answer for s in ss]
        q = [s.question + "|" + "|".join(s.options) for s in ss]
        img = [s.meta["caption"] for s in ss]
        hy, iq, iv = _mi(y, y), _mi(q, y), _mi(img, y)
        if task == "color":
            colors = [tuple(sorted(c for c in COLOR_NAMES if c in s.meta["caption"])) for s in ss]
            assert hy > 1.95 and iq < 0.05 and _mi(colors, y) < 1e-9
            cells = [s.question for s in ss]
            assert _mi(list(zip(cells, img)), y) == pytest.approx(hy)
        elif task == "exist":
            # XOR-like: the letter is balanced, the question alone and the set of colours
            # shown alone say (almost) nothing, both together fix it
            colors = [tuple(sorted(c for c in COLOR_NAMES if c in s.meta["caption"])) for s in ss]
            assert hy > 0.99 and iq < 0.02 and _mi(colors, y) < 0.02
            assert _mi(list(zip(q, colors)), y) == pytest.approx(hy)
            assert sum(a == "A" for a in y) / n == pytest.approx(0.5, abs=0.05)
        elif task == "describe":
            assert iq < 1e-9 and iv == pytest.approx(hy) and hy > 1.95
        elif task == "knowledge":
            assert iq == pytest.approx(hy)
        elif task == "redundant":
            assert iq == pytest.approx(hy) and iv == pytest.approx(hy)


def test_shuffle_keeps_content():
    for task in FAMILIES:
        for a, b in zip(make_samples(task, 20), make_samples(task, 20, shuffle=True)):
            assert a.question == b.question and sorted(a.options) == sorted(b.options)
            assert a.options[a.answer_index] == b.options[b.answer_index]
            assert np.array_equal(np.asarray(a.image), np.asarray(b.image))


def test_scene_objects_do_not_overlap():
    rng = np.random.default_rng(0)
    for _ in range(200):
        scene = sample_scene(rng, int(rng.integers(2, 5)))
        for a, b in itertools.combinations(scene, 2):
            assert abs(a.cx - b.cx) * 2 >= a.side or abs(a.cy - b.cy) * 2 >= a.side
        assert len({s.kind for s in scene}) == len(scene) == len({s.color for s in scene})
        arr = np.asarray(render(scene))
        assert arr.shape == (IMAGE_SIZE, IMAGE_SIZE, 3)


def test_spec_and_loader():
    p = parse_spec("world:color?n=7&seed=2&split=fit")
    assert p == {"task": "color", "n": 7, "seed": 2, "split": "fit", "shuffle": 0}
    for bad in ["world:nope", "world:color?n=x", "world:color?split=test", "world:color?foo=1"]:
        with pytest.raises(ValueError, match="world spec"):
            parse_spec(bad)
    ds = make_dataset("all", 10, seed=0, split="eval")
    assert len(ds) == 10 and ds.format == "world"
    assert [s.meta["task"] for s in ds][:5] == list(FAMILIES)
    import pidlib.data.loaders as loaders
    ds2 = loaders.load_dataset("world:exist?n=12&seed=0&split=eval")
    assert len(ds2) == 12 and all(_same(a, b) for a, b in zip(ds2, make_samples("exist", 12)))


def test_generating_variables_determine_the_answer_as_designed():
    """meta["vars"] holds the discrete generating variables; together they fix the gold
    answer of every family, and each alone does as designed (describe: scene; knowledge:
    question; redundant: either; color/exist: neither)."""
    from collections import defaultdict

    from pidlib.world import make_samples

    def determines(samples, key):
        seen = defaultdict(set)
        for s in samples:
            seen[key(s.meta["vars"])].add(s.answer)
        return all(len(v) == 1 for v in seen.values())

    for task, alone in (("color", ()), ("exist", ()), ("describe", ("scene",)),
                        ("knowledge", ("question",)), ("redundant", ("scene", "question"))):
        ss = make_samples(task, 300, seed=3)
        assert determines(ss, lambda v: (v["scene"], v["question"])), task
        for var in ("scene", "question"):
            assert determines(ss, lambda v: v[var]) == (var in alone), (task, var)
