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
# # Finding 5: three phases through the layers
#
# **The paper's claim.** Projecting every layer's hidden state through the language-model
# head (the *logit lens*) gives option distributions per layer, hence a spectrum per
# layer. In InternVL3, Qwen2.5-VL and LLaVA-1.5 the paper sees three phases: little
# decision information in early layers, which appears in the middle-to-late layers; the
# unique language information $U_2$ peaking at the penultimate layer; and synergy $S$
# appearing at the last layer. Redundancy $R$ and unique visual information $U_1$ stay
# small throughout. The paper shows this in figures; `data/paper/` holds no per-layer
# numbers, so the zoo is compared with these four statements.
#
# **The zoo's test.** The same logit-lens spectra for each zoo model run with `--layers`,
# and the four statements checked one by one from the numbers.

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
from pidlib.analysis.nb import ATOM_COLORS, ATOM_LABELS, glue, md, no_cache_note, setup_style

setup_style()
ATOMS = ["redundancy", "unique1", "unique2", "synergy"]
spectra = add_derived(get_spectra(source, models, datasets, n_samples=n_samples, seed=seed, device=device))
lay = final_models(spectra[spectra.layer >= 0]).copy()
have_zoo = len(lay) > 0
if have_zoo:
    # Prefer the all-task rows; else average the task families.
    lay = lay[lay.task == "all"] if (lay.task == "all").any() else lay
    lay = lay.groupby(["model", "layer"], as_index=False)[ATOMS + ["total"]].mean()
    lay["n_layers"] = lay.groupby("model").layer.transform("max") + 1
    lay["depth"] = (lay.layer + 1) / lay.n_layers

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Logit-lens spectra of the zoo models: the four atoms (bits) at each layer, against relative depth (layer / number of layers; 1 is the last layer).", "name": "fig-layers"}}
if have_zoo:
    ms = sorted(lay.model.unique())
    fig, axes = plt.subplots(1, len(ms), figsize=(3.4 * len(ms), 3.2), sharey=True, squeeze=False)
    for ax, m in zip(axes[0], ms):
        g = lay[lay.model == m].sort_values("layer")
        for a in ATOMS:
            ax.plot(g.depth, g[a], marker="o", ms=3, color=ATOM_COLORS[a], label=ATOM_LABELS[a])
        ax.set_title(m.rsplit("/", 1)[-1], fontsize=9)
        ax.set_xlabel("relative depth")
    axes[0][0].set_ylabel("bits")
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    plt.show()

# %% tags=["hide-input"]
def phase_checks(g: pd.DataFrame) -> dict:
    """The paper's four statements, evaluated on one model's per-layer spectra."""
    g = g.sort_values("layer")
    L = len(g)
    first_half = g.total.iloc[: L // 2].mean()
    second_half = g.total.iloc[L // 2:].mean()
    u2_peak = int(g.unique2.to_numpy().argmax())
    s_last = g.synergy.iloc[-1]
    s_before = g.synergy.iloc[:-1].max() if L > 1 else np.nan
    small = max(g.redundancy.max(), g.unique1.max()) <= 0.1 * max(g.total.max(), 1e-12)
    return {"info appears late": bool(second_half > first_half),
            "U2 peaks at penultimate layer": bool(u2_peak == L - 2),
            "S appears at last layer": bool(s_last > s_before),
            "R and U1 stay small": bool(small)}


if have_zoo:
    checks = pd.DataFrame({m: phase_checks(g) for m, g in lay.groupby("model")}).T
    held = checks.sum(axis=0)
    glue("layers_models", int(len(checks)))
    lines = [f"- *{c}* holds for {int(held[c])} of {len(checks)} zoo model(s)." for c in checks.columns]
    md("The paper's statements on the zoo ('small' meaning at most 10 % of the largest total information):\n\n"
       + "\n".join(lines))
    display(checks)
else:
    md(no_cache_note("Layer-wise spectra need zoo runs with the logit lens (`pidlib run ... --layers`).",
                     "make book-fresh"))

# %% [markdown]
# The logit lens reads intermediate layers with the final head, which was trained only on
# the last layer's output; early layers can carry information the head cannot read. A
# flat early phase therefore means "not yet readable by the head", not "absent".
