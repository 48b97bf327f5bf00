"""The classroom budget: train, probe and estimate the ``class`` zoo, end to end.

Runs ``python -m pidlib.zoo build --config class`` and ``python -m pidlib.analysis fresh
--zoo-config class`` (8 small members of the four families x 2 seeds, 2 stage-1 models)
with classroom settings, and prints the wall time of each stage. The goal
(``benchmarks/RESULTS.md``): at most 10 minutes on the 2-core machine.

    python benchmarks/classroom.py [--jobs 2] [--n-samples 400]

The spectra go to ``data/results/class/spectra.csv`` (never the book's table). A zoo that
is already built is reused; pass ``--clean`` to time the build too (it deletes
``data/zoo/class`` first).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--n-samples", type=int, default=400, help="samples per (member, task family)")
    ap.add_argument("--n-boot", type=int, default=4)
    ap.add_argument("--clean", action="store_true", help="delete data/zoo/class first (time the build)")
    ap.add_argument("--no-layers", action="store_true", help="no logit-lens spectra (the spectra stage's larger part)")
    args = ap.parse_args(argv)
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    if args.clean:
        shutil.rmtree(ROOT / "data" / "zoo" / "class", ignore_errors=True)
    times = {}
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pidlib.zoo", "build", "--config", "class", "--jobs", str(args.jobs),
                    "--quiet"], cwd=ROOT, env=env, check=True)
    times["build"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    n = args.n_samples
    subprocess.run([sys.executable, "-m", "pidlib.analysis", "fresh", "--zoo-config", "class", "--jobs",
                    str(args.jobs), "--n-samples", str(n), "--n-samples-other", str(n // 2), "--layer-samples",
                    str(n // 2), "--n-boot", str(args.n_boot), *(["--no-layers"] if args.no_layers else [])],
                   cwd=ROOT, env=env, check=True)
    times["probe + spectra"] = time.perf_counter() - t0
    total = sum(times.values())
    for k, v in times.items():
        print(f"{k:16s} {v:7.1f} s")
    print(f"{'total':16s} {total:7.1f} s  ({total / 60:.1f} min; goal 10 min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
