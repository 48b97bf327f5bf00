# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (pidlib)
#     language: python
#     name: python3
# ---

# %% [markdown]
# (ch-glance)=
# # What does the miniature reproduce?
#
# :::{admonition} In this chapter
# :class: tip
# - what each finding of the paper {cite:p}`pidlvlm2026` claims, in one line, and how
#   the classroom zoo tests it;
# - the one rule that turns a comparison into *reproduced*, *reversed* or *inconclusive*
#   ({ref}`sec-verdict-rule`), used by every chapter;
# - which kinds of probe measured each finding, and how many of their spectra are a
#   decomposition at all ({ref}`sec-usable`).
# :::
#
# Each row below is one of the paper's findings as the classroom zoo can test it; each
# column one way of measuring the zoo's spectra: the paper's probes (one draw of
# calibrated noise in place of the removed input), *donor* probes (four other samples'
# questions or pictures), the *exact reference* (the PID of each model's own predictions
# with respect to the world's generating variables, the ground truth of the classroom
# world), and the *discretized* cross-check (k-means codes of the features and an exact
# PID). A kind of probe this build's spectra table does not hold says *not run*. The numbers come from `data/results/spectra.csv` as it is in this
# build; the chapter named in each finding has the details.

# %% tags=["parameters", "remove-cell"]
models = ["zoo"]
datasets = ["world"]
source = "cache"
n_samples = 2000
seed = 0
device = "cpu"

# %% tags=["remove-cell"]
import pandas as pd

from pidlib.analysis import nb
from pidlib.analysis import verdicts as V

ch = nb.setup(source, models=models, datasets=datasets, n_samples=n_samples, seed=seed, device=device)
board = ch.scoreboard() if ch.have_zoo else pd.DataFrame()

# %% tags=["remove-input"]
if len(board):
    sb = nb.scoreboard_table(board)
    nb.glue("scoreboard", sb, display=False)
    display(sb)
else:
    nb.md(nb.no_cache_note("The scoreboard needs the zoo's spectra."))

# %% [markdown]
# The answer each finding chapter gives to its question, from the first of these kinds of
# probe that was run: the exact reference, then the donor probes ({ref}`sec-believe`):

# %% tags=["remove-input"]
QUESTIONS = {
    "ch-regimes": "Does the atom that tracks accuracy change with the task?",
    "ch-families": "Do model families fuse differently?",
    "ch-scaling": "Do larger models fuse more?",
    "ch-layers": "Does the decision form in the paper's three phases through the layers?",
    "ch-training": "Does fusion emerge in instruction tuning, after alignment?",
}
answers = []
for label, question in QUESTIONS.items():
    kind, key = V.chapter_answer(board, label) if len(board) else ("", "not run")
    answers.append({"question (chapter title)": question, "answer": V.ANSWERS[key],
                    "from": nb.probe_label(kind) if kind else "no probes run"})
display(nb.table(pd.DataFrame(answers), model_col=None))

# %% tags=["remove-cell"]
counts = V.verdict_counts(board) if len(board) else dict.fromkeys((*V.VERDICTS, V.NOT_RUN), 0)
nb.glue_num("glance_cells", sum(counts.values()), 0)
nb.glue_num("glance_reproduced", counts[V.REPRODUCED], 0)
nb.glue_num("glance_reversed", counts[V.REVERSED], 0)
nb.glue_num("glance_inconclusive", counts[V.INCONCLUSIVE], 0)
nb.glue_num("glance_not_run", counts[V.NOT_RUN], 0)
nb.glue_num("floor_bits", V.FLOOR_BITS, 2)
nb.glue_num("min_effect", V.MIN_EFFECT, 1)
nb.glue_num("alpha", V.ALPHA, 2)
nb.glue_num("level", 100 * V.LEVEL, 0)
nb.glue_num("min_n", V.MIN_N, 0)

