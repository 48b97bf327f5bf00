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
# (ch-world)=
# # What is the classroom world, and what did its models learn?
#
# :::{admonition} In this chapter
# :class: tip
# - what the world's pictures and questions look like, family by family;
# - which atom each task family was designed to carry, and why, checked by computing the
#   exact PID of the correct answer from the variables that generate each sample;
# - how the zoo's model families are trained, how large they are and how long they
#   trained;
# - how accurate every model is on every task family.
# :::
#
# The paper studies large models on real benchmarks, where nobody knows how much of an
# answer *should* come from the picture, the question, or both. The classroom world
# (`pidlib.world`) is built so that this is known: every sample is drawn from a few
# discrete variables (the colours and places of coloured shapes on a 2 x 2 grid, which
# cell or colour the question asks about), rendered as a 32 x 32 picture and a
# multiple-choice question, and each *task family* ties the answer to the picture and the
# question in a way chosen to make one PID atom carry it. The zoo (`pidlib.zoo`) is a
# set of tiny vision-language models trained on this world, with the recipe and the
# architecture of the models the paper studies, scaled down until the whole zoo trains
# on a laptop.

# %% tags=["parameters", "remove-cell"]
models = ["zoo"]
datasets = ["world"]
source = "cache"
n_samples = 2000
seed = 0
device = "cpu"

# %% tags=["remove-cell"]
import textwrap

import numpy as np
import pandas as pd
import matplotlib.pyplot as plt

from pidlib import pid_exact
from pidlib.analysis import nb
from pidlib.data.schema import LETTERS
from pidlib.world import FAMILIES, DOMINANT_ATOM, make_samples

ch = nb.setup(source, models=models, datasets=datasets, n_samples=n_samples, seed=seed, device=device, load=False)
ATOMS = nb.ATOMS

# %% [markdown]
# ## The task families
#
# Two pictures and questions of each family, with the options in the order the model
# sees them and the correct answer in bold ({numref}`fig-world-examples`):

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Two samples of each task family of the classroom world (evaluation split, seed 0): the 32 x 32 picture the model sees, its question and options; the correct option is in bold. Shapes and sizes vary in every picture; the questions ask about colours and places, which a small vision encoder learns quickly.", "name": "fig-world-examples"}}
examples = {t: make_samples(t, 2, seed=seed, split="eval") for t in FAMILIES}
fig = plt.figure(figsize=(nb.FIG_WIDTH, 1.25 * len(FAMILIES) + 0.3))
gs = fig.add_gridspec(len(FAMILIES), 4, width_ratios=[1, 2.2, 1, 2.2])
for i, t in enumerate(FAMILIES):
    for j, s in enumerate(examples[t]):
        ax_img = fig.add_subplot(gs[i, 2 * j])
        ax_img.imshow(np.asarray(s.image), interpolation="nearest")
        ax_img.set_xticks([])
        ax_img.set_yticks([])
        ax_img.grid(False)
        if j == 0:
            ax_img.set_ylabel(t, fontsize=10, fontweight="bold")
        ax_txt = fig.add_subplot(gs[i, 2 * j + 1])
        ax_txt.axis("off")
        ax_txt.text(0.0, 1.0, "\n".join(textwrap.wrap(s.question, 26)), va="top", fontsize=9)
        opts = [f"{LETTERS[k]}. {o}" for k, o in enumerate(s.options)]
        n_q = len(textwrap.wrap(s.question, 26))
        for k, o in enumerate(opts):
            ax_txt.text(0.05, 0.95 - 0.19 * (n_q + k), o, va="top", fontsize=9,
                        fontweight="bold" if LETTERS[k] == s.answer else "normal")
plt.show()

