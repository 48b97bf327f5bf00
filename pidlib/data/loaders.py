"""Loaders from the native public dataset formats into :class:`~pidlib.data.schema.MCDataset`.

Use :func:`load_dataset` with a ``"FORMAT:PATH"`` spec::

    ds = load_dataset("mmbench:MMBench_DEV_EN.tsv")
    ds = load_dataset("pope:coco_pope_random.json", images="val2014/")
    ds = load_dataset("pmcvqa:test_clean.csv", images="figures/", on_error="skip")
    print(ds.summary())

Formats
-------
``mmbench``
    VLMEvalKit TSV: ``index, question, hint, A, B, C, D, (E), answer, category,
    l2-category, split, image`` (base64). An ``image`` value of 64 characters or fewer is
    a reference to another row's ``index``. Empty option cells are allowed only at the end
    (A, B, C, "", "" is a 3-option question; A, B, "", D is a bad row). ``answer`` may be
    absent (test split): answers are then ``None``. Circular duplicates (rotated options)
    share ``int(index) % 1_000_000``, kept in ``meta["circular_group"]``. Cells are read
    as text (``"None"`` stays an option text); an empty cell or the literal ``nan`` counts
    as missing. Files with an ``image_path`` column instead of ``image`` read the image
    files from the ``images`` directory.
``pope``
    RUCAIBox JSONL (``question_id, image, text, label``) or the lmms-lab field names
    (``question, answer, image_source``, ``category``). Options are ``["yes", "no"]``
    (letters A, B); images are file names in the ``images`` directory. When a
    ``category`` field is present the index is ``"{category}/{question_id}"`` (lmms-lab
    puts the three POPE splits in one file).
``pmcvqa``
    PMC-VQA CSV: ``Figure_path, Question, Answer`` (or the v1 spelling ``Anwser``),
    ``Choice A`` .. ``Choice D``, ``Answer_label``. Choice values carry a ``"A:"`` prefix
    (possibly with spaces) that is stripped. Images: ``images / Figure_path``. The index
    is the ``index``/``id`` column when there is one, else the 1-based data row.
``reefknot``
    Reefknot JSONL (``image_id, query_prompt, label, type``): options inline in the
    prompt, ``"... A. gathering B. wearing C. handling D. eating, please choose."``;
    yes/no rows (label ``yes``/``no``, no inline options) become ``["yes", "no"]``.
    Images: ``images / f"{image_id}.jpg"`` (Visual Genome ids). Index as for PMC-VQA.
``conv``
    The paper's JSON: a list of ``{"image": path|base64, "num_options": k,
    "conversations": [{"from": "human", "value": "...<image>"}, {"from": "gpt",
    "value": "A"}]}``; the options are the ``A. ...`` lines (or inline ``A. ... B. ...``)
    of the human turn, a ``Hint:`` line becomes the hint; lines after the options (an
    instruction) are dropped. A 2-option row without listed options is read as yes/no.

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
import json
import math
import re
from pathlib import Path
from typing import Any, Callable, Iterator, Union

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

__all__ = [
    "load_dataset",
    "register_format",
    "available_formats",
    "DatasetBuilder",
    "parse_inline_options",
    "resolve_image",
]

PathLike = Union[str, Path]
#: Loader signature: ``fn(path, *, images, on_error, limit) -> MCDataset``.
Loader = Callable[..., MCDataset]

_FORMATS: dict[str, tuple[Loader, bool]] = {}
#: Formats registered by a module that is imported on first use.
_LAZY_FORMATS = {"world": "pidlib.world"}


def register_format(name: str, fn: Loader, *, needs_file: bool = True, overwrite: bool = False) -> None:
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
        :class:`DatasetBuilder` implements ``on_error``/``limit`` for file loaders.
    needs_file : bool
        Whether the part after ``FORMAT:`` is a file path (checked to exist).
    overwrite : bool
        Replace an existing registration (otherwise a different function raises).
    """
    if not name or ":" in name or name != name.lower():
        raise ValueError(f"format name must be lower case without ':', got {name!r}")
    if name in _FORMATS and _FORMATS[name][0] is not fn and not overwrite:
        raise ValueError(f"dataset format {name!r} is already registered")
    _FORMATS[name] = (fn, bool(needs_file))