# %% [markdown]
# Of the {glue:text}`glance_cells` cells, {glue:text}`glance_reproduced` say
# *reproduced*, {glue:text}`glance_reversed` *reversed*, {glue:text}`glance_inconclusive`
# *inconclusive* and {glue:text}`glance_not_run` *not run*.
#
# (sec-verdict-rule)=
# ## The verdict rule
#
# One rule decides every verdict of the book (`pidlib.analysis.verdicts`); the chapters
# never add their own.
#
# **Correlations across models.** The zoo's Spearman $\rho$ comes with a
# {glue:text}`level` % bootstrap interval over models and a two-sided permutation
# p-value (exact over all orderings for up to eight models), and $n$, the number of
# models whose spectra could be used. When the paper reports a clear relation
# ($|\rho_\text{paper}| \ge$ {glue:text}`min_effect`):
#
# - **reproduced**: the interval excludes 0 on the paper's side and $p <$ {glue:text}`alpha`;
# - **reversed**: the interval excludes 0 on the other side and $p <$ {glue:text}`alpha`;
# - **inconclusive**: anything else: the interval contains 0, $p \ge$ {glue:text}`alpha`,
#   fewer than {glue:text}`min_n` usable models, or $\rho$ undefined (a constant column).
#
# When the paper reports no clear relation ($|\rho_\text{paper}| <$
# {glue:text}`min_effect`), its claim is "no relation": *reproduced* when the whole
# interval lies inside $\pm$ {glue:text}`min_effect`, *reversed* when it excludes 0 with
# $p <$ {glue:text}`alpha`, *inconclusive* otherwise.
#
# **Comparisons of atoms.** A claim "A has more of an atom than B" is tested on the
# difference $\Delta = A - B$, averaged over units (models, families, training runs), with
# a {glue:text}`level` % interval from a bootstrap over the units in which each unit's
# difference also varies by its own estimation error (a difference without any interval,
# such as one between two exact reference spectra, is judged by the floor alone). The
# difference must clear the
# estimator's **noise floor** of {glue:text}`floor_bits` bit, the error of BATCH against
# exact values at 500 or more fitting rows ({ref}`ch-method`):
#
# - **reproduced**: $\Delta$ is on the claimed side, $|\Delta|$ exceeds the floor, and the
#   interval excludes 0;
# - **reversed**: the same on the other side;
# - **inconclusive**: $|\Delta|$ within the floor, or an interval that contains 0.
#
# For shares of the spectrum (in points of %), the floor is
# {glue:text}`floor_bits` bit as a share of the smaller total, so a share that rests on a
# tiny total cannot pass.
#
# (sec-usable)=
# ## Which spectra count
#
# A spectrum's four atoms are one decomposition only when the three probes behind it can
# come from one joint distribution. When they cannot, the estimator returns a negative
# atom or a source that alone carries more than both together, and its atoms are not
# information of anything. Such a spectrum is **incoherent**: the book shows its total
# only (a grey hatched bar), leaves it out of every verdict and computes no shares from
# it. Likewise a spectrum whose estimator did not train, where the table says so. Each
# verdict reports how many spectra it left out.

# %% tags=["remove-input"]
if ch.have_zoo:
    t = ch.table
    rows = []
    for kind in ch.probe_kinds:
        g = t[t.probes == kind]
        rows.append({"probes": nb.probe_label(kind), "spectra": len(g), "coherent": int(g.coherent.sum()),
                     "trained": int(g.trained.sum()), "usable": int(g.usable.sum()),
                     "usable share": 100.0 * g.usable.mean()})
    display(nb.table(pd.DataFrame(rows), units={"usable share": "%"}, digits={"usable share": 0}, model_col=None,
                     caption="Spectra of this build's table, per kind of probe (every layer and model):"))
else:
    nb.md(nb.no_cache_note("The count of usable spectra needs the zoo's spectra."))

# %% [markdown]
# (sec-believe)=
# ## Which column to believe
#
# The **exact reference**, where it was run: it is computed from the world's own
# generating variables and each model's predictions, without an estimator and without
# unimodal probes, so its spectra are always one decomposition. It answers "how does
# this model's answer depend on the picture and the question". Among the estimates, the
# **donor probes** come closest to it ({ref}`ch-method` measures how close), and they are
# the column to use on models and data without a known generating process. The paper's
# single-draw **noise probe** is the method being reproduced: its column answers "does
# the paper's pipeline, applied to these models, give the paper's findings". Where it
# disagrees with the reference, the difference is an artefact of the probe, not a
# property of the model. Each finding chapter's first sentence gives the answer of the
# first column in this order that was run (reference, then donors).
