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
# # Does fusion emerge in instruction tuning, after alignment? Yes, in the zoo
#
# **The zoo's answer: {glue:text}`answer`.** It rests on the verdicts of the
# {glue:text}`answer_probes` (the kind of probe to believe; {ref}`sec-believe`); the
# scoreboard below has every kind.
#
# :::{admonition} In this chapter
# :class: tip
# - the paper's Finding 6: synergy is negligible after alignment and appears during
#   visual instruction tuning;
# - how the zoo's spectra move over the checkpoints of its two training stages;
# - why the test uses only the task families designed to need fusion.
# :::
#
# **The paper's claim** {cite:p}`pidlvlm2026`. Replaying the two-stage training of
# LLaVA-1.5, synergy $S$ is negligible after the first stage (*alignment pre-training*,
# only the projector learns to map image features into the language model's space) and
# appears during the second stage (*visual instruction tuning*, projector and language
# model trained on image-question-answer data). The paper shows this in a figure;
# `data/paper/` holds no per-checkpoint numbers, so the zoo is compared with the
# statement.
#
# **The zoo's test.** The zoo trains its models in the same two stages and keeps
# checkpoints along the way ({ref}`ch-world`); a spectrum per checkpoint traces $S$ over
# training. Averaging over all task families would mix tasks that need fusion with tasks
# designed to have none (`describe`, `redundant`), so the test uses the two synergy
# families, `color` and `exist`. The scoreboard of this chapter:

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
SYN_TASKS = V.tasks_with_atom("synergy")

allp = ch.spectra(probes=None, final=False)
tr = allp[allp.task.isin(SYN_TASKS) & allp.step.notna()].copy() if len(allp) else allp
RUN = [k for k in ("family", "scale", "train_seed") if k in tr.columns]  # one training run
if len(tr):
    tr["stage_kind"] = tr.stage.map(V.stage_kind)
    tr = tr[tr.stage_kind.isin(["alignment", "instruction"])]
    # A training run has spectra at both stages (checkpoints, and its final model).
    both = tr.groupby(["probes", *RUN]).stage_kind.agg(lambda k: {"alignment", "instruction"} <= set(k))
    keep = set(both[both].index)
    tr = tr[[key in keep for key in tr[["probes", *RUN]].itertuples(index=False, name=None)]]
    tr["run"] = tr.family.astype(str) + "-" + tr.scale.map(nb.scale_label)
    if "train_seed" in tr.columns and tr.train_seed.notna().any():
        tr["run"] += " s" + tr.train_seed.map(lambda v: "?" if pd.isna(v) else f"{int(v)}")
have_zoo = len(tr) > 0

# %% tags=["remove-input"]
if ch.have_zoo:
    board = ch.scoreboard("ch-training")
    ch.answer("ch-training", board)
    display(nb.scoreboard_table(board))
else:
    ch.answer("ch-training")
    nb.md(nb.no_cache_note("The training study needs spectra of zoo checkpoints from both stages."))

# %% [markdown]
# ## The spectra over training
#
# The checkpoints of each training run, on the synergy task families, one panel per kind
# of probe ({numref}`fig-training`). Each point is the mean over `color` and `exist`;
# crosses mark checkpoints where a spectrum is incoherent.

