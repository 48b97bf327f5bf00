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
# (ch-scaling)=
# # Do larger models fuse more? No: not reproduced by the zoo
#
# **The zoo's answer: {glue:text}`answer`.** It rests on the verdicts of the
# {glue:text}`answer_probes` (the kind of probe to believe; {ref}`sec-believe`); the
# scoreboard below has every kind.
#
# :::{admonition} In this chapter
# :class: tip
# - the paper's scaling result: within a family, larger models gain accuracy together
#   with the synergy share, not the unique-language share;
# - the same differences between the scales of each zoo family, per kind of probe;
# - why a change of share is judged against the noise floor expressed as a share.
# :::
#
# **The paper's claim** {cite:p}`pidlvlm2026`. Within a family, going from a small to a
# medium and a large model raises accuracy together with the synergy $S$, while the
# share of unique language information $U_2$ does not grow (it mostly shrinks): larger
# models fuse more, they do not lean more on language priors. The paper reports, on
# synergy-driven tasks, the change in accuracy (points) and in the shares of $S$ and $U_2$
# in the spectrum (points) for three families.
#
# **The zoo's test.** The same differences between consecutive scales of each zoo family,
# on the synergy-driven task families of the classroom world. The scoreboard of this
# chapter:

# %% tags=["parameters", "remove-cell"]
models = ["zoo"]
datasets = ["world"]
source = "cache"
n_samples = 2000
seed = 0
device = "cpu"

# %% tags=["remove-cell"]
import numpy as np
import pandas as pd
import matplotlib.pyplot as plt
from matplotlib.patches import Patch

from pidlib.analysis import load_paper, nb
from pidlib.analysis import verdicts as V
from pidlib.analysis.paper import zoo_regime

ch = nb.setup(source, models=models, datasets=datasets, n_samples=n_samples, seed=seed, device=device)
paper = load_paper("scaling")
CHANGE_COLORS = {"Δ accuracy": "#4c72b0", "Δ S share": nb.ATOM_COLORS["synergy"],
                 "Δ U2 share": nb.ATOM_COLORS["unique2"]}
CHANGE_LABELS = {"Δ accuracy": "Δ accuracy", "Δ S share": "Δ $S$ share", "Δ U2 share": "Δ $U_2$ share"}

# %% tags=["remove-input"]
if ch.have_zoo:
    board = ch.scoreboard("ch-scaling")
    ch.answer("ch-scaling", board)
    display(nb.scoreboard_table(board))
else:
    ch.answer("ch-scaling")
    nb.md(nb.no_cache_note("Scaling needs zoo models of at least two scales within a family."))

# %% [markdown]
# ## The paper's scaling table

# %% tags=["hide-input"] mystnb={"figure": {"caption": "The paper's scaling table: change in accuracy (points) and in the shares of synergy $S$ and unique language information $U_2$ in the spectrum (points) from the small to the medium model (left), and in accuracy and $S$ from the medium to the largest model (right), for three families on synergy-driven tasks (values as reported; the paper gives no $U_2$ change for the second step).", "name": "fig-paper-scaling"}}
steps_ = {"small → medium": {"Δ accuracy": "small_to_medium_dAcc", "Δ S share": "small_to_medium_dS",
                             "Δ U2 share": "small_to_medium_dU2"},
          "medium → large": {"Δ accuracy": "medium_to_large_dAcc", "Δ S share": "medium_to_large_dS"}}
fig, axes = nb.grid(2, ncols=2, height=3.0)
for ax, (step, cols) in zip(axes, steps_.items()):
    xs = np.arange(len(paper))
    for j, (change, col) in enumerate(cols.items()):
        ax.bar(xs + (j - 1) * 0.27, paper[col].astype(float), 0.27, color=CHANGE_COLORS[change])
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(xs, paper.family, rotation=20)
    ax.set_title(step)
axes[0].set_ylabel("points")
nb.legend_below(fig, [Patch(color=c, label=CHANGE_LABELS[k]) for k, c in CHANGE_COLORS.items()], ncol=3)
plt.show()

# %% tags=["remove-cell"]
nb.glue_num("paper_dS_pos", int((paper[["small_to_medium_dS", "medium_to_large_dS"]].astype(float) > 0).sum().sum()),
            0)
nb.glue_num("paper_dU2_neg", int((paper["small_to_medium_dU2"].astype(float) < 0).sum()), 0)
nb.glue_num("paper_n_fam", len(paper), 0)
nb.glue_num("paper_dS_n", int(paper[["small_to_medium_dS", "medium_to_large_dS"]].notna().sum().sum()), 0)

# %% [markdown]
# In the paper, $\Delta S$ is positive in {glue:text}`paper_dS_pos` of the
# {glue:text}`paper_dS_n` steps reported and $\Delta U_2$ is negative for
# {glue:text}`paper_dU2_neg` of the {glue:text}`paper_n_fam` families from small to
# medium ({numref}`fig-paper-scaling`).
#
# ## The zoo
#
# Between consecutive scales of each family, on the synergy-driven task families: the
# change of accuracy (points) and of the shares of $S$ and $U_2$ (points of %), averaged
# over the task families, with shares only where every spectrum at both scales has one
# (coherent, total above the noise floor). A change of share is measured against the noise floor
# as a share of the smaller total ({ref}`sec-verdict-rule`): a share resting on a total
# of a few hundredths of a bit moves by tens of points with the estimator's noise alone.

