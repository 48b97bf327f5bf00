"""Shared machinery of the dataset loaders: the one row loop (:func:`read_rows`), the
sample builder (``on_error``, ``limit``, duplicate indices), cell parsing, images, JSON/JSONL
and CSV/TSV reading, lettered options (columns, ``A. ...`` lines, inline ``A. x B. y``).

Every format module (:mod:`~pidlib.data.mmbench`, :mod:`~pidlib.data.pope`,
:mod:`~pidlib.data.pmcvqa`, :mod:`~pidlib.data.reefknot`, :mod:`~pidlib.data.conv`) turns
its file into ``(row, record, error)`` triples and one record into an
:class:`~pidlib.data.schema.MCSample`; :func:`read_rows` does the rest.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from PIL import Image

from pidlib.data.schema import (
    LETTERS,
    DatasetError,
    ImageRef,
    MCDataset,
    MCSample,
    SkippedRow,
    _looks_like_path,
    decode_base64_image,
)

__all__ = ["DatasetBuilder", "read_rows", "resolve_image", "parse_inline_options", "read_text"]

PathLike = str | Path


class DatasetBuilder:
    """Collects samples, applies ``on_error`` and ``limit``, rejects duplicate indices.

    Typical use in a loader::

        b = DatasetBuilder(path, "myfmt", on_error, limit)
        for row, rec in records:
            if b.full:
                break
            try:
                b.add(parse(rec, row), row)
            except DatasetError as e:
                b.reject(e)
        return b.finish()
    """

    def __init__(self, source: PathLike, format: str, on_error: str = "raise",
                 limit: int | None = None, name: str | None = None):
        self.source = Path(source)
        self.format = format
        self.on_error = on_error
        self.limit = limit
        self.name = name or self.source.stem
        self.samples: list[MCSample] = []
        self.skipped: list[SkippedRow] = []
        self._rows: dict[str, int | None] = {}

    @property
    def full(self) -> bool:
        return self.limit is not None and len(self.samples) >= self.limit

    def reject(self, err: DatasetError) -> None:
        """Raise ``err`` (``on_error="raise"``) or record it as a skipped row."""
        if self.on_error == "raise":
            raise err
        self.skipped.append(SkippedRow(err.file, err.row, err.problem))

    def add(self, sample: MCSample, row: int | None = None) -> None:
        """Append a sample; a duplicate index is a bad row (raises ``DatasetError``)."""
        if sample.index in self._rows:
            first = self._rows[sample.index]
            raise DatasetError(self.source, row, f"duplicate index {sample.index!r} (first seen at row {first})")
        self._rows[sample.index] = row
        self.samples.append(sample)

    def finish(self) -> MCDataset:
        return MCDataset(name=self.name, source=str(self.source), samples=self.samples,
                         skipped=self.skipped, format=self.format)


def read_rows(path: Path, format: str, records: Iterable[tuple[int, Any, str | None]],
              parse: Callable[[Any, int], MCSample], *, on_error: str = "raise", limit: int | None = None,
              name: str | None = None) -> MCDataset:
    """The one row loop of every file format.

    ``records`` yields ``(row, record, error)``: ``error`` (a string) marks a row that
    could not even be read (invalid JSON line, ...). ``parse(record, row)`` returns the
    sample or raises :class:`DatasetError`; the builder applies ``on_error`` and ``limit``
    and rejects duplicate indices.
    """
    b = DatasetBuilder(path, format, on_error, limit, name)
    for row, rec, err in records:
        if b.full:
            break
        try:
            if err:
                raise DatasetError(path, row, err)
            b.add(parse(rec, row), row)
        except DatasetError as e:
            b.reject(e)
    return b.finish()


def _text(v: Any) -> str | None:
    """Cell value -> stripped text, ``None`` for missing (None, NaN, '', 'nan')."""
    if v is None:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    s = str(v).strip()
    if not s or s.lower() == "nan":
        return None
    return s


def _index_text(v: Any) -> str | None:
    """Index values: ints stay ints (``3`` not ``3.0``)."""
    if isinstance(v, float) and not math.isnan(v) and v.is_integer():
        v = int(v)
    return _text(v)


def _contiguous_options(cells: list[tuple[str, str | None]], file: Path, row: int) -> list[str]:
    """Options from (letter, text) cells in order; empties allowed only after the last."""
    present = [i for i, (_, t) in enumerate(cells) if t is not None]
    if not present:
        raise DatasetError(file, row, "no options")
    last = present[-1]
    for i in range(last):
        if cells[i][1] is None:
            raise DatasetError(file, row, f"missing option {cells[i][0]} (option {cells[last][0]} is present; "
                                          "options must be contiguous from A)")
    opts = [t for _, t in cells[: last + 1]]
    if len(opts) < 2:
        raise DatasetError(file, row, f"only {len(opts)} option (need at least 2)")
    return opts


def _check_answer(answer: str | None, options: list[str], file: Path, row: int) -> str | None:
    if answer is None:
        return None
    a = answer.strip().rstrip(".").strip().upper()
    letters = LETTERS[: len(options)]
    if len(a) != 1 or a not in letters:
        raise DatasetError(file, row, f"answer {answer!r} is not among the options {'/'.join(letters)}")
    return a


def _verify_file_header(p: Path, file: Path, row: int) -> None:
    try:
        with Image.open(p):
            pass  # reading the header is cheap; full decoding happens in load_image()
    except Exception as e:
        raise DatasetError(file, row, f"undecodable image file {p} ({type(e).__name__}: {e})") from None


def resolve_image(value: Any, images: Path | None, file: Path, row: int,
                  extensions: tuple[str, ...] = ()) -> ImageRef:
    """Turn a row's image value into a validated lazy :class:`ImageRef`.

    ``value`` may be a file name/path (relative to ``images``, default the data file's
    directory), a base64 string (or data URI), or a Hugging Face export dict
    ``{"bytes": ..., "path": ...}``. For a bare name without extension each of
    ``extensions`` is tried. Missing files and undecodable base64 raise
    :class:`DatasetError` naming ``file`` and ``row``.
    """
    base = images if images is not None else file.parent
    if isinstance(value, dict):
        if value.get("bytes"):
            b = value["bytes"]
            ref = ImageRef("base64" if isinstance(b, str) else "bytes", b, str(file), row)
            ref.verify()
            return ref
        value = value.get("path")
    s = _text(value)
    if s is None:
        raise DatasetError(file, row, "missing image")
    if _looks_like_path(s) or (len(s) < 256 and extensions):
        cand = Path(s).expanduser()
        cands = [cand] if cand.is_absolute() else [base / cand]
        if not cand.suffix:
            cands += [c.with_name(c.name + ext) for c in list(cands) for ext in extensions]
        for c in cands:
            if c.is_file():
                _verify_file_header(c, file, row)
                return ImageRef("path", c, str(file), row)
        raise DatasetError(file, row, f"image file missing: {cands[0]}")
    ref = ImageRef("base64", s, str(file), row)
    try:
        decode_base64_image(s)
    except Exception:
        raise DatasetError(file, row, f"image is neither an existing file name nor valid base64 "
                                      f"({s[:40]!r}...)") from None
    ref.verify()
    return ref


def read_text(path: Path) -> str:
    """A data file as text: UTF-8 (a BOM is allowed); anything else is a DatasetError."""
    data = path.read_bytes()
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise DatasetError(path, None, "file is UTF-16 encoded; save it as UTF-8")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise DatasetError(path, None, f"not UTF-8 text: byte 0x{data[e.start]:02x} at offset {e.start} "
                                       f"(line {line}); convert the file to UTF-8") from None


def _iter_json_records(path: Path) -> Iterator[tuple[int, Any, str | None]]:
    """Yield ``(row, record, error)`` from a JSONL file or a JSON document.

    JSONL: row = 1-based line number (blank lines are skipped but counted); a file with a
    single line is one record. JSON: a top-level list (row = 1-based element), a dict
    with a ``data`` (or ``annotations``) list, or a single record (a dict without them).
    A file that is not UTF-8 raises :class:`DatasetError`.
    """
    text = read_text(path)
    head = text.lstrip()[:1]
    if head == "[" or (head == "{" and _is_single_json(text)):
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            raise DatasetError(path, None, f"invalid JSON ({e})") from None
        if isinstance(obj, dict):
            inner = obj.get("data", obj.get("annotations"))
            if isinstance(inner, list):
                obj = inner
            elif "data" in obj or "annotations" in obj:
                raise DatasetError(path, None, "JSON object whose 'data' is not a list")
            else:
                obj = [obj]   # one record (a one-line JSONL file, or one JSON object)
        for i, rec in enumerate(obj, 1):
            yield i, rec, None if isinstance(rec, dict) else f"expected a JSON object, got {type(rec).__name__}"
        return
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            yield i, None, f"invalid JSON ({e.msg} at column {e.colno})"
            continue
        yield i, rec, None if isinstance(rec, dict) else f"expected a JSON object, got {type(rec).__name__}"


def _is_single_json(text: str) -> bool:
    """True when ``text`` (starting with ``{``) is one JSON document rather than JSONL."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if len(lines) <= 1:
        return True
    try:
        json.loads(lines[0])
        return False  # first line is a complete object: JSONL
    except json.JSONDecodeError:
        return True


def _field(rec: dict, names: tuple[str, ...], file: Path, row: int, required: bool = True) -> Any:
    for n in names:
        if n in rec and _text(rec[n]) is not None:
            return rec[n]
    if required:
        raise DatasetError(file, row, f"missing field {names[0]!r}" +
                           (f" (or {', '.join(repr(n) for n in names[1:])})" if len(names) > 1 else ""))
    return None


def _read_table(path: Path, sep: str):
    import pandas as pd

    try:
        return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, na_filter=False,
                           encoding="utf-8-sig")
    except Exception as e:  # pandas.errors.ParserError, UnicodeDecodeError, ...
        raise DatasetError(path, None, f"cannot parse as {'TSV' if sep == chr(9) else 'CSV'} "
                                       f"({type(e).__name__}: {e})") from None


