"""Command line: ``pidlib run``, ``pidlib spectrum`` and ``pidlib mmbench``.

``run`` probes a model on a dataset, ``spectrum`` estimates PID spectra of stored runs,
``mmbench`` reports MMBench's CircularEval, per-category accuracy and per-category spectra.

Examples
--------
Probe every row of the MMBench dev file, then estimate the spectrum from the stored rows
(split at random into fit and eval rows, seeded and stated in the output)::

    pidlib run --model llava-hf/llava-1.5-7b-hf --dataset mmbench:MMBench_DEV_EN.tsv \\
        --out runs --device cuda
    pidlib spectrum runs --json

``pidlib run`` is :func:`pidlib.run` (:mod:`pidlib.runner`, which documents the run key,
the noise statistics and the checks). Splits: without ``--split`` a run covers every row
of the file; ``--split NAME`` selects the rows whose split column is NAME (files without a
split column reject it). ``--fit-dataset``/``--fit-split`` take the noise statistics from
other rows (default: the run's own rows). Runs resume: samples already stored are skipped;
a finished run writes nothing.

Every user error (bad option value, bad data row, unusable model, NaN output, a second
writer) prints one ``error:`` line and exits with status 2; a traceback means a bug.
"""
from __future__ import annotations

import argparse
import errno
import json
import sys

__all__ = ["main", "build_parser"]


class _Parser(argparse.ArgumentParser):
    """argparse with one ``error:`` line (and exit status 2) for bad arguments."""

    def error(self, message):  # noqa: D401 - argparse API
        sys.stderr.write(f"error: {self.prog}: {message} (see '{self.prog} --help')\n")
        sys.exit(2)


def _int_at_least(lo: int):
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {lo}, got {text!r}") from None
        if v < lo:
            raise argparse.ArgumentTypeError(f"must be >= {lo}, got {v}")
        return v
    return parse


