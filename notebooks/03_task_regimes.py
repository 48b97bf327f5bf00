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
# (ch-regimes)=
# # Does the atom that tracks accuracy change with the task? Yes, in the zoo
#
# **The zoo's answer: {glue:text}`answer`.** It rests on the verdicts of the
# {glue:text}`answer_probes` (the kind of probe to believe; {ref}`sec-believe`); the
# scoreboard below has every kind.
#
# :::{admonition} In this chapter
# :class: tip
# - the paper's Findings 1 and 2: which atom goes with accuracy across models, on
#   synergy-driven and on knowledge-driven tasks, and the $D_\text{vision}$ intervention;
# - how the same rank correlations come out across the zoo's models, per task family and
#   per kind of probe, with intervals and permutation p-values;
# - how one comparison becomes a verdict by the book's rule ({ref}`sec-verdict-rule`).
# :::
#
# **The paper's claim** {cite:p}`pidlvlm2026`. Benchmarks fall into two regimes. On
# *synergy-driven* tasks (MMBench, POPE) the synergy $S$ is the strongest correlate of
# accuracy across models (Spearman $\rho \approx 0.75$); on *knowledge-driven* tasks
# (Reefknot, PMC-VQA) the unique language information $U_2$ becomes predictive while $S$
# helps less. The interaction information $I(X_1;X_2;Y) = R - S$ correlates negatively,
# and the total $I(X_1,X_2;Y)$ less than $S$. A behavioural intervention backs this: the
# accuracy drop when the image is removed, $D_\text{vision}$, rises with $S$ across
# models.
#
# **The zoo's test.** The classroom world has task families of both kinds by design
# ({ref}`ch-world`): `color` and `exist` are synergy-driven, `knowledge` is
# knowledge-driven. Across the zoo's final models, the same rank correlations per task
# family, beside the paper's. The scoreboard of this chapter:

# %% tags=["parameters", "remove-cell"]
models = ["zoo"]
datasets = ["world"]
source = "cache"
n_samples = 2000
seed = 0
device = "cpu"
n_boot = 2000

# %% tags=["remove-cell"]
import numpy as np
import pandas as pd
import matplotlib.pyplot as plt
from matplotlib.lines import Line2D

from pidlib.analysis import load_paper, nb, paper_correlations_long
from pidlib.analysis import verdicts as V
from pidlib.analysis.paper import zoo_regime

ch = nb.setup(source, models=models, datasets=datasets, n_samples=n_samples, seed=seed, device=device,
              n_boot=n_boot)
QUANTITIES = ["synergy", "unique2", "total", "interaction"]
paper = paper_correlations_long()
paper_dv = load_paper("dvision")
final = ch.spectra(probes=None)
have_zoo = final.model.nunique() >= 3 if len(final) else False
kinds = V.probe_kinds(ch.table)  # the core kinds always (absent ones say "not run")

# %% tags=["remove-input"]
if ch.have_zoo:
    board = ch.scoreboard("ch-regimes", n_boot=n_boot)
    ch.answer("ch-regimes", board)
    display(nb.scoreboard_table(board))
else:
    ch.answer("ch-regimes")
    nb.md(nb.no_cache_note("The scoreboard needs the zoo's spectra."))

# %% [markdown]
# ## The paper's correlations

# %% tags=["hide-input"] mystnb={"figure": {"caption": "The paper's Spearman correlations across 26 models between accuracy and synergy $S$, unique language information $U_2$, total information $I(X_1,X_2;Y)$ and interaction information $I(X_1;X_2;Y)$, per dataset (values as reported; no intervals are reported). MMBench and POPE are the synergy-driven, Reefknot and PMC-VQA the knowledge-driven datasets.", "name": "fig-paper-regimes"}}
fig, ax = plt.subplots(figsize=(nb.FIG_WIDTH, 3.2))
datasets_ = list(dict.fromkeys(paper.dataset))
w = 0.2
for j, q in enumerate(QUANTITIES):
    vals = [float(paper[(paper.dataset == d_) & (paper.quantity == q)].rho.iloc[0]) for d_ in datasets_]
    ax.bar(np.arange(len(datasets_)) + (j - 1.5) * w, vals, w, label=nb.symbol(q),
           color=[nb.ATOM_COLORS["synergy"], nb.ATOM_COLORS["unique2"], "#4c4c4c", "#b07aa1"][j])
ax.axhline(0, color="black", lw=0.8)
ax.set_xticks(range(len(datasets_)), datasets_)
ax.set_ylabel(r"Spearman $\rho$ with accuracy")
ax.set_ylim(-1, 1)
nb.legend_below(fig, ncol=4)
plt.show()

# %% tags=["remove-cell"]
p_syn = paper[paper.regime == "synergy-driven"]
p_kno = paper[paper.regime == "knowledge-driven"]
nb.glue_num("paper_syn_rhoS", p_syn[p_syn.quantity == "synergy"].rho.mean(), 2)
nb.glue_num("paper_kno_rhoS", p_kno[p_kno.quantity == "synergy"].rho.mean(), 2)
nb.glue_num("paper_kno_rhoU2", p_kno[p_kno.quantity == "unique2"].rho.mean(), 2)
nb.glue_num("paper_syn_rhoU2", p_syn[p_syn.quantity == "unique2"].rho.mean(), 2)

