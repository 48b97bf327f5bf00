"""One probe run as a library call: :func:`run` (exported as :func:`pidlib.run`).

``pidlib.run(model, dataset, out, **options)`` is what ``pidlib run`` and
:mod:`pidlib.analysis.pipeline` call: it resolves what the run is (the run key), takes
the writer lock, computes or reuses the noise statistics, probes every sample not yet
stored and checks the result.

The run key
    ``OUT/<model>/<dataset>/<split>/<config_hash>-<data_id[:12]>/`` (:mod:`pidlib.store`).

    - ``<model>``: the model's resolved identity (:func:`pidlib.models.identity.model_identity`):
      a local directory's real path, so ``models/llava``, ``./models/llava/`` and the
      absolute path are one model; a hub id as given.
    - ``data_id``: the content of the samples the run holds
      (:func:`pidlib.data.identity.samples_identity`: questions, options, answers, hints and
      every byte of every image) -- an edited file with the same name, another
      ``--limit`` or a world spec with other parameters is another run.
    - ``config`` (hashed): probe version, ``model_fingerprint`` (every byte of every
      weight, config, tokenizer, processor and chat-template file of a local model; the
      commit of a hub model), tau, seed, layers, dtype, noise device, noise draws, donors,
      instruction, scoring, and ``noise_fit``: the content identity of the rows the noise
      statistics are computed on.

Noise statistics
    Computed on the run's own rows by default (the paper computed them over the
    dataset it probed); ``fit_split`` takes the rows of that split of the same file,
    ``fit_dataset`` the rows of another file. They are saved in the run directory
    (``noise_stats.safetensors``); a run with the same noise source reuses another run's
    file under the same ``out``. Runs that share a noise source and all other settings
    have the same ``config_hash``; the one whose ``data_id`` equals its
    ``config["noise_fit"]["data_id"]`` holds the rows the statistics came from.

Splits
    Without ``split`` a run covers every row of the file (split label ``"all"``): this is
    how the real MMBench dev file (its ``split`` column says ``dev``) is probed; the
    spectrum splits one run's rows into fit and eval. ``split=NAME`` selects the rows
    whose ``meta["split"]`` is NAME; a file without a split column rejects it (a label that
    selects nothing would give "fit" and "eval" runs over the same rows).

Checks
    Non-finite logits, masses, features or noise statistics stop the run with
    :class:`~pidlib.models.base.NonFiniteError` naming the model, the sample and the
    probe, before anything of the batch is stored. At the end, a run in which replacing
    the image (or the question) changes no sample's output gets a warning (printed and
    stored in ``meta.json["warnings"]``): the model or its adapter ignores that input.

Big models and many processes
    ``device_map`` (``"auto"``, ``"balanced"``, a ``{module: device}`` dict or its JSON) and
    ``max_memory`` load the model with accelerate's big-model inference
    (:func:`pidlib.models.load_adapter`): layers may sit on several GPUs, the CPU or disk.
    The placement changes no number, so it is not part of the run key (the dtype is);
    it is recorded in ``meta.json`` (``adapter.device_map``).

    Under ``torchrun`` or ``accelerate launch`` (environment ``RANK``/``WORLD_SIZE``/
    ``LOCAL_RANK``, or an initialised ``torch.distributed`` process group) each of the
    ``W`` processes probes the samples at positions ``rank, rank + W, ...`` of the run and
    writes its own parts (``part-r<rank>-<n>.parquet``) into the same run directory: a
    rank holds ``.lock-r<rank>`` for its whole run and the shared writer lock only while it
    writes a part or ``meta.json``. Rank 0 computes the noise statistics; the others wait
    for its file (no process group needed). Each rank resumes its own samples; the
    finished run holds exactly the rows of the one-process run (the noise of a sample is
    keyed by its index, not by batch or rank). Whichever rank finds every sample stored
    marks the run complete. ``device="cuda"`` means ``cuda:<LOCAL_RANK>`` per rank.

A finished run is a no-op that writes nothing (it works on a read-only disk).
"""
from __future__ import annotations

import dataclasses
import os
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any, Mapping

__all__ = ["run", "RunResult", "ConfigError", "select_split", "probe_config", "PROBE_VERSION", "ALL_ROWS",
           "rank_info", "dry_run"]

PROBE_VERSION = "pidlib-three-probes-v1"
NOISE_VERSION = "pidlib-noise-stats-v1"
#: Split label of a run over every row of its file.
ALL_ROWS = "all"
#: Relative tolerance below which two probes' outputs count as equal (image-effect check).
SAME_OUTPUT_TOL = 1e-6

RUN_INFO_KEYS = ("task", "family", "scale", "scale_name", "stage", "step", "kind", "label", "train_seed")