def _float_in(lo: float, hi: float | None = None):
    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not (v >= lo and (hi is None or v <= hi)):
            raise argparse.ArgumentTypeError(f"must be in [{lo:g}, {hi:g}], got {text}" if hi is not None
                                             else f"must be >= {lo:g}, got {text}")
        return v
    return parse


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="pidlib", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="probe a model on a dataset (resumable; see pidlib.run)")
    r.add_argument("--model", required=True, help="Hugging Face id or local save_pretrained directory")
    r.add_argument("--dataset", required=True,
                   help="FORMAT:PATH or FORMAT:PATH@IMAGE_DIR, e.g. mmbench:MMBench_DEV_EN.tsv")
    r.add_argument("--images", default=None, help="directory of the image files the rows reference")
    r.add_argument("--split", default=None,
                   help="probe only the rows of this split (the file's split column); default: every row")
    r.add_argument("--out", default=None, help="run store root, e.g. runs (required unless --dry-run)")
    r.add_argument("--fit-split", default=None,
                   help="noise statistics from the rows of this split (default: the run's own rows)")
    r.add_argument("--fit-dataset", default=None,
                   help="noise statistics from this FORMAT:PATH[@IMAGES] instead of the run's own rows")
    r.add_argument("--fit-images", default=None, help="image directory of --fit-dataset (default --images)")
    r.add_argument("--layers", action="store_true", help="also store logit-lens distributions per layer")
    r.add_argument("--batch-size", type=_int_at_least(1), default=8, help="samples per forward (default 8)")
    r.add_argument("--write-every", type=_int_at_least(1), default=None, metavar="N",
                   help="samples per stored part (default: one part per batch); rows wait in memory until N "
                        "are ready or 30 s have passed, so a kill -9 loses at most those")
    r.add_argument("--share-prefix", action="store_true",
                   help="full and visual-only probes share the KV cache of everything before the question "
                        "(faster; same numbers within float tolerance)")
    r.add_argument("--device", default=None,
                   help="cpu (default; cuda with --device-map on a CUDA machine), cuda, cuda:1, ...; under torchrun "
                        "'cuda' means cuda:LOCAL_RANK")
    r.add_argument("--device-map", default=None,
                   help="load with accelerate's big-model inference: auto, balanced, balanced_low_0, sequential, or a "
                        "JSON object {module: device} (devices: GPU index, cpu, disk); not part of the run key")
    r.add_argument("--max-memory", default=None,
                   help="per-device budget for --device-map, e.g. 0=70GiB,1=70GiB,cpu=200GiB (or JSON)")
    r.add_argument("--offload-folder", default=None, help="folder for weights mapped to disk (default: a temp folder)")
    r.add_argument("--dry-run", nargs="?", type=_int_at_least(1), const=3, default=None, metavar="N",
                   help="print the exact prompt, token counts and option token ids of the first N samples (3) and "
                        "exit: loads the processor, not the model; writes nothing")
    r.add_argument("--dtype", default="auto", choices=("auto", "bf16", "bfloat16", "fp16", "float16", "fp32",
                                                       "float32"),
                   help="auto (bf16 on CUDA, fp32 on CPU), bf16, fp16, fp32")
    r.add_argument("--tau", type=_float_in(0.0, 1.0), default=0.3,
                   help="confidence threshold on the option mass, in [0, 1] (default 0.3)")
    r.add_argument("--seed", type=_int_at_least(0), default=0, help="noise seed (default 0)")
    r.add_argument("--noise-draws", type=_int_at_least(1), default=1,
                   help="noise draws averaged per noised probe (default 1, as the paper)")
    r.add_argument("--donors", type=_int_at_least(0), default=0,
                   help="donor probes: replace the question / image by those of D other samples "
                        "instead of noise (default 0: noise probes, as the paper)")
    r.add_argument("--limit", "--n-samples", dest="limit", type=_int_at_least(1), default=None,
                   help="use only the first N samples (of the split)")
    r.add_argument("--trust-remote-code", action="store_true", help="allow model repositories' own code")
    r.add_argument("--on-error", choices=("raise", "skip"), default="raise",
                   help="bad rows / images: stop with the error (default) or skip and report them")
    r.add_argument("--wait", type=_float_in(0.0), default=0.0,
                   help="seconds to wait while another process writes the same run (default 0: stop)")
    r.add_argument("--no-progress", action="store_true")

    s = sub.add_parser("spectrum", help="PID spectra of stored runs (BATCH; see pidlib.analysis.spectrum)")
    s.add_argument("dir", help="run store root (the --out of pidlib run)")
    s.add_argument("--model", default=None, help="only runs of this model (any spelling of a local folder)")
    s.add_argument("--dataset", default=None, help="only runs of this dataset name")
    s.add_argument("--config", default=None, help="only runs whose config hash starts with this")
    s.add_argument("--fit-fraction", type=_float_in(0.0, 1.0), default=0.5,
                   help="share of a run's rows that trains the estimator; the rest evaluates it (default 0.5)")
    s.add_argument("--fit-split", default=None, help=argparse.SUPPRESS)   # older runs: pair by split name
    s.add_argument("--eval-split", default=None, help=argparse.SUPPRESS)
    s.add_argument("--layers", action="store_true", help="also every logit-lens layer (runs with --layers)")
    s.add_argument("--json", action="store_true", help="print JSON (a list, one object per spectrum)")
    s.add_argument("--n-boot", type=_int_at_least(0), default=20,
                   help="bootstrap replicates for the intervals (0: none; default 20)")
    s.add_argument("--seed", type=_int_at_least(0), default=0,
                   help="seed of the fit/eval split, the estimators and the resamples (default 0)")
    s.add_argument("--device", default="cpu")

    mb = sub.add_parser("mmbench", help="MMBench CircularEval, per-category accuracy and spectra of runs "
                                        "(see pidlib.analysis.mmbench)")
    mb.add_argument("dir", help="a run directory (holding meta.json), or a run store root: every MMBench run in it")
    mb.add_argument("--dataset", default=None,
                    help="the dataset spec for categories and circular groups (default: the one in meta.json)")
    mb.add_argument("--images", default=None, help="image folder of --dataset")
    mb.add_argument("--min-rows", type=_int_at_least(4), default=100,
                    help="rows a category needs for its own spectrum (default 100)")
    mb.add_argument("--no-spectra", action="store_true", help="accuracies only")
    mb.add_argument("--n-boot", type=_int_at_least(0), default=0,
                    help="bootstrap replicates of the per-category spectra (0: none, the default; or >= 2)")
    mb.add_argument("--seed", type=_int_at_least(0), default=0, help="fit/eval split and estimator seed (default 0)")
    mb.add_argument("--fit-fraction", type=_float_in(0.0, 1.0), default=0.5,
                    help="share of a category's rows that trains the estimator (default 0.5)")
    mb.add_argument("--json", action="store_true", help="print JSON (a list, one report per run)")
    mb.add_argument("--device", default="cpu", help="device of the estimator (default cpu)")
    return p


