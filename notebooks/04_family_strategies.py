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
# (ch-families)=
# # Do model families fuse differently? Partly, in the zoo
#
# **The zoo's answer: {glue:text}`answer`.** It rests on the verdicts of the
# {glue:text}`answer_probes` (the kind of probe to believe; {ref}`sec-believe`); the
# scoreboard below has every kind.
#
# :::{admonition} In this chapter
# :class: tip
# - the paper's Findings 3 and 4: model families follow stable, opposite strategies,
#   fusion-centric or language-centric;
# - how the zoo's families, which differ in one documented training choice, compare on
#   synergy $S$ and unique language information $U_2$, with the noise floor respected;
# - why a share of the spectrum exists only for a coherent spectrum.
# :::
#
# **The paper's claim** {cite:p}`pidlvlm2026`. Model families follow stable and opposite
# strategies across datasets: *fusion-centric* families (InternVL2.5, InternVL3,
# Qwen2.5-VL) have a high synergy $S$ and a low unique language information $U_2$;
# *language-centric* families (Gemma3, Cambrian) the reverse. The paper states this from
# its spectra figures; the reference data in `data/paper/` holds no per-family numbers, so
# the comparison below is with the paper's classification, not with its values.
#
# **The zoo's test.** The zoo's four families differ only in what stage 2 trains
# ({ref}`ch-world`): `fusion` tunes its language model on the multimodal tasks (the
# LLaVA-1.5 recipe), `language` keeps it frozen, `vision` also tunes the vision tower, and
# `textheavy` follows the fusion recipe on a mixture that starves the synergy tasks. The
# verdicts compare the two families built to differ in strategy, `fusion` and `language`,
# cell by cell (task family, scale, training seed); `vision` and `textheavy` appear in the
# figures. If the paper's reading holds, `fusion` should have more $S$ and `language` more
# $U_2$. The scoreboard of this chapter:

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
from matplotlib.lines import Line2D

from pidlib.analysis import nb
from pidlib.analysis import verdicts as V

ch = nb.setup(source, models=models, datasets=datasets, n_samples=n_samples, seed=seed, device=device)
ATOMS = nb.ATOMS
final = ch.spectra(probes=None)
have_zoo = len(final) > 0
kinds = [k for k in V.probe_kinds(ch.table) if k in ch.probe_kinds]

# %% tags=["remove-input"]
if have_zoo:
    board = ch.scoreboard("ch-families")
    ch.answer("ch-families", board)
    display(nb.scoreboard_table(board))
else:
    ch.answer("ch-families")
    nb.md(nb.no_cache_note("Family strategies need the output-layer spectra of the zoo's model families."))