class ConfigError(ValueError):
    """A run option out of range or inconsistent with the data (a user error)."""


@dataclasses.dataclass
class RunResult:
    """What :func:`run` did.

    Attributes
    ----------
    dir : Path
        The run directory.
    store : pidlib.store.RunStore
    n_done_before, n_new, n_rows : int
        Samples stored before this call, stored by it, and in total.
    skipped : list of dict
        Rows left out (``on_error="skip"``), each with a ``message``.
    warnings : list of str
        E.g. "the image changes no sample's distribution".
    noop : bool
        True when the run was already complete and nothing was written.
    meta : dict
        ``meta.json`` after the run.
    """

    dir: Path
    store: Any
    n_done_before: int
    n_new: int
    n_rows: int
    skipped: list
    warnings: list
    noop: bool
    meta: dict

    def summary_line(self) -> str:
        if self.noop:
            return f"{self.dir}: complete ({self.n_rows} rows); nothing to do"
        return (f"{self.dir}: {self.n_done_before} already stored, {self.n_new} new, "
                f"{len(self.skipped)} skipped, {self.n_rows} rows in total")


# ----------------------------------------------------------------------------- options
def _check_options(o: dict) -> None:
    def bad(name, msg):
        raise ConfigError(f"{name} {msg}")

    tau = o["tau"]
    if not isinstance(tau, (int, float)) or isinstance(tau, bool) or not (0.0 <= float(tau) <= 1.0):
        bad("tau", f"must be a number in [0, 1] (a threshold on the option mass), got {tau!r}")
    for name, lo in (("batch_size", 1), ("noise_draws", 1), ("donors", 0), ("seed", 0)):
        v = o[name]
        if not isinstance(v, int) or isinstance(v, bool) or v < lo:
            bad(name, f"must be an integer >= {lo}, got {v!r}")
    for name, none in (("limit", "every sample"), ("write_every", "one part per batch")):
        v = o.get(name)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
            bad(name, f"must be an integer >= 1 (or None for {none}), got {v!r}")
    if o["donors"] and o["noise_draws"] != 1:
        bad("donors", "cannot be combined with noise_draws > 1 (donor probes replace the noise)")
    if o["on_error"] not in ("raise", "skip"):
        bad("on_error", f"must be 'raise' or 'skip', got {o['on_error']!r}")
    w = o["wait"]
    if not isinstance(w, (int, float)) or isinstance(w, bool) or w < 0:
        bad("wait", f"must be a number of seconds >= 0, got {w!r}")
    for name in ("split", "fit_split"):
        if o[name] is not None and (not isinstance(o[name], str) or not o[name].strip()):
            bad(name, f"must be a non-empty split name, got {o[name]!r}")
    if o["split"] == ALL_ROWS:
        bad("split", f"{ALL_ROWS!r} is the label of a run over every row; omit split instead")
    info = o["run_info"]
    if info is not None and not isinstance(info, Mapping):
        bad("run_info", f"must be a dict (task, family, scale, stage, ...), got {type(info).__name__}")


def rank_info() -> tuple[int, int, int]:
    """``(rank, world_size, local_rank)`` of this process: from an initialised
    ``torch.distributed`` process group, else from the ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``
    environment variables that ``torchrun`` and ``accelerate launch`` set; ``(0, 1, 0)``
    for a plain process.

    Raises
    ------
    ConfigError
        When the variables are not integers or ``RANK`` is not below ``WORLD_SIZE``.
    """
    try:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            return dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", dist.get_rank()))
    except ImportError:  # pragma: no cover
        pass
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", rank))
    except ValueError:
        raise ConfigError(f"RANK/WORLD_SIZE/LOCAL_RANK must be integers, got {os.environ.get('RANK')!r}/"
                          f"{os.environ.get('WORLD_SIZE')!r}/{os.environ.get('LOCAL_RANK')!r}") from None
    if world < 1 or not 0 <= rank < world:
        raise ConfigError(f"RANK {rank} is not in [0, WORLD_SIZE={world})")
    return rank, world, local


def _barrier() -> None:
    """A barrier over the process group when one is initialised (else nothing)."""
    try:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.barrier()
    except Exception as e:  # noqa: BLE001 - a failed barrier must not lose stored rows
        print(f"warning: torch.distributed barrier failed ({type(e).__name__}: {e})", file=sys.stderr)


