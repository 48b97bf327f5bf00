"""Benchmarks in the Hugging Face hub's ``datasets`` parquet layout, from a local directory.

``load_dataset("mmbench-hf:DIR")`` and ``load_dataset("pope-hf:DIR")`` read the parquet
files of a downloaded dataset repository (``huggingface-cli download lmms-lab/MMBench
--repo-type dataset --local-dir DIR``, or ``datasets``' own cache) with the same schema
and error rules as the TSV/JSONL loaders (:mod:`pidlib.data.mmbench`,
:mod:`pidlib.data.pope`): bad rows raise :class:`~pidlib.data.schema.DatasetError`
naming the parquet file and the 1-based row within it (``on_error="skip"`` lists them),
a missing required column names the file and row 0.

Where the column names come from (the dataset cards' ``dataset_info`` and the lmms-eval
task code that reads them, found with the project's search tool; not guessed):

- **lmms-lab/MMBench** (README ``dataset_info``; lmms-eval ``tasks/mmbench/en_utils.py``
  reads ``doc["index"]``, ``question``, ``hint``, ``answer``, ``category``,
  ``L2-category``, ``source``, ``split`` and the options ``A``-``E``): configurations
  ``en``, ``cn``, ``cc`` in folders of those names, files ``<split>-NNNNN-of-NNNNN.parquet``
  (``dev``, ``test``); columns ``index`` (string in ``en``, int64 in ``cn``/``cc``),
  ``question, hint, answer, A, B, C, D, category, image, source, L2-category, comment,
  split`` (``cc`` has no ``hint``, ``L2-category``, ``comment``, ``split``). The
  lmms-lab/MMBench_EN and MMBench_CN repositories (``data/dev-*.parquet``, lower-case
  ``l2-category``) and HuggingFaceM4/MMBench (``image`` as a base64 string) read the same.
- **lmms-lab/POPE** (README ``dataset_info``; lmms-eval ``tasks/pope/utils.py`` reads
  ``question``, ``answer``, ``question_id``, ``image``): configuration ``default`` in
  ``data/test-0000N-of-00003.parquet`` and ``Full`` in
  ``Full/{adversarial,popular,random}-*.parquet``; columns ``id, question_id, question,
  answer, image_source, image, category``.

Images are the ``datasets`` ``Image`` feature as parquet stores it: a struct ``{bytes:
binary, path: string}``. The bytes are kept (lazily decoded); a struct with only a
``path`` is resolved against the image folder (``FORMAT:DIR@IMAGES`` or ``--images``,
default the parquet file's folder); a plain string is a file name or base64 as in the TSV.

Directory rules
    ``DIR`` may be a single ``.parquet`` file, a folder holding parquet files, or a
    repository folder whose parquet files sit in exactly one subfolder. A repository with
    several configurations (``en/``, ``cn/``, ``cc/``; POPE's ``data/`` and ``Full/``) is
    an error that lists them: name one (``mmbench-hf:DIR/en``). Files are read in name
    order (shard order). The split of a file is the part of its name before
    ``-NNNNN-of-NNNNN`` (``dev``, ``test``, ``adversarial``); MMBench rows take their
    ``split`` column when present, else that name. POPE rows without a ``category`` take
    the file's split as category (``Full/`` has one file per category), so indices stay
    ``"{category}/{question_id}"``. An index seen twice (for example in ``dev`` and
    ``test`` files of one folder) is a row error naming both files; point at one split's
    file instead. The dataset's name is ``<parent>-<folder>`` (``MMBench-en``,
    ``POPE-data``) or the file's stem.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

from pidlib.data.common import DatasetBuilder, resolve_image
from pidlib.data.mmbench import mmbench_sample
from pidlib.data.pope import pope_sample
from pidlib.data.schema import DatasetError, ImageRef, MCDataset

__all__ = ["load_mmbench_hf", "load_pope_hf", "parquet_files", "file_split"]

_SHARD = re.compile(r"^(?P<split>.+?)-\d{5}-of-\d{5}(?:-[0-9a-f]+)?$")


def file_split(path: Path) -> str | None:
    """The split named by a hub parquet file (``dev-00000-of-00001.parquet`` -> ``dev``)."""
    m = _SHARD.match(Path(path).stem)
    return m.group("split") if m else None


def parquet_files(path: Path) -> tuple[list[Path], Path]:
    """The parquet files of ``path`` (see the module docstring) and the folder holding them.

    Raises
    ------
    DatasetError
        When ``path`` holds no parquet file, or several configurations.
    """
    path = Path(path)
    if path.is_file():
        if path.suffix != ".parquet":
            raise DatasetError(path, None, "not a .parquet file; give the dataset's folder or one parquet file")
        return [path], path.parent
    direct = sorted(p for p in path.glob("*.parquet") if p.is_file())
    if direct:
        return direct, path
    subs = sorted({p.parent for p in path.rglob("*.parquet") if p.is_file()})
    if not subs:
        raise DatasetError(path, None, "no .parquet files in this folder or below it")
    if len(subs) > 1:
        names = ", ".join(str(s.relative_to(path)) for s in subs)
        raise DatasetError(path, None, f"holds several configurations ({names}); name one, e.g. "
                                       f"{path / subs[0].relative_to(path)}")
    return sorted(p for p in subs[0].glob("*.parquet") if p.is_file()), subs[0]


def _name(path: Path, folder: Path) -> str:
    if Path(path).is_file():
        return Path(path).stem
    return f"{folder.parent.name}-{folder.name}" if folder.parent.name else folder.name


def _records(files: list[Path], required: list) -> Iterator[tuple[Path, int, dict | None, str | None, list]]:
    """(file, 1-based row, record, error, columns) over every file, batch by batch."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    for f in files:
        try:
            pf = pq.ParquetFile(f)
        except (OSError, pa.ArrowException) as e:
            raise DatasetError(f, None, f"cannot read as parquet ({type(e).__name__}: {e})") from None
        cols = list(pf.schema_arrow.names)
        for r in required:
            alts = (r,) if isinstance(r, str) else r
            if not any(a in cols for a in alts):
                raise DatasetError(f, 0, f"missing required column {alts[0]!r}"
                                   + (f" (or {', '.join(repr(a) for a in alts[1:])})" if len(alts) > 1 else "")
                                   + f"; columns are {cols}")
        row = 0
        try:
            for batch in pf.iter_batches(batch_size=256):
                for rec in batch.to_pylist():
                    row += 1
                    yield f, row, rec, None, cols
        except (OSError, pa.ArrowException) as e:
            yield f, row + 1, None, f"unreadable parquet data ({type(e).__name__}: {e})", cols
            return


