"""``python -m pidlib.zoo build [--config smoke|class|full] [--out DIR] [--jobs N] [--prune]``

Trains the configured zoo (resumable: models already built with the same config hash
are skipped) and writes ``manifest.json``; prints each model's stage timings and the
wall time of the build. ``--jobs 2`` trains two (scale, seed) units at a time in worker
processes of one torch thread each (the weights are the same as with one job).
``--prune`` deletes model folders under ``--out`` that the config no longer produces.
``python -m pidlib.zoo list [--out DIR]`` prints the models of a built zoo with their
eval accuracy.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pidlib.zoo", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="train the zoo (resumable)")
    b.add_argument("--config", default="smoke",
                   help="smoke (one small model, about 1.5 min), class (8 small models, a few minutes) "
                        "or full (the book's zoo)")
    b.add_argument("--out", default=None, help="output folder (default data/zoo for full, data/zoo/CONFIG otherwise)")
    b.add_argument("--threads", type=int, default=1, help="torch threads per process (default 1)")
    b.add_argument("--jobs", type=int, default=1, help="worker processes, one (scale, seed) unit each (default 1)")
    b.add_argument("--prune", action="store_true", help="delete model folders the config no longer produces")
    b.add_argument("--quiet", action="store_true", help="no progress bars")
    b.add_argument("--scales", default=None,
                   help="comma-separated subset of the config's scales (the manifest then lists what is built)")
    b.add_argument("--seeds", default=None, help="comma-separated subset of the config's seeds")
    ls = sub.add_parser("list", help="list the models of a built zoo")
    ls.add_argument("--out", default="data/zoo")
    args = ap.parse_args(argv)

    if args.cmd == "list":
        man = Path(args.out) / "manifest.json"
        if not man.is_file():
            print(f"{man}: no manifest (build the zoo first)", file=sys.stderr)
            return 1
        for m in json.loads(man.read_text())["models"]:
            acc = m.get("accuracy") or {}
            mean = sum(acc.values()) / len(acc) if acc else float("nan")
            print(f"{m['path']:44s} {m['kind']:10s} stage={m['stage']} step={m['step']} mean_acc={mean:.3f} "
                  + " ".join(f"{k}={v:.2f}" for k, v in acc.items()))
        return 0

    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch
    torch.set_num_threads(args.threads)
    from dataclasses import replace
    from pidlib.zoo.build import Builder, default_out
    from pidlib.zoo.config import CONFIGS
    if args.config not in CONFIGS:
        ap.error(f"unknown config {args.config!r}; known: {', '.join(CONFIGS)}")
    cfg = CONFIGS[args.config]
    if args.scales:
        want = tuple(x.strip() for x in args.scales.split(",") if x.strip())
        bad = [x for x in want if x not in cfg.scales]
        if bad:
            ap.error(f"scales {bad} not in config {cfg.name!r} (has {', '.join(cfg.scales)})")
        cfg = replace(cfg, scales=want)  # same member hashes: params do not include the scale list
    if args.seeds:
        try:
            want = tuple(int(x) for x in args.seeds.split(",") if x.strip())
        except ValueError:
            ap.error(f"--seeds must be comma-separated integers, got {args.seeds!r}")
        bad = [x for x in want if x not in cfg.seeds]
        if bad:
            ap.error(f"seeds {bad} not in config {cfg.name!r} (has {', '.join(map(str, cfg.seeds))})")
        cfg = replace(cfg, seeds=want)
    if args.jobs < 1:
        ap.error("--jobs must be >= 1")
    if args.prune and (args.scales or args.seeds):
        ap.error("--prune needs the whole config (no --scales / --seeds)")
    builder = Builder(cfg, args.out or default_out(args.config), progress=not args.quiet)
    path = builder.build(jobs=args.jobs)
    if args.prune:
        builder.prune()
    print(f"[zoo] manifest: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