def available_formats() -> list[str]:
    """Names usable as ``FORMAT`` in :func:`load_dataset` (lazy ones included)."""
    return sorted(set(_FORMATS) | set(_LAZY_FORMATS))


def load_dataset(spec: str, images: PathLike | None = None, on_error: str = "raise",
                 limit: int | None = None) -> MCDataset:
    """Load a multiple-choice dataset.

    Parameters
    ----------
    spec : str
        ``"FORMAT:PATH"``, e.g. ``"mmbench:data/MMBench_DEV_EN.tsv"``; see
        :func:`available_formats`.
    images : str or Path, optional
        Directory holding the image files referenced by the rows (POPE, PMC-VQA,
        Reefknot, conv with paths). Defaults to the data file's directory.
    on_error : {"raise", "skip"}
        What to do with a bad row: raise :class:`DatasetError`, or leave it out and
        record it in ``dataset.skipped``.
    limit : int, optional
        Stop after this many good samples (file order).

    Returns
    -------
    MCDataset
    """
    if not isinstance(spec, str) or ":" not in spec:
        raise ValueError(f"dataset spec must be 'FORMAT:PATH', got {spec!r}; formats: {available_formats()}")
    fmt, _, path = spec.partition(":")
    fmt = fmt.strip().lower()
    if fmt not in _FORMATS and fmt in _LAZY_FORMATS:
        mod = importlib.import_module(_LAZY_FORMATS[fmt])
        if fmt not in _FORMATS and callable(getattr(mod, f"load_{fmt}", None)):
            # the module did not register itself: use its load_<fmt>(spec, images, on_error)
            register_format(fmt, getattr(mod, f"load_{fmt}"), needs_file=False)
    if fmt not in _FORMATS:
        raise ValueError(f"unknown dataset format {fmt!r} in {spec!r}; available: {available_formats()}")
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    if limit is not None and (not isinstance(limit, int) or limit < 0):
        raise ValueError(f"limit must be a non-negative int, got {limit!r}")
    fn, needs_file = _FORMATS[fmt]
    target: Any = path
    if needs_file:
        target = Path(path).expanduser()
        if not target.exists():
            raise FileNotFoundError(f"dataset file not found: {target} (from spec {spec!r})")
    img = Path(images).expanduser() if images is not None else None
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


# ---------------------------------------------------------------------------------------
# shared machinery
# ---------------------------------------------------------------------------------------
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


def _iter_json_records(path: Path) -> Iterator[tuple[int, Any, str | None]]:
    """Yield ``(row, record, error)`` from a JSONL file or a JSON list.

    JSONL: row = 1-based line number (blank lines are skipped but counted). JSON: a
    top-level list (row = 1-based element) or a dict with a ``data`` list.
    """
    text = path.read_text(encoding="utf-8-sig")
    head = text.lstrip()[:1]
    if head == "[" or (head == "{" and _is_single_json(text)):
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            raise DatasetError(path, None, f"invalid JSON ({e})") from None
        if isinstance(obj, dict):
            obj = obj.get("data", obj.get("annotations"))
            if not isinstance(obj, list):
                raise DatasetError(path, None, "JSON object without a 'data' list")
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


_LINE_OPT = re.compile(r"^\s*\(?([A-H])[.)]\s*(.*?)\s*$")


def _parse_option_lines(lines: list[str]) -> tuple[list[str], list[str], int] | None:
    """Option lines ``A. x`` / ``B. y`` in order; returns (pre-lines, options, n_after)."""
    for start, ln in enumerate(lines):
        m = _LINE_OPT.match(ln)
        if m and m.group(1) == "A":
            opts = [m.group(2)]
            j = start + 1
            while j < len(lines):
                mm = _LINE_OPT.match(lines[j])
                if not mm or mm.group(1) != LETTERS[len(opts)]:
                    break
                opts.append(mm.group(2))
                j += 1
            if len(opts) >= 2:
                return lines[:start], [_clean_option(o) for o in opts], len(lines) - j
    return None


# ---------------------------------------------------------------------------------------
# mmbench
# ---------------------------------------------------------------------------------------
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


