"""``python -m pidlib.analysis spectra|fresh``.

``spectra``: build ``data/results/spectra.csv`` from the cached runs under ``data/runs``.
``fresh``: rebuild the zoo, rerun the probes and then ``spectra`` (what ``make book-fresh``
runs before executing the notebooks).
"""
from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pidlib.analysis", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sp = sub.add_parser("spectra", help="spectra table from run stores")
    sp.add_argument("--runs", nargs="*", help="run store folders (default: every run under data/runs)")
    sp.add_argument("--out", default=None, help="output CSV (default data/results/spectra.csv)")
    sp.add_argument("--n-samples", type=int, default=None, help="use at most this many rows per run")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--n-boot", type=int, default=10, help="bootstrap replicates per estimate (0: none; default 10)")
    sp.add_argument("--no-layers", action="store_true", help="skip per-layer (logit lens) estimates")
    sp.add_argument("--layer-samples", type=int, default=1000, help="rows per run for the per-layer spectra")
    fr = sub.add_parser("fresh", help="zoo -> probe runs -> spectra table")
    fr.add_argument("--models", nargs="*", default=["zoo"], help="model ids/paths (default: the zoo)")
    fr.add_argument("--datasets", nargs="*", default=["world"], help="dataset specs (default: world task families)")
    fr.add_argument("--n-samples", type=int, default=2000, help="samples per final model and dataset")
    fr.add_argument("--n-samples-other", type=int, default=1000,
                    help="samples per dataset for the zoo's checkpoints and stage-1 models")
    fr.add_argument("--layer-samples", type=int, default=1000, help="rows per run for the per-layer spectra")
    fr.add_argument("--seed", type=int, default=0)
    fr.add_argument("--device", default="cpu")
    fr.add_argument("--n-boot", type=int, default=10,
                    help="bootstrap replicates per estimate (0: none; default 10, the cached run's budget)")
    fr.add_argument("--jobs", type=int, default=1,
                    help="worker processes for probing and spectra, one torch thread each (2 on 2 cores)")
    fr.add_argument("--zoo-config", default="full")
    fr.add_argument("--no-layers", action="store_true")
    fr.add_argument("--probe-sets", nargs="*", default=None,
                    help="probe configurations to run (names in pidlib.analysis.pipeline.PROBE_SETS; default: "
                         "DEFAULT_PROBE_SETS, noise and donors4)")
    fr.add_argument("--tau", type=float, default=0.3, help="threshold on the option mass (default 0.3)")
    fr.add_argument("--out-dir", default=None,
                    help="runs and spectra table go to OUT_DIR/runs and OUT_DIR/spectra.csv (default: data/ "
                         "for the zoo, ./pidlib-results for other models)")
    args = ap.parse_args(argv)

    import torch

    if args.cmd == "fresh":
        from pidlib.analysis.pipeline import fresh_spectra
        torch.set_num_threads(1)
        table = fresh_spectra(args.models, args.datasets, n_samples=args.n_samples, seed=args.seed,
                              n_samples_other=args.n_samples_other, layer_samples=args.layer_samples,
                              device=args.device, layers=not args.no_layers, n_boot=args.n_boot,
                              zoo_config=args.zoo_config, tau=args.tau, out_dir=args.out_dir, jobs=args.jobs,
                              **({"probe_sets": tuple(args.probe_sets)} if args.probe_sets else {}))
        print(f"wrote {len(table)} spectra rows")
        return 0

    from pidlib.analysis.provenance import provenance
    from pidlib.analysis.spectra import build_spectra, find_runs
    from pidlib.analysis.tables import default_path, write_spectra

    torch.set_num_threads(1)
    runs = args.runs if args.runs else find_runs()
    if not runs:
        print("no run stores found under data/runs", file=sys.stderr)
        return 1
    kw = dict(n_samples=args.n_samples, seed=args.seed, n_boot=args.n_boot, layer_samples=args.layer_samples)
    if args.no_layers:
        kw["layers"] = False
    table = build_spectra(runs, **kw)
    path = write_spectra(table, args.out or default_path(),
                         provenance(command="python -m pidlib.analysis " + " ".join(argv or sys.argv[1:]),
                                    parameters=vars(args), runs=[str(r) for r in runs]))
    print(f"wrote {len(table)} rows to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
