"""From stored probe rows to a spectrum: R, U1, U2, S, I(X1,X2;Y), accuracy, D_vision.

The estimator is trained on the fit split's rows and evaluated on the eval split's
(``pid_batch(..., eval_data=...)``), with X1 = ``x1``, X2 = ``x2``, p(y|x1) = the
visual-only probe ``p_vis``, p(y|x2) = the language-only probe ``p_lang`` and
p(y|x1,x2) = the full probe ``p_full`` (or the logit-lens columns of one layer).

Accuracy is the expected accuracy of the argmax of a stored distribution with ties split
evenly: a sample whose distribution fell back to uniform (option mass below tau) counts
1/k. ``D_vision`` = accuracy of the full probe - accuracy of the language-only probe (the
paper's drop without the image), both computed the same way on the eval split.
"""
from __future__ import annotations

import numpy as np

__all__ = ["probe_arrays", "tie_accuracy", "spectrum"]

_LETTERS = "ABCDEFGH"


def probe_arrays(store, layer: int = -1) -> dict:
    """x1, x2, p_full, p_vis, p_lang (n, K) and answers of a run; ``layer >= 0`` takes
    the logit-lens distributions of that decoder layer instead of the output's."""
    probes = ("full", "vis", "lang")
    cols = ["x1", "x2", "answer", "n_options"] + [f"p_{p}" for p in probes]
    if layer >= 0:
        cols += [f"lens_{p}" for p in probes]
    a = store.read_arrays(cols)
    if len(a["index"]) == 0:
        raise ValueError(f"run {store.dir} has no rows")
    if layer >= 0:
        K = a["p_full"].shape[1]
        for p in probes:
            flat = a.pop(f"lens_{p}")
            n_layers = flat.shape[1] // K
            if not 0 <= layer < n_layers:
                raise ValueError(f"layer {layer} out of range: the run has {n_layers} lens layers")
            a[f"p_{p}"] = flat.reshape(len(flat), n_layers, K)[:, layer]
    return a


def tie_accuracy(p: np.ndarray, answers, n_options) -> float:
    """Mean over samples with a gold answer of 1/|argmax set| if the gold is in it, else 0."""
    hits, n = 0.0, 0
    for row, ans, k in zip(p, answers, n_options):
        if ans is None or (isinstance(ans, float) and np.isnan(ans)):
            continue
        row = np.asarray(row[: int(k)], dtype=np.float64)
        best = np.flatnonzero(row >= row.max() - 1e-7)
        gold = _LETTERS.index(str(ans))
        hits += (1.0 / len(best)) if gold in best else 0.0
        n += 1
    return hits / n if n else float("nan")


def spectrum(fit_store, eval_store, *, layer: int = -1, n_boot: int = 0, seed: int = 0,
             ci: float = 0.95, device: str = "cpu", **config) -> dict:
    """PID spectrum of one model on one dataset (fit rows train, eval rows evaluate).

    Returns
    -------
    dict
        ``redundancy, unique1, unique2, synergy, total, I1, I2`` (bits, clipped),
        ``raw`` atoms, ``intervals`` ({quantity: [lo, hi]} when ``n_boot >= 2``),
        ``accuracy``, ``accuracy_language_only``, ``d_vision``, ``n_fit``, ``n_eval``,
        ``layer``, ``seed``.
    """
    from pidlib.estimators import bootstrap_pid, pid_batch

    f = probe_arrays(fit_store, layer)
    e = probe_arrays(eval_store, layer)
    fit = (f["x1"], f["x2"], f["p_vis"], f["p_lang"], f["p_full"])
    ev = (e["x1"], e["x2"], e["p_vis"], e["p_lang"], e["p_full"])
    intervals = {}
    if n_boot and n_boot >= 2:
        b = bootstrap_pid(*fit, eval_data=ev, n_boot=n_boot, seed=seed, ci=ci, device=device, **config)
        r = b.point
        intervals = {q: [float(lo), float(hi)] for q, (lo, hi) in b.intervals.items()}
    else:
        r = pid_batch(*fit, eval_data=ev, seed=seed, device=device, **config)
    acc = tie_accuracy(e["p_full"], e["answer"], e["n_options"])
    acc_lang = tie_accuracy(e["p_lang"], e["answer"], e["n_options"])
    out = r.as_dict()
    out.update(raw={k: float(v) for k, v in r.raw.items()}, intervals=intervals,
               accuracy=acc, accuracy_language_only=acc_lang, d_vision=acc - acc_lang,
               n_fit=int(len(f["index"])), n_eval=int(len(e["index"])), layer=int(layer), seed=int(seed),
               model=eval_store.model, dataset=eval_store.dataset)
    return out
