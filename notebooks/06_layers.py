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
# (ch-layers)=
# # Does the decision form in the paper's three phases through the layers? No: the zoo shows the opposite
#
# **The zoo's answer: {glue:text}`answer`.** It rests on the verdicts of the
# {glue:text}`answer_probes` (the kind of probe to believe; {ref}`sec-believe`); the
# scoreboard below has every kind.
#
# :::{admonition} In this chapter
# :class: tip
# - how the logit lens turns every layer's hidden state into option probabilities, and
#   so into a spectrum per layer;
# - the paper's three phases through the layers (Finding 5);
# - how the zoo's layer-wise spectra compare, statement by statement, with the noise
#   floor respected.
# :::
#
# **The paper's claim** {cite:p}`pidlvlm2026`. Projecting every layer's hidden state
# through the language-model head, the *logit lens* of
# {cite:t}`nostalgebraist2020logitlens`, gives option distributions per layer, hence a
# spectrum per layer. In InternVL3, Qwen2.5-VL and LLaVA-1.5 the paper sees three phases:
# little decision information in early layers, which appears in the middle-to-late
# layers; the unique language information $U_2$ peaking at the penultimate layer; and
# synergy $S$ appearing at the last layer. Redundancy $R$ and unique visual information
# $U_1$ stay small throughout. The paper shows this in figures; `data/paper/` holds no
# per-layer numbers, so the zoo is compared with these statements.
#
# **The zoo's test.** The same logit-lens spectra for each of the zoo's final models
# (its probe runs store every layer, `--layers`), estimated on 1000 of each run's rows
# (500 to fit, 500 to evaluate; the output spectra use 2000), and the statements checked
# one by one. The per-layer reference is computed at its point, without an interval. The
# scoreboard of this chapter:

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
lay = ch.spectra(probes=None, layer="layers")
have_zoo = len(lay) > 0
if have_zoo:
    # All-task rows when the table has them; else the mean over task families (a layer is
    # usable only when every task's spectrum at that layer is).
    lay = lay[lay.task == "all"] if (lay.task == "all").any() else lay
    lay = lay.groupby(["probes", "model", "layer"], as_index=False).agg(
        **{a: (a, "mean") for a in ATOMS + ["total"]}, usable=("usable", "all"))
    lay["n_layers"] = lay.groupby(["probes", "model"]).layer.transform("max") + 1
    lay["depth"] = (lay.layer + 1) / lay.n_layers

# %% tags=["remove-input"]
if ch.have_zoo:
    board = ch.scoreboard("ch-layers")
    ch.answer("ch-layers", board)
    display(nb.scoreboard_table(board))
else:
    ch.answer("ch-layers")
    nb.md(nb.no_cache_note("Layer-wise spectra need zoo runs with the logit lens (`pidlib run ... --layers`)."))

# %% [markdown]
# ## The spectra, layer by layer
#
# Each panel is one model ({numref}`fig-layers`); filled markers are coherent spectra,
# crosses incoherent ones (their atoms are not a decomposition and are drawn only to show
# where they fall).

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Logit-lens spectra of the zoo models (one panel each): the four atoms (bits) at each layer, against relative depth (layer / number of layers; 1 is the last layer). Crosses mark layers whose spectrum is incoherent.", "name": "fig-layers"}}
if have_zoo:
    ms = sorted(lay.model.unique())
    fig, axes = nb.grid(len(ms), ncols=3, height=2.2)
    for ax, m in zip(axes, ms):
        g = lay[lay.model == m].sort_values("layer")
        for a in ATOMS:
            ax.plot(g.depth, g[a], color=nb.ATOM_COLORS[a], lw=1.2)
            ok, bad = g[g.usable], g[~g.usable]
            ax.scatter(ok.depth, ok[a], color=nb.ATOM_COLORS[a], s=14, zorder=3)
            ax.scatter(bad.depth, bad[a], color=nb.ATOM_COLORS[a], marker="x", s=22, zorder=3)
        ax.axhline(0, color="black", lw=0.6)
        ax.set_title(nb.short_model(m))
        ax.set_xlabel("relative depth")
    handles = [Line2D([], [], color=nb.ATOM_COLORS[a], marker="o", ms=4, label=nb.ATOM_LABELS[a]) for a in ATOMS]
    handles.append(Line2D([], [], color="black", marker="x", ls="", label="incoherent layer"))
    axes[0].set_ylabel("bits")
    nb.legend_below(fig, handles, ncol=3)
    plt.show()

