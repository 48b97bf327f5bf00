"""The finding chapters state the zoo's answer in their titles, and the titles agree with
the committed spectra table.

DEVELOPERS.md: when the classroom models do not reproduce a finding, the book says so in
the title and the first sentence. The first sentence is glued from the scoreboard at
build time; the title is text, so this test recomputes each chapter's answer from
``data/results/spectra.csv`` exactly as the chapter does (``Chapter.scoreboard`` ->
:func:`pidlib.analysis.verdicts.chapter_answer`) and fails when a title says something
else, e.g. after the cached results were regenerated.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from pidlib.analysis import nb
from pidlib.analysis import verdicts as V

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = {
    "ch-regimes": "03_task_regimes",
    "ch-families": "04_family_strategies",
    "ch-scaling": "05_scaling",
    "ch-layers": "06_layers",
    "ch-training": "07_training",
}


def _title(stem: str) -> str:
    text = (ROOT / "notebooks" / f"{stem}.py").read_text()
    m = re.search(r"^# # (.+)$", text, re.M)
    assert m, f"{stem}: no title"
    return m.group(1)


def _questions() -> dict[str, str]:
    """The at-a-glance chapter's table of questions (label -> question)."""
    text = (ROOT / "notebooks" / "00_at_a_glance.py").read_text()
    block = text[text.index("QUESTIONS = {"):]
    block = block[:block.index("}")]
    return dict(re.findall(r'"(ch-[a-z]+)": "([^"]+)"', block))


@pytest.fixture(scope="module")
def chapter():
    if not (ROOT / "data" / "results" / "spectra.csv").exists():
        pytest.skip("no committed spectra table")
    ch = nb.setup("cache")
    if not ch.have_zoo:
        pytest.fail("the committed spectra table holds no zoo spectra")
    return ch


@pytest.mark.parametrize("label", list(CHAPTERS))
def test_title_states_the_answer_of_the_committed_table(chapter, label):
    title = _title(CHAPTERS[label])
    kind, key = V.chapter_answer(chapter.scoreboard(label), label)
    assert key != "not run", f"{label}: neither the reference nor donor probes were run"
    words = V.ANSWERS[key]
    assert title.lower().endswith(words.lower()), (
        f"notebooks/{CHAPTERS[label]}.py: the title {title!r} should end with the answer {words!r} "
        f"(verdicts of the {kind} column); update the title after regenerating data/results/spectra.csv")
    # the question before the answer is the one the at-a-glance table lists
    question = title[: -len(words)].rstrip(" ")
    assert _questions()[label] == question


def test_answer_rule():
    import pandas as pd
    rows = [("ch-x", "reference", V.REPRODUCED), ("ch-x", "reference", V.INCONCLUSIVE),
            ("ch-y", "reference", V.REVERSED), ("ch-y", "reference", V.INCONCLUSIVE),
            ("ch-z", "reference", V.NOT_RUN), ("ch-z", "donors4", V.REPRODUCED),
            ("ch-w", "reference", V.INCONCLUSIVE), ("ch-w", "noise", V.REPRODUCED)]
    b = pd.DataFrame(rows, columns=["chapter", "probes", "verdict"])
    assert V.chapter_answer(b, "ch-x") == ("reference", "partly")
    assert V.chapter_answer(b, "ch-y") == ("reference", "opposite")
    assert V.chapter_answer(b, "ch-z") == ("donors4", "yes")
    assert V.chapter_answer(b, "ch-w") == ("reference", "no")   # the noise probe never answers
    assert V.chapter_answer(b, "ch-v") == ("", "not run")