# %% [markdown]
# ## Where each model sits
#
# Each point is one model on one task family, placed by the share of its spectrum in $S$
# and in $U_2$ ({numref}`fig-families`). Above the diagonal a model is fusion-centric on
# that task, below it language-centric. Shares are computed only for coherent spectra
# whose total exceeds the noise floor ({ref}`sec-usable`); the panel titles count how
# many spectra could be placed.

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Share of the spectrum (output layer, %) in synergy $S$ against unique language information $U_2$ for every zoo model and task family (marker), coloured by family, one panel per kind of probe. Incoherent spectra have no shares and are not shown (counted in the panel titles).", "name": "fig-families"}}
if have_zoo:
    fams = sorted(final.family.unique())
    tasks = sorted(final.task.unique())
    palette = dict(zip(fams, ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3"]))
    markers = dict(zip(tasks, ["o", "s", "^", "v", "D", "P"]))
    fig, axes = nb.grid(len(kinds), ncols=2, height=3.0)
    for ax, k in zip(axes, kinds):
        g = final[final.probes == k]
        ok = g[g.share_synergy.notna()]
        for r in ok.itertuples():
            ax.scatter(r.share_unique2, r.share_synergy, color=palette[r.family], marker=markers[r.task], s=35)
        ax.plot([0, 100], [0, 100], color="black", lw=0.8)
        ax.set_xlim(-5, 105)
        ax.set_ylim(-5, 105)
        ax.set_title(f"{nb.probe_label(k)}: {len(ok)} of {len(g)}")
        ax.set_xlabel("$U_2$ share (%)")
    axes[0].set_ylabel("$S$ share (%)")
    handles = [Line2D([], [], marker="o", color=palette[f], ls="", label=f"family: {f}") for f in fams]
    handles += [Line2D([], [], marker=markers[t], color="black", ls="", label=t) for t in tasks]
    nb.legend_below(fig, handles, ncol=4)
    plt.show()

# %% [markdown]
# ## Family by family
#
# The same question with the noise floor: on each task family, the mean $S$ and $U_2$ of
# a family's coherent spectra, and its strategy there, *fusion-centric* when $S$ exceeds
# $U_2$ by more than the floor, *language-centric* in the other direction, *neither*
# within the floor:

# %% tags=["remove-cell"]
def strategy(g: pd.DataFrame) -> str:
    """Strategy of one family on one task (usable spectra only)."""
    g = g[g.usable]
    if g.empty:
        return "incoherent"
    d = float(g.synergy.mean() - g.unique2.mean())
    if d > V.FLOOR_BITS:
        return "fusion-centric"
    if d < -V.FLOOR_BITS:
        return "language-centric"
    return "neither"


strat_rows = []
for k in kinds:
    for f, g in final[final.probes == k].groupby("family"):
        row = {"probes": nb.probe_label(k, short=True), "family": f}
        for t, gt in g.groupby("task"):
            row[t] = strategy(gt)
        strat_rows.append(row)
strat = pd.DataFrame(strat_rows)


def stable_count(kind: str) -> tuple[int, int]:
    """Families that keep one strategy on every task where they have one, of all."""
    s = strat[strat.probes == nb.probe_label(kind, short=True)] if len(strat) else strat
    n_stable = 0
    for _, r in s.iterrows():
        seen = {v for c, v in r.items() if c not in ("probes", "family") and v in ("fusion-centric",
                                                                                 "language-centric")}
        n_stable += len(seen) == 1
    return n_stable, len(s)


for k in V.CORE_PROBES:
    if k in kinds:
        a, b = stable_count(k)
        nb.glue(f"fam_stable_{k}", f"{a} of {b} families")
    else:
        nb.glue(f"fam_stable_{k}", "none: not run")

# %% tags=["remove-input"]
if len(strat):
    colors = {"fusion-centric": nb.VERDICT_COLORS[V.REPRODUCED], "language-centric": "#fbe3cf",
              "neither": "#eeeeee", "incoherent": "#d9d9d9"}
    task_cols = [c for c in strat.columns if c not in ("probes", "family")]
    display(nb.table(strat, model_col=None, missing="no spectrum", highlight={c: colors for c in task_cols}))

# %% [markdown]
# How many families keep one strategy on every task family where they have one: with the
# paper's probes {glue:text}`fam_stable_noise`; with donor probes
# {glue:text}`fam_stable_donors4`; with the exact reference
# {glue:text}`fam_stable_reference`. The mean spectra behind these verdicts
# ({numref}`fig-family-spectra`):

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Mean spectrum of each zoo family (columns) on each task family (bars), output layer, bits, for each kind of probe (rows): the four atoms stacked, averaged over the family's coherent spectra; a grey hatched bar shows the mean total where every spectrum of the family on that task is incoherent.", "name": "fig-family-spectra"}}
if have_zoo:
    fams = sorted(final.family.unique())
    panels = [(k, f) for k in kinds for f in fams]
    fig, axes = nb.grid(len(panels), ncols=len(fams) if len(fams) <= 3 else 3, height=2.3)
    for ax, (k, f) in zip(axes, panels):
        g = final[(final.probes == k) & (final.family == f)]
        rows_, labels = [], []
        for t, gt in g.groupby("task"):
            gu = gt[gt.usable]
            src = gu if len(gu) else gt
            rows_.append({**src[ATOMS + ["total"]].mean().to_dict(), "usable": bool(len(gu)),
                          "coherent": bool(len(gu))})
            labels.append(t)
        if rows_:
            nb.spectrum_bars(ax, pd.DataFrame(rows_), labels)
        ax.set_title(f"{f}, {nb.probe_label(k, short=True)}")
        ax.tick_params(axis="x", labelrotation=30)
    nb.legend_below(fig, nb.atom_handles(), ncol=3)
    plt.show()

# %% [markdown]
# A zoo family differs from the paper's families in what varies: the paper's families
# differ in architecture, data and training recipe all at once, while the zoo's are
# built from one recipe, so a difference between zoo families points at the one knob the
# zoo turns. Scale within a family is the subject of {ref}`ch-scaling`.
