"""Reefknot JSONL: ``image_id, query_prompt, label, type``.

Options are inline in the prompt, ``"... A. gathering B. wearing C. handling D. eating,
please choose."`` (:func:`~pidlib.data.common.parse_inline_options`; more than eight
options is a row error, never merged into the last); yes/no rows (label ``yes``/``no``,
no inline options) become ``["yes", "no"]``. Images: ``images / f"{image_id}.jpg"``
(Visual Genome ids). The index is ``question_id``/``id`` when present, else the 1-based
data row.
"""
from __future__ import annotations

from pathlib import Path

from pidlib.data.common import (
    _YES_NO,
    _check_answer,
    _field,
    _index_text,
    _iter_json_records,
    _norm,
    _text,
    _yes_no_letter,
    parse_inline_options,
    read_rows,
    resolve_image,
)
from pidlib.data.schema import LETTERS, DatasetError, MCDataset, MCSample

__all__ = ["load_reefknot"]


def load_reefknot(path: Path, *, images: Path | None = None, on_error: str = "raise",
                  limit: int | None = None) -> MCDataset:
    """Reefknot JSONL (options inline in ``query_prompt``; yes/no rows too)."""

    def parse(rec, row: int) -> MCSample:
        image_id = _index_text(_field(rec, ("image_id",), path, row))
        prompt = _text(_field(rec, ("query_prompt", "question", "query"), path, row))
        label = _text(_field(rec, ("label", "answer"), path, row))
        try:
            parsed = parse_inline_options(prompt)
        except ValueError as e:
            raise DatasetError(path, row, f"query_prompt: {e}") from None
        if parsed is not None:
            question, options = parsed
            if not question:
                raise DatasetError(path, row, "empty question before the inline options")
            lab = label.strip().rstrip(".").strip()
            if len(lab) != 1:  # the label may be the option text
                hits = [LETTERS[i] for i, o in enumerate(options) if _norm(o) == _norm(lab)]
                lab = hits[0] if len(hits) == 1 else lab
            answer = _check_answer(lab, options, path, row)
        elif label.lower().rstrip(".") in _YES_NO:
            question, options = prompt, ["yes", "no"]
            answer = _yes_no_letter(label, path, row)
        else:
            raise DatasetError(path, row, "no inline options ('A. ... B. ...') in query_prompt and "
                                          f"label {label!r} is not yes/no")
        img_name = image_id if Path(image_id).suffix else f"{image_id}.jpg"
        ref = resolve_image(img_name, images, path, row)
        rid = _index_text(rec.get("question_id", rec.get("id")))
        idx = rid if rid is not None else str(row)
        meta = {"source": str(path), "row": row, "image_id": image_id}
        for k in ("type", "relation_type"):
            if _text(rec.get(k)):
                meta[k] = _text(rec[k])
        return MCSample(idx, question, options, answer, ref, meta=meta)

    return read_rows(path, 'reefknot', _iter_json_records(path), parse, on_error=on_error, limit=limit)
