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
# (ch-five)=
# # PID in five distributions
#
# Before any vision-language model, five toy distributions show what the four atoms mean.
# Two binary sources $X_1$ and $X_2$ (think: "the picture" and "the question") and a
# target $Y$ (think: "the answer"). The partial information decomposition (PID) splits the
# information both sources carry about the target,
#
# $$
# I(X_1, X_2; Y) = R + U_1 + U_2 + S,
# $$
#
# into information that either source gives alone (**redundancy** $R$), that only $X_1$
# gives (**unique** $U_1$), that only $X_2$ gives ($U_2$), and that only the two together
# give (**synergy** $S$). We use the definition of Bertschinger et al. (2014), "BROJA":
# over the set $\Delta_P$ of distributions $Q$ with the same pairwise marginals
# $Q(x_1, y) = P(x_1, y)$ and $Q(x_2, y) = P(x_2, y)$,
#
# $$
# U_1 = \min_{Q \in \Delta_P} I_Q(X_1; Y \mid X_2), \qquad
# S = I_P(X_1, X_2; Y) - \min_{Q \in \Delta_P} I_Q(X_1, X_2; Y),
# $$
#
# and $R = I(X_1;Y) - U_1$, $U_2 = I(X_2;Y) - R$. Every atom is non-negative. The
# classical alternative, the interaction information (co-information)
# $I(X_1;X_2;Y) = I(X_1;Y) + I(X_2;Y) - I(X_1,X_2;Y) = R - S$, folds redundancy and
# synergy into one signed number: it is negative when synergy dominates and cannot say
# how much of each there is.
#
# Each distribution below is computed twice: **exactly** with `pid_exact` (a convex
# program on the joint table) and with **BATCH** (`pid_batch`, Liang et al. 2023), the
# neural estimator the book later applies to vision-language models. BATCH never sees the
# joint table: it gets feature vectors (here one-hot codes of $x_1$, $x_2$) and the three
# predictive distributions $P(Y \mid X_1)$, $P(Y \mid X_2)$, $P(Y \mid X_1, X_2)$, exactly
# what a model's three probes give in {ref}`ch-method`.

# %% tags=["parameters", "hide-input"]
# Parameters (papermill): this chapter needs no cached run; `source` is accepted for
# uniformity with the other chapters. `n_samples` rows are drawn for BATCH (half to fit,
# half to evaluate).
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
import torch

from pidlib import pid_exact, pid_batch
from pidlib.analysis.nb import ATOM_COLORS, ATOM_LABELS, glue, md, setup_style, fmt

torch.set_num_threads(1)
setup_style()
ATOMS = ["redundancy", "unique1", "unique2", "synergy"]


def joint(cells, shape):
    """Uniform joint over the listed (x1, x2, y) cells."""
    p = np.zeros(shape)
    for c in cells:
        p[c] += 1.0
    return p / p.sum()


bits = [(a, b) for a in (0, 1) for b in (0, 1)]
GATES = {
    "XOR": joint([(a, b, a ^ b) for a, b in bits], (2, 2, 2)),
    "AND": joint([(a, b, a & b) for a, b in bits], (2, 2, 2)),
    "RDN": joint([(a, a, a) for a in (0, 1)], (2, 2, 2)),
    "UNQ": joint([(a, b, a) for a, b in bits], (2, 2, 2)),
    "COPY": joint([(a, b, 2 * a + b) for a, b in bits], (2, 2, 4)),
}
DESCRIPTION = {
    "XOR": "Y = X1 xor X2",
    "AND": "Y = X1 and X2",
    "RDN": "X1 = X2 = Y",
    "UNQ": "Y = X1, X2 independent noise",
    "COPY": "Y = (X1, X2)",
}


