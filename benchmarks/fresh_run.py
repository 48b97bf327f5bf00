"""The full fresh run, end to end, from nothing: build the zoo, probe, estimate.

Clones this repository's committed state (``git clone``) into a scratch folder, deletes the
clone's zoo (``data/zoo``) so that the build trains every model, and runs what regenerates
the cached results there::

    python -m pidlib.analysis fresh --jobs 2

with one torch thread per process. Prints the stage timings (build, probe, spectra) that
the run reports, the wall time of the whole command, and how far the clone's results are
from the committed ones: the largest weight difference of each rebuilt model and the
largest difference of the spectra table's atoms. The goal (issue 10, ``RESULTS.md``):
at most 45 minutes on the 2-core machine.

    python benchmarks/fresh_run.py [--jobs 2] [--workdir /tmp/fresh-run] [--keep]

The clone is deleted afterwards unless ``--keep`` (its ``data/results/spectra.csv`` and the
rebuilt ``data/zoo`` are then the fresh run's). Nothing in this checkout is written.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ATOMS = ("redundancy", "unique1", "unique2", "synergy")


def weight_diff(a: Path, b: Path) -> float:
    """Largest absolute difference between two ``model.safetensors`` files (inf if the
    tensors differ in name or shape)."""
    from safetensors.numpy import load_file

    x, y = load_file(str(a)), load_file(str(b))
    if set(x) != set(y) or any(x[k].shape != y[k].shape for k in x):
        return float("inf")
    return max((float(abs(x[k].astype("float64") - y[k]).max()) for k in x if x[k].size), default=0.0)


def table_diff(a: Path, b: Path) -> dict:
    """Rows only in one table, and the largest atom difference over the rows of both
    (keyed by model, task, layer, probes)."""
    import pandas as pd

    key = ["model", "task", "layer", "probes"]
    x, y = pd.read_csv(a), pd.read_csv(b)
    m = x.merge(y, on=key, suffixes=("_a", "_b"))
    diffs = {at: float((m[f"{at}_a"] - m[f"{at}_b"]).abs().max()) for at in ATOMS} if len(m) else {}
    return {"rows_a": len(x), "rows_b": len(y), "rows_both": len(m), "max_atom_diff_bits": diffs}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--workdir", default=None, help="scratch folder for the clone (default: a temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the clone")
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = ap.parse_args(argv)

    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="fresh-run-"))
    clone = work / "repo"
    if clone.exists():
        shutil.rmtree(clone)
    work.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    shutil.rmtree(clone / "data" / "zoo")
    shutil.rmtree(clone / "data" / "runs", ignore_errors=True)
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PIDLIB_ROOT=str(clone),
               PYTHONPATH=str(clone))
    cmd = [sys.executable, "-m", "pidlib.analysis", "fresh", "--jobs", str(args.jobs)]
    print("$", " ".join(cmd[1:]), f"(in {clone})", flush=True)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=clone, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    stages = {}
    for line in proc.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
        m = re.match(r"stage timings \(s\): (.*)", line.strip())
        if m:
            stages = {k: float(v) for k, v in (p.rsplit(" ", 1) for p in m.group(1).split(", "))}
    if proc.wait() != 0:
        print(f"fresh run failed (exit {proc.returncode})", file=sys.stderr)
        return 1
    wall = time.perf_counter() - t0

    man = json.loads((clone / "data" / "zoo" / "manifest.json").read_text())
    wdiff = {}
    for mdl in man["models"]:
        a = clone / "data" / "zoo" / mdl["path"] / "model.safetensors"
        b = ROOT / "data" / "zoo" / mdl["path"] / "model.safetensors"
        if a.is_file() and b.is_file():
            wdiff[mdl["path"]] = weight_diff(a, b)
    tdiff = table_diff(clone / "data" / "results" / "spectra.csv", ROOT / "data" / "results" / "spectra.csv")
    out = {"wall_seconds": round(wall, 1), "stages_seconds": stages, "zoo_build_seconds": man.get("build_seconds"),
           "models": len(man["models"]), "max_weight_diff": max(wdiff.values(), default=float("nan")),
           "models_compared": len(wdiff), "spectra": tdiff, "jobs": args.jobs}
    print()
    for k, v in stages.items():
        print(f"{k:10s} {v:8.1f} s")
    print(f"{'total':10s} {wall:8.1f} s  ({wall / 60:.1f} min; goal 45 min)")
    print(f"rebuilt models vs committed: {len(wdiff)} compared, largest weight difference {out['max_weight_diff']:.3g}")
    print(f"spectra vs committed: {tdiff['rows_both']} rows in both ({tdiff['rows_a']} fresh, {tdiff['rows_b']} "
          f"committed); largest atom difference (bits): "
          + ", ".join(f"{k} {v:.3g}" for k, v in tdiff["max_atom_diff_bits"].items()))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    if not args.keep and not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