def load_mmbench(path: Path, *, images: Path | None = None, on_error: str = "raise",
                 limit: int | None = None) -> MCDataset:
    """MMBench TSV (VLMEvalKit layout); see the module docstring."""
    df = _read_table(path, "\t")
    _require_columns(df, path, ["index", "question", "A", "B", ("image", "image_path")])
    if "image" not in df.columns:  # VLMEvalKit variants with image files instead of base64
        df["image"] = ""
    opt_cols = [c for c in "ABCDE" if c in df.columns]
    has_answer = "answer" in df.columns
    l2 = next((c for c in ("l2-category", "L2-category") if c in df.columns), None)
    b = DatasetBuilder(path, "mmbench", on_error, limit)
    recs = df.to_dict("records")
    # index -> full image (for the <= 64-character references)
    full: dict[str, str] = {}
    for r in recs:
        idx, img = _index_text(r["index"]), _text(r["image"])
        if idx is not None and img is not None and len(img) > 64 and idx not in full:
            full[idx] = img
    verified: dict[str, DatasetError | None] = {}

    for row, r in enumerate(recs, 1):
        if b.full:
            break
        try:
            idx = _index_text(r["index"])
            if idx is None:
                raise DatasetError(path, row, "empty index")
            question = _text(r["question"])
            if question is None:
                raise DatasetError(path, row, "empty question")
            options = _contiguous_options([(c, _text(r[c])) for c in opt_cols], path, row)
            answer = _check_answer(_text(r["answer"]) if has_answer else None, options, path, row)
            img = _text(r["image"])
            if img is not None:
                ref = _mmbench_image(img, idx, full, verified, path, row)
            elif "image_path" in df.columns and _text(r["image_path"]) is not None:
                ref = resolve_image(_text(r["image_path"]), images, path, row)
            else:
                raise DatasetError(path, row, "empty image")
            meta: dict[str, Any] = {"source": str(path), "row": row}
            try:
                meta["circular_group"] = int(idx) % 1_000_000
            except ValueError:
                pass
            for key, col in (("category", "category"), ("l2_category", l2), ("split", "split"),
                             ("source_dataset", "source"), ("comment", "comment")):
                if col and col in df.columns and _text(r[col]) is not None:
                    meta[key] = _text(r[col])
            hint = _text(r["hint"]) if "hint" in df.columns else None
            b.add(MCSample(idx, question, options, answer, ref, hint=hint, meta=meta), row)
        except DatasetError as e:
            b.reject(e)
    return b.finish()


# ---------------------------------------------------------------------------------------
# pope
# ---------------------------------------------------------------------------------------
_YES_NO = {"yes": "A", "no": "B"}


def _yes_no_letter(v: Any, file: Path, row: int, what: str = "label") -> str:
    s = (_text(v) or "").lower().rstrip(".")
    if s not in _YES_NO:
        raise DatasetError(file, row, f"answer {what} {v!r} is not among the options yes/no")
    return _YES_NO[s]


def load_pope(path: Path, *, images: Path | None = None, on_error: str = "raise",
              limit: int | None = None) -> MCDataset:
    """POPE JSONL (RUCAIBox or lmms-lab field names); see the module docstring."""
    b = DatasetBuilder(path, "pope", on_error, limit)
    for row, rec, err in _iter_json_records(path):
        if b.full:
            break
        try:
            if err:
                raise DatasetError(path, row, err)
            qid = _index_text(_field(rec, ("question_id", "id"), path, row))
            text = _text(_field(rec, ("text", "question"), path, row))
            answer = _yes_no_letter(_field(rec, ("label", "answer"), path, row), path, row)
            img_val = rec.get("image")
            if not isinstance(img_val, dict) and _text(img_val) is None:
                img_val = _field(rec, ("image", "image_source"), path, row)
            ref = resolve_image(img_val, images, path, row, extensions=(".jpg", ".png", ".jpeg"))
            cat = _text(rec.get("category"))
            idx = f"{cat}/{qid}" if cat else qid
            meta = {"source": str(path), "row": row, "question_id": qid}
            if cat:
                meta["category"] = cat
            if _text(rec.get("image_source")):
                meta["image_source"] = _text(rec["image_source"])
            b.add(MCSample(idx, text, ["yes", "no"], answer, ref, meta=meta), row)
        except DatasetError as e:
            b.reject(e)
    return b.finish()


# ---------------------------------------------------------------------------------------
# pmcvqa
# ---------------------------------------------------------------------------------------
_PREFIX = re.compile(r"^\s*([A-Ea-e])\s*:\s*(.*)$", re.S)