def batch_inputs(p, n, rng):
    """Sample (x1, x2) from P, one-hot features, the true conditionals for every row."""
    n1, n2, k = p.shape
    pxx = p.sum(-1)
    flat = rng.choice(n1 * n2, size=n, p=pxx.ravel())
    a, b = np.unravel_index(flat, (n1, n2))
    p_y_x1 = p.sum(1) / p.sum((1, 2))[:, None]
    p_y_x2 = p.sum(0) / p.sum((0, 2))[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        p_y_x12 = np.nan_to_num(p / pxx[..., None])
    return (np.eye(n1)[a], np.eye(n2)[b], p_y_x1[a], p_y_x2[b], p_y_x12[a, b])


rng = np.random.default_rng(seed)
rows = []
for name, p in GATES.items():
    ex = pid_exact(p)
    x1, x2, p1, p2, p12 = batch_inputs(p, n_samples, rng)
    half = n_samples // 2
    bt = pid_batch(x1[:half], x2[:half], p1[:half], p2[:half], p12[:half],
                   eval_data=(x1[half:], x2[half:], p1[half:], p2[half:], p12[half:]), seed=seed)
    for method, r in (("exact", ex), ("BATCH", bt)):
        rows.append({"gate": name, "method": method, **r.as_dict(),
                     "interaction": r.I1 + r.I2 - r.total})
spectra = pd.DataFrame(rows)

# %% [markdown]
# The five distributions, with $X_1$, $X_2$ uniform bits unless stated:
#
# | name | rule | what PID should say |
# |---|---|---|
# | XOR | $Y = X_1 \oplus X_2$ | all synergy: neither source alone says anything |
# | AND | $Y = X_1 \wedge X_2$ | a mix of redundancy and synergy |
# | RDN | $X_1 = X_2 = Y$ | all redundancy: either source suffices |
# | UNQ | $Y = X_1$ | all unique to $X_1$ |
# | COPY | $Y = (X_1, X_2)$ | one bit unique to each source |
#
# The spectra, in bits:

# %% tags=["hide-input"]
wide = spectra.pivot(index="gate", columns="method", values=ATOMS + ["total"])
wide = wide.reindex(list(GATES))
wide = wide[[(a, m) for a in ATOMS + ["total"] for m in ("exact", "BATCH")]]
wide.columns = [f"{a} ({m})" for a, m in wide.columns]
wide.round(3)

# %% tags=["hide-input"] mystnb={"figure": {"caption": "The four PID atoms (bits) of five toy distributions, computed exactly from the joint table (solid bars) and by BATCH from one-hot features and the true conditional distributions (hatched bars). Each gate puts its information where its rule says: XOR in synergy, RDN in redundancy, UNQ in the unique information of X1, COPY one bit unique to each source, AND split between redundancy and synergy.", "name": "fig-five-gates"}}
long = spectra.melt(id_vars=["gate", "method"], value_vars=ATOMS, var_name="atom", value_name="bits")
fig, axes = plt.subplots(1, len(GATES), figsize=(11, 3.2), sharey=True)
for ax, gate in zip(axes, GATES):
    d = long[long.gate == gate]
    sns.barplot(data=d, x="atom", y="bits", hue="method", hue_order=["exact", "BATCH"],
                palette=["#4c72b0", "#c44e52"], ax=ax, legend=False)
    for bar, hatch in zip(ax.patches, ["" ] * 4 + ["//"] * 4):
        bar.set_hatch(hatch)
    ax.set_title(f"{gate}: {DESCRIPTION[gate]}", fontsize=9)
    ax.set_xticks(range(4), ["R", "U1", "U2", "S"])
    ax.set_xlabel("")
axes[0].set_ylabel("bits")
from matplotlib.patches import Patch
fig.legend(handles=[Patch(facecolor="#4c72b0", label="exact"), Patch(facecolor="#c44e52", hatch="//", label="BATCH")],
           loc="upper right", ncol=2, fontsize=8, frameon=False)
fig.tight_layout(rect=(0, 0, 1, 0.93))
plt.show()

# %% tags=["hide-input"]
ex = spectra[spectra.method == "exact"].set_index("gate")
bt = spectra[spectra.method == "BATCH"].set_index("gate")
diff = (ex[ATOMS] - bt[ATOMS]).abs()
worst_gate = diff.max(axis=1).idxmax()
glue("and_R", float(ex.loc["AND", "redundancy"]))
glue("and_S", float(ex.loc["AND", "synergy"]))
glue("xor_II", float(ex.loc["XOR", "interaction"]))
glue("rdn_II", float(ex.loc["RDN", "interaction"]))
glue("and_II", float(ex.loc["AND", "interaction"]))
glue("max_diff", float(diff.values.max()))
from IPython.display import Markdown
glue("worst_gate", Markdown(str(worst_gate)))
glue("n_fit", int(n_samples // 2))

# %% [markdown]
# The exact solution reproduces the textbook values: the AND gate carries
# {glue:text}`and_R:.3f` bits of redundancy and {glue:text}`and_S:.3f` bits of synergy.
# BATCH, fitted on {glue:text}`n_fit` rows, lands at most {glue:text}`max_diff:.3f` bits
# from the exact atoms (largest gap on {glue:md}`worst_gate`).
#
# ## What interaction information hides
#
# The interaction information $I(X_1;X_2;Y)$ is {glue:text}`xor_II:.2f` bits for XOR,
# {glue:text}`rdn_II:.2f` for RDN and {glue:text}`and_II:.3f` for AND. A single signed
# number: XOR is "negative", RDN "positive", and AND, which has *both* redundancy and
# synergy, comes out as their difference, as if it had a little synergy and nothing else.
# The atoms keep the two apart ({numref}`fig-interaction`).

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Interaction information I(X1;X2;Y) (black diamonds) against the redundancy and synergy atoms (bars, exact solution) for each gate. Interaction information equals R - S: negative for XOR, positive for RDN, and for AND it nets redundancy against synergy, so the two contributions cannot be told apart from it.", "name": "fig-interaction"}}
d = ex.reset_index()
fig, ax = plt.subplots(figsize=(7, 3.2))
xs = np.arange(len(d))
ax.bar(xs - 0.18, d["redundancy"], width=0.36, color=ATOM_COLORS["redundancy"], label=ATOM_LABELS["redundancy"])
ax.bar(xs + 0.18, d["synergy"], width=0.36, color=ATOM_COLORS["synergy"], label=ATOM_LABELS["synergy"])
ax.scatter(xs, d["interaction"], marker="D", color="black", zorder=3, label="I(X1;X2;Y)")
ax.axhline(0, color="black", lw=0.8)
ax.set_xticks(xs, d["gate"])
ax.set_ylabel("bits")
ax.legend(fontsize=8, loc="lower left")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## For the classroom
#
# - Change the AND gate into OR (`a | b`): why do the atoms not change?
# - Add noise to RDN (let $X_2$ flip with probability 0.1): where does the lost
#   redundancy go?
# - Rerun with a smaller `n_samples` (e.g. `papermill notebooks/01_five_distributions.ipynb
#   out.ipynb -p n_samples 200`): how far does BATCH drift from the exact values?
#
# The next chapter turns a vision-language model into exactly these inputs.
