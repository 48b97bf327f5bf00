"""POPE JSONL: the RUCAIBox layout (``question_id, image, text, label``) or the lmms-lab
field names (``question, answer, image_source``, ``category``).

Options are ``["yes", "no"]`` (letters A, B); images are file names in the ``images``
directory (default: the data file's directory). When a ``category`` field is present the
index is ``"{category}/{question_id}"`` (lmms-lab puts the three POPE splits in one file).
"""
from __future__ import annotations

from pathlib import Path

from pidlib.data.common import (
    _field,
    _index_text,
    _iter_json_records,
    _text,
    _yes_no_letter,
    read_rows,
    resolve_image,
)
from pidlib.data.schema import MCDataset, MCSample

__all__ = ["load_pope", "pope_sample"]


def pope_sample(rec: dict, row: int, path: Path, images: Path | None, category: str | None = None) -> MCSample:
    """One POPE record as a sample (RUCAIBox or lmms-lab field names; the image a file name,
    or a Hugging Face ``{"bytes", "path"}`` struct); shared with :mod:`pidlib.data.hub`.
    ``category`` stands in for a missing ``category`` field (the hub's per-category files)."""
    qid = _index_text(_field(rec, ("question_id", "id"), path, row))
    text = _text(_field(rec, ("text", "question"), path, row))
    answer = _yes_no_letter(_field(rec, ("label", "answer"), path, row), path, row)
    img_val = rec.get("image")
    if not isinstance(img_val, dict) and _text(img_val) is None:
        img_val = _field(rec, ("image", "image_source"), path, row)
    ref = resolve_image(img_val, images, path, row, extensions=(".jpg", ".png", ".jpeg"))
    cat = _text(rec.get("category")) or category
    idx = f"{cat}/{qid}" if cat else qid
    meta = {"source": str(path), "row": row, "question_id": qid}
    if cat:
        meta["category"] = cat
    if _text(rec.get("image_source")):
        meta["image_source"] = _text(rec["image_source"])
    return MCSample(idx, text, ["yes", "no"], answer, ref, meta=meta)


def load_pope(path: Path, *, images: Path | None = None, on_error: str = "raise",
              limit: int | None = None) -> MCDataset:
    """POPE JSONL (RUCAIBox or lmms-lab field names); see the module docstring."""
    return read_rows(path, 'pope', _iter_json_records(path), lambda rec, row: pope_sample(rec, row, path, images),
                     on_error=on_error, limit=limit)
