"""MMBench TSV (VLMEvalKit layout).

Columns ``index, question, hint, A, B, C, D, (E, F, G, H), answer, category, l2-category,
split, image`` (base64). An ``image`` value of 64 characters or fewer is a reference to
another row's ``index``. Options are the letter columns ``A`` .. ``H`` that the file has
(MMBench itself has A-D, some derived files more); a column ``I`` with a value is a row
error (at most eight options), never dropped silently. Empty option cells are allowed only
at the end (A, B, C, "", "" is a 3-option question; A, B, "", D is a bad row). ``answer``
may be absent (test split): answers are then ``None``. Circular duplicates (rotated
options) share ``int(index) % 1_000_000``, kept in ``meta["circular_group"]``. Cells are
read as text (``"None"`` stays an option text); an empty cell or the literal ``nan``
counts as missing. Files with an ``image_path`` column instead of ``image`` read the image
files from the ``images`` directory. The ``split`` column (``dev``, ``test``) goes to
``meta["split"]``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from pidlib.data.common import (
    _check_answer,
    _contiguous_options,
    _index_text,
    _read_table,
    _require_columns,
    _text,
    read_rows,
    resolve_image,
)
from pidlib.data.schema import LETTERS, DatasetError, ImageRef, MCDataset, MCSample

__all__ = ["load_mmbench", "mmbench_sample"]

_BEYOND = chr(ord(LETTERS[-1]) + 1)   # "I": one more option than supported


def _mmbench_image(img: str, idx: str, full: dict[str, str], verified: dict[str, DatasetError | None],
                   path: Path, row: int) -> ImageRef:
    """A row's base64 image, following a <= 64-character reference to another row's index;
    each distinct image is verified once (``verified`` caches the outcome)."""
    if img.startswith("["):
        raise DatasetError(path, row, "multi-image rows (a list in 'image') are not supported")
    key = idx
    if len(img) <= 64:
        if img not in full:
            raise DatasetError(path, row, f"image refers to index {img!r}, which has no image in this file")
        key, img = img, full[img]
    ref = ImageRef("base64", img, str(path), row)
    if key not in verified:
        try:
            ref.verify()
            verified[key] = None
        except DatasetError as e:
            verified[key] = e
    err = verified[key]
    if err is not None:
        raise DatasetError(path, row, err.problem + (f" (via index {key})" if key != idx else ""))
    return ref


def mmbench_sample(r: dict, row: int, path: Path, columns, image_of) -> MCSample:
    """One MMBench record (column -> value) as a sample, with the rules of the module
    docstring; shared by the TSV loader and the Hugging Face parquet loader
    (:mod:`pidlib.data.hub`).

    ``columns`` are the record's column names; ``image_of(r, idx, row)`` returns the row's
    :class:`~pidlib.data.schema.ImageRef` or raises :class:`DatasetError`.
    """
    columns = set(columns)
    opt_cols = [c for c in LETTERS if c in columns]
    l2 = next((c for c in ("l2-category", "L2-category") if c in columns), None)
    idx = _index_text(r["index"])
    if idx is None:
        raise DatasetError(path, row, "empty index")
    question = _text(r["question"])
    if question is None:
        raise DatasetError(path, row, "empty question")
    if _BEYOND in columns and _text(r[_BEYOND]) is not None:
        raise DatasetError(path, row, f"option {_BEYOND} is present: at most {len(LETTERS)} options "
                                      f"({LETTERS[0]}-{LETTERS[-1]}) are supported")
    options = _contiguous_options([(c, _text(r[c])) for c in opt_cols], path, row)
    answer = _check_answer(_text(r["answer"]) if "answer" in columns else None, options, path, row)
    ref = image_of(r, idx, row)
    meta: dict[str, Any] = {"source": str(path), "row": row}
    try:
        meta["circular_group"] = int(idx) % 1_000_000
    except ValueError:
        pass
    for key, col in (("category", "category"), ("l2_category", l2), ("split", "split"),
                     ("source_dataset", "source"), ("comment", "comment")):
        if col and col in columns and _text(r[col]) is not None:
            meta[key] = _text(r[col])
    hint = _text(r["hint"]) if "hint" in columns else None
    return MCSample(idx, question, options, answer, ref, hint=hint, meta=meta)


def load_mmbench(path: Path, *, images: Path | None = None, on_error: str = "raise",
                 limit: int | None = None) -> MCDataset:
    """MMBench TSV (VLMEvalKit layout); see the module docstring."""
    df = _read_table(path, "\t")
    _require_columns(df, path, ["index", "question", "A", "B", ("image", "image_path")])
    if "image" not in df.columns:  # VLMEvalKit variants with image files instead of base64
        df["image"] = ""
    recs = df.to_dict("records")
    # index -> full image (for the <= 64-character references)
    full: dict[str, str] = {}
    for r in recs:
        idx, img = _index_text(r["index"]), _text(r["image"])
        if idx is not None and img is not None and len(img) > 64 and idx not in full:
            full[idx] = img
    verified: dict[str, DatasetError | None] = {}

    def image_of(r: dict, idx: str, row: int) -> ImageRef:
        img = _text(r["image"])
        if img is not None:
            return _mmbench_image(img, idx, full, verified, path, row)
        if "image_path" in df.columns and _text(r["image_path"]) is not None:
            return resolve_image(_text(r["image_path"]), images, path, row)
        raise DatasetError(path, row, "empty image")

    columns = list(df.columns)
    return read_rows(path, "mmbench", ((row, r, None) for row, r in enumerate(recs, 1)),
                     lambda r, row: mmbench_sample(r, row, path, columns, image_of), on_error=on_error, limit=limit)