# %% [markdown]
# What each family was designed for, and why (with the options in their fixed order, so
# that an answer letter names a colour, a food or a place):
#
# - **`color`**, synergy: four objects of four different colours, one per cell; "What
#   color is the object at the top left?". The picture always shows all four colours
#   and the question names only a place, so neither alone says anything about the
#   answer; together they fix it.
# - **`exist`**, synergy: "Is there a red object?" about a two-object picture. The colour
#   asked about is shown or absent with equal chance whatever the picture, so the answer
#   is a coin flip given either input alone, and certain given both (an XOR).
# - **`describe`**, unique visual information $U_1$: one object, and the same question
#   and options for every sample. Only the picture can carry information.
# - **`knowledge`**, unique language information $U_2$: "What do zorbs eat?" about
#   fictional creatures whose facts exist only in the training text; the picture is an
#   unrelated scene.
# - **`redundant`**, redundancy $R$: "This circle is red. What color is the circle?". The
#   picture and the text each fix the answer.
#
# Designed is not the same as true. Each sample records the discrete variables it was
# drawn from (`meta["vars"]`: a *scene* variable and a *question* variable), so the
# exact PID of the correct answer with respect to those two variables can be computed
# from the empirical joint distribution of many samples, with `pid_exact`:

# %%
def answer_pid(task, n=2000):
    """Exact PID of the correct answer given (scene, question)."""
    samples = make_samples(task, n, seed=seed, split="eval")
    keys = [(s.meta["vars"]["scene"], s.meta["vars"]["question"],
             LETTERS.index(s.answer)) for s in samples]
    scenes = sorted({k[0] for k in keys})
    questions = sorted({k[1] for k in keys})
    p = np.zeros((len(scenes), len(questions), 4))
    for a, b, y in keys:
        p[scenes.index(a), questions.index(b), y] += 1
    return pid_exact(p / p.sum())


# %% tags=["remove-input"]
rows = []
for t in FAMILIES:
    r = answer_pid(t)
    largest = max(ATOMS, key=lambda a: getattr(r, a))
    rows.append({"family": t, "designed": nb.PLAIN_SYMBOLS[DOMINANT_ATOM[t]],
                 **{a: getattr(r, a) for a in ATOMS}, "total": r.total,
                 "largest": nb.PLAIN_SYMBOLS[largest]})
design = pd.DataFrame(rows)
nb.glue_num("world_n_fam", len(design), 0)
nb.glue_num("world_n_match", int((design.designed == design.largest).sum()), 0)
display(nb.table(design, units={a: "bit" for a in [*ATOMS, "total"]}, digits=3, model_col=None,
                 caption="Exact PID of the correct answer w.r.t. the scene and question variables "
                         "(2000 samples per family):"))

# %% [markdown]
# In {glue:text}`world_n_match` of {glue:text}`world_n_fam` families the designed atom
# is the largest. This is the answer the *world* gives; what a *model* does with it is
# what the rest of the book measures. A model that learned a task perfectly predicts the
# correct answer, and the exact PID of its predictions with respect to the same variables,
# the *exact reference* of {ref}`ch-glance`, equals this table; a model that did not
# learn it has a different reference.
#
# ## The zoo
#
# Every model of the zoo is a real `transformers.LlavaForConditionalGeneration`: a CLIP
# vision tower encodes the picture into patch embeddings, the LLaVA projector maps them
# into the embedding space of a small Llama language model, and the language model reads
# the projected picture followed by the question and the options and answers with the
# option letter. All are trained here, from scratch, on the world alone, in the stages of
# the LLaVA-1.5 recipe, and saved with `save_pretrained`; the probes load them by path
# like any Hugging Face model.

# %% tags=["remove-cell"]
manifest = nb.zoo_manifest()
zm = nb.zoo_models(manifest)
have_zoo = len(zm) > 0
if have_zoo:
    for c in ("path", "family", "kind", "scale", "stage", "step"):  # fields a manifest may lack
        if c not in zm.columns:
            zm[c] = zm["name"] if (c == "path" and "name" in zm.columns) else np.nan
    zm = zm[~zm.path.astype(str).str.startswith("smoke/")].copy()  # the test configuration
    have_zoo = len(zm) > 0
