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
# (ch-training)=
# # Finding 6: when fusion emerges in training
#
# **The paper's claim.** Replaying the two-stage training of LLaVA-1.5, synergy $S$ is
# negligible after the first stage (*alignment pre-training*, only the projector learns
# to map image features into the language model's space) and appears during the second
# stage (*visual instruction tuning*, projector and language model trained on
# image–question–answer data). The paper shows this in a figure; `data/paper/` holds no
# per-checkpoint numbers, so the zoo is compared with the statement.
#
# **The zoo's test.** The zoo trains its Llava models in the same two stages and keeps
# checkpoints along the way (`pidlib.zoo`); a spectrum per checkpoint traces $S$ over
# training.

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
from pidlib.analysis.tables import training_series
from pidlib.analysis.pipeline import get_spectra
from pidlib.analysis.nb import ATOM_COLORS, ATOM_LABELS, glue, md, no_cache_note, setup_style, fmt, fmt_ci

setup_style()
ATOMS = ["redundancy", "unique1", "unique2", "synergy"]


def stage_kind(stage: str) -> str:
    """Map a checkpoint's stage name to 'alignment' or 'instruction' (else 'other')."""
    s = str(stage).lower()
    if any(k in s for k in ("align", "pretrain", "stage1", "projector")):
        return "alignment"
    if any(k in s for k in ("instruct", "sft", "stage2", "finetune")):
        return "instruction"
    return "other"


spectra = add_derived(get_spectra(source, models, datasets, n_samples=n_samples, seed=seed, device=device))
tr = training_series(spectra[spectra.layer == -1]).copy()
tr = tr[tr.task == "all"] if (tr.task == "all").any() else tr
tr["kind"] = tr.stage.map(stage_kind)
# Only families with checkpoints from both stages form a training series.
both = tr.groupby("family").kind.agg(lambda k: {"alignment", "instruction"} <= set(k))
tr = tr[tr.family.isin(both[both].index)]
have_zoo = len(tr) > 0

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Spectra of zoo checkpoints over training (output layer, bits): alignment pre-training, then visual instruction tuning (the dashed line marks the switch). Shaded bands are 95 % bootstrap intervals of each atom.", "name": "fig-training"}}
if have_zoo:
    # average over task families (one spectrum per checkpoint)
    g = tr.groupby(["family", "kind", "step"], as_index=False)[
        ATOMS + [f"{a}_lo" for a in ATOMS] + [f"{a}_hi" for a in ATOMS]].mean()
    # One time axis: instruction steps continue after the last alignment step.
    last_align = g[g.kind == "alignment"].groupby("family").step.max()
    g["t"] = g.step + np.where(g.kind == "instruction", g.family.map(last_align).fillna(0), 0)
    fams = sorted(g.family.unique())
    fig, axes = plt.subplots(1, len(fams), figsize=(4.2 * len(fams), 3.2), sharey=True, squeeze=False)
    for ax, f in zip(axes[0], fams):
        d = g[g.family == f].sort_values("t")
        for a in ATOMS:
            ax.plot(d.t, d[a], marker="o", ms=3, color=ATOM_COLORS[a], label=ATOM_LABELS[a])
            if d[f"{a}_lo"].notna().any():
                ax.fill_between(d.t, d[f"{a}_lo"], d[f"{a}_hi"], color=ATOM_COLORS[a], alpha=0.15)
        ax.axvline(last_align.get(f, 0), color="black", ls="--", lw=0.8)
        ax.set_title(f)
        ax.set_xlabel("training step")
    axes[0][0].set_ylabel("bits")
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    plt.show()