# ----------------------------------------------------------------------------- run
def _print_dry_run(info: dict) -> None:
    print(f"dry run: model {info['model']} (family {info['family']}, {info['config_class']}); dataset "
          f"{info['dataset']} ({info['n_samples']} samples in the run); showing {len(info['samples'])}. "
          "No forward pass was run and nothing was written.")
    for x in info["samples"]:
        print(f"--- sample {x['index']}: {x['n_options']} options, answer {x['answer']}; {x['n_tokens']} tokens "
              f"({x['n_image_tokens']} image tokens, {x['n_question_tokens']} question tokens)")
        print("prompt (exact text, between the markers; option letters are scored as its continuation):")
        print(">>>")
        print(x["prompt"])
        print("<<<")
        ids = "  ".join(f"{k}={v} {x['option_tokens'][k]}" for k, v in x["option_ids"].items())
        print(f"option token ids: {ids}")


def _init_process_group() -> bool:
    """Under torchrun / accelerate launch (WORLD_SIZE > 1 and MASTER_ADDR set) join a gloo
    process group for barriers; returns True when this call created it."""
    import os

    if int(os.environ.get("WORLD_SIZE", "1") or 1) <= 1 or not os.environ.get("MASTER_ADDR"):
        return False
    import datetime

    import torch.distributed as dist

    if not dist.is_available() or dist.is_initialized():
        return False
    timeout = float(os.environ.get("PIDLIB_RANK_TIMEOUT", 6 * 3600))
    dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=timeout))
    return True


def cmd_run(args) -> int:
    import shlex

    from pidlib.runner import dry_run, run

    if args.dry_run:
        _print_dry_run(dry_run(args.model, args.dataset, images=args.images, split=args.split, limit=args.limit,
                               n=args.dry_run, trust_remote_code=args.trust_remote_code, on_error=args.on_error))
        return 0
    if not args.out:
        raise SystemExit("error: pidlib run: the following arguments are required: --out (see 'pidlib run --help')")
    command = " ".join(shlex.quote(a) for a in ["pidlib", *(args._argv or sys.argv[1:])])
    created = _init_process_group()
    try:
        res = run(args.model, args.dataset, args.out, images=args.images, split=args.split,
                  fit_dataset=args.fit_dataset, fit_images=args.fit_images, fit_split=args.fit_split,
                  limit=args.limit, layers=args.layers, batch_size=args.batch_size, write_every=args.write_every,
                  share_prefix=args.share_prefix,
                  device=args.device, dtype=args.dtype, tau=args.tau, seed=args.seed,
                  noise_draws=args.noise_draws, donors=args.donors, trust_remote_code=args.trust_remote_code,
                  on_error=args.on_error, progress=not args.no_progress, wait=args.wait, command=command,
                  device_map=args.device_map, max_memory=args.max_memory, offload_folder=args.offload_folder)
    finally:
        if created:
            import torch.distributed as dist

            dist.destroy_process_group()
    print(res.summary_line())
    for s in res.skipped:
        print(f"  skipped: {s['message']}")
    if res.noop:
        for w in res.warnings:
            print(f"warning: {w}", file=sys.stderr)
    return 0


