"""Validation of BATCH against exact PIDs, and the three coherence constructions compared.

Run: ``.venv/bin/python benchmarks/validation.py`` (about an hour on the 2-core machine;
``--quick`` for one seed and two sample sizes). Writes, with provenance sidecars:

* ``data/results/validation.csv``: every case of
  :func:`pidlib.estimators.validation_cases` (gates AND, SUM, XOR, RDN, UNQ, COPY and three
  random joints) sampled stratified, embedded as noisy 64-d codes (``features=codes``) or
  replaced by pure noise (``features=noise``: the control), at n_fit = 250, 500, 1000,
  2000 with 1000 eval rows, three seeds: BATCH's atoms against ``pid_exact``.
* ``data/results/coherence_modes.csv``: the same estimator with the three constructions of
  the unimodal marginals (``project``, the default; ``row``, the published code's;
  ``symmetric``, pidlib 0.1's) on the cases the shared notes name: a coherent gate (AND),
  XOR with contradicting unimodal probes (p(y|x1) = (0.9, 0.1), p(y|x2) = (0.1, 0.9) on
  every row) and independent Dirichlet(0.3) conditionals (LVLM-like incoherent probes).

Prints the summary tables recorded in ``benchmarks/RESULTS.md``.
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
ATOMS = ("redundancy", "unique1", "unique2", "synergy")


def coherence_modes(seed: int = 0, n: int = 1500) -> pd.DataFrame:
    """Atoms, coherence verdict and error (where an exact answer exists) per construction."""
    from pidlib import pid_batch, pid_exact
    from pidlib.estimators import gate, sample_discrete

    rng = np.random.default_rng(seed)
    cases = {}
    d = sample_discrete(gate("and"), n, embedding="noisy", dim=64, seed=seed, stratified=True, n_eval=1000)
    cases["and (coherent)"] = (d, pid_exact(gate("and")))
    d = sample_discrete(gate("xor"), n, embedding="noisy", dim=64, seed=seed, stratified=True, n_eval=1000)
    d = dict(d, p_y_x1=np.tile([0.9, 0.1], (len(d["x1"]), 1)), p_y_x2=np.tile([0.1, 0.9], (len(d["x1"]), 1)))
    cases["xor, contradicting probes"] = (d, None)
    m = n + 1000
    d = {"x1": rng.normal(size=(m, 8)), "x2": rng.normal(size=(m, 8)),
         **{k: rng.dirichlet(np.full(4, 0.3), size=m) for k in ("p_y_x1", "p_y_x2", "p_y_x1x2")}}
    cases["dirichlet(0.3) probes"] = (d, None)
    keys = ("x1", "x2", "p_y_x1", "p_y_x2", "p_y_x1x2")
    rows = []
    for name, (d, ex) in cases.items():
        for mode in ("project", "row", "symmetric"):
            r = pid_batch(*(d[k][:n] for k in keys), eval_data=tuple(d[k][n:] for k in keys), seed=seed,
                          coherence=mode)
            row = {"case": name, "coherence": mode, **{a: getattr(r, a) for a in ATOMS}, "total": r.total,
                   "I1": r.I1, "I2": r.I2, "coherent": r.coherent,
                   "kl_vis": r.diagnostics["coherence"]["kl_vis"], "kl_lang": r.diagnostics["coherence"]["kl_lang"],
                   "R_minus_I2": r.redundancy - r.I2,
                   "max_error": (max(abs(getattr(r, a) - getattr(ex, a)) for a in ATOMS) if ex else np.nan)}
            rows.append(row)
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="one seed, n_fit 250 and 500 (a few minutes)")
    ap.add_argument("--out", default=str(ROOT / "data" / "results"), help="output folder")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    from pidlib.estimators.validation import validation_table
    from pidlib.io import atomic_write_text, provenance, sidecar, write_json

    n_fits = (250, 500) if args.quick else (250, 500, 1000, 2000)
    seeds = (0,) if args.quick else (0, 1, 2)
    print(f"machine: {platform.machine()}, {torch.get_num_threads()} torch thread(s), torch {torch.__version__}")
    t0 = time.perf_counter()
    val = validation_table(n_fits, seeds=seeds)
    t_val = time.perf_counter() - t0
    t0 = time.perf_counter()
    modes = coherence_modes()
    t_modes = time.perf_counter() - t0

    out = Path(args.out)
    cmd = "python benchmarks/validation.py " + " ".join(argv if argv is not None else sys.argv[1:])
    for name, df, params in (("validation", val, {"n_fits": list(n_fits), "seeds": list(seeds), "n_eval": 1000,
                                                  "dim": 64, "sigma": 0.5, "stratified": True}),
                             ("coherence_modes", modes, {"n_fit": 1500, "n_eval": 1000, "seed": 0})):
        path = out / f"{name}.csv"
        atomic_write_text(path, df.to_csv(index=False, float_format="%.6g"))
        write_json(sidecar(path), provenance(command=cmd, parameters=params))
        print(f"wrote {path}")

    pd.set_option("display.width", 160)
    codes = val[val.features == "codes"]
    print(f"\nBATCH vs exact, max |atom error| over {len(seeds)} seed(s), bits ({t_val:.0f} s in all):")
    print(codes.pivot_table(index="case", columns="n_fit", values="max_error", aggfunc="max").round(4).to_string())
    print("\nall trained:", bool(codes.trained.all()), " all coherent:", bool(codes.coherent.all()))
    noise = val[val.features == "noise"]
    print("\ncontrol, features replaced by noise: max |atom error| (bits)")
    print(noise.pivot_table(index="case", columns="n_fit", values="max_error", aggfunc="max").round(4).to_string())
    print("\nci_gap (bits) with codes vs with noise features, mean over seeds and sizes:")
    print(val.pivot_table(index="case", columns="features", values="ci_gap", aggfunc="mean").round(4).to_string())
    print(f"\ncoherence constructions ({t_modes:.0f} s):")
    cols = ["case", "coherence", *ATOMS, "total", "R_minus_I2", "coherent", "max_error"]
    print(modes[cols].round(4).to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
