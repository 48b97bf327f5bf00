"""Command line: ``pidlib run`` (probe a model on a dataset split) and ``pidlib spectrum``.

Examples
--------
Probe the fit and eval splits, then estimate the spectrum::

    pidlib run --model llava-hf/llava-1.5-7b-hf --dataset mmbench:MMBench_DEV_EN.tsv \\
        --split fit --out data/runs --device cuda
    pidlib run --model llava-hf/llava-1.5-7b-hf --dataset mmbench:MMBench_DEV_EN.tsv \\
        --split eval --fit-split fit --out data/runs --device cuda
    pidlib spectrum data/runs --fit-split fit --eval-split eval

Splits
------
When the samples carry a split (``meta["split"]``: an MMBench ``split`` column, a ``split``
field in conv JSON, the classroom world's spec), ``--split NAME`` selects the samples of
that split. Otherwise the split name only labels the run and every sample of the file is
used (pass a different file per split, or ``--fit-dataset`` for the fit split).

Noise statistics are computed once on the fit split (``--fit-split``, default: the run's
own split) and saved as ``noise_stats.safetensors`` in the fit split's run directory; the
other splits reuse them. Runs resume: samples already stored are skipped.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys

__all__ = ["main", "build_parser"]

PROBE_VERSION = "pidlib-three-probes-v1"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pidlib", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="probe a model on a dataset split (resumable)")
    r.add_argument("--model", required=True, help="Hugging Face id or local save_pretrained directory")
    r.add_argument("--dataset", required=True, help="FORMAT:PATH, e.g. mmbench:MMBench_DEV_EN.tsv")
    r.add_argument("--images", default=None, help="directory of the image files the rows reference")
    r.add_argument("--split", required=True, help="split name (selects meta['split'] when present)")
    r.add_argument("--out", required=True, help="run store root, e.g. data/runs")
    r.add_argument("--fit-split", default=None, help="split whose noise statistics to use (default: --split)")
    r.add_argument("--fit-dataset", default=None, help="FORMAT:PATH of the fit split (default: --dataset)")
    r.add_argument("--layers", action="store_true", help="also store logit-lens distributions per layer")
    r.add_argument("--batch-size", type=int, default=8, help="samples per forward (3 rows each)")
    r.add_argument("--share-prefix", action="store_true",
                   help="full and visual-only probes share the KV cache of everything before the question "
                        "(faster; same numbers within float tolerance)")
    r.add_argument("--device", default="cpu")
    r.add_argument("--dtype", default="auto", help="auto (bf16 on CUDA, fp32 on CPU), bf16, fp16, fp32")
    r.add_argument("--tau", type=float, default=0.3, help="confidence threshold on the option mass")
    r.add_argument("--seed", type=int, default=0, help="noise seed")
    r.add_argument("--noise-draws", type=int, default=1,
                   help="noise draws averaged per noised probe (default 1, as the paper)")
    r.add_argument("--donors", type=int, default=0,
                   help="donor probes: replace the question / image by those of D other samples of the "
                        "split instead of noise (default 0: noise probes, as the paper)")
    r.add_argument("--limit", "--n-samples", dest="limit", type=int, default=None,
                   help="use only the first N samples of each split")
    r.add_argument("--trust-remote-code", action="store_true", help="allow model repositories' own code")
    r.add_argument("--on-error", choices=("raise", "skip"), default="raise",
                   help="bad rows / images: stop with the error (default) or skip and report them")
    r.add_argument("--no-progress", action="store_true")

    s = sub.add_parser("spectrum", help="PID spectrum of stored runs (BATCH)")
    s.add_argument("dir", help="run store root (the --out of pidlib run)")
    s.add_argument("--fit-split", required=True)
    s.add_argument("--eval-split", required=True)
    s.add_argument("--model", default=None, help="only runs of this model")
    s.add_argument("--dataset", default=None, help="only runs of this dataset name")
    s.add_argument("--json", action="store_true", help="print JSON")
    s.add_argument("--n-boot", type=int, default=50, help="bootstrap replicates (0: point estimate)")
    s.add_argument("--layer", type=int, default=-1, help="logit-lens layer (-1: the model's output)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--device", default="cpu")
    return p


# ----------------------------------------------------------------------------- run
def select_split(ds, split: str, limit: int | None = None) -> list:
    """Samples of ``split`` (by ``meta['split']`` when the samples have one), first ``limit``."""
    have = {s.meta.get("split") for s in ds.samples if s.meta.get("split") is not None}
    if have:
        out = [s for s in ds.samples if s.meta.get("split") == split]
        if not out:
            raise SystemExit(f"error: {ds.source}: no samples of split {split!r} "
                             f"(splits present: {sorted(have)})")
    else:
        out = list(ds.samples)
    return out[:limit] if limit is not None else out


def model_fingerprint(model: str, adapter=None) -> str:
    """What identifies the weights behind ``--model``, so that retrained weights at the same
    path never reuse stored rows: for a local directory, sha256 over its config and, per
    weight file, the name, size and the first and last MiB; for a hub id, the resolved
    commit hash when the loaded config carries one (else "")."""
    import hashlib

    if os.path.isdir(model):
        h = hashlib.sha256()
        files = sorted(f for f in os.listdir(model)
                       if f == "config.json" or f.endswith((".safetensors", ".bin", ".pt")))
        for f in files:
            path = os.path.join(model, f)
            size = os.path.getsize(path)
            h.update(f"{f}|{size}|".encode())
            with open(path, "rb") as fh:
                h.update(fh.read(1 << 20))
                if size > 2 << 20:
                    fh.seek(-(1 << 20), os.SEEK_END)
                    h.update(fh.read(1 << 20))
        return h.hexdigest()[:16]
    cfg = getattr(getattr(adapter, "model", None), "config", None)
    return str(getattr(cfg, "_commit_hash", "") or "")


def probe_config(args, dtype: str, device_type: str, fit_dataset_name: str, fingerprint: str = "") -> dict:
    """Everything that changes the stored numbers (keys the run store)."""
    from pidlib.data.schema import DEFAULT_INSTRUCTION

    return {"probe": PROBE_VERSION, "model_fingerprint": fingerprint, "tau": args.tau, "seed": args.seed, "layers": bool(args.layers),
            "dtype": dtype, "noise_device": device_type, "fit_split": args.fit_split or args.split,
            "fit_dataset": fit_dataset_name, "noise_fit_limit": args.limit,
            "noise_draws": int(args.noise_draws), "donors": int(args.donors),
            "instruction": DEFAULT_INSTRUCTION, "scoring": "first-differing-token; mean log-prob per token"}


def _noise_stats(args, adapter, config, fit_ds, progress: bool):
    from pidlib.probes import NoiseStats, compute_noise_stats
    from pidlib.store import RunStore, load_noise_stats, save_noise_stats

    fit_split = config["fit_split"]
    fit_store = RunStore(args.out, args.model, fit_ds.name, fit_split, config)
    if fit_store.noise_stats_path.is_file():
        t, meta = load_noise_stats(fit_store.dir)
        return NoiseStats.from_tensors(t, meta), fit_store.noise_stats_path
    samples = select_split(fit_ds, fit_split, args.limit)
    skipped: list = []
    stats = compute_noise_stats(adapter, samples, progress=progress, on_error=args.on_error,
                                skipped=skipped,
                                meta={"model": args.model, "dataset": fit_ds.name, "split": fit_split,
                                      "std": "population (divide by n), float64 streaming"})
    meta = dict(stats.meta, skipped=[list(x) for x in skipped],
                command=" ".join(shlex.quote(a) for a in ["pidlib", *sys.argv[1:]]))
    path = save_noise_stats(fit_store.dir, stats.tensors(), meta)
    return stats, path


def cmd_run(args) -> int:
    import torch

    from pidlib.data.loaders import load_dataset
    from pidlib.models import load_adapter
    from pidlib.probes import run_probes
    from pidlib.store import RunStore

    if args.batch_size < 1:
        raise SystemExit("error: --batch-size must be >= 1")
    if args.noise_draws < 1:
        raise SystemExit("error: --noise-draws must be >= 1")
    if args.donors < 0 or (args.donors and args.noise_draws != 1):
        raise SystemExit("error: --donors must be >= 0 and cannot be combined with --noise-draws > 1")
    if os.path.isdir(args.model):  # "./m/" and "m" are the same run key
        args.model = os.path.normpath(args.model)
    progress = not args.no_progress
    ds = load_dataset(args.dataset, images=args.images, on_error=args.on_error)
    samples = select_split(ds, args.split, args.limit)
    fit_ds = ds if args.fit_dataset in (None, args.dataset) else \
        load_dataset(args.fit_dataset, images=args.images, on_error=args.on_error)
    adapter = load_adapter(args.model, device=args.device, dtype=args.dtype,
                           trust_remote_code=args.trust_remote_code)
    config = probe_config(args, str(adapter.dtype).replace("torch.", ""), adapter.device.type, fit_ds.name,
                          model_fingerprint(args.model, adapter))
    stats, stats_path = _noise_stats(args, adapter, config, fit_ds, progress)
    store = RunStore(args.out, args.model, ds.name, args.split, config)
    command = " ".join(shlex.quote(a) for a in ["pidlib", *(args._argv or sys.argv[1:])])
    store.update_meta(command=command, adapter=adapter.describe(), noise_stats=str(stats_path),
                      dataset_source=ds.source, dataset_format=ds.format)
    with torch.inference_mode():
        summary = run_probes(adapter, ds, args.split, store, batch_size=args.batch_size, tau=args.tau,
                             seed=args.seed, layers=args.layers, noise_stats=stats, progress=progress,
                             on_error=args.on_error, samples=samples, share_prefix=args.share_prefix,
                             noise_draws=args.noise_draws, donors=args.donors)
    skipped = [{"index": i, "problem": p, "message": f"sample {i}: {p}"} for i, p in summary["skipped"]]
    skipped += [{"file": s.file, "row": s.row, "problem": s.problem, "message": str(s)} for s in ds.skipped]
    store.update_meta(skipped=skipped, last_run={k: v for k, v in summary.items() if k != "skipped"})
    print(f"{store.dir}: {summary['n_done_before']} already stored, {summary['n_new']} new, "
          f"{len(skipped)} skipped, {len(store.done())} rows in total")
    for s in skipped:
        print(f"  skipped: {s['message']}")
    return 0


# ----------------------------------------------------------------------------- spectrum
_ATOM_LABELS = (("redundancy", "R"), ("unique1", "U1 (vision)"), ("unique2", "U2 (language)"),
                ("synergy", "S"), ("total", "I(X1,X2;Y)"))


def cmd_spectrum(args) -> int:
    from pidlib.probes.summary import spectrum
    from pidlib.store import find_runs

    fits = find_runs(args.dir, model=args.model, dataset=args.dataset, split=args.fit_split)
    evals = find_runs(args.dir, model=args.model, dataset=args.dataset, split=args.eval_split)
    pairs = [(f, e) for e in evals for f in fits
             if (f.model, f.dataset, f.hash) == (e.model, e.dataset, e.hash)]
    if not pairs:
        raise SystemExit(f"error: no pair of runs with splits {args.fit_split!r} and {args.eval_split!r} "
                         f"(same model, dataset and probe config) under {args.dir}")
    results = []
    for f, e in pairs:
        try:
            results.append(spectrum(f, e, layer=args.layer, n_boot=args.n_boot, seed=args.seed,
                                    device=args.device))
        except KeyError as err:
            raise SystemExit(f"error: {err.args[0]} (run with --layers for the logit lens)") from None
    if args.json:
        print(json.dumps(results if len(results) > 1 else results[0], indent=2, default=float))
        return 0
    for r in results:
        print(f"model {r['model']}  dataset {r['dataset']}  layer {r['layer']}  "
              f"n_fit {r['n_fit']}  n_eval {r['n_eval']}  (bits)")
        for key, label in _ATOM_LABELS:
            iv = r["intervals"].get(key)
            ci = f"  [{iv[0]:.4f}, {iv[1]:.4f}]" if iv else ""
            print(f"  {label:<15}{r[key]:8.4f}{ci}")
        print(f"  accuracy {r['accuracy']:.4f}  language-only accuracy {r['accuracy_language_only']:.4f}  "
              f"D_vision {r['d_vision']:+.4f}")
    return 0


def main(argv=None) -> int:
    """Entry point of the ``pidlib`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args._argv = list(argv) if argv is not None else None
    from pidlib.data.schema import DatasetError
    from pidlib.models.base import AdapterError

    try:
        if args.command == "run":
            return cmd_run(args)
        return cmd_spectrum(args)
    except (DatasetError, AdapterError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