def _wait_noise_stats(store, noise_key: str, rank: int, timeout: float):
    """Another rank's noise statistics: wait until rank 0 has written them to the run."""
    import json

    from pidlib.probes import NoiseStats
    from pidlib.store import load_noise_stats

    deadline = time.monotonic() + timeout
    while True:
        if store.noise_stats_path.is_file():
            try:
                t, meta = load_noise_stats(store.dir)
            except (ValueError, OSError, json.JSONDecodeError):
                t, meta = None, {}
            if meta.get("noise_key") == noise_key:
                return NoiseStats.from_tensors(t, meta), meta, "computed by rank 0"
        if time.monotonic() > deadline:
            raise ConfigError(f"rank {rank}: rank 0 wrote no noise statistics to {store.dir} within {timeout:g} s "
                              "(PIDLIB_RANK_TIMEOUT); is rank 0 running this same run?")
        time.sleep(0.5)


def _device(device: str):
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ConfigError(f"device {device!r} is not a torch device ({e})") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r}: CUDA is not available on this machine (use --device cpu)")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError(f"device {device!r}: MPS is not available on this machine")
    return dev


def _dtype_name(dtype, device) -> str:
    from pidlib.models.registry import resolve_dtype

    try:
        return str(resolve_dtype(dtype, str(device))).replace("torch.", "")
    except ValueError as e:
        raise ConfigError(f"dtype: {e}") from None


# ----------------------------------------------------------------------------- data
def select_split(ds, split: str | None, limit: int | None = None) -> list:
    """The samples of ``split`` (by ``meta['split']``; ``None``: every sample), first ``limit``.

    Raises
    ------
    ConfigError
        When ``split`` is given and the samples carry no split, or none has that split.
    """
    if split is None:
        out = list(ds.samples)
    else:
        have = {s.meta.get("split") for s in ds.samples if s.meta.get("split") is not None}
        if not have:
            raise ConfigError(f"{ds.source}: the rows carry no split, so split {split!r} selects nothing; "
                              "omit the split to probe every row (the spectrum splits one run's rows into fit "
                              "and eval), or give one file per split (and fit_dataset / --fit-dataset for the "
                              "noise statistics)")
        out = [s for s in ds.samples if s.meta.get("split") == split]
        if not out:
            raise ConfigError(f"{ds.source}: no samples of split {split!r} (splits present: {sorted(have)}); "
                              "omit the split to probe every row")
    if not out:
        raise ConfigError(f"{ds.source}: no samples to probe")
    return out[:limit] if limit is not None else out


def _load(dataset, images, on_error):
    from pidlib.data.loaders import load_dataset
    from pidlib.data.schema import MCDataset

    if isinstance(dataset, MCDataset):
        return dataset, None
    if not isinstance(dataset, str):
        raise ConfigError(f"dataset must be a 'FORMAT:PATH' spec or an MCDataset, got {type(dataset).__name__}")
    return load_dataset(dataset, images=images, on_error=on_error), dataset


def probe_config(*, fingerprint: str, tau: float, seed: int, layers: bool, dtype: str, noise_device: str,
                 noise_draws: int, donors: int, noise_fit_id: str) -> dict:
    """Everything that changes the stored numbers (hashed into the run key)."""
    from pidlib.data.schema import DEFAULT_INSTRUCTION

    return {"probe": PROBE_VERSION, "model_fingerprint": fingerprint, "tau": float(tau), "seed": int(seed),
            "layers": bool(layers), "dtype": dtype, "noise_device": noise_device,
            "noise_draws": int(noise_draws), "donors": int(donors), "instruction": DEFAULT_INSTRUCTION,
            "scoring": "first-differing-token; mean log-prob per token",
            "noise_fit": {"data_id": noise_fit_id, "version": NOISE_VERSION},
            **({"donor_pool": "same number of options"} if donors else {})}


# ----------------------------------------------------------------------------- model
def _hub_fingerprint(model: str, trust_remote_code: bool) -> str:
    """``hub:<commit>`` from the config transformers resolves (cheap: no weights)."""
    from pidlib.models.base import AdapterError

    try:
        from transformers import AutoConfig

        cfg = AutoConfig.from_pretrained(model, trust_remote_code=trust_remote_code)
    except Exception as e:  # noqa: BLE001 - OSError, ValueError, HTTP errors: say what failed
        looks_local = model.startswith((".", "/", "~")) or os.sep in model.strip("/").replace("/", "", 1)
        hint = ("no such local directory" if looks_local else
                "neither a local directory nor a Hugging Face id that can be loaded here")
        raise AdapterError(f"model {model!r}: {hint} ({type(e).__name__}: {str(e).splitlines()[0][:300]})") from None
    commit = str(getattr(cfg, "_commit_hash", "") or "")
    return f"hub:{commit}" if commit else ""