# %% tags=["hide-input"]
if have_zoo:
    lines = []
    per_ckpt = tr.groupby(["family", "kind", "step"], as_index=False)[
        ["synergy", "synergy_lo", "synergy_hi"]].mean()
    for f, d in per_ckpt.groupby("family"):
        a_end = d[d.kind == "alignment"].sort_values("step").iloc[-1]
        i_end = d[d.kind == "instruction"].sort_values("step").iloc[-1]
        grew = i_end.synergy > a_end.synergy and (np.isnan(a_end.synergy_hi) or np.isnan(i_end.synergy_lo)
                                                   or i_end.synergy_lo > a_end.synergy_hi)
        lines.append(f"- **{f}**: S after alignment {fmt_ci(a_end.synergy, a_end.synergy_lo, a_end.synergy_hi, 3)} bits, "
                     f"after instruction tuning {fmt_ci(i_end.synergy, i_end.synergy_lo, i_end.synergy_hi, 3)} bits: "
                     + ("**agrees** with the paper (S emerges in instruction tuning)." if grew else
                        "**does not show** the paper's emergence (S did not clearly grow)."))
    md("\n".join(lines))
else:
    md(no_cache_note("The training study needs spectra of zoo checkpoints from both stages (columns `stage`, `step`).",
                     "make book-fresh"))

# %% [markdown]
# ## The synergy tasks, with both kinds of probe
#
# Averaging over all task families mixes tasks that need fusion with tasks that do not.
# The two families designed to need it, `color` and `exist`, are traced alone below, with
# the paper's noise probes and with the donor probes of the method chapter (which, unlike
# the noise probes, recover the designed synergy on the classroom world).

# %% tags=["hide-input"]
allp = add_derived(get_spectra(source, models, datasets, n_samples=n_samples, seed=seed, device=device, probes=None))
if "probes" not in allp.columns:
    allp["probes"] = "noise"
allp["probes"] = allp["probes"].fillna("noise")
syn = training_series(allp[(allp.layer == -1) & allp.task.isin(["color", "exist"])]).copy()
syn = syn[syn.probes.isin(["noise", "donors8"])]
syn["kind"] = syn.stage.map(stage_kind)
syn = syn[syn.kind.isin(["alignment", "instruction"])]
have_syn = len(syn) > 0 and syn.groupby("probes").kind.nunique().max() == 2
if have_syn:
    s_ = syn.groupby(["probes", "kind", "step"], as_index=False)[["synergy", "accuracy"]].mean()
    last_a = s_[s_.kind == "alignment"].step.max()
    s_["t"] = s_.step + np.where(s_.kind == "instruction", last_a, 0)
    lines = []
    for pr, d in s_.groupby("probes"):
        a_end = d[d.kind == "alignment"].sort_values("step").iloc[-1]
        i_end = d[d.kind == "instruction"].sort_values("step").iloc[-1]
        lines.append(f"- **{'donor probes' if pr == 'donors8' else 'noise probes (paper)'}**: mean S on `color` and "
                     f"`exist` {fmt(a_end.synergy, 3)} bits at the end of alignment, {fmt(i_end.synergy, 3)} bits "
                     f"at the last instruction-tuning checkpoint (mean accuracy {fmt(a_end.accuracy, 2)} -> "
                     f"{fmt(i_end.accuracy, 2)}).")
    md("\n".join(lines))
else:
    md("This table has no checkpoint spectra of the `color` and `exist` tasks with both noise and donor probes; "
       "`python -m pidlib.analysis fresh` (or `make book-fresh`) produces them for the zoo.")

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Synergy S (bits, output layer) of the emergence checkpoints on the two synergy task families (mean of color and exist), over alignment and then instruction tuning (dashed line), measured with the paper's noise probes and with donor probes; the grey line is the checkpoints' mean accuracy on the two tasks (right axis).", "name": "fig-training-synergy"}}
if have_syn:
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for pr, d in s_.groupby("probes"):
        d = d.sort_values("t")
        ax.plot(d.t, d.synergy, marker="o", ms=3, ls="-" if pr == "donors8" else ":",
                color=ATOM_COLORS["synergy"], label=("donor probes" if pr == "donors8" else "noise probes (paper)"))
    ax.axvline(last_a, color="black", ls="--", lw=0.8)
    ax.set_xlabel("training step")
    ax.set_ylabel("S (bits)")
    ax2 = ax.twinx()
    acc = s_[s_.probes == s_.probes.iloc[0]].sort_values("t")
    ax2.plot(acc.t, acc.accuracy, color="grey", lw=1)
    ax2.set_ylabel("accuracy")
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    plt.show()
