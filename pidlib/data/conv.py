"""The paper's JSON conversations.

A list of ``{"image": path|base64, "num_options": k, "conversations": [{"from": "human",
"value": "...<image>"}, {"from": "gpt", "value": "A"}]}``; the options are the ``A. ...``
lines (or inline ``A. ... B. ...``) of the human turn, a ``Hint:`` line becomes the hint.
Blank lines are ignored. Lines after the option block that are not option lines (an
instruction) are not part of the prompt body (they are kept in ``meta["trailing_text"]``);
an option line after such text or after a skipped letter (``A, B, <text>, C`` or ``A, B,
D``) and more than eight options are row errors, never truncated. A 2-option row without
listed options is read as yes/no.
"""
from __future__ import annotations

import re
from pathlib import Path

from pidlib.data.common import (
    _YES_NO,
    _check_answer,
    _index_text,
    _iter_json_records,
    _parse_option_lines,
    _text,
    parse_inline_options,
    read_rows,
    resolve_image,
)
from pidlib.data.schema import DatasetError, MCDataset, MCSample

__all__ = ["load_conv"]

_IMAGE_TOKEN = re.compile(r"<image>\s*")


def _parse_human_turn(value: str) -> tuple[str | None, str, list[str], list[str]] | None:
    """``(hint, question, options, trailing lines)`` from a human turn, or ``None`` without
    options. Raises ``ValueError`` for option lines after a gap or past ``H``."""
    text = _IMAGE_TOKEN.sub("", value).strip()
    lines = [ln for ln in text.splitlines() if ln.strip()]
    hint = None
    got = _parse_option_lines(lines)   # raises ValueError for option lines after a gap
    after: list[str] = []
    if got is not None:
        pre, options, after = got
    else:
        inline = parse_inline_options(text)
        if inline is None:
            return None
        q, options = inline
        pre = [ln for ln in q.splitlines() if ln.strip()]
    qlines = []
    for ln in pre:
        s = ln.strip()
        if s.lower().startswith("hint:"):
            hint = s[5:].strip() or None
        elif s.lower().rstrip(":") in ("options", "choices"):
            continue
        else:
            qlines.append(re.sub(r"^question:\s*", "", s, flags=re.I))
    return hint, "\n".join(qlines).strip(), options, after


def load_conv(path: Path, *, images: Path | None = None, on_error: str = "raise",
              limit: int | None = None) -> MCDataset:
    """The paper's JSON conversation format; see the module docstring."""

    def parse(rec, row: int) -> MCSample:
        conv = rec.get("conversations")
        if not isinstance(conv, list) or not conv:
            raise DatasetError(path, row, "missing field 'conversations' (a list of turns)")
        human = next((t for t in conv if isinstance(t, dict) and t.get("from") in ("human", "user")), None)
        gpt = next((t for t in conv if isinstance(t, dict) and t.get("from") in ("gpt", "assistant")), None)
        if human is None or _text(human.get("value")) is None:
            raise DatasetError(path, row, "no human turn with a 'value'")
        k = rec.get("num_options", rec.get("num_choices"))
        if k is not None:
            try:
                k = int(k)
            except (TypeError, ValueError):
                raise DatasetError(path, row, f"num_options {k!r} is not an integer") from None
        try:
            parsed = _parse_human_turn(str(human["value"]))
        except ValueError as e:
            raise DatasetError(path, row, f"human turn: {e}") from None
        trailing: list[str] = []
        gold = _text(gpt.get("value")) if gpt else None
        if parsed is None:
            if k == 2:
                hint, question, options = None, _IMAGE_TOKEN.sub("", str(human["value"])).strip(), ["yes", "no"]
                if gold is not None and gold.lower().rstrip(".") in _YES_NO:
                    gold = _YES_NO[gold.lower().rstrip(".")]
            else:
                raise DatasetError(path, row, "no options ('A. ...' lines) in the human turn")
        else:
            hint, question, options, trailing = parsed
        if not question:
            raise DatasetError(path, row, "empty question in the human turn")
        if k is not None and k != len(options):
            raise DatasetError(path, row, f"num_options is {k} but the human turn lists {len(options)} options")
        if gold is not None:
            m = re.match(r"^\(?([A-Ha-h])(?:[.):\s]|$)", gold)
            gold = m.group(1).upper() if m else gold
        answer = _check_answer(gold, options, path, row)
        img = rec.get("image")
        ref = resolve_image(img, images, path, row) if img is not None else None
        if ref is None:
            raise DatasetError(path, row, "missing field 'image'")
        rid = _index_text(rec.get("id", rec.get("index", rec.get("question_id"))))
        idx = rid if rid is not None else str(row)
        meta = {"source": str(path), "row": row}
        for key in ("category", "task", "split"):
            if _text(rec.get(key)):
                meta[key] = _text(rec[key])
        if trailing:   # the instruction after the options: not part of the prompt body, kept visible
            meta["trailing_text"] = "\n".join(ln.strip() for ln in trailing)
        return MCSample(idx, question, options, answer, ref, hint=hint, meta=meta)

    return read_rows(path, 'conv', _iter_json_records(path), parse, on_error=on_error, limit=limit)
