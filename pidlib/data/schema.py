"""The one multiple-choice sample schema shared by every loader, probe and model.

Every dataset format (MMBench TSV, POPE JSONL, PMC-VQA CSV, Reefknot JSONL, the paper's
JSON conversations, the classroom world) is read into :class:`MCSample` objects collected
in an :class:`MCDataset`. :func:`format_question` turns a sample into *the* prompt body
used everywhere (probes, noise statistics, the classroom zoo's training text).

Options and letters
-------------------
An option's letter is its position: ``"ABCDEFGH"[i]``. MMBench has up to five options
(A-E); POPE has two (``A. yes``, ``B. no``). The probe rows store option distributions of
fixed width :data:`K_MAX` = 4 (zero-padded past a sample's own ``k``); a dataset whose
samples have more than four options is still valid here, and the probes then pad to
``max(K_MAX, k)`` for that dataset.

Images
------
``MCSample.image`` may hold a decoded ``PIL.Image.Image`` or, to keep memory flat on big
datasets, a lazy reference (:class:`ImageRef`: a file path, a base64 string or raw bytes,
together with the source file and row it came from). Always get pixels through
:meth:`MCSample.load_image`, which returns an RGB image and raises :class:`DatasetError`
naming the source file and row when the image cannot be read.

Errors
------
:class:`DatasetError` (a ``ValueError``) is raised for bad input; its message has the form
``"FILE, row N: problem"``. Row numbers are 1-based *data* rows: for TSV/CSV files the
header is row 0 and the first record row 1; for JSONL files row N is the N-th line; for
JSON lists row N is the N-th element.
"""
from __future__ import annotations

import base64
import binascii
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Union

from PIL import Image

__all__ = [
    "K_MAX",
    "LETTERS",
    "DEFAULT_INSTRUCTION",
    "DatasetError",
    "ImageRef",
    "MCSample",
    "MCDataset",
    "SkippedRow",
    "format_question",
    "decode_base64_image",
]

#: Width of the option-distribution columns in probe run rows (``p_full`` etc.).
K_MAX = 4

#: Option letters by position. ``LETTERS[:k]`` are the letters of a k-option sample.
LETTERS = "ABCDEFGH"

#: The instruction closing every prompt: the lmms-eval / VLMEvalKit (LLaVA, InternVL
#: adapters) post-prompt for multiple-choice benchmarks.
DEFAULT_INSTRUCTION = "Answer with the option's letter from the given choices directly."


class DatasetError(ValueError):
    """Bad dataset input. The message reads ``"FILE, row N: problem"``.

    Parameters
    ----------
    file : str or Path
        The data file (or image file) the problem was found in.
    row : int or None
        1-based data row (see the module docstring for the convention per format);
        ``0`` means the header; ``None`` means the file as a whole.
    problem : str
        What is wrong, in words.
    """

    def __init__(self, file: Union[str, os.PathLike], row: int | None, problem: str):
        self.file = str(file)
        self.row = row
        self.problem = problem
        if row is None:
            msg = f"{self.file}: {problem}"
        elif row == 0:
            msg = f"{self.file}, row 0 (header): {problem}"
        else:
            msg = f"{self.file}, row {row}: {problem}"
        super().__init__(msg)

    def __reduce__(self):  # keep it picklable for multiprocessing workers
        return (DatasetError, (self.file, self.row, self.problem))


@dataclass(frozen=True)
class SkippedRow:
    """A row left out by ``load_dataset(..., on_error="skip")``."""

    file: str
    row: int | None
    problem: str

    def __str__(self) -> str:
        return str(DatasetError(self.file, self.row, self.problem))


def decode_base64_image(data: str) -> bytes:
    """Decode a base64 image string (optionally a ``data:image/...;base64,`` URI).

    Raises ``ValueError`` (``binascii.Error``) when the text is not valid base64.
    """
    s = data.strip()
    if s.startswith("data:"):
        comma = s.find(",")
        if comma < 0:
            raise ValueError("data URI without a comma")
        s = s[comma + 1:]
    s = "".join(s.split())  # tolerate line-wrapped base64
    return base64.b64decode(s + "=" * (-len(s) % 4), validate=True)