# ----------------------------------------------------------------------------- spectrum
_ATOM_LABELS = (("redundancy", "R"), ("unique1", "U1 (vision)"), ("unique2", "U2 (language)"),
                ("synergy", "S"), ("total", "I(X1,X2;Y)"))


def _pairs(runs, fit_split, eval_split):
    """(fit run, eval run or None) to estimate: a run alone (its rows are split), or a run
    whose noise statistics came from another run's rows (``--fit-dataset``) paired with that
    run, or older runs paired by split names."""
    if fit_split or eval_split:
        if not (fit_split and eval_split):
            raise SystemExit("error: --fit-split and --eval-split go together")
        fits = [r for r in runs if r.split == fit_split]
        return [(f, e) for e in runs if e.split == eval_split for f in fits
                if (f.model, f.dataset, f.hash) == (e.model, e.dataset, e.hash)]
    by_data = {}
    for r in runs:
        by_data.setdefault((r.model, r.hash), []).append(r)
    out = []
    for group in by_data.values():
        fit_id = {((r.meta().get("config") or {}).get("noise_fit") or {}).get("data_id") for r in group}
        fits = [r for r in group if r.meta().get("data_id") in fit_id]
        if len(group) > 1 and fits:
            f = fits[0]
            out += [(f, e) for e in group if e is not f]
        else:
            out += [(r, None) for r in group]
    return out


def _config_summary(run) -> dict:
    from pidlib.analysis.spectrum import probe_label

    cfg = run.meta().get("config") or {}
    return {"hash": run.hash, "probes": probe_label(cfg), "tau": cfg.get("tau"),
            "noise_draws": cfg.get("noise_draws", 1), "donors": cfg.get("donors", 0), "layers": bool(cfg.get("layers"))}


def spectrum_results(args) -> list[dict]:
    """One JSON-ready object per spectrum, the same schema for every run (``--json``)."""
    from pidlib.analysis.spectrum import RunDataError, run_rows, spectra
    from pidlib.store import find_runs

    runs = find_runs(args.dir, model=args.model, dataset=args.dataset)
    if args.config:
        runs = [r for r in runs if r.hash.startswith(args.config)]
    pairs = _pairs(runs, args.fit_split, args.eval_split)
    if not pairs:
        sel = ", ".join(f"{k} {v}" for k, v in (("model", args.model), ("dataset", args.dataset),
                                                  ("config", args.config)) if v)
        raise SystemExit(f"error: no run under {args.dir}" + (f" with {sel}" if sel else ""))
    results = []
    for f, e in pairs:
        try:
            rows = run_rows(f.read(), str(f.dir), layers=args.layers)
            ev = run_rows(e.read(), str(e.dir), layers=args.layers) if e is not None else None
        except RunDataError as err:
            raise SystemExit(f"error: {err}") from None
        if args.layers and not rows.lens:
            raise SystemExit(f"error: {f.dir}: no logit-lens columns (run pidlib run with --layers)")
        cfg = _config_summary(f)
        for r in spectra(rows, eval_rows=ev, probes=cfg["probes"], tau=float(cfg["tau"] or 0.0),
                         fit_fraction=args.fit_fraction, seed=args.seed, n_boot=args.n_boot, layers=args.layers,
                         batch_kwargs={"device": args.device}):
            values = ("redundancy", "unique1", "unique2", "synergy", "total")
            results.append({
                "model": f.model, "dataset": f.dataset if e is None else f"{f.dataset} -> {e.dataset}",
                "run": str(f.dir), "eval_run": str(e.dir) if e is not None else None, "config": cfg,
                "probes": r["probes"], "layer": r["layer"], "n_fit": r["n_fit"], "n_eval": r["n_eval"],
                "split": "separate runs" if e is not None else f"seeded random split, fit fraction {args.fit_fraction}",
                **{a: r[a] for a in values}, "I1": r["I1"], "I2": r["I2"],
                "intervals": {a: [r[f"{a}_lo"], r[f"{a}_hi"]] for a in values},
                "n_boot": r["n_boot"], "ci_note": r["ci_note"], "coherent": r["coherent"], "trained": r["trained"],
                "diagnostics": {k: r[k] for k in ("steps", "ci_gap", "kl_vis", "kl_lang", "target_mismatch",
                                                  "i1_excess", "i2_excess", "min_atom")},
                "error_vs_reference": ({a: [r[f"err_{a}"], r[f"err_{a}_lo"], r[f"err_{a}_hi"]]
                                        for a in values[:4]} if r["err_synergy"] == r["err_synergy"] else None),
                "accuracy": r["accuracy"], "accuracy_language_only": r["accuracy_language_only"],
                "d_vision": r["d_vision"], "seed": r["seed"], "correction": r["correction"]})
    return results