# %% [markdown]
# In the paper, the mean $\rho$ between accuracy and $S$ is {glue:text}`paper_syn_rhoS`
# on the synergy-driven datasets and {glue:text}`paper_kno_rhoS` on the knowledge-driven
# ones; for $U_2$ it is {glue:text}`paper_syn_rhoU2` and {glue:text}`paper_kno_rhoU2`
# ({numref}`fig-paper-regimes`).
#
# ## The zoo, task by task
#
# One comparison, in the open: the zoo's $\rho$ between accuracy and $S$ on the `exist`
# family, with the paper's probes, judged against the paper's mean $\rho$ on its
# synergy-driven datasets. `task_correlation` keeps the final models' output-layer
# spectra of the task, leaves out those that are incoherent, and applies the rule:

# %%
paper_mean = V.paper_rho("synergy", "synergy-driven")
v = V.task_correlation(ch.spectra("noise"), "exist", "synergy",
                       paper_rho=paper_mean, seed=seed, n_boot=n_boot)
print(v.text())

# %% [markdown]
# Every comparison of accuracy with $S$, $U_2$, the total and the interaction information,
# for each task family with a regime and each kind of probe, the same way (the paper's
# $\rho$ is the mean over its datasets of the same regime):

# %% tags=["remove-cell"]
regime_tasks = [t for t in sorted(final.task.unique()) if zoo_regime(t) != "other"] if len(final) else []
rows = []
for t in regime_tasks:
    reg = zoo_regime(t)
    for q in QUANTITIES:
        prho = float(paper[(paper.regime == reg) & (paper.quantity == q)].rho.mean())
        for k in kinds:
            sub = ch.spectra(k)
            v = (V.task_correlation(sub, t, q, paper_rho=prho, seed=seed, n_boot=n_boot) if len(sub)
                 else V.not_run())
            rows.append({"key": f"{t}-{q}", "chapter": "ch-regimes", "task": t, "quantity": q, "probes": k,
                         "claim": f"{nb.PLAIN_SYMBOLS[q]} on `{t}` ({reg}; paper ρ = {prho:+.2f})",
                         "verdict": v.label, "numbers": v.numbers(), "reason": v.reason,
                         "rho": v.estimate, "lo": v.lo, "hi": v.hi, "paper_rho": prho})
detail = pd.DataFrame(rows, columns=["key", "chapter", "task", "quantity", "probes", "claim", "verdict", "numbers",
                                     "reason", "rho", "lo", "hi", "paper_rho"])
counts = V.verdict_counts(detail) if len(detail) else dict.fromkeys((*V.VERDICTS, V.NOT_RUN), 0)
for k_, n_ in counts.items():
    nb.glue_num(f"regimes_n_{k_.replace(' ', '_')}", n_, 0)
nb.glue_num("regimes_n_cells", len(detail), 0)

# %% tags=["remove-input"]
if have_zoo:
    display(nb.scoreboard_table(detail))
else:
    nb.md(nb.no_cache_note("A correlation across models needs the output-layer spectra of at least three zoo "
                           "models."))

# %% [markdown]
# In total, of {glue:text}`regimes_n_cells` comparisons: {glue:text}`regimes_n_reproduced`
# reproduced, {glue:text}`regimes_n_reversed` reversed, {glue:text}`regimes_n_inconclusive`
# inconclusive and {glue:text}`regimes_n_not_run` not run ({numref}`fig-zoo-regimes`).

