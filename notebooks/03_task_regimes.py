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
# # Findings 1–2: two task regimes
#
# **The paper's claim.** Benchmarks fall into two regimes. On *synergy-driven* tasks
# (MMBench, POPE) the synergy $S$ is the strongest correlate of accuracy across models
# (Spearman $\rho \approx 0.75$); on *knowledge-driven* tasks (Reefknot, PMC-VQA) the
# unique language information $U_2$ becomes predictive while $S$ helps less. The
# interaction information $I(X_1;X_2;Y) = R - S$ correlates negatively, and the total
# $I(X_1,X_2;Y)$ less than $S$. A behavioural intervention backs this: the accuracy drop
# when the image is removed, $D_\text{vision}$, rises with $S$ across models.
#
# **The zoo's test.** The classroom world has task families of both kinds by design:
# `color` and `exist` are synergy-driven (the answer letter depends on the picture and the
# question together), `knowledge` is knowledge-driven (the answer is in the text only).
# Across the zoo's models, we compute the same rank correlations per task family, with a
# bootstrap interval over models, and set them beside the paper's.

# %% tags=["parameters", "hide-input"]
models = ["zoo"]
datasets = ["world"]
source = "cache"
n_samples = 2000
seed = 0
device = "cpu"
n_boot = 2000

# %% tags=["hide-input"]
import numpy as np
import pandas as pd
import seaborn as sns
import matplotlib.pyplot as plt

from pidlib.analysis import add_derived, correlation_table, load_paper, paper_correlations_long, verdict
from pidlib.analysis.tables import final_models
from pidlib.analysis.paper import zoo_regime
from pidlib.analysis.pipeline import get_spectra
from pidlib.analysis.nb import glue, md, no_cache_note, setup_style, symbol, fmt, fmt_ci

setup_style()
QUANTITIES = ["synergy", "unique2", "total", "interaction"]
QLABEL = {q: symbol(q) for q in QUANTITIES}

paper = paper_correlations_long()
paper_dv = load_paper("dvision")
spectra = add_derived(get_spectra(source, models, datasets, n_samples=n_samples, seed=seed, device=device))
out = final_models(spectra[spectra.layer == -1])
tasks_out = out[out.task != "all"] if (out.task != "all").any() else out
have_zoo = tasks_out["model"].nunique() >= 3

# %% tags=["hide-input"] mystnb={"figure": {"caption": "The paper's Spearman correlations across 26 models between accuracy and synergy S, unique language information U2, total information I(X1,X2;Y) and interaction information I(X1;X2;Y), per dataset (values as reported in arXiv 2603.29676; no intervals are reported). MMBench and POPE are the synergy-driven, Reefknot and PMC-VQA the knowledge-driven datasets.", "name": "fig-paper-regimes"}}
d = paper.assign(label=paper.quantity.map(QLABEL))
fig, ax = plt.subplots(figsize=(7.5, 3.4))
sns.barplot(data=d, x="dataset", y="rho", hue="label", hue_order=[QLABEL[q] for q in QUANTITIES], ax=ax)
ax.axhline(0, color="black", lw=0.8)
ax.set_ylabel("Spearman rho with accuracy")
ax.set_xlabel("")
ax.set_ylim(-1, 1)
ax.legend(fontsize=8, ncol=4, loc="lower left")
fig.tight_layout()
plt.show()

# %% tags=["hide-input"]
p_syn = paper[paper.regime == "synergy-driven"]
p_kno = paper[paper.regime == "knowledge-driven"]
glue("paper_syn_rhoS", float(p_syn[p_syn.quantity == "synergy"].rho.mean()))
glue("paper_kno_rhoS", float(p_kno[p_kno.quantity == "synergy"].rho.mean()))
glue("paper_kno_rhoU2", float(p_kno[p_kno.quantity == "unique2"].rho.mean()))
glue("paper_syn_rhoU2", float(p_syn[p_syn.quantity == "unique2"].rho.mean()))

# %% [markdown]
# In the paper, the mean $\rho$ between accuracy and $S$ is {glue:text}`paper_syn_rhoS:.2f`
# on the synergy-driven datasets and {glue:text}`paper_kno_rhoS:.2f` on the
# knowledge-driven ones; for $U_2$ it is {glue:text}`paper_syn_rhoU2:.2f` and
# {glue:text}`paper_kno_rhoU2:.2f` ({numref}`fig-paper-regimes`).
#
# ## The zoo, task by task

# %% tags=["hide-input"]
if have_zoo:
    corr = correlation_table(tasks_out, x="accuracy", quantities=QUANTITIES, by="task", n_boot=n_boot, seed=seed)
    corr["regime"] = corr.task.map(zoo_regime)
    display_corr = corr.assign(atom=corr.quantity.map(QLABEL))[["task", "regime", "atom", "rho", "lo", "hi", "n"]]
    md(f"Spearman $\\rho$ between accuracy and each quantity across the {tasks_out.model.nunique()} zoo models, "
       "per task family, with 95 % bootstrap percentile intervals over models:")
else:
    corr = pd.DataFrame()
    display_corr = None
    md(no_cache_note("A correlation across models needs the output-layer spectra of at least three zoo models.",
                     "make book-fresh"))
display_corr.round(3) if display_corr is not None else None