def _num(v, fmt=".4f") -> str:
    return "n/a" if v is None or v != v else format(v, fmt)


def cmd_spectrum(args) -> int:
    results = spectrum_results(args)
    if args.json:
        print(json.dumps(results, indent=2, default=float, allow_nan=True))
        return 0
    for r in results:
        c = r["config"]
        where = "output" if r["layer"] < 0 else f"layer {r['layer']}"
        print(f"model {r['model']}  dataset {r['dataset']}  {where}  probes {r['probes']}  "
              f"(config {c['hash'][:12]}, tau {c['tau']})")
        print(f"  n_fit {r['n_fit']}  n_eval {r['n_eval']} ({r['split']})  bits, "
              f"{95}% basic bootstrap intervals over {r['n_boot']} replicates")
        for key, label in _ATOM_LABELS:
            lo, hi = r["intervals"][key]
            ci = f"  [{_num(lo)}, {_num(hi)}]" if lo == lo else ""
            print(f"  {label:<15}{r[key]:8.4f}{ci}")
        verdict = "coherent" if r["coherent"] else "INCOHERENT (the probes cannot come from one joint distribution)"
        print(f"  {verdict}; estimator {'trained' if r['trained'] else 'did NOT plateau'} "
              f"(ci_gap {_num(r['diagnostics']['ci_gap'])} bit)")
        if r["ci_note"]:
            print(f"  note: {r['ci_note']}")
        print(f"  accuracy {_num(r['accuracy'])}  language-only accuracy {_num(r['accuracy_language_only'])}  "
              f"D_vision {_num(r['d_vision'], '+.4f')}")
    return 0


def mmbench_reports(args) -> list[dict]:
    """One :func:`pidlib.analysis.mmbench.mmbench_report` per MMBench run under ``args.dir``."""
    from pathlib import Path

    from pidlib.analysis.mmbench import mmbench_report
    from pidlib.store import RunStore, find_runs

    d = Path(args.dir)
    if (d / "meta.json").is_file():
        runs = [RunStore.from_dir(d)]
    elif d.is_dir():
        runs = [r for r in find_runs(d) if str((r.meta().get("data") or {}).get("format", "")).startswith("mmbench")]
        if not runs:
            raise SystemExit(f"error: no MMBench run under {d} (formats mmbench, mmbench-hf)")
    else:
        raise SystemExit(f"error: {d} is neither a run directory nor a run store root")
    if args.n_boot == 1:
        raise SystemExit("error: --n-boot must be 0 or at least 2")
    out = []
    for r in runs:
        try:
            out.append(mmbench_report(r, args.dataset, images=args.images, min_rows=args.min_rows,
                                      spectra=not args.no_spectra, n_boot=args.n_boot, seed=args.seed,
                                      fit_fraction=args.fit_fraction, batch_kwargs={"device": args.device}))
        except ValueError as e:
            raise SystemExit(f"error: {' '.join(str(e).split())}") from None
    return out


