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
# # Findings 3–4: family strategies
#
# **The paper's claim.** Model families follow stable and opposite strategies across
# datasets: *fusion-centric* families (InternVL2.5, InternVL3, Qwen2.5-VL) have a high
# synergy $S$ and a low unique language information $U_2$; *language-centric* families
# (Gemma3, Cambrian) the reverse. The paper states this from its spectra figures; the
# reference data in `data/paper/` holds no per-family numbers, so the comparison below is
# with the paper's classification, not with its values.
#
# **The zoo's test.** Place each zoo model by the share of its spectrum in $S$ and in
# $U_2$ (output layer, averaged over task families) and ask whether the families separate
# the same way: does a family sit on one side of the diagonal $S = U_2$ on every task?

# %% tags=["parameters", "hide-input"]
models = ["zoo"]
datasets = ["world"]
source = "cache"
n_samples = 2000
seed = 0
device = "cpu"

# %% tags=["hide-input"]
import numpy as np
import pandas as pd
import seaborn as sns
import matplotlib.pyplot as plt

from pidlib.analysis import add_derived
from pidlib.analysis.tables import final_models
from pidlib.analysis.pipeline import get_spectra
from pidlib.analysis.nb import ATOM_COLORS, glue, md, no_cache_note, setup_style, fmt

setup_style()
ATOMS = ["redundancy", "unique1", "unique2", "synergy"]
PAPER_STRATEGY = {"InternVL2.5": "fusion-centric", "InternVL3": "fusion-centric", "Qwen2.5-VL": "fusion-centric",
                  "Gemma3": "language-centric", "Cambrian": "language-centric"}

spectra = add_derived(get_spectra(source, models, datasets, n_samples=n_samples, seed=seed, device=device))
out = final_models(spectra[spectra.layer == -1])
per_task = out[out.task != "all"] if (out.task != "all").any() else out
have_zoo = len(per_task) > 0

md("The paper's classification: " + "; ".join(f"{f}: {s}" for f, s in PAPER_STRATEGY.items()) + ".")

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Share of the spectrum (output layer, %) in synergy S against unique language information U2 for every zoo model and task family, coloured by family. Above the diagonal a model is fusion-centric on that task (more S than U2), below it language-centric.", "name": "fig-families"}}
if have_zoo:
    fig, ax = plt.subplots(figsize=(5.4, 4.4))
    sns.scatterplot(data=per_task, x="share_unique2", y="share_synergy", hue="family", style="task", s=60, ax=ax)
    ax.plot([0, 100], [0, 100], color="black", lw=0.8)
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 100)
    ax.set_xlabel("U2 share of the spectrum (%)")
    ax.set_ylabel("S share of the spectrum (%)")
    ax.legend(fontsize=7, bbox_to_anchor=(1.02, 1), loc="upper left")
    fig.tight_layout()
    plt.show()

# %% tags=["hide-input"]
if have_zoo:
    fam = per_task.assign(fusion=per_task.synergy > per_task.unique2).groupby("family").agg(
        models=("model", "nunique"), spectra=("model", "size"), fusion_share=("fusion", "mean"),
        S=("synergy", "mean"), U2=("unique2", "mean"), S_share=("share_synergy", "mean"),
        U2_share=("share_unique2", "mean"))
    fam["strategy"] = np.where(fam.fusion_share == 1, "fusion-centric (every task)",
                       np.where(fam.fusion_share == 0, "language-centric (every task)", "mixed"))
    stable = int((fam.fusion_share.isin([0, 1])).sum())
    glue("fam_n", int(len(fam)))
    glue("fam_stable", stable)
    lines = [f"- **{f}**: {r.strategy}; S {fmt(r.S)} bits ({fmt(r.S_share, 1)} %), U2 {fmt(r.U2)} bits "
             f"({fmt(r.U2_share, 1)} %), {int(r.models)} model(s)" for f, r in fam.iterrows()]
    verdict = ("As in the paper, every zoo family keeps one strategy across task families."
               if stable == len(fam) else
               f"Unlike the paper's families, {len(fam) - stable} of {len(fam)} zoo families switch strategy "
               "between task families.")
    md("\n".join(lines) + "\n\n" + verdict)
else:
    md(no_cache_note("Family strategies need the output-layer spectra of the zoo's model families.", "make book-fresh"))

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Mean spectrum per zoo family and task family (output layer, bits), stacked by atom: redundancy R, unique visual U1, unique language U2, synergy S.", "name": "fig-family-spectra"}}
if have_zoo:
    m = per_task.groupby(["family", "task"])[ATOMS].mean().reset_index()
    fams = sorted(m.family.unique())
    fig, axes = plt.subplots(1, len(fams), figsize=(3.2 * len(fams), 3.2), sharey=True, squeeze=False)
    for ax, f in zip(axes[0], fams):
        g = m[m.family == f].set_index("task")[ATOMS]
        g.plot.bar(stacked=True, color=[ATOM_COLORS[a] for a in ATOMS], ax=ax, legend=(f == fams[-1]), width=0.8)
        ax.set_title(f)
        ax.set_xlabel("")
        ax.set_ylabel("bits")
    fig.tight_layout()
    plt.show()

# %% [markdown]
# A zoo family differs from the paper's families in what varies: the paper's families
# differ in architecture, data and training recipe all at once, while the zoo's are
# built from one recipe, so a difference between zoo families points at the one knob the
# zoo turns (see `pidlib.zoo`). Scale within a family is the subject of
# {ref}`ch-scaling`.