def _require_columns(df, path: Path, required: list[str | tuple[str, ...]]) -> None:
    cols = set(df.columns)
    for r in required:
        alts = (r,) if isinstance(r, str) else r
        if not any(a in cols for a in alts):
            raise DatasetError(path, 0, f"missing required column {alts[0]!r}" +
                               (f" (or {', '.join(repr(a) for a in alts[1:])})" if len(alts) > 1 else "") +
                               f"; columns are {list(df.columns)}")


# ---------------------------------------------------------------------------------------
# inline options ("... A. x B. y C. z, please choose.")
# ---------------------------------------------------------------------------------------
_OPT_MARK = re.compile(r"(?<!\S)\(?([A-H])[.)]\s*")
#: a marker of the letter after the last supported one ("I." / "I)" / "(I)")
_NEXT_MARK = re.compile(r"(?<!\S)\(?" + chr(ord(LETTERS[-1]) + 1) + r"[.)]\s*")
_TRAILER = re.compile(r"[\s,;.]*\b(?:please\s+(?:choose|select|answer)|answer\s+with)\b.*$", re.I | re.S)


def _clean_option(t: str) -> str:
    return t.strip().rstrip(",;.").strip()


def parse_inline_options(text: str) -> tuple[str, list[str]] | None:
    """Split ``"question A. x B. y C. z, please choose."`` into ``(question, options)``.

    The markers are ``A.``, ``A)`` or ``(A)`` preceded by whitespace (or the start). The
    last ``A`` marker followed in order by ``B``, ``C``, ... markers is taken, so an
    ``A.`` inside the question does not confuse it. Trailing instructions (``", please
    choose."``, ``"Answer with ..."``) are cut from the last option; surrounding
    whitespace and trailing ``, ; .`` are stripped from each option. Returns ``None``
    when fewer than two options are found or one is empty.

    Raises
    ------
    ValueError
        When the options run past ``H`` (a 9th option ``I.`` follows ``H.``): more than
        eight options are not supported, and merging the rest into option H would be
        silent corruption.
    """
    marks = list(_OPT_MARK.finditer(text))
    a_marks = [i for i, m in enumerate(marks) if m.group(1) == "A"]
    for ai in reversed(a_marks):
        seq = [marks[ai]]
        want = 1
        for m in marks[ai + 1:]:
            if m.group(1) == LETTERS[want] and m.start() >= seq[-1].end():
                seq.append(m)
                want += 1
                if want == len(LETTERS):
                    break
        if len(seq) < 2:
            continue
        if len(seq) == len(LETTERS) and _NEXT_MARK.search(text, seq[-1].end()):
            raise ValueError(f"more than {len(LETTERS)} inline options (an option "
                             f"{chr(ord(LETTERS[-1]) + 1)!r} follows {LETTERS[-1]!r}); at most "
                             f"{len(LETTERS)} are supported")
        opts = []
        for j, m in enumerate(seq):
            end = seq[j + 1].start() if j + 1 < len(seq) else len(text)
            chunk = text[m.end():end]
            if j + 1 == len(seq):
                chunk = _TRAILER.sub("", chunk)
            opts.append(_clean_option(chunk))
        if any(not o for o in opts):
            return None
        question = text[: seq[0].start()].strip()
        return question, opts
    return None