# %% tags=["remove-cell"]
kinds = [k for k in V.probe_kinds(ch.table) if k in ch.probe_kinds]
step_rows = []
for k in kinds:
    out = ch.spectra(k)
    syn = out[out.task.map(zoo_regime) == "synergy-driven"] if len(out) else out
    for fam, g in (syn[syn.scale.notna()].groupby("family") if len(syn) else []):
        per = g.groupby("scale").agg(accuracy=("accuracy", "mean"), s=("share_synergy", "mean"),
                                     u2=("share_unique2", "mean"), total=("total", "mean"),
                                     usable=("share_synergy", lambda v: bool(v.notna().all()))).sort_index()
        for (s0, a), (s1, b) in zip(per.iterrows(), list(per.iterrows())[1:]):
            ok = bool(a.usable and b.usable)
            step_rows.append({"probes": nb.probe_label(k, short=True), "family": fam,
                              "step": f"{nb.scale_label(s0)} → {nb.scale_label(s1)}",
                              "Δ accuracy": 100 * (b.accuracy - a.accuracy),
                              "Δ S share": (b.s - a.s) if ok else np.nan, "Δ U2 share": (b.u2 - a.u2) if ok else np.nan,
                              "share floor": V.share_floor(a.total, b.total) if ok else np.nan})
steps = pd.DataFrame(step_rows, columns=["probes", "family", "step", "Δ accuracy", "Δ S share", "Δ U2 share",
                                         "share floor"])
have_zoo = len(steps) > 0
noise_steps = steps[steps.probes == nb.probe_label("noise", short=True)]
up = noise_steps[noise_steps["Δ accuracy"] > 0]
nb.glue_num("zoo_steps", len(noise_steps), 0)
nb.glue_num("zoo_steps_up", len(up), 0)
nb.glue_num("zoo_steps_shares", int(up["Δ S share"].notna().sum()), 0)
nb.glue_num("zoo_steps_S_up", int((up["Δ S share"] > up["share floor"]).sum()), 0)
nb.glue_num("zoo_steps_U2_not_up", int((up["Δ U2 share"] <= up["share floor"]).sum()), 0)

# %% tags=["remove-input"]
if have_zoo:
    display(nb.table(steps, units={"Δ accuracy": "points", "Δ S share": "points", "Δ U2 share": "points",
                                   "share floor": "points"}, digits=1, model_col=None,
                     missing={"Δ S share": "no share at a scale", "Δ U2 share": "no share at a scale",
                              "share floor": "no shares"},
                     caption="Scale steps within each zoo family (synergy-driven task families; scales in "
                             "parameters, k = thousand):"))
else:
    nb.md(nb.no_cache_note("Scaling needs zoo models of at least two scales within a family (column `scale`)."))

# %% [markdown]
# With the paper's probes the zoo has {glue:text}`zoo_steps` scale steps within families;
# accuracy rose in {glue:text}`zoo_steps_up`, of which {glue:text}`zoo_steps_shares` have
# shares at both scales. Among those, the $S$ share rose by more than the floor
# in {glue:text}`zoo_steps_S_up` and the $U_2$ share did not rise beyond it in
# {glue:text}`zoo_steps_U2_not_up` ({numref}`fig-zoo-scaling`).

# %% tags=["hide-input"] mystnb={"figure": {"caption": "The zoo's scaling steps, one panel per kind of probe: change in accuracy (points) and in the shares of $S$ and $U_2$ in the spectrum (points) between consecutive scales within each family (sizes in parameters), on the synergy-driven task families. A share change is missing (\u00d7) where a spectrum at either scale is incoherent or its total is within the noise floor.", "name": "fig-zoo-scaling"}}
if have_zoo:
    kinds_shown = list(dict.fromkeys(steps.probes))
    n_steps = steps.groupby("probes").size().max()
    fig, axes = nb.grid(len(kinds_shown), ncols=1, height=0.55 * n_steps + 0.7, sharex=True)
    for ax, k in zip(axes, kinds_shown):
        g = steps[steps.probes == k].reset_index(drop=True)
        ys = np.arange(len(g))
        for j, change in enumerate(["Δ accuracy", "Δ S share", "Δ U2 share"]):
            ax.barh(ys + (j - 1) * 0.27, g[change].fillna(0), 0.27, color=CHANGE_COLORS[change])
            for y, v in zip(ys, g[change]):
                if np.isnan(v):
                    ax.text(0, y + (j - 1) * 0.27, " ×", ha="left", va="center", fontsize=9, color="#777777")
        ax.axvline(0, color="black", lw=0.8)
        ax.set_yticks(ys, [f"{f}  {s_}" for f, s_ in zip(g.family, g.step)])
        ax.invert_yaxis()
        ax.set_title(k)
    axes[-1].set_xlabel("points")
    handles = [Patch(color=c, label=CHANGE_LABELS[k_]) for k_, c in CHANGE_COLORS.items()]
    handles.append(Patch(color="white", label="× no share"))
    nb.legend_below(fig, handles, ncol=4)
    plt.show()
