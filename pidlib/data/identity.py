"""What identifies the data of a run: the content of its samples.

:func:`samples_identity` hashes, for every selected sample in order, its index, question,
options, gold answer and hint, and its image: every byte of an image file (through the
cached :func:`pidlib.io.file_digest`, so the files a dataset references in its image
folder are part of the key), the base64 text or bytes of an inline image, or the pixels of
an in-memory image. Two runs share rows only when they hold the very same samples: an
edited file with the same name, a changed image, another split, ``--limit`` or a
classroom-world spec with other parameters (``n=500`` vs ``n=60``) give new runs, while
the same samples reached through another path do not. Metadata that does not reach the
model (source path, row numbers, categories) is not part of it.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Iterable

from pidlib.data.schema import ImageRef, _looks_like_path
from pidlib.io import DigestCache, canonical_json, file_digest

__all__ = ["samples_identity", "image_digest"]


def image_digest(image, cache: DigestCache | None = None, memo: dict | None = None) -> str:
    """Content digest of a sample's image value (see the module docstring)."""
    if image is None:
        return "none"
    memo = {} if memo is None else memo
    key = id(image.value) if isinstance(image, ImageRef) else id(image)
    if key in memo:
        return memo[key]
    if isinstance(image, ImageRef):
        if image.kind == "path":
            d = "file:" + file_digest(image.value, cache=cache if cache is not None else False, save=False)
        elif image.kind == "base64":
            d = "b64:" + hashlib.blake2b("".join(str(image.value).split()).encode(), digest_size=16).hexdigest()
        else:
            d = "bytes:" + hashlib.blake2b(bytes(image.value), digest_size=16).hexdigest()
    elif isinstance(image, (bytes, bytearray)):
        d = "bytes:" + hashlib.blake2b(bytes(image), digest_size=16).hexdigest()
    elif isinstance(image, (str, os.PathLike)):
        s = os.fspath(image)
        if isinstance(image, os.PathLike) or _looks_like_path(s):
            d = "file:" + file_digest(s, cache=cache if cache is not None else False, save=False)
        else:
            d = "b64:" + hashlib.blake2b("".join(s.split()).encode(), digest_size=16).hexdigest()
    elif hasattr(image, "tobytes") and hasattr(image, "mode"):  # PIL image
        h = hashlib.blake2b(f"{image.mode}|{image.size}|".encode(), digest_size=16)
        h.update(image.tobytes())
        d = "pixels:" + h.hexdigest()
    else:
        raise TypeError(f"cannot fingerprint an image value of type {type(image).__name__}")
    memo[key] = d
    return d


def samples_identity(samples: Iterable, cache: DigestCache | bool = True) -> str:
    """32 hex digits identifying ``samples`` (in order) by content."""
    c = DigestCache() if cache is True else (cache or None)
    h = hashlib.blake2b(digest_size=16)
    memo: dict = {}
    n = 0
    for s in samples:
        rec = {"index": str(s.index), "question": s.question, "options": [str(o) for o in s.options],
               "answer": s.answer, "hint": s.hint, "image": image_digest(s.image, c, memo)}
        h.update(canonical_json(rec).encode("ascii"))
        h.update(b"\n")
        n += 1
    if c is not None:
        c.save()
    h.update(f"n={n}".encode())
    return h.hexdigest()


def file_identity(path: str | os.PathLike) -> dict:
    """``{"path", "size", "digest"}`` of a data file (for run metadata)."""
    p = Path(path)
    return {"path": str(p.resolve()), "size": p.stat().st_size, "digest": file_digest(p)}
