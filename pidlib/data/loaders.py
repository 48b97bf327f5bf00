"""Loaders from the native public dataset formats into :class:`~pidlib.data.schema.MCDataset`.

Use :func:`load_dataset` with a ``"FORMAT:PATH"`` spec::

    ds = load_dataset("mmbench:MMBench_DEV_EN.tsv")
    ds = load_dataset("pope:coco_pope_random.json", images="val2014/")
    ds = load_dataset("pmcvqa:test_clean.csv", images="figures/", on_error="skip")
    print(ds.summary())

Formats
-------
One module per format, all sharing one row loop (:func:`pidlib.data.common.read_rows`):
``mmbench`` (:mod:`pidlib.data.mmbench`, VLMEvalKit TSV, options A..H), ``pope``
(:mod:`pidlib.data.pope`), ``pmcvqa`` (:mod:`pidlib.data.pmcvqa`), ``reefknot``
(:mod:`pidlib.data.reefknot`, inline options), ``conv`` (:mod:`pidlib.data.conv`, the
paper's JSON conversations), and the Hugging Face hub's parquet layouts ``mmbench-hf`` and
``pope-hf`` (:mod:`pidlib.data.hub`: ``mmbench-hf:DIR`` with DIR a downloaded dataset
folder such as lmms-lab/MMBench's ``en/``, images as parquet ``{bytes, path}`` structs).
Their docstrings give the columns and rules.

Specs and image folders
-----------------------
``"FORMAT:PATH"``; the image folder is the ``images`` argument (CLI ``--images``) or, in
one string, ``"FORMAT:PATH@IMAGES"`` (``"pope:/data/pope.jsonl@/data/val2014"``; the last
``@`` splits when PATH itself does not exist). PATH must be a file: a directory gives a
:class:`~pidlib.data.schema.DatasetError` saying to name the annotation file and pass the
folder as the image folder. Data files are read as UTF-8 (a BOM is allowed); other
encodings are a ``DatasetError``.

Other modules add formats with :func:`register_format`. ``load_dataset("world:...")``
imports :mod:`pidlib.world` on first use; if that module does not register itself, its
``load_world(spec, images, on_error)`` is registered as a non-file format (the text after
``world:`` is a task spec such as ``color?n=500&seed=0&split=eval``, not a path).

Bad rows
--------
A missing option, an undecodable image, a missing image file, an answer not among the
options, a missing required field or a duplicate index raise
:class:`~pidlib.data.schema.DatasetError` (``"FILE, row N: problem"``; rows are 1-based
data rows: the CSV/TSV header is row 0, JSONL row N is line N, JSON row N is element N).
With ``on_error="skip"`` the row is left out and recorded in ``dataset.skipped``. A
missing required *column* in a CSV/TSV header always raises.

Images are kept lazily (:class:`~pidlib.data.schema.ImageRef`); validation at load time
is what is cheap: base64 images are decoded and checked with PIL ``verify()``; image
files must exist and have a readable image header.
"""
from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Any, Callable, Union

from pidlib.data.common import DatasetBuilder, parse_inline_options, read_rows, resolve_image  # noqa: F401
from pidlib.data.conv import load_conv
from pidlib.data.hub import load_mmbench_hf, load_pope_hf
from pidlib.data.mmbench import load_mmbench
from pidlib.data.pmcvqa import load_pmcvqa
from pidlib.data.pope import load_pope
from pidlib.data.reefknot import load_reefknot
from pidlib.data.schema import DatasetError, MCDataset

__all__ = [
    "load_dataset",
    "parse_spec",
    "register_format",
    "available_formats",
    "DatasetBuilder",
    "read_rows",
    "parse_inline_options",
    "resolve_image",
]

PathLike = Union[str, Path]
#: Loader signature: ``fn(path, *, images, on_error, limit) -> MCDataset``.
Loader = Callable[..., MCDataset]

_FORMATS: dict[str, tuple[Loader, bool]] = {}
#: File formats whose PATH may also be a directory (the hub's parquet layouts).
_DIR_FORMATS: set[str] = set()
#: Formats registered by a module that is imported on first use.
_LAZY_FORMATS = {"world": "pidlib.world"}


def register_format(name: str, fn: Loader, *, needs_file: bool = True, overwrite: bool = False,
                    accepts_dir: bool = False) -> None:
    """Register a dataset format for :func:`load_dataset`.

    Parameters
    ----------
    name : str
        The ``FORMAT`` part of ``"FORMAT:PATH"`` (lower case, no colon).
    fn : callable
        ``fn(path, *, images: Path | None, on_error: str[, limit: int | None]) -> MCDataset``.
        ``path`` is a ``Path`` that exists when ``needs_file`` is true, else the raw text
        after ``"FORMAT:"`` (e.g. the classroom world's ``"color?n=500&seed=0"``). A
        loader without a ``limit`` parameter gets its result truncated instead.
        :func:`~pidlib.data.common.read_rows` implements ``on_error``/``limit`` for file
        loaders.
    needs_file : bool
        Whether the part after ``FORMAT:`` is a file path (checked to exist).
    overwrite : bool
        Replace an existing registration (otherwise a different function raises).
    accepts_dir : bool
        PATH may be a directory (the hub's parquet layouts); otherwise a directory is a
        :class:`DatasetError` saying to name the annotation file.
    """
    if not name or ":" in name or name != name.lower():
        raise ValueError(f"format name must be lower case without ':', got {name!r}")
    if name in _FORMATS and _FORMATS[name][0] is not fn and not overwrite:
        raise ValueError(f"dataset format {name!r} is already registered")
    _FORMATS[name] = (fn, bool(needs_file))
    (_DIR_FORMATS.add if accepts_dir else _DIR_FORMATS.discard)(name)