sched = (manifest.get("config") or {}).get("schedule") or {}
for k in ("vision_steps", "lm_steps", "stage1_steps", "stage2_steps", "n_train", "n_captions", "n_text"):
    nb.glue_num(f"zoo_{k}", sched.get(k), 0)
nb.glue_num("zoo_n_eval", (manifest.get("config") or {}).get("n_eval"), 0)
tv = sched.get("stage1_tune_vision")
nb.glue("zoo_stage1_tune_vision", "n/a" if tv is None else ("yes" if tv else "no"))
nb.glue_md("zoo_stage2_mix", ", ".join(f"`{t}` x{w}" for t, w in sched.get("stage2_weights", [])) or "n/a")
nb.glue_md("zoo_command", f"`{manifest.get('command', 'n/a')}`")
nb.glue_md("zoo_date", str(manifest.get("date", "n/a"))[:10])
if not have_zoo:
    nb.md(nb.no_cache_note("This build found no trained zoo (`data/zoo/manifest.json`).",
                           "python -m pidlib.zoo build"))

# %% [markdown]
# **The training stages.** With the configuration in `data/zoo/manifest.json` (written
# by {glue:md}`zoo_command` on {glue:md}`zoo_date`):
#
# 1. the vision tower is pre-trained contrastively on picture-caption pairs
#    ({glue:text}`zoo_vision_steps` steps), and the language model on the world's text:
#    facts (the `knowledge` family's answers), captions and text-only questions
#    ({glue:text}`zoo_lm_steps` steps on {glue:text}`zoo_n_text` texts);
# 2. **alignment** (stage 1): the projector learns to turn pictures into their captions
#    ({glue:text}`zoo_stage1_steps` steps on {glue:text}`zoo_n_captions` captions;
#    vision tower tuned too: {glue:text}`zoo_stage1_tune_vision`), the language model
#    frozen;
# 3. **instruction tuning** (stage 2): {glue:text}`zoo_stage2_steps` steps on
#    {glue:text}`zoo_n_train` question-answer samples, the task families mixed with
#    weights
#    {glue:md}`zoo_stage2_mix`. What stage 2 trains is what makes a *family*:

# %% tags=["remove-input"]
if have_zoo:
    fams = manifest.get("families") or {}
    rows = []
    for f, g in zm[zm.family.notna()].groupby("family"):
        desc = fams.get(f)
        if isinstance(desc, dict):
            desc = desc.get("description") or desc.get("recipe")
        members = g[g.get("kind", pd.Series("member", index=g.index)) == "member"]
        rows.append({"family": f, "stage 2 trains": desc or "not described in the manifest",
                     "final models": len(members),
                     "scales": ", ".join(dict.fromkeys(members.scale.astype(str))) if len(members) else "none"})
    display(nb.table(pd.DataFrame(rows), model_col=None))

# %% [markdown]
# Models of the `aligned` kind stop after stage 1 (no instruction tuning), and the
# *checkpoints* of {ref}`ch-training` are snapshots taken along both stages. Sizes and
# training time of every model:

# %% tags=["remove-input"]
if have_zoo:
    secs = [c for c in zm.columns if c.startswith("seconds_")]
    order = {"member": 0, "aligned": 1, "checkpoint": 2}
    zm = zm.assign(_o=zm.get("kind", pd.Series("", index=zm.index)).map(order).fillna(3)).sort_values(
        ["_o", "family", "path"], na_position="last").drop(columns="_o")
    t = pd.DataFrame({
        "model": zm.path.astype(str).map(nb.short_model),
        "family": zm.family.fillna("(stage 1 only)").astype(str),
        "kind": zm.get("kind", pd.Series("", index=zm.index)).astype(str),
        "scale": zm.scale.astype(str),
        "parameters": zm.get("n_params", pd.Series(np.nan, index=zm.index)),
        "stage": zm.stage.astype(str), "step": zm.step,
        "training time": zm[secs].sum(axis=1, min_count=1) if secs else np.nan,
    })
    display(nb.table(t, units={"training time": "s"}, digits={"parameters": 0, "step": 0, "training time": 0},
                     missing={"parameters": "as its final model", "training time": "a snapshot",
                              "step": "not recorded"},
                     caption="Every model of the zoo (from its manifest and provenance files):",
                     csv="data/zoo/manifest.json", model_col=None))
    nb.glue_num("zoo_n_models", len(t), 0)
    nb.glue_num("zoo_n_final", int((t.kind == "member").sum()), 0)
    nb.glue_num("zoo_params_min", t.parameters.min(), 0)
    nb.glue_num("zoo_params_max", t.parameters.max(), 0)
    # a member's recorded seconds include the stages of its aligned model (shared by the four
    # families): count those once, from the aligned models, and the members' stage 2 once each
    kinds = zm.get("kind", pd.Series("", index=zm.index)).astype(str)
    own = [c for c in secs if c in ("seconds_stage2", "seconds_stage2_data", "seconds_eval")]
    cpu = zm.loc[kinds == "aligned", secs].sum().sum() + zm.loc[kinds == "member", own].sum().sum()
    nb.glue_num("zoo_train_total", cpu / 60, 0)
    nb.glue_num("zoo_build_wall", (manifest.get("build_seconds") or np.nan) / 60, 0)
    nb.glue_num("zoo_build_jobs", manifest.get("jobs") or np.nan, 0)
else:
    for k in ("zoo_n_models", "zoo_n_final", "zoo_params_min", "zoo_params_max", "zoo_train_total",
              "zoo_build_wall", "zoo_build_jobs"):
        nb.glue_num(k, None)

# %% [markdown]
# The zoo holds {glue:text}`zoo_n_models` models, {glue:text}`zoo_n_final` of them final
# (instruction-tuned) members, from {glue:text}`zoo_params_min` to
# {glue:text}`zoo_params_max` parameters; training them all took
# {glue:text}`zoo_train_total` minutes of one-thread CPU time (the stage times the manifest
# records, each shared stage counted once), {glue:text}`zoo_build_wall` minutes of wall time
# for the build with {glue:text}`zoo_build_jobs` worker processes on the 2-core machine. For
# scale: the paper's models have billions of parameters.
#
# ## What the models learned
#
# Accuracy of every model on every task family, measured by the zoo's build on
# {glue:text}`zoo_n_eval` held-out samples per family ({numref}`fig-zoo-accuracy`). A
# finding about a task family can only be tested on the models that learned it.

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Accuracy of each final and stage-1 (aligned) zoo model (rows) on each task family (columns), as measured by the zoo's build on held-out samples (the checkpoints' accuracies are in the training chapter). Chance is 0.25 (four options) and 0.5 for `exist` (yes/no); darker is better.", "name": "fig-zoo-accuracy"}}
acc_cols = [c for c in zm.columns if c.startswith("accuracy_")] if have_zoo else []
if acc_cols:
    shown_acc = zm[zm.get("kind", pd.Series("member", index=zm.index)).isin(["member", "aligned"])]
    acc = shown_acc[acc_cols].astype(float)
    acc.columns = [c[len("accuracy_"):] for c in acc_cols]
    acc.index = shown_acc.path.astype(str).map(nb.short_model)
    fig, ax = plt.subplots(figsize=(nb.FIG_WIDTH, 0.28 * len(acc) + 1.2))
    im = ax.imshow(acc.to_numpy(), cmap="Blues", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(acc.shape[1]), acc.columns)
    ax.set_yticks(range(acc.shape[0]), acc.index)
    ax.tick_params(axis="x", top=True, labeltop=True, bottom=False, labelbottom=False)
    ax.grid(False)
    for i in range(acc.shape[0]):
        for j in range(acc.shape[1]):
            v = acc.iat[i, j]
            if not np.isnan(v):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=9,
                        color="white" if v > 0.6 else "black")
    fig.colorbar(im, ax=ax, label="accuracy", shrink=0.6)
    plt.show()
else:
    nb.md("This build has no accuracies of zoo models (`data/zoo/manifest.json`).")