def _image(value: Any, images: Path | None, file: Path, row: int) -> ImageRef:
    """A hub image value: ``{bytes, path}`` struct, or a string (file name or base64)."""
    if isinstance(value, dict):
        if value.get("bytes") is None and not value.get("path"):
            raise DatasetError(file, row, "empty image (no bytes and no path)")
        if value.get("bytes") is not None and not isinstance(value["bytes"], (bytes, bytearray, str)):
            raise DatasetError(file, row, f"image bytes of type {type(value['bytes']).__name__}")
    elif value is None:
        raise DatasetError(file, row, "empty image")
    return resolve_image(value, images, file, row)


def _load(path: Path, fmt: str, required: list, parse, on_error: str, limit: int | None) -> MCDataset:
    files, folder = parquet_files(path)
    b = DatasetBuilder(path, fmt, on_error, limit, _name(path, folder))
    first: dict[str, tuple[Path, int]] = {}
    for f, row, rec, err, cols in _records(files, required):
        if b.full:
            break
        try:
            if err:
                raise DatasetError(f, row, err)
            s = parse(rec, row, f, cols)
            if s.index in first:
                f0, r0 = first[s.index]
                raise DatasetError(f, row, f"duplicate index {s.index!r} (first seen in {f0.name}, row {r0}); "
                                           "load one split's file instead")
            first[s.index] = (f, row)
            b.add(s, row)
        except DatasetError as e:
            b.reject(e)
    return b.finish()


def load_mmbench_hf(path: Path, *, images: Path | None = None, on_error: str = "raise",
                    limit: int | None = None) -> MCDataset:
    """MMBench in the hub's parquet layout (lmms-lab/MMBench ``en``/``cn``/``cc``,
    MMBench_EN/CN); see the module docstring for the columns and their source."""

    def parse(rec, row, f, cols):
        def image_of(r, idx, row):
            return _image(r.get("image"), images, f, row)

        s = mmbench_sample(rec, row, f, cols, image_of)
        split = file_split(f)
        if "split" not in s.meta and split:
            s.meta["split"] = split
        return s

    return _load(Path(path), "mmbench-hf", ["index", "question", "A", "B", "image"], parse, on_error, limit)


def load_pope_hf(path: Path, *, images: Path | None = None, on_error: str = "raise",
                 limit: int | None = None) -> MCDataset:
    """POPE in the hub's parquet layout (lmms-lab/POPE ``data/`` or ``Full/``); see the
    module docstring for the columns and their source."""

    def parse(rec, row, f, cols):
        if isinstance(rec.get("image"), dict):
            _image(rec["image"], images, f, row)   # name an empty struct the hub's way
        s = pope_sample(rec, row, f, images, category=file_split(f))
        s.meta["hub_split"] = file_split(f)
        return s

    return _load(Path(path), "pope-hf", [("question_id", "id"), ("question", "text"), ("answer", "label"),
                                         ("image", "image_source")], parse, on_error, limit)