# %% tags=["remove-cell"]
series = pd.DataFrame()
if have_zoo:
    series = tr.groupby(["probes", "run", "stage_kind", "step"], as_index=False).agg(
        **{a: (a, "mean") for a in ATOMS}, accuracy=("accuracy", "mean"), usable=("usable", "all"),
        **{f"{a}_lo": (f"{a}_lo", "mean") for a in ATOMS}, **{f"{a}_hi": (f"{a}_hi", "mean") for a in ATOMS})
    last_align = series[series.stage_kind == "alignment"].groupby(["probes", "run"]).step.max()
    series["t"] = series.step + np.where(series.stage_kind == "instruction",
                                         [last_align.get((p, f), 0) for p, f in zip(series.probes, series.run)], 0)

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Spectra of the zoo's checkpoints over training (output layer, bits, mean over the `color` and `exist` task families): alignment, then instruction tuning (the dashed line marks the switch), one panel per kind of probe and training run; the grey line is the checkpoints' accuracy (right axis). Shaded bands are the atoms' intervals where the table has them; crosses mark incoherent spectra.", "name": "fig-training"}}
if have_zoo:
    order = {k: i for i, k in enumerate(V.PROBE_KINDS)}
    panels = sorted(series.groupby(["probes", "run"]).groups, key=lambda pr: (order.get(pr[0], 99), pr[1]))
    fig, axes = nb.grid(len(panels), ncols=2, height=2.8, sharey=True)
    for ax, (k, f) in zip(axes, panels):
        d = series[(series.probes == k) & (series.run == f)].sort_values("t")
        for a in ATOMS:
            ax.plot(d.t, d[a], color=nb.ATOM_COLORS[a], lw=1.2)
            ax.scatter(d.t[d.usable], d[a][d.usable], color=nb.ATOM_COLORS[a], s=14, zorder=3)
            ax.scatter(d.t[~d.usable], d[a][~d.usable], color=nb.ATOM_COLORS[a], marker="x", s=22, zorder=3)
            if d[f"{a}_lo"].notna().any():
                ax.fill_between(d.t, d[f"{a}_lo"], d[f"{a}_hi"], color=nb.ATOM_COLORS[a], alpha=0.15, lw=0)
        ax.axvline(d[d.stage_kind == "alignment"].step.max(), color="black", ls="--", lw=0.8)
        ax.axhline(0, color="black", lw=0.6)
        ax2 = ax.twinx()
        ax2.plot(d.t, d.accuracy, color="grey", lw=1)
        ax2.set_ylim(0, 1)
        ax2.grid(False)
        ax2.set_ylabel("accuracy")
        ax.set_title(f"{f}, {nb.probe_label(k, short=True)}")
        ax.set_xlabel("training step")
    axes[0].set_ylabel("bits")
    handles = [Line2D([], [], color=nb.ATOM_COLORS[a], marker="o", ms=4, label=nb.ATOM_LABELS[a]) for a in ATOMS]
    handles += [Line2D([], [], color="black", marker="x", ls="", label="incoherent"),
                Line2D([], [], color="grey", label="accuracy")]
    nb.legend_below(fig, handles, ncol=3)
    plt.show()

# %% [markdown]
# ## At the end of each stage
#
# The claim as a comparison: $S$ at the last instruction-tuning step (the run's final
# model where the table has it) minus $S$ at the last alignment step, on the synergy task
# families, per training run and kind of probe, judged with the noise floor
# ({ref}`sec-verdict-rule`); the scoreboard above pools the runs:

# %% tags=["remove-cell"]
end_rows = []
for k in (V.probe_kinds(ch.table) if have_zoo else []):
    units = V.emergence_units(ch.spectra(k, final=False)) if k in ch.probe_kinds else pd.DataFrame()
    for u in units.itertuples():
        run = f"{u.family}-{nb.scale_label(u.scale)}" if "scale" in units.columns else str(u.family)
        if "train_seed" in units.columns and pd.notna(u.train_seed):
            run += f" s{int(u.train_seed)}"
        if u.usable:
            v = V.difference_verdict([u.diff], [u.err], sign=1)
            label, nums, why = v.label, (f"steps {u.align_step:.0f} → {u.instr_step:.0f}: S {u.align:.3f} → "
                                         f"{u.instr:.3f} bit, " + v.numbers()), v.reason
        else:
            label, nums, why = V.INCONCLUSIVE, "", "a spectrum at the end of a stage is incoherent"
        end_rows.append({"key": run, "chapter": "ch-training", "probes": k, "verdict": label, "numbers": nums,
                         "claim": f"{run}: S grows from the end of alignment to the end of instruction tuning",
                         "reason": why})
ends = pd.DataFrame(end_rows, columns=["key", "chapter", "probes", "claim", "verdict", "numbers", "reason"])

# %% tags=["remove-input"]
if len(ends):
    display(nb.scoreboard_table(ends))
else:
    nb.md(nb.no_cache_note("The training study needs spectra of zoo checkpoints from both stages (columns "
                           "`stage`, `step`) on the synergy task families."))

# %% [markdown]
# A checkpoint's accuracy on the synergy tasks says whether the model has learned them
# yet; synergy measured before the model can solve a task is synergy of a guess. Read the
# emergence of $S$ beside the grey accuracy line.