def _strip_prefix(s: str | None) -> tuple[str | None, str | None]:
    """``" A: text"`` -> ``("A", "text")``; no prefix -> ``(None, s)``."""
    if s is None:
        return None, None
    m = _PREFIX.match(s)
    if not m:
        return None, s.strip()
    return m.group(1).upper(), (m.group(2).strip() or None)


def _norm(s: str) -> str:
    return " ".join(s.lower().split()).rstrip(".")


def load_pmcvqa(path: Path, *, images: Path | None = None, on_error: str = "raise",
                limit: int | None = None) -> MCDataset:
    """PMC-VQA CSV (``Answer`` or ``Anwser``, ``Choice A..D`` with ``"A:"`` prefixes)."""
    df = _read_table(path, ",")
    _require_columns(df, path, ["Figure_path", "Question", "Choice A", "Choice B",
                                ("Answer_label", "Answer", "Anwser")])
    choice_cols = [(c, f"Choice {c}") for c in "ABCDE" if f"Choice {c}" in df.columns]
    ans_col = next((c for c in ("Answer", "Anwser") if c in df.columns), None)
    id_col = next((c for c in ("index", "id", "question_id") if c in df.columns), None)
    b = DatasetBuilder(path, "pmcvqa", on_error, limit)
    for row, r in enumerate(df.to_dict("records"), 1):
        if b.full:
            break
        try:
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
            b.add(MCSample(idx, question, options, answer, ref, meta=meta), row)
        except DatasetError as e:
            b.reject(e)
    return b.finish()


# ---------------------------------------------------------------------------------------
# reefknot
# ---------------------------------------------------------------------------------------
def load_reefknot(path: Path, *, images: Path | None = None, on_error: str = "raise",
                  limit: int | None = None) -> MCDataset:
    """Reefknot JSONL (options inline in ``query_prompt``; yes/no rows too)."""
    b = DatasetBuilder(path, "reefknot", on_error, limit)
    for row, rec, err in _iter_json_records(path):
        if b.full:
            break
        try:
            if err:
                raise DatasetError(path, row, err)
            image_id = _index_text(_field(rec, ("image_id",), path, row))
            prompt = _text(_field(rec, ("query_prompt", "question", "query"), path, row))
            label = _text(_field(rec, ("label", "answer"), path, row))
            parsed = parse_inline_options(prompt)
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
            b.add(MCSample(idx, question, options, answer, ref, meta=meta), row)
        except DatasetError as e:
            b.reject(e)
    return b.finish()


# ---------------------------------------------------------------------------------------
# conv (the paper's JSON)
# ---------------------------------------------------------------------------------------
_IMAGE_TOKEN = re.compile(r"<image>\s*")


def _parse_human_turn(value: str) -> tuple[str | None, str, list[str]] | None:
    """``(hint, question, options)`` from a human turn, or ``None`` without options."""
    text = _IMAGE_TOKEN.sub("", value).strip()
    lines = [ln for ln in text.splitlines() if ln.strip()]
    hint = None
    got = _parse_option_lines(lines)
    if got is not None:
        pre, options, _ = got
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
    return hint, "\n".join(qlines).strip(), options


def load_conv(path: Path, *, images: Path | None = None, on_error: str = "raise",
              limit: int | None = None) -> MCDataset:
    """The paper's JSON conversation format; see the module docstring."""
    b = DatasetBuilder(path, "conv", on_error, limit)
    for row, rec, err in _iter_json_records(path):
        if b.full:
            break
        try:
            if err:
                raise DatasetError(path, row, err)
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
            parsed = _parse_human_turn(str(human["value"]))
            gold = _text(gpt.get("value")) if gpt else None
            if parsed is None:
                if k == 2:
                    hint, question, options = None, _IMAGE_TOKEN.sub("", str(human["value"])).strip(), ["yes", "no"]
                    if gold is not None and gold.lower().rstrip(".") in _YES_NO:
                        gold = _YES_NO[gold.lower().rstrip(".")]
                else:
                    raise DatasetError(path, row, "no options ('A. ...' lines) in the human turn")
            else:
                hint, question, options = parsed
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
            b.add(MCSample(idx, question, options, answer, ref, hint=hint, meta=meta), row)
        except DatasetError as e:
            b.reject(e)
    return b.finish()


register_format("mmbench", load_mmbench)
register_format("pope", load_pope)
register_format("pmcvqa", load_pmcvqa)
register_format("reefknot", load_reefknot)
register_format("conv", load_conv)