# ----------------------------------------------------------------------------- checks
def input_effect_warnings(store, model: str) -> tuple[list[str], dict]:
    """Warnings when replacing the image (or the question) changes no stored sample's output.

    Compares the full probe with the language-only probe (image replaced) and with the
    visual-only probe (question replaced), on the raw option masses and the option
    distributions of every stored row.
    """
    import numpy as np

    cols = ["p_full", "p_vis", "p_lang", "mass_full", "mass_vis", "mass_lang"]
    try:
        a = store.read_arrays(cols)
    except (KeyError, ValueError):
        return [], {}
    n = len(a["index"])
    if n == 0:
        return [], {}

    def changed(probe: str) -> int:
        dp = np.abs(a["p_full"].astype(np.float64) - a[f"p_{probe}"]).max(1)
        m0, m1 = a["mass_full"].astype(np.float64), a[f"mass_{probe}"].astype(np.float64)
        dm = np.abs(m0 - m1) / np.maximum(np.maximum(np.abs(m0), np.abs(m1)), 1e-30)
        return int(((dp > SAME_OUTPUT_TOL) | (dm > SAME_OUTPUT_TOL)).sum())

    counts = {"n_rows": n, "image_changes_output": changed("lang"), "question_changes_output": changed("vis")}
    out = []
    for what, key, probe in (("image", "image_changes_output", "language-only"),
                             ("question", "question_changes_output", "visual-only")):
        if counts[key] == 0:
            out.append(f"the {what} changes no sample's distribution: in all {n} rows the {probe} probe "
                       f"({what} replaced) gives the same option masses and distribution as the full probe. "
                       f"The model or its adapter ignores the {what} (a broken or untrained model, or an adapter "
                       f"that never feeds the {what} to the language model); atoms of this run say nothing "
                       f"about the {what} ({model})")
    return out, counts


# ----------------------------------------------------------------------------- noise statistics
def _noise_stats(store, out, model_id, noise_key, fit_samples, base_meta, adapter, on_error, progress,
                 prepared_cache=None):
    """Load the run's noise statistics, copy another run's with the same key, or compute them."""
    import json

    from pidlib.models.base import NonFiniteError
    from pidlib.probes import NoiseStats, compute_noise_stats
    from pidlib.store import find_runs, load_noise_stats, save_noise_stats

    def check(stats, where):
        import torch

        for name, t in stats.tensors().items():
            if not bool(torch.isfinite(t).all()):
                raise NonFiniteError(f"model {model_id}: noise statistics {name} in {where} are not finite, "
                                     "probe noise statistics")
        return stats

    if store.noise_stats_path.is_file():
        t, meta = load_noise_stats(store.dir)
        if meta.get("noise_key") == noise_key:
            return check(NoiseStats.from_tensors(t, meta), store.noise_stats_path), meta, "stored"
    for other in find_runs(out, model=model_id):
        p = other.noise_stats_path
        if other.dir == store.dir or not p.is_file():
            continue
        try:
            t, meta = load_noise_stats(other.dir)
        except (ValueError, OSError, json.JSONDecodeError):
            continue
        if meta.get("noise_key") == noise_key:
            stats = check(NoiseStats.from_tensors(t, meta), p)
            meta = dict(meta, copied_from=str(other.dir))
            save_noise_stats(store.dir, t, meta)
            return stats, meta, f"reused from {other.dir}"
    skipped: list = []
    stats = compute_noise_stats(adapter, fit_samples, progress=progress, on_error=on_error, skipped=skipped,
                                prepared_out=prepared_cache,
                                meta=dict(base_meta, model=model_id, noise_key=noise_key,
                                          std="population (divide by n), float64 streaming"))
    meta = dict(stats.meta, skipped=[list(x) for x in skipped])
    save_noise_stats(store.dir, stats.tensors(), meta)
    return stats, meta, "computed"


# ----------------------------------------------------------------------------- the run
class _hf_progress:
    """Silence transformers' own progress bars (loading weights) when ``progress`` is off."""

    def __init__(self, progress: bool):
        self.progress = progress

    def __enter__(self):
        if not self.progress:
            try:
                from transformers.utils import logging as hf_logging

                self._was = hf_logging.is_progress_bar_enabled()
                hf_logging.disable_progress_bar()
            except Exception:  # noqa: BLE001 - cosmetic only
                self._was = None
        return self

    def __exit__(self, *exc):
        if not self.progress and getattr(self, "_was", None):
            from transformers.utils import logging as hf_logging

            hf_logging.enable_progress_bar()
        return False


