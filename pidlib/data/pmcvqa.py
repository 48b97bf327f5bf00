"""PMC-VQA CSV: ``Figure_path, Question, Answer`` (or the v1 spelling ``Anwser``),
``Choice A`` .. ``Choice D`` (more letter columns up to ``Choice H`` are read too),
``Answer_label``.

Choice values carry a ``"A:"`` prefix (possibly with spaces) that is stripped. Images:
``images / Figure_path``. The index is the ``index``/``id`` column when there is one, else
the 1-based data row.
"""
from __future__ import annotations

import re
from pathlib import Path

from pidlib.data.common import (
    _check_answer,
    _contiguous_options,
    _index_text,
    _norm,
    _read_table,
    _require_columns,
    _text,
    read_rows,
    resolve_image,
)
from pidlib.data.schema import LETTERS, DatasetError, MCDataset, MCSample

__all__ = ["load_pmcvqa"]

_PREFIX = re.compile(r"^\s*([A-Ha-h])\s*:\s*(.*)$", re.S)


def _strip_prefix(s: str | None) -> tuple[str | None, str | None]:
    """``" A: text"`` -> ``("A", "text")``; no prefix -> ``(None, s)``."""
    if s is None:
        return None, None
    m = _PREFIX.match(s)
    if not m:
        return None, s.strip()
    return m.group(1).upper(), (m.group(2).strip() or None)


def load_pmcvqa(path: Path, *, images: Path | None = None, on_error: str = "raise",
                limit: int | None = None) -> MCDataset:
    """PMC-VQA CSV (``Answer`` or ``Anwser``, ``Choice A..D`` with ``"A:"`` prefixes)."""
    df = _read_table(path, ",")
    _require_columns(df, path, ["Figure_path", "Question", "Choice A", "Choice B",
                                ("Answer_label", "Answer", "Anwser")])
    choice_cols = [(c, f"Choice {c}") for c in LETTERS if f"Choice {c}" in df.columns]
    ans_col = next((c for c in ("Answer", "Anwser") if c in df.columns), None)
    id_col = next((c for c in ("index", "id", "question_id") if c in df.columns), None)

    def parse(r, row: int) -> MCSample:
        question = _text(r["Question"])
        if question is None:
            raise DatasetError(path, row, "empty Question")
        cells = []
        for letter, col in choice_cols:
            pre, val = _strip_prefix(_text(r[col]))
            if pre is not None and pre != letter:
                raise DatasetError(path, row, f"{col} value starts with '{pre}:' instead of '{letter}:'")
            cells.append((letter, val))
        options = _contiguous_options(cells, path, row)
        label = _text(r.get("Answer_label"))
        ans_pre, ans_text = _strip_prefix(_text(r[ans_col])) if ans_col else (None, None)
        if label is None:
            label = ans_pre
        if label is None and ans_text is not None:
            hits = [LETTERS[i] for i, o in enumerate(options) if _norm(o) == _norm(ans_text)]
            if len(hits) != 1:
                raise DatasetError(path, row, f"answer {ans_text!r} is not among the options")
            label = hits[0]
        if label is None:
            raise DatasetError(path, row, "no answer (Answer_label and Answer are empty)")
        answer = _check_answer(label, options, path, row)
        # consistency between Answer_label and the Answer text, where they can be compared
        if ans_pre is not None and ans_pre != answer:
            raise DatasetError(path, row, f"Answer_label {answer!r} disagrees with {ans_col} prefix {ans_pre!r}")
        if ans_text is not None and _norm(ans_text) != _norm(options[LETTERS.index(answer)]):
            others = [LETTERS[i] for i, o in enumerate(options) if _norm(o) == _norm(ans_text)]
            if others:
                raise DatasetError(path, row, f"Answer_label {answer!r} disagrees with {ans_col} text "
                                              f"{ans_text!r} (option {others[0]})")
        fig = _text(r["Figure_path"])
        if fig is None:
            raise DatasetError(path, row, "empty Figure_path")
        ref = resolve_image(fig, images, path, row)
        idx = _index_text(r[id_col]) if id_col else None
        idx = idx if idx is not None else str(row)
        meta = {"source": str(path), "row": row, "figure_path": fig}
        if "split" in df.columns and _text(r["split"]):
            meta["split"] = _text(r["split"])
        return MCSample(idx, question, options, answer, ref, meta=meta)

    return read_rows(path, 'pmcvqa', ((row, r, None) for row, r in enumerate(df.to_dict("records"), 1)), parse, on_error=on_error, limit=limit)