# %% tags=["hide-input"] mystnb={"figure": {"caption": "The zoo beside the paper. For each regime and quantity, the paper's mean Spearman rho over its datasets of that regime (grey diamonds) and the zoo's rho for each task family of that regime (coloured points, with 95 % bootstrap intervals over models).", "name": "fig-zoo-regimes"}}
if have_zoo:
    regimes = ["synergy-driven", "knowledge-driven"]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), sharey=True)
    for ax, reg in zip(axes, regimes):
        pm = paper[paper.regime == reg].groupby("quantity").rho.mean().reindex(QUANTITIES)
        ax.scatter(range(4), pm.values, marker="D", color="grey", s=60, label="paper (mean)", zorder=3)
        zc = corr[corr.regime == reg]
        for j, (task, g) in enumerate(zc.groupby("task")):
            g = g.set_index("quantity").reindex(QUANTITIES)
            xs = np.arange(4) + 0.15 * (j + 1)
            ax.errorbar(xs, g.rho, yerr=[g.rho - g.lo, g.hi - g.rho], fmt="o", capsize=3, label=f"zoo: {task}")
        ax.axhline(0, color="black", lw=0.8)
        ax.set_xticks(range(4), [QLABEL[q] for q in QUANTITIES])
        ax.set_title(reg)
        ax.set_ylim(-1.05, 1.05)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("Spearman rho with accuracy")
    fig.tight_layout()
    plt.show()

# %% tags=["hide-input"]
if have_zoo:
    lines, verdicts = [], []
    for reg in ["synergy-driven", "knowledge-driven"]:
        zc = corr[corr.regime == reg]
        if zc.empty:
            lines.append(f"- **{reg}**: the zoo has no task family of this regime in the cache.")
            continue
        for q in QUANTITIES:
            prho = float(paper[(paper.regime == reg) & (paper.quantity == q)].rho.mean())
            for r in zc[zc.quantity == q].itertuples():
                v = verdict(prho, r.rho, r.lo, r.hi)
                verdicts.append(v)
                lines.append(f"- **{reg}, {QLABEL[q]}** (`{r.task}`): paper {prho:+.2f}, zoo "
                             f"{fmt_ci(r.rho, r.lo, r.hi)} → **{v}**.")
    counts = pd.Series(verdicts, dtype=object).value_counts()
    md("Where the miniature agrees with the paper, comparison by comparison (a comparison *agrees* "
       "when the zoo's interval excludes zero on the paper's side, *disagrees* when it excludes zero on "
       "the other side, and is *inconclusive* when it contains zero):\n\n" + "\n".join(lines)
       + "\n\nIn total: " + ", ".join(f"{n} {k}" for k, n in counts.items()) + ".")

# %% [markdown]
# ## The $D_\text{vision}$ intervention
#
# $D_\text{vision}$ is the accuracy lost when the image is removed. In the paper the image
# is dropped from the input; here the language-only probe replaces the image tokens with
# calibrated noise, so $D_\text{vision}$ = accuracy of the full probe − accuracy of the
# language-only probe, per model and task family.

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Spearman rho between the image-removal accuracy drop D_vision and synergy S: the paper's value per dataset (grey bars, as reported) and the zoo's per task family (coloured points with 95 % bootstrap intervals over models, when cached).", "name": "fig-dvision"}}
fig, ax = plt.subplots(figsize=(7.5, 3.2))
labels = list(paper_dv.dataset)
ax.bar(range(len(labels)), paper_dv.rho_dvision_S.astype(float), color="#bbbbbb", label="paper")
dv = pd.DataFrame()
if have_zoo:
    dv = correlation_table(tasks_out, x="d_vision", quantities=["synergy"], by="task", n_boot=n_boot, seed=seed)
    base = len(labels)
    for j, r in enumerate(dv.itertuples()):
        ax.errorbar(base + j, r.rho, yerr=[[r.rho - r.lo], [r.hi - r.rho]], fmt="o", capsize=3)
    labels += [f"zoo: {t}" for t in dv.task]
ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=8)
ax.axhline(0, color="black", lw=0.8)
ax.set_ylabel("Spearman rho (D_vision, S)")
ax.set_ylim(-1.05, 1.05)
fig.tight_layout()
plt.show()

# %% tags=["hide-input"]
glue("paper_dv_min", float(paper_dv.rho_dvision_S.astype(float).min()))
glue("paper_dv_max", float(paper_dv.rho_dvision_S.astype(float).max()))
if have_zoo and len(dv):
    pmean = float(paper_dv.rho_dvision_S.astype(float).mean())
    md("The zoo's $D_\\text{vision}$–$S$ correlations: " + "; ".join(
        f"`{r.task}` {fmt_ci(r.rho, r.lo, r.hi)} ({verdict(pmean, r.rho, r.lo, r.hi)})" for r in dv.itertuples()) + ".")
else:
    md(no_cache_note("The intervention needs accuracies of the full and language-only probes of several zoo models.",
                     "make book-fresh"))

# %% [markdown]
# The paper reports $\rho(D_\text{vision}, S)$ between {glue:text}`paper_dv_min:.2f` and
# {glue:text}`paper_dv_max:.2f` ({numref}`fig-dvision`), all positive: models with more
# synergy lose more when the image goes. With few models in the zoo the intervals are
# wide, and a correlation across a handful of models constrains little; see
# {ref}`ch-sensitivity` for what the correlations can and cannot say.