@dataclass(frozen=True)
class ImageRef:
    """A lazily loaded image: where the pixels are and which data row referenced them.

    Parameters
    ----------
    kind : {"path", "base64", "bytes"}
        How ``value`` is to be read.
    value : str, Path or bytes
        The file path, the base64 text or the encoded image bytes.
    file : str
        The data file whose row referenced the image (for error messages).
    row : int or None
        The 1-based data row in ``file``.
    """

    kind: str
    value: Any
    file: str = "<memory>"
    row: int | None = None

    def _bytes(self) -> bytes:
        if self.kind == "path":
            p = Path(self.value)
            if not p.is_file():
                raise DatasetError(self.file, self.row, f"image file missing: {p}")
            return p.read_bytes()
        if self.kind == "base64":
            try:
                return decode_base64_image(self.value)
            except (binascii.Error, ValueError) as e:
                raise DatasetError(self.file, self.row, f"image is not valid base64 ({e})") from None
        if self.kind == "bytes":
            return bytes(self.value)
        raise DatasetError(self.file, self.row, f"unknown image reference kind {self.kind!r}")

    def _what(self) -> str:
        return f"image file {self.value}" if self.kind == "path" else f"{self.kind} image"

    def verify(self) -> None:
        """Check cheaply that the image decodes (header + PIL ``verify``).

        Raises
        ------
        DatasetError
            Naming the data file and row, when the image is missing or undecodable.
        """
        data = self._bytes()
        try:
            with Image.open(io.BytesIO(data)) as im:
                im.verify()
        except Exception as e:  # PIL raises many types (UnidentifiedImageError, SyntaxError, ...)
            raise DatasetError(self.file, self.row, f"undecodable {self._what()} ({type(e).__name__}: {e})") from None

    def load(self) -> Image.Image:
        """Decode and return the image in RGB mode."""
        data = self._bytes()
        try:
            with Image.open(io.BytesIO(data)) as im:
                im.load()
                return im.convert("RGB")
        except Exception as e:
            raise DatasetError(self.file, self.row, f"undecodable {self._what()} ({type(e).__name__}: {e})") from None


@dataclass
class MCSample:
    """One multiple-choice question about (usually) one image.

    Attributes
    ----------
    index : str
        Identifier, unique within its dataset; the key of the run store.
    question : str
        The question text (without hint, options or instruction).
    options : list of str
        Option texts; their letters are ``LETTERS[:len(options)]``.
    answer : str or None
        Gold letter (one of :attr:`letters`), ``None`` when unknown (e.g. a test split).
    image : PIL.Image.Image, ImageRef, str, Path, bytes or None
        The image, possibly as a lazy reference; use :meth:`load_image`.
    hint : str or None
        Context shown before the question (MMBench ``hint``).
    meta : dict
        Anything else: ``category``, ``circular_group``, ``task``, ``source``/``row``, ...
    """

    index: str
    question: str
    options: list[str]
    answer: str | None = None
    image: Any = None
    hint: str | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.index = str(self.index)
        if len(self.options) < 2:
            raise ValueError(f"sample {self.index!r}: needs at least 2 options, got {len(self.options)}")
        if len(self.options) > len(LETTERS):
            raise ValueError(f"sample {self.index!r}: at most {len(LETTERS)} options supported, got {len(self.options)}")
        if self.answer is not None and self.answer not in self.letters:
            raise ValueError(
                f"sample {self.index!r}: answer {self.answer!r} is not among the option letters {self.letters!r}")

    @property
    def letters(self) -> str:
        """The option letters, ``"AB..."[:len(options)]``."""
        return LETTERS[: len(self.options)]

    @property
    def n_options(self) -> int:
        return len(self.options)

    @property
    def answer_index(self) -> int | None:
        """0-based position of the gold option, or ``None``."""
        return None if self.answer is None else self.letters.index(self.answer)

    def load_image(self) -> Image.Image | None:
        """Return the image as an RGB ``PIL.Image`` (``None`` for a text-only sample).

        Lazy references are decoded on every call (nothing is cached, so memory stays
        flat over a large dataset).

        Raises
        ------
        DatasetError
            Naming the source file and row when the image is missing or undecodable.
        """
        im = self.image
        if im is None:
            return None
        if isinstance(im, Image.Image):
            return im if im.mode == "RGB" else im.convert("RGB")
        src = self.meta.get("source", "<memory>")
        row = self.meta.get("row")
        if isinstance(im, ImageRef):
            return im.load()
        if isinstance(im, (bytes, bytearray)):
            return ImageRef("bytes", bytes(im), src, row).load()
        if isinstance(im, os.PathLike):
            return ImageRef("path", im, src, row).load()
        if isinstance(im, str):
            kind = "path" if _looks_like_path(im) else "base64"
            return ImageRef(kind, im, src, row).load()
        raise DatasetError(src, row, f"unsupported image value of type {type(im).__name__}")


_IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff")


def _looks_like_path(s: str) -> bool:
    """A string is a path (not base64) when it is short and ends in an image extension,
    or names an existing file."""
    t = s.strip()
    if len(t) < 4096 and t.lower().endswith(_IMAGE_EXTS):
        return True
    return len(t) < 4096 and os.path.isfile(t)


@dataclass
class MCDataset:
    """A list of samples with the file they came from and the rows left out.

    Attributes
    ----------
    name : str
        Short name used in run-store keys and noise seeds (the file stem by default).
    source : str
        The data file (or directory) read.
    samples : list of MCSample
    skipped : list of SkippedRow
        Bad rows left out under ``on_error="skip"`` (empty under ``"raise"``).
    format : str
        The loader's format name (``"mmbench"``, ``"pope"``, ...).
    """

    name: str
    source: str
    samples: list[MCSample] = field(default_factory=list)
    skipped: list[SkippedRow] = field(default_factory=list)
    format: str = ""

    def __len__(self) -> int:
        return len(self.samples)

    def __iter__(self) -> Iterator[MCSample]:
        return iter(self.samples)

    def __getitem__(self, i):
        return self.samples[i]

    def by_index(self) -> dict[str, MCSample]:
        """Map ``index -> sample``."""
        return {s.index: s for s in self.samples}

    @property
    def max_options(self) -> int:
        """Largest option count among the samples (0 when empty)."""
        return max((len(s.options) for s in self.samples), default=0)

    def summary(self) -> str:
        """One line, plus one line per skipped row."""
        head = (f"{self.format or 'dataset'} {self.name!r} from {self.source}: "
                f"{len(self.samples)} samples, {len(self.skipped)} skipped")
        return "\n".join([head] + [f"  skipped {s}" for s in self.skipped])


def format_question(sample: MCSample, instruction: str | None = DEFAULT_INSTRUCTION) -> str:
    """The prompt body for a sample: hint, question, lettered options, instruction.

    The text is, line by line (``\\n``-separated, no trailing newline)::

        Hint: <hint>                 (only when the sample has a non-empty hint)
        Question: <question>
        Options:
        A. <option A>
        B. <option B>
        ...
        Answer with the option's letter from the given choices directly.

    This is the MMBench layout of VLMEvalKit (``image_mcq.py``) with the post-prompt of
    lmms-eval and the LLaVA / InternVL adapters. Hint, question and option texts are
    stripped of surrounding whitespace and otherwise kept verbatim; the only punctuation
    added is ``":"`` after ``Hint``/``Question``/``Options``, ``"."`` after each option
    letter, and the instruction's own. The function is deterministic (no randomness, no
    dependence on the model); the chat template and the image placeholder are the
    adapter's business.

    Parameters
    ----------
    sample : MCSample
    instruction : str or None
        Closing line; ``None`` or ``""`` leaves it out.
    """
    lines = []
    hint = (sample.hint or "").strip()
    if hint:
        lines.append(f"Hint: {hint}")
    lines.append(f"Question: {sample.question.strip()}")
    lines.append("Options:")
    for letter, text in zip(sample.letters, sample.options):
        lines.append(f"{letter}. {str(text).strip()}")
    if instruction:
        lines.append(instruction)
    return "\n".join(lines)