def available_formats() -> list[str]:
    """Names usable as ``FORMAT`` in :func:`load_dataset` (lazy ones included)."""
    return sorted(set(_FORMATS) | set(_LAZY_FORMATS))


def _resolve_format(fmt: str, spec: str) -> tuple[Loader, bool]:
    if fmt not in _FORMATS and fmt in _LAZY_FORMATS:
        mod = importlib.import_module(_LAZY_FORMATS[fmt])
        if fmt not in _FORMATS and callable(getattr(mod, f"load_{fmt}", None)):
            # the module did not register itself: use its load_<fmt>(spec, images, on_error)
            register_format(fmt, getattr(mod, f"load_{fmt}"), needs_file=False)
    if fmt not in _FORMATS:
        raise ValueError(f"unknown dataset format {fmt!r} in {spec!r}; available: {available_formats()}")
    return _FORMATS[fmt]


def parse_spec(spec: str, images: PathLike | None = None) -> tuple[str, str, Path | None]:
    """``"FORMAT:PATH[@IMAGES]"`` -> ``(format, path, images)``.

    The image folder comes from ``images`` or from the text after the last ``@`` (used
    only when PATH with the ``@`` part does not exist as a file, and the format reads
    files). Giving both is an error.
    """
    if not isinstance(spec, str) or ":" not in spec:
        raise ValueError(f"dataset spec must be 'FORMAT:PATH', got {spec!r}; formats: {available_formats()}")
    fmt, _, path = spec.partition(":")
    fmt = fmt.strip().lower()
    _, needs_file = _resolve_format(fmt, spec)
    img = Path(images).expanduser() if images is not None else None
    if needs_file and "@" in path and not Path(path).expanduser().exists():
        path, _, at = path.rpartition("@")
        if img is not None:
            raise ValueError(f"dataset spec {spec!r} names an image folder after '@' and images={images!r} "
                             "is given too; use one of them")
        img = Path(at).expanduser()
    return fmt, path, img


def load_dataset(spec: str, images: PathLike | None = None, on_error: str = "raise",
                 limit: int | None = None) -> MCDataset:
    """Load a multiple-choice dataset.

    Parameters
    ----------
    spec : str
        ``"FORMAT:PATH"`` or ``"FORMAT:PATH@IMAGES"``, e.g.
        ``"mmbench:data/MMBench_DEV_EN.tsv"``; see :func:`available_formats`.
    images : str or Path, optional
        Directory holding the image files referenced by the rows (POPE, PMC-VQA,
        Reefknot, conv with paths). Defaults to the ``@IMAGES`` part of the spec, else
        the data file's directory.
    on_error : {"raise", "skip"}
        What to do with a bad row: raise :class:`DatasetError`, or leave it out and
        record it in ``dataset.skipped``.
    limit : int, optional
        Stop after this many good samples (file order).

    Returns
    -------
    MCDataset

    Raises
    ------
    DatasetError
        For a bad row (naming file, row and problem), a file that is not UTF-8 text, or a
        PATH that is a directory.
    FileNotFoundError
        When the data file or the image folder does not exist.
    """
    fmt, path, img = parse_spec(spec, images)
    fn, needs_file = _resolve_format(fmt, spec)
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    if limit is not None and (not isinstance(limit, int) or limit < 0):
        raise ValueError(f"limit must be a non-negative int, got {limit!r}")
    target: Any = path
    if needs_file:
        target = Path(path).expanduser()
        if not target.exists():
            raise FileNotFoundError(f"dataset file not found: {target} (from spec {spec!r})")
        if target.is_dir() and fmt not in _DIR_FORMATS:
            raise DatasetError(target, None, f"is a directory; give the {fmt} annotation file as PATH and the "
                                             f"image folder as {fmt}:FILE@{target} (or --images {target})")
    if img is not None and not img.is_dir():
        raise FileNotFoundError(f"images directory not found: {img}")
    if _accepts_limit(fn):
        return fn(target, images=img, on_error=on_error, limit=limit)
    ds = fn(target, images=img, on_error=on_error)
    if limit is not None:
        ds.samples = ds.samples[:limit]
    return ds


def _accepts_limit(fn: Callable) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return True
    return "limit" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


register_format("mmbench", load_mmbench)
register_format("pope", load_pope)
register_format("pmcvqa", load_pmcvqa)
register_format("reefknot", load_reefknot)
register_format("conv", load_conv)
register_format("mmbench-hf", load_mmbench_hf, accepts_dir=True)
register_format("pope-hf", load_pope_hf, accepts_dir=True)
