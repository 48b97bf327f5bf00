"""``python -m pidlib.zoo build [--config smoke|full] [--out DIR] [--threads N]``

Trains the configured zoo (resumable: models already built with the same config hash
are skipped) and writes ``manifest.json``. ``python -m pidlib.zoo list [--out DIR]``
prints the models of a built zoo with their eval accuracy.
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
    b.add_argument("--config", default="smoke", help="smoke (one small model, <= 2 min) or full (the book's zoo)")
    b.add_argument("--out", default=None, help="output folder (default data/zoo for full, data/zoo/smoke for smoke)")
    b.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    b.add_argument("--quiet", action="store_true", help="no progress bars")
    b.add_argument("--scales", default=None,
                   help="comma-separated subset of the config's scales (e.g. to build scales in parallel "
                        "processes; run once more without it to write the manifest)")
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
            print(f"{m['path']:40s} {m['kind']:10s} stage={m['stage']} step={m['step']} mean_acc={mean:.3f} "
                  + " ".join(f"{k}={v:.2f}" for k, v in acc.items()))
        return 0

    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch
    torch.set_num_threads(args.threads)
    from dataclasses import replace
    from pidlib.zoo.build import build, default_out
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
    path = build(cfg, args.out or default_out(args.config), progress=not args.quiet)
    print(f"[zoo] manifest: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