_LINE_OPT = re.compile(r"^\s*\(?([A-Z])[.)]\s*(.*?)\s*$")


def _parse_option_lines(lines: list[str]) -> tuple[list[str], list[str], list[str]] | None:
    """Option lines ``A. x`` / ``B. y`` in order (blank lines already removed).

    Returns ``(pre-lines, options, lines after the options)``, or ``None`` without at
    least two consecutive option lines. Raises ``ValueError`` when an option line follows
    the option block after other text or a skipped letter (``A, B, <text>, C`` or
    ``A, B, D``), or when the options run past ``H``: such rows are rejected by name
    rather than truncated.
    """
    for start, ln in enumerate(lines):
        m = _LINE_OPT.match(ln)
        if m and m.group(1) == "A":
            opts = [m.group(2)]
            j = start + 1
            while j < len(lines):
                mm = _LINE_OPT.match(lines[j])
                if not mm or len(opts) >= len(LETTERS) or mm.group(1) != LETTERS[len(opts)]:
                    break
                opts.append(mm.group(2))
                j += 1
            if len(opts) < 2:
                continue
            after = lines[j:]
            for ln2 in after:
                mm = _LINE_OPT.match(ln2)
                if mm and mm.group(2):
                    nxt = LETTERS[len(opts)] if len(opts) < len(LETTERS) else chr(ord(LETTERS[-1]) + 1)
                    if len(opts) >= len(LETTERS) and mm.group(1) == nxt:
                        raise ValueError(f"more than {len(LETTERS)} option lines (line {ln2.strip()!r} follows "
                                         f"option {LETTERS[-1]}); at most {len(LETTERS)} are supported")
                    raise ValueError(f"option line {ln2.strip()!r} after the option block "
                                     f"{LETTERS[0]}-{LETTERS[len(opts) - 1]} (separated by other text or a "
                                     "skipped letter); options must be consecutive lines A., B., ...")
            return lines[:start], [_clean_option(o) for o in opts], after
    return None


_YES_NO = {"yes": "A", "no": "B"}


def _yes_no_letter(v: Any, file: Path, row: int, what: str = "label") -> str:
    s = (_text(v) or "").lower().rstrip(".")
    if s not in _YES_NO:
        raise DatasetError(file, row, f"answer {what} {v!r} is not among the options yes/no")
    return _YES_NO[s]


def _norm(s: str) -> str:
    return " ".join(s.lower().split()).rstrip(".")