def run(model: str, dataset, out, *, images=None, split: str | None = None, fit_dataset=None,
        fit_images=None, fit_split: str | None = None, limit: int | None = None, layers: bool = False,
        batch_size: int = 8, write_every: int | None = None, share_prefix: bool = False,
        device: str | None = None, dtype: str = "auto",
        tau: float = 0.3, seed: int = 0, noise_draws: int = 1, donors: int = 0,
        trust_remote_code: bool = False, on_error: str = "raise", progress: bool = True,
        wait: float = 0.0, run_info: Mapping[str, Any] | None = None, command: str | None = None,
        adapter=None, verbose: bool = True, device_map=None, max_memory=None, offload_folder=None,
        shard: tuple[int, int] | None = None) -> RunResult:
    """Probe ``model`` on ``dataset`` and store one row per sample under ``out`` (resumable).

    Parameters
    ----------
    model : str
        Hugging Face id or local ``save_pretrained`` directory (model + processor).
    dataset : str or MCDataset
        ``"FORMAT:PATH"`` or ``"FORMAT:PATH@IMAGES"`` (see :func:`pidlib.data.load_dataset`),
        or a loaded dataset.
    out : str or Path
        Run store root (e.g. ``"runs"``).
    images : str or Path, optional
        Image folder of the rows (default: ``@IMAGES`` of the spec, else the file's folder).
    split : str, optional
        Probe only the rows of this split (``meta["split"]``). Default ``None``: every row.
    fit_dataset : str or MCDataset, optional
        Compute the noise statistics on this dataset's rows instead of the run's own.
    fit_images : str or Path, optional
        Image folder of ``fit_dataset`` (default ``images``).
    fit_split : str, optional
        Compute the noise statistics on this split's rows (of ``fit_dataset`` or of the
        run's file).
    limit : int, optional
        Only the first ``limit`` samples (of the split), also for the noise statistics.
    layers : bool
        Also store logit-lens distributions per decoder layer (default False).
    batch_size : int
        Samples per forward (1 + 2K rows each); default 8.
    write_every : int, optional
        Samples per stored part (default ``None``: one part per batch). Rows wait in
        memory until this many are ready or 30 s have passed; an interruption that lets
        Python run (an error, Ctrl-C) still writes them, a ``kill -9`` loses at most
        these (see :func:`pidlib.probes.run_probes`). Not part of the run key.
    share_prefix : bool
        Full and visual-only probes share the prefix KV cache (default False).
    device : str, optional
        ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ... Default: ``"cpu"``, or ``"cuda"`` with a
        ``device_map`` on a machine with CUDA. Under several ranks ``"cuda"`` is
        ``cuda:<LOCAL_RANK>``. With a ``device_map`` it is the device type the map puts the
        input embedding on (checked).
    dtype : str
        ``"auto"`` (default: bf16 on CUDA, fp32 on CPU), ``"bf16"``, ``"fp16"``, ``"fp32"``.
    tau : float
        Threshold on the option mass in [0, 1] (default 0.3).
    seed : int
        Noise / donor seed >= 0 (default 0).
    noise_draws : int
        Noise draws averaged per noised probe (default 1, the paper's).
    donors : int
        Donor probes with D other samples instead of noise (default 0).
    trust_remote_code : bool
        Allow a model repository's own code (default False).
    on_error : {"raise", "skip"}
        Bad rows / images: stop (default) or skip and report them.
    progress : bool
        Progress bars (default True).
    wait : float
        Seconds to wait for another writer of the same run directory (default 0: stop at
        once with :class:`~pidlib.store.RunLockedError`).
    run_info : dict, optional
        Labels stored in ``meta.json`` (``task``, ``family``, ``scale``, ``scale_name``, ``train_seed``,
        ``stage``, ``step``, ``kind``, ``label``): the analysis reads them instead of
        parsing folder names. Not part of the run key.
    command : str, optional
        Command line recorded in ``meta.json`` (default: this process's).
    adapter : pidlib.models.Adapter, optional
        An already loaded adapter for ``model`` (it must be the model ``model`` names).
    verbose : bool
        Print warnings to stderr (default True).
    device_map : str or dict, optional
        Load with accelerate's big-model inference: ``"auto"``, ``"balanced"``,
        ``"balanced_low_0"``, ``"sequential"``, or ``{module name: device}`` (or its JSON
        text). Not part of the run key. Default ``None``: the whole model on ``device``.
    max_memory : dict or str, optional
        Per-device budget for the placement, ``{0: "70GiB", "cpu": "200GiB"}`` or
        ``"0=70GiB,cpu=200GiB"``.
    offload_folder : str, optional
        Folder for weights the map sends to ``"disk"`` (default: a temporary folder).
    shard : (rank, world), optional
        This process's share of a multi-process run (default: :func:`rank_info`, i.e.
        ``torchrun``'s environment). ``(0, 1)``: a plain run.

    Returns
    -------
    RunResult

    Raises
    ------
    ConfigError, DatasetError, AdapterError, NonFiniteError, RunLockedError, FileNotFoundError
        User errors, each with a message naming the option, file, row, model, sample or
        probe concerned.
    """
    import torch

    from pidlib.data.identity import samples_identity
    from pidlib.io import config_hash, file_digest
    from pidlib.models.identity import is_local_model, model_fingerprint, model_identity
    from pidlib.store import RunStore

    opts = dict(tau=tau, batch_size=batch_size, noise_draws=noise_draws, donors=donors, seed=seed, limit=limit,
                on_error=on_error, wait=wait, split=split, fit_split=fit_split, run_info=run_info,
                write_every=write_every)
    _check_options(opts)
    from pidlib.models.registry import parse_device_map, parse_max_memory

    try:
        device_map, max_memory = parse_device_map(device_map), parse_max_memory(max_memory)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    if max_memory is not None and device_map is None:
        raise ConfigError("max_memory needs a device map (device_map='auto', 'balanced' or a JSON map)")
    rank, world, local_rank = rank_info() if shard is None else (int(shard[0]), int(shard[1]), int(shard[0]))
    if not (world >= 1 and 0 <= rank < world):
        raise ConfigError(f"shard must be (rank, world) with 0 <= rank < world, got {(rank, world)}")
    if device is None:
        device = "cuda" if device_map is not None and torch.cuda.is_available() else "cpu"
    if world > 1 and device == "cuda" and device_map is None:
        device = f"cuda:{local_rank}"
    dev = _device(device)
    dtype_name = _dtype_name(dtype, dev)
    t0 = time.perf_counter()

    # -- what the run is ----------------------------------------------------------------
    ds, spec = _load(dataset, images, on_error)
    samples = select_split(ds, split, limit)
    if donors and len(samples) < 2:
        raise ConfigError("donors: donor probes need at least 2 samples")
    if fit_dataset is None or (isinstance(fit_dataset, str) and fit_dataset == spec and fit_images in (None, images)):
        fit_ds, fit_spec = ds, spec
    else:
        fit_ds, fit_spec = _load(fit_dataset, fit_images if fit_images is not None else images, on_error)
    if fit_ds is ds and fit_split in (None, split):
        fit_samples, fit_label = samples, "the run's own rows"
    else:
        fit_samples = select_split(fit_ds, fit_split, limit)
        fit_label = f"{fit_ds.source}" + (f" split {fit_split!r}" if fit_split else "")
    data_id = samples_identity(samples)
    fit_id = data_id if fit_samples is samples else samples_identity(fit_samples)

    model = str(model)
    model_id = model_identity(model)
    files: list = []
    if is_local_model(model):
        fingerprint = model_fingerprint(model, details=files)
    elif adapter is not None:
        fingerprint = model_fingerprint(model, adapter)
    else:
        fingerprint = _hub_fingerprint(model, trust_remote_code)
    config = probe_config(fingerprint=fingerprint, tau=tau, seed=seed, layers=layers, dtype=dtype_name,
                          noise_device=dev.type, noise_draws=noise_draws, donors=donors, noise_fit_id=fit_id)
    noise_key = config_hash({"model": model_id, "fingerprint": fingerprint, "dtype": dtype_name,
                             "noise_device": dev.type, "fit": fit_id, "version": NOISE_VERSION,
                             "instruction": config["instruction"], "probe": PROBE_VERSION}, n=16)
    split_label = split if split is not None else ALL_ROWS
    store = RunStore(out, model_id, ds.name, split_label, config, create=False, data_id=data_id,
                     rank=rank if world > 1 else None, lock_wait=max(float(wait), 600.0) if world > 1 else 0.0)
    want = [str(s.index) for s in samples]

    # -- a finished run is a no-op (nothing written: works on a read-only disk) -----------
    def complete(st) -> bool:
        m = st.meta()
        if m.get("status") != "complete" or not st.noise_stats_path.is_file():
            return False
        skipped_idx = {str(x.get("index")) for x in m.get("skipped", []) if x.get("index") is not None}
        import warnings

        with warnings.catch_warnings():   # bad parts are named when the writer quarantines them
            warnings.simplefilter("ignore")
            return set(want) - skipped_idx <= st.done()

    if store.meta_path.is_file() and complete(store):
        m = store.meta()
        return RunResult(store.dir, store, len(store.done()), 0, len(store.done()), m.get("skipped", []),
                         m.get("warnings", []), True, m)

    # -- one writer at a time (one per rank; parts under the shared lock) ---------------------
    if world > 1:
        store.acquire_rank(wait)
    else:
        store.acquire(wait)
    try:
        if store.meta_path.is_file() and complete(store):   # finished while we waited
            m = store.meta()
            return RunResult(store.dir, store, len(store.done()), 0, len(store.done()), m.get("skipped", []),
                             m.get("warnings", []), True, m)
        with store.lock():
            store._ensure_meta()
        if adapter is None:
            from pidlib.models import load_adapter

            with _hf_progress(progress):
                adapter = load_adapter(model, device=str(dev), dtype=dtype_name,
                                       trust_remote_code=trust_remote_code, device_map=device_map,
                                       max_memory=max_memory, offload_folder=offload_folder)
        got = str(adapter.dtype).replace("torch.", "")
        if got != dtype_name:
            raise ConfigError(f"the adapter's dtype {got} is not the run's dtype {dtype_name}")
        if adapter.device.type != dev.type:
            raise ConfigError(f"the device map puts the input embedding on {adapter.device}, not on a {dev.type} "
                              f"device; pass device={adapter.device.type!r} (CLI --device {adapter.device.type}): "
                              "the noise generator's device type is part of the run key")
        base = {"dataset": fit_ds.name, "split": fit_split if fit_split is not None else split_label,
                "rows": fit_label, "data_id": fit_id}
        prepared_cache = None
        if world > 1 and rank != 0:
            stats, stats_meta, stats_how = _wait_noise_stats(
                store, noise_key, rank, float(os.environ.get("PIDLIB_RANK_TIMEOUT", 6 * 3600)))
        else:
            from pidlib.models.base import PreparedCache

            # the noise pass prepares the run's own rows; the probes then reuse them
            prepared_cache = PreparedCache() if fit_samples is samples else None
            stats, stats_meta, stats_how = _noise_stats(store, out, model_id, noise_key, fit_samples, base,
                                                        adapter, on_error, progress, prepared_cache)
        info = {k: v for k, v in dict(run_info or {}).items() if v is not None}
        unknown = sorted(set(info) - set(RUN_INFO_KEYS))
        if unknown:
            raise ConfigError(f"run_info: unknown keys {unknown}; known: {', '.join(RUN_INFO_KEYS)}")
        data_files = []
        if spec is not None and ":" in spec:
            from pidlib.data.loaders import parse_spec

            _, path, _ = parse_spec(spec, images)
            pth = Path(path).expanduser()
            for p in ([pth] if pth.is_file() else sorted(pth.rglob("*.parquet")) if pth.is_dir() else []):
                data_files.append({"path": str(p.resolve()), "size": p.stat().st_size, "digest": file_digest(p)})
        m = store.meta()
        sources = list(m.get("data", {}).get("sources", []))
        src = {"spec": spec, "source": ds.source, "files": data_files}
        if src not in sources:
            sources.append(src)
        cmd = command if command is not None else " ".join(shlex.quote(a) for a in ["pidlib", *sys.argv[1:]])
        noise_field = {} if rank != 0 else {"noise_stats": {
            "file": store.noise_stats_path.name, "noise_key": noise_key, "rows": fit_label, "data_id": fit_id,
            "spec": fit_spec, "n_samples": stats_meta.get("n_samples"), "how": stats_how}}
        store.update_meta(
            command=cmd, adapter=adapter.describe(), model_input=model, model_files=files,
            dataset_source=ds.source, dataset_format=ds.format,
            data={"data_id": data_id, "format": ds.format, "name": ds.name, "split": split,
                  "limit": limit, "n_samples": len(samples), "sources": sources},
            run_info=info, **{k: info[k] for k in RUN_INFO_KEYS if k in info}, **noise_field,
            status="running")

        from pidlib.probes import run_probes

        with torch.inference_mode():
            summary = run_probes(adapter, ds, split_label, store, batch_size=batch_size, tau=tau, seed=seed,
                                 layers=layers, noise_stats=stats, progress=progress, on_error=on_error,
                                 samples=samples, share_prefix=share_prefix, noise_draws=noise_draws,
                                 donors=donors, shard=(rank, world) if world > 1 else None,
                                 prepared_cache=prepared_cache, write_every=write_every)
        skipped = [{"index": i, "problem": p, "message": f"sample {i}: {p}"} for i, p in summary["skipped"]]
        skipped += [{"file": s.file, "row": s.row, "problem": s.problem, "message": str(s)} for s in ds.skipped]
        last = {**{k: v for k, v in summary.items() if k != "skipped"}, "seconds_total": time.perf_counter() - t0}
        _barrier()   # with a process group, every rank has written its parts before any finalizes
        with store.lock():   # ranks finalize in turn; whoever finds every sample stored completes the run
            meta_now = store.meta()
            if world > 1:   # merge this rank's skipped rows with the others'
                seen = {x.get("message") for x in meta_now.get("skipped", [])}
                skipped = list(meta_now.get("skipped", [])) + [x for x in skipped if x.get("message") not in seen]
            done = store.done()
            missing = set(want) - {str(x["index"]) for x in skipped if x.get("index") is not None} - done
            warns, counts = input_effect_warnings(store, model_id) if not missing or world == 1 else ([], {})
            extra = {}
            if world > 1:
                ranks = dict(meta_now.get("ranks", {}))
                ranks[str(rank)] = dict(last, world_size=world, host=platform.node(), pid=os.getpid())
                extra = {"ranks": ranks, "world_size": world}
            store.update_meta(skipped=skipped, warnings=warns, input_effect=counts, last_run=last,
                              status="complete" if not missing else "incomplete", **extra)
        if verbose:
            for w in warns:
                print(f"warning: {w}", file=sys.stderr)
        return RunResult(store.dir, store, summary["n_done_before"], summary["n_new"], len(done), skipped, warns,
                         False, store.meta())
    finally:
        store.release()
        if world > 1:
            store.release_rank()


