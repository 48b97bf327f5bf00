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
# (ch-sensitivity)=
# # How much do the atoms move, and what can they not say?
#
# :::{admonition} In this chapter
# :class: tip
# - how far BATCH's atoms move with the number of fitting rows and the estimator's seed,
#   on a distribution whose atoms are known, and where the noise floor comes from;
# - what the cached zoo runs vary, and how the atoms move with it;
# - how the probes themselves can create information: a question that never changes,
#   and three ways of replacing a removed input;
# - what the analysis cannot claim.
# :::
#
# A spectrum is the output of an estimator with settings: the number of samples, the
# estimator's seed, and, upstream, the probe threshold $\tau$ and the scale of the
# calibrated noise. This chapter measures how much the atoms move when those settings do,
# first on a distribution whose atoms are known exactly, then on the cached zoo runs.

# %% tags=["parameters", "remove-cell"]
models = ["zoo"]
datasets = ["world"]
source = "cache"
n_samples = 2000
seed = 0
device = "cpu"
n_seeds = 3

# %% tags=["remove-cell"]
import numpy as np
import pandas as pd
import matplotlib.pyplot as plt
from matplotlib.lines import Line2D

from pidlib import pid_exact, pid_batch_many
from pidlib.estimators.synthetic import gate, sample_discrete
from pidlib.analysis import nb
from pidlib.analysis import verdicts as V

ch = nb.setup(source, models=models, datasets=datasets, n_samples=n_samples, seed=seed, device=device,
              n_seeds=n_seeds)
ATOMS = nb.ATOMS

# %% [markdown]
# ## On a known answer: sample size and seed
#
# The AND gate with noisy 64-dimensional feature codes has both redundancy and synergy.
# `pid_batch_many` fits several estimator seeds at once on the same rows; we repeat that
# for three sample sizes:

# %%
p = gate("and")
exact = pid_exact(p)
sizes = sorted({max(64, n_samples // 4), max(64, n_samples // 2),
                n_samples})
seeds = [seed + i for i in range(n_seeds)]
keys = ("x1", "x2", "p_y_x1", "p_y_x2", "p_y_x1x2")
rows = []
for n in sizes:
    d = sample_discrete(p, n + n // 2, embedding="noisy", sigma=0.5,
                        seed=seed)
    fit = tuple(d[k][:n] for k in keys)
    held_out = tuple(d[k][n:] for k in keys)
    fits = pid_batch_many(*fit, seeds=seeds, eval_data=held_out)
    for s, r in zip(seeds, fits):
        rows.append({"n_fit": n, "seed": s,
                     **{a: getattr(r, a) for a in ATOMS}})
sens = pd.DataFrame(rows)

# %% tags=["hide-input"] mystnb={"figure": {"caption": "BATCH on the AND gate with noisy 64-dimensional features, against the number of fitting rows (half as many evaluation rows). Points are estimator seeds, dashed lines the exact atoms. The spread across seeds at a given size is the estimator's own noise; the gap to the dashed line its bias.", "name": "fig-sens-n"}}
fig, ax = plt.subplots(figsize=(nb.FIG_WIDTH, 3.2))
for j, a in enumerate(ATOMS):
    for i, n in enumerate(sizes):
        g = sens[sens.n_fit == n]
        ax.scatter(np.full(len(g), i + (j - 1.5) * 0.15), g[a], color=nb.ATOM_COLORS[a], s=22)
    ax.axhline(getattr(exact, a), color=nb.ATOM_COLORS[a], ls="--", lw=0.9)
ax.set_xticks(range(len(sizes)), [str(n) for n in sizes])
ax.set_xlabel("fitting rows")
ax.set_ylabel("bits")
nb.legend_right(ax, handles=[Line2D([], [], color=nb.ATOM_COLORS[a], marker="o", ls="", label=nb.ATOM_LABELS[a])
                             for a in ATOMS] + [Line2D([], [], color="black", ls="--", label="exact")])
plt.show()

# %% tags=["remove-cell"]
spread = sens.groupby("n_fit")[ATOMS].agg(lambda v: v.max() - v.min()).max(axis=1)
bias = sens.groupby("n_fit")[ATOMS].mean().sub(pd.Series({a: getattr(exact, a) for a in ATOMS})).abs().max(axis=1)
nb.glue_num("sens_spread_small", spread.iloc[0], 3)
nb.glue_num("sens_spread_large", spread.iloc[-1], 3)
nb.glue_num("sens_bias_small", bias.iloc[0], 3)
nb.glue_num("sens_bias_large", bias.iloc[-1], 3)
nb.glue_num("sens_n_small", sizes[0], 0)
nb.glue_num("sens_n_large", sizes[-1], 0)
nb.glue_num("sens_n_seeds", n_seeds, 0)
nb.glue_num("floor_bits", V.FLOOR_BITS, 2)

# %% [markdown]
# Across {glue:text}`sens_n_seeds` estimator seeds, the atoms spread by up to
# {glue:text}`sens_spread_small` bit with {glue:text}`sens_n_small` fitting rows and
# {glue:text}`sens_spread_large` bit with {glue:text}`sens_n_large`; the mean estimate is
# then {glue:text}`sens_bias_small` and {glue:text}`sens_bias_large` bit from the exact
# atoms at most ({numref}`fig-sens-n`). Differences between spectra smaller than this are
# noise; the book's verdicts use a floor of {glue:text}`floor_bits` bit
# ({ref}`sec-verdict-rule`).
#
# ## On the zoo: seed, threshold and noise scale

# %% tags=["remove-cell"]
out = ch.spectra("noise")
knobs = [k for k in ("seed", "tau", "noise_scale") if k in out.columns and out[k].nunique(dropna=True) > 1]
width = (out[[f"{a}_hi" for a in ATOMS]].to_numpy() - out[[f"{a}_lo" for a in ATOMS]].to_numpy()) if len(out) \
    else np.array([np.nan])
nb.glue_num("zoo_ci_width", np.nanmedian(width) if np.isfinite(width).any() else None, 3,
            missing="not measured (no intervals in the table)")
nb.glue_num("zoo_n_out", len(out), 0)
nb.glue_md("zoo_knobs", ", ".join(f"`{k}`" for k in knobs) if knobs else "nothing: one seed, one threshold and one "
           "noise scale")

# %% [markdown]
# The {glue:text}`zoo_n_out` cached output-layer spectra of the paper's probes vary
# {glue:md}`zoo_knobs`. Their intervals have a median width of {glue:text}`zoo_ci_width`
# bit. Sweeps over $\tau$ and the noise scale need runs with other probe settings
# (`pidlib run --help`); when the table has them, a figure below shows how the atoms move.

# %% tags=["hide-input"] mystnb={"figure": {"caption": "How the zoo's output-layer atoms (bits, coherent spectra) move with each setting the cached runs vary (estimator seed, probe threshold $\\tau$, noise scale); one line per model and atom.", "name": "fig-sens-zoo"}}
if knobs:
    fig, axes = nb.grid(len(knobs), ncols=3, height=2.6)
    for ax, k in zip(axes, knobs):
        g = out[out.usable].groupby(["model", k])[ATOMS].mean().reset_index()
        for m, gm in g.groupby("model"):
            for a in ATOMS:
                ax.plot(gm[k], gm[a], color=nb.ATOM_COLORS[a], lw=1, marker="o", ms=3)
        ax.set_xlabel(k)
    axes[0].set_ylabel("bits")
    plt.show()

# %% [markdown]
# ## A probe artifact: a question that never changes
#
# In the world's `describe` family the question and its options are the same words for
# every sample, so the question cannot tell the model anything: $I(X_2;Y)$ ought to be
# zero, and the task was designed to be all unique visual information. The pipeline,
# like the paper's, does not see $X_2$ directly, though: it uses the language-only probe's
# prediction as $P(Y\mid X_2)$, and that probe replaces the *image* with calibrated noise
# that is drawn anew for every sample. A model that answers confidently from noise gives a
# $P(Y\mid X_2)$ that varies from sample to sample, and BATCH, which takes the three
# conditionals as given, counts that variation as information carried by the language
# source. The cached zoo runs on this task (output layer, paper's probes):

# %% tags=["remove-cell"]
desc = out[out.task == "describe"].sort_values("model") if len(out) else out
if len(desc):
    du = desc[desc.usable]
    nb.glue_num("desc_n", len(desc), 0)
    nb.glue_num("desc_usable", len(du), 0)
    nb.glue_num("desc_u1_top", int((du.unique1 >= du[["unique2", "redundancy", "synergy"]].max(axis=1)).sum()), 0)
    nb.glue_num("desc_I2_median", desc.I2.median(), 3)
else:
    for k in ("desc_n", "desc_usable", "desc_u1_top", "desc_I2_median"):
        nb.glue_num(k, None)

# %% tags=["remove-input"]
if len(desc):
    cols = ["model", *ATOMS, "I2", "accuracy", "accuracy_language_only"]
    display(nb.table(desc[[c for c in cols if c in desc.columns]],
                     units={**{a: "bit" for a in ATOMS}, "I2": "bit"}, digits=3,
                     caption="The constant-question task (atoms unclipped):"))
else:
    nb.md(nb.no_cache_note("This section reads the cached zoo spectra of the `describe` task."))

# %% [markdown]
# The question carries nothing, yet the median $I(X_2;Y)$ of the language-only probe is
# {glue:text}`desc_I2_median` bit; {glue:text}`desc_usable` of the
# {glue:text}`desc_n` spectra are coherent, and $U_1$ is the largest atom in
# {glue:text}`desc_u1_top` of them. Read $U_2$ and $R$ of any model whose language-only
# probe answers confidently without an image with this artifact in mind.
#
# ## What replaces the missing input
#
# The artifact above is one case of a general one: the unimodal probes stand in for
# $P(Y\mid X_1)$ and $P(Y\mid X_2)$, and what stands in for the removed input decides the
# atoms. The fresh runs probe every final zoo model three ways (`pidlib run`): the
# paper's single noise draw, eight noise draws averaged (`--noise-draws 8`), and eight
# *donors*, other samples' questions or pictures, averaged (`--donors 8`).

# %% tags=["remove-cell"]
cmp_ = ch.spectra(probes=None)
kinds = [k for k in ch.probe_kinds]
mean_rows = []
for (t, k), g in (cmp_.groupby(["task", "probes"]) if len(cmp_) else []):
    gu = g[g.usable]
    mean_rows.append({"task": t, "probes": nb.probe_label(k, short=True), "coherent": f"{len(gu)} of {len(g)}",
                      **{a: gu[a].mean() if len(gu) else np.nan for a in ATOMS},
                      "total": g.total.mean()})
means = pd.DataFrame(mean_rows)

# %% tags=["remove-input"]
if len(kinds) > 1:
    display(nb.table(means, units={**{a: "bit" for a in ATOMS}, "total": "bit"}, digits=3, model_col=None,
                     missing={a: "all incoherent" for a in ATOMS}, max_rows=15,
                     caption="Mean atoms of the final zoo models over their coherent spectra, per task family and "
                             "kind of probe (the total over all spectra):"))
else:
    nb.md(nb.no_cache_note("This comparison needs cached runs with more than one kind of probe."))

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Mean spectra (bits) of the final zoo models per task family (panels) for each way of replacing the missing input (bars): one noise draw as in the paper, eight noise draws averaged, eight donor samples averaged. Stacked atoms average the coherent spectra; a grey hatched bar (the mean total) marks a kind of probe whose spectra are all incoherent on that task.", "name": "fig-sens-probes"}}
if len(kinds) > 1:
    tasks = sorted(cmp_.task.unique())
    fig, axes = nb.grid(len(tasks), ncols=3, height=2.4)
    for ax, t in zip(axes, tasks):
        rows_, labels = [], []
        for k in kinds:
            g = cmp_[(cmp_.task == t) & (cmp_.probes == k)]
            if g.empty:
                continue
            gu = g[g.usable]
            src = gu if len(gu) else g
            rows_.append({**src[ATOMS + ["total"]].mean().to_dict(), "usable": bool(len(gu)), "coherent": bool(len(gu))})
            labels.append(nb.probe_label(k, short=True))
        nb.spectrum_bars(ax, pd.DataFrame(rows_), labels)
        ax.set_title(t)
        ax.tick_params(axis="x", labelsize=9)
    nb.legend_below(fig, nb.atom_handles(), ncol=3)
    plt.show()

# %% [markdown]
# ## Limitations
#
# - **Correlation is not causation.** The atoms are computed from the model's own
#   predictions; their rank correlation with accuracy across models ({ref}`ch-regimes`)
#   says that better models tend to have more synergy on some tasks, not that synergy
#   causes accuracy. $D_\text{vision}$ is an intervention on the input, not on the
#   mechanism. With a few zoo models a rank correlation is fragile: read the intervals
#   and the permutation p-values.
# - **The probes are proxies.** $P(Y\mid X_1)$ and $P(Y\mid X_2)$ come from inputs with
#   one modality replaced, not from natural unimodal inputs. The three probes need not be
#   marginals of one joint distribution; an incoherent spectrum is the symptom, and a
#   constant question can still show language information (see above). Donor probes are
#   closer to the definition {eq}`eq-marginal-probe` but assume the two inputs
#   independent; where they are not (a question that restates the picture), they pair
#   inputs that never occur together.
# - **A finite target.** PID needs a finite $Y$: the method is confined to multiple-choice
#   questions with at most four options here.
# - **The estimator has a floor.** BATCH works on minibatches of 256 rows and a fixed
#   budget of optimizer steps; differences below its validation error are not findings.
# - **The miniature is not the paper.** The zoo's models are tiny and trained on a
#   synthetic world; where they agree with the paper this shows the analysis behaves as
#   described, not that the paper's models behave the same way.
#
# ## Exercises
#
# ```{exercise}
# :label: ex-sens-seeds
# Rerun this chapter with more estimator seeds,
# `papermill notebooks/09_sensitivity.ipynb out.ipynb -p n_seeds 8`. Does the spread
# across seeds at the smallest sample size grow, shrink or stay? What does that say about
# a single spectrum computed with one seed?
# ```
#
# ```{solution} ex-sens-seeds
# :class: dropdown
# The spread is the range over seeds, so with more seeds it can only stay or grow, towards
# the width of the estimator's seed-to-seed distribution at that sample size. A spectrum
# from one seed is one draw from that distribution: two spectra that differ by less than
# the spread can swap order with another seed. This is why the book compares differences
# with a noise floor, not with zero.
# ```
#
# ```{exercise}
# :label: ex-sens-describe
# In the `describe` family the question is a constant. Which atoms should an *exact*
# PID with respect to the world's generating variables give for a model that answers
# every `describe` sample correctly? Compare with the table of the constant-question
# section.
# ```
#
# ```{solution} ex-sens-describe
# :class: dropdown
# The question variable takes one value, so $I(X_2;Y) = 0$, hence $R = U_2 = 0$ by
# {eq}`eq-pid`, and with $X_2$ constant $I(X_1,X_2;Y) = I(X_1;Y)$, so $S = 0$: all the
# information, $\log_2 4 = 2$ bits for a perfect model on four balanced colours, is $U_1$
# (the world chapter computes exactly this for the correct answer, {ref}`ch-world`). Any
# $U_2$ or $R$ in the table comes from the probes, not from the model's use of the
# question.
# ```