# %% [markdown]
# ## The statements, model by model
#
# Each statement of the paper as a comparison of atoms, judged with the noise floor
# ({ref}`sec-verdict-rule`): *holds* when the difference clears the floor on the claimed
# side, *fails* when it clears it on the other side, *within the floor* otherwise, and
# *incoherent* when a spectrum it needs is. "Small" means at most 10 % of the model's
# largest total.

# %% tags=["remove-cell"]
def judge(d: float) -> str:
    if np.isnan(d):
        return "incoherent"
    if d > V.FLOOR_BITS:
        return "holds"
    if d < -V.FLOOR_BITS:
        return "fails"
    return "within the floor"


def phase_checks(g: pd.DataFrame) -> dict:
    """The paper's four statements on one model's per-layer spectra."""
    g = g.sort_values("layer").reset_index(drop=True)
    L = len(g)
    u = g.usable.to_numpy()
    first, second = g.total.iloc[: L // 2].mean(), g.total.iloc[L // 2:].mean()
    out = {"information appears late": judge(second - first)}
    if L >= 3:
        pen = L - 2
        d_u2 = g.unique2.iloc[pen] - g.unique2.drop(index=pen).max() if u.all() else np.nan
        out["U2 peaks at the penultimate layer"] = judge(d_u2)
    else:
        out["U2 peaks at the penultimate layer"] = "too few layers"
    d_s = g.synergy.iloc[-1] - g.synergy.iloc[:-1].max() if (u.all() and L > 1) else np.nan
    out["S appears at the last layer"] = judge(d_s)
    small = 0.1 * max(g.total.max(), 1e-12) - max(g.redundancy.max(), g.unique1.max()) if u.all() else np.nan
    out["R and U1 stay small"] = judge(small)
    return out


check_rows = []
if have_zoo:
    for (k, m), g in lay.groupby(["probes", "model"]):
        check_rows.append({"probes": nb.probe_label(k, short=True), "model": m, **phase_checks(g)})
checks = pd.DataFrame(check_rows)
statements = [c for c in checks.columns if c not in ("probes", "model")]
noise_checks = checks[checks.probes == nb.probe_label("noise", short=True)] if len(checks) else checks
for i, c in enumerate(statements):
    nb.glue_num(f"layers_holds_{i}", int((noise_checks[c] == "holds").sum()), 0)
nb.glue_num("layers_models", len(noise_checks), 0)

# %% tags=["remove-input"]
if len(checks):
    colors = {"holds": nb.VERDICT_COLORS[V.REPRODUCED], "fails": nb.VERDICT_COLORS[V.REVERSED],
              "within the floor": "#eeeeee", "incoherent": "#d9d9d9", "too few layers": "#ffffff"}
    display(nb.table(checks, highlight={c: colors for c in statements}))
else:
    nb.md(nb.no_cache_note("Layer-wise spectra need zoo runs with the logit lens (`pidlib run ... --layers`)."))

# %% [markdown]
# The logit lens reads intermediate layers with the final head, which was trained only on
# the last layer's output; early layers can carry information the head cannot read. A
# flat early phase therefore means "not yet readable by the head", not "absent". The
# tuned lens of {cite:t}`belrose2023tunedlens` trains one affine map per layer to read it
# better; this book, like the paper, uses the plain logit lens.