# ----------------------------------------------------------------------------- dry run
def dry_run(model: str, dataset, *, images=None, split: str | None = None, limit: int | None = None, n: int = 3,
            trust_remote_code: bool = False, on_error: str = "raise") -> dict:
    """What a run would feed the model, without loading its weights or writing anything.

    Loads the config and the processor (tokenizer, chat template, image processor), then
    for the first ``n`` samples of the run builds the inputs exactly as :func:`run` does
    (:meth:`pidlib.models.Adapter.prepare`) and the option letters' token ids as
    continuations of the prompt (:func:`pidlib.probes.letter_token_ids`).

    Returns
    -------
    dict
        ``model``, ``family``, ``config_class``, ``dataset``, ``n_samples`` (in the run) and
        ``samples``: one dict per shown sample with ``index``, ``answer``, ``n_options``,
        ``prompt`` (the exact text), ``n_tokens``, ``n_image_tokens``,
        ``n_question_tokens``, ``option_ids`` ({letter: [ids]}) and ``option_tokens``.
    """
    from pidlib.data.schema import LETTERS
    from pidlib.models.base import AdapterError
    from pidlib.models.registration import adapter_class_for_config
    from pidlib.probes.scoring import letter_token_ids

    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ConfigError(f"n must be an integer >= 1, got {n!r}")
    _check_options(dict(tau=0.3, batch_size=1, noise_draws=1, donors=0, seed=0, limit=limit, on_error=on_error,
                        wait=0.0, split=split, fit_split=None, run_info=None))
    ds, spec = _load(dataset, images, on_error)
    samples = select_split(ds, split, limit)
    try:
        from transformers import AutoConfig, AutoProcessor

        config = AutoConfig.from_pretrained(str(model), trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as e:
        raise AdapterError(f"model {model!r}: cannot read its config ({type(e).__name__}: "
                           f"{str(e).splitlines()[0][:300]})") from None
    cls = adapter_class_for_config(config)
    try:
        processor = AutoProcessor.from_pretrained(str(model), trust_remote_code=trust_remote_code)
    except Exception as e:  # noqa: BLE001 - name the part that failed
        from pidlib.models.registry import _torchvision_ok, torchvision_message

        if "torchvision" in str(e).lower() or not _torchvision_ok():
            raise AdapterError(torchvision_message(str(model), e)) from None
        raise AdapterError(f"could not load the processor of {model}: {e}") from None
    adapter = cls(None, processor, config=config, name=str(model))
    tok = adapter.tokenizer
    shown = []
    for s in samples[:n]:
        p = adapter.prepare(s)
        letters = LETTERS[:len(s.options)]
        try:
            opt = letter_token_ids(tok, p.prompt, letters)
        except ValueError as e:
            raise AdapterError(f"sample {s.index!r}: {e}") from None
        ids = p.input_ids
        shown.append({"index": str(s.index), "answer": s.answer, "n_options": len(s.options), "prompt": p.prompt,
                      "n_tokens": int(ids.numel()), "n_image_tokens": int(adapter.image_mask(ids).sum()),
                      "n_question_tokens": int(p.question_mask.sum()),
                      "option_ids": {L: list(map(int, c)) for L, c in zip(letters, opt)},
                      "option_tokens": {L: tok.convert_ids_to_tokens(c) for L, c in zip(letters, opt)}})
    return {"model": str(model), "family": cls.family, "config_class": type(config).__name__,
            "dataset": spec if spec is not None else ds.name, "n_samples": len(samples), "samples": shown}