def cmd_mmbench(args) -> int:
    reports = mmbench_reports(args)
    if args.json:
        print(json.dumps(reports, indent=2, default=float, allow_nan=True))
        return 0
    pct = lambda v: "  n/a" if v is None or v != v else f"{100 * v:5.1f}"  # noqa: E731
    for rep in reports:
        o = rep["overall"]
        print(f"run {rep['run']}\n  dataset {rep['dataset']}, tau {rep['tau']}, probes {rep['probes']}")
        print(f"  overall: CircularEval {pct(o['circular_accuracy'])}% over {o['n_questions']} questions; "
              f"accuracy {pct(o['accuracy'])}% over {o['n_rows']} rows (original questions "
              f"{pct(o['accuracy_original'])}%); language-only CircularEval {pct(o['circular_accuracy_language_only'])}%")
        for title, key in (("category", "categories"), ("L2 category", "l2_categories")):
            print(f"  {title:<40} rows  quest.  circ%   acc%  lang-only circ%")
            for name, b in rep[key].items():
                print(f"  {name[:40]:<40} {b['n_rows']:4d}  {b['n_questions']:5d}  {pct(b['circular_accuracy'])}  "
                      f"{pct(b['accuracy'])}  {pct(b['circular_accuracy_language_only'])}")
        if rep["spectra"]:
            print(f"  spectra per category (>= {rep['min_rows']} rows; bits):")
            print(f"  {'category':<40} {'R':>7} {'U1':>7} {'U2':>7} {'S':>7}  n_fit/n_eval")
            for name, r in rep["spectra"].items():
                print(f"  {name[:40]:<40} {r['redundancy']:7.4f} {r['unique1']:7.4f} {r['unique2']:7.4f} "
                      f"{r['synergy']:7.4f}  {r['n_fit']}/{r['n_eval']}")
        if rep["too_small"]:
            small = ", ".join(f"{k} ({v})" for k, v in rep["too_small"].items())
            print(f"  no spectrum (fewer than {rep['min_rows']} rows): {small}")
    return 0


def _user_errors() -> tuple:
    from pidlib.analysis.tables import SpectraTableError
    from pidlib.data.schema import DatasetError
    from pidlib.models.base import AdapterError
    from pidlib.runner import ConfigError
    from pidlib.store import RunLockedError

    return (DatasetError, AdapterError, ConfigError, RunLockedError, FileNotFoundError, NotADirectoryError,
            SpectraTableError)


def main(argv=None) -> int:
    """Entry point of the ``pidlib`` command (exit status 0, or 2 for a user error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args._argv = list(argv) if argv is not None else None
    user_errors = _user_errors()
    try:
        if args.command == "run":
            return cmd_run(args)
        if args.command == "mmbench":
            return cmd_mmbench(args)
        return cmd_spectrum(args)
    except user_errors as e:
        msg = " ".join(str(e).split("\n"))
        print(f"error: {msg}", file=sys.stderr)
        return 2
    except PermissionError as e:
        print(f"error: cannot write {e.filename or ''}: {e.strerror} (is the run store read-only?)", file=sys.stderr)
        return 2
    except OSError as e:
        if e.errno in (errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EACCES):
            print(f"error: cannot write {e.filename or ''}: {e.strerror}", file=sys.stderr)
            return 2
        raise
    except SystemExit as e:   # spectrum's own "error: ..." exits
        if isinstance(e.code, str):
            print(e.code if e.code.startswith("error:") else f"error: {e.code}", file=sys.stderr)
            return 2
        raise
    except KeyboardInterrupt:
        print("error: interrupted; run the same command again to resume (stored samples are kept)",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