# %% tags=["hide-input"] mystnb={"figure": {"caption": "The zoo beside the paper. For each regime and quantity, the paper's mean Spearman $\\rho$ over its datasets of that regime (grey diamonds) and the zoo's $\\rho$ for each task family of that regime and each kind of probe (coloured points, with 95 % bootstrap intervals over models; missing where fewer than three models had a usable spectrum).", "name": "fig-zoo-regimes"}}
if have_zoo:
    regimes = ["synergy-driven", "knowledge-driven"]
    colors = nb.PROBE_COLORS
    markers = ["o", "s", "^", "v", "D"]
    fig, axes = nb.grid(2, ncols=2, height=3.0)
    present = [k for k in kinds if k in set(detail.probes) and detail[detail.probes == k].rho.notna().any()]
    for ax, reg in zip(axes, regimes):
        pm = paper[paper.regime == reg].groupby("quantity").rho.mean().reindex(QUANTITIES)
        ax.scatter(np.arange(4) - 0.3, pm.values, marker="D", color="grey", s=50, zorder=3)
        zt = [t for t in regime_tasks if zoo_regime(t) == reg]
        slots = [(t, k) for t in zt for k in present]
        step = 0.6 / max(1, len(slots))
        for j, (t, k) in enumerate(slots):
            g = detail[(detail.task == t) & (detail.probes == k)].set_index("quantity").reindex(QUANTITIES)
            xs = np.arange(4) - 0.15 + step * (j + 0.5)
            ax.errorbar(xs, g.rho, yerr=[(g.rho - g.lo).clip(lower=0), (g.hi - g.rho).clip(lower=0)], fmt="none",
                        ecolor=colors.get(k, "black"), capsize=2, lw=1)
            ax.scatter(xs, g.rho, color=colors.get(k, "black"), marker=markers[regime_tasks.index(t) % 5], s=30,
                       zorder=3)
        ax.axhline(0, color="black", lw=0.8)
        ax.set_xticks(range(4), ["$S$", "$U_2$", "total", "interaction"])
        for x in (0.5, 1.5, 2.5):
            ax.axvline(x, color="#dddddd", lw=0.8)
        ax.set_title(reg)
        ax.set_ylim(-1.1, 1.1)
    axes[0].set_ylabel(r"Spearman $\rho$ with accuracy")
    handles = [Line2D([], [], marker="D", color="grey", ls="", label="paper (mean)")]
    handles += [Line2D([], [], marker="o", color=colors.get(k, "black"), ls="", label=nb.probe_label(k, short=True))
                for k in present]
    handles += [Line2D([], [], marker=markers[i % 5], color="black", ls="", label=f"zoo: {t}")
                for i, t in enumerate(sorted(set(regime_tasks), key=regime_tasks.index))]
    nb.legend_below(fig, handles, ncol=4)
    plt.show()

# %% [markdown]
# ## The $D_\text{vision}$ intervention
#
# $D_\text{vision}$ is the accuracy lost when the image is removed. In the paper the image
# is dropped from the input; here the language-only probe replaces the image tokens with
# calibrated noise, so $D_\text{vision}$ = accuracy of the full probe minus accuracy of
# the language-only probe, per model and task family.

# %% tags=["remove-cell"]
dv_rows = []
pmean = float(paper_dv.rho_dvision_S.astype(float).mean())
for t in [t for t in regime_tasks if zoo_regime(t) == "synergy-driven"]:
    for k in kinds:
        sub = ch.spectra(k)
        v = (V.task_correlation(sub, t, "synergy", x="d_vision", paper_rho=pmean, seed=seed, n_boot=n_boot)
             if len(sub) else V.not_run())
        dv_rows.append({"key": f"dv-{t}", "chapter": "ch-regimes", "task": t, "probes": k,
                        "claim": f"D_vision and S on `{t}` (paper mean ρ = {pmean:+.2f})", "verdict": v.label,
                        "numbers": v.numbers(), "reason": v.reason, "rho": v.estimate, "lo": v.lo, "hi": v.hi})
dv = pd.DataFrame(dv_rows, columns=["key", "chapter", "task", "probes", "claim", "verdict", "numbers", "reason",
                                    "rho", "lo", "hi"])
nb.glue_num("paper_dv_min", paper_dv.rho_dvision_S.astype(float).min(), 2)
nb.glue_num("paper_dv_max", paper_dv.rho_dvision_S.astype(float).max(), 2)

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Spearman $\\rho$ between the image-removal accuracy drop $D_\\mathrm{vision}$ and synergy $S$: the paper's value per dataset (grey bars, as reported) and the zoo's per synergy task family and kind of probe (points with 95 % bootstrap intervals over models, when at least three models had a usable spectrum).", "name": "fig-dvision"}}
fig, ax = plt.subplots(figsize=(nb.FIG_WIDTH, 3.0))
labels = list(paper_dv.dataset)
ax.bar(range(len(labels)), paper_dv.rho_dvision_S.astype(float), color="#bbbbbb")
shown_dv = dv[dv.rho.notna()] if len(dv) else dv
for j, r in enumerate(shown_dv.itertuples()):
    x = len(labels) + j
    ax.errorbar(x, r.rho, yerr=[[max(r.rho - r.lo, 0)], [max(r.hi - r.rho, 0)]], fmt="o", capsize=3,
                color=nb.PROBE_COLORS.get(r.probes, "black"))
labels += [f"{r.task}\n{nb.probe_label(r.probes, short=True)}" for r in shown_dv.itertuples()]
ax.set_xticks(range(len(labels)), labels)
ax.axhline(0, color="black", lw=0.8)
ax.set_ylabel(r"$\rho(D_\mathrm{vision}, S)$")
ax.set_ylim(-1.05, 1.05)
plt.show()

# %% tags=["remove-input"]
if have_zoo and len(dv):
    display(nb.scoreboard_table(dv))
else:
    nb.md(nb.no_cache_note("The intervention needs accuracies of the full and language-only probes of several "
                           "zoo models."))

# %% [markdown]
# The paper reports $\rho(D_\text{vision}, S)$ between {glue:text}`paper_dv_min` and
# {glue:text}`paper_dv_max` ({numref}`fig-dvision`), all positive: models with more
# synergy lose more when the image goes. With few models in the zoo the intervals are
# wide, and a correlation across a handful of models constrains little; see
# {ref}`ch-sensitivity` for what the correlations can and cannot say.
