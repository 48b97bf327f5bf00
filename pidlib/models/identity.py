"""What identifies a model in the run key: its resolved name and a fingerprint of its files.

- :func:`model_identity`: a local directory is named by its real path, so ``models/llava``,
  ``./models/llava/`` and ``/abs/models/llava`` are one model; a Hugging Face id stays as
  given.
- :func:`model_fingerprint`: for a local directory, a BLAKE2b hash over the name, size and
  *every byte* of every file that can change the numbers -- weights (``*.safetensors``,
  ``*.bin``, ...), configs, tokenizer, processor and chat-template files, remote code --
  that is every regular top-level file (and ``additional_chat_templates/``) except
  documentation, licences, ``provenance.json`` and hidden files. File digests are cached
  by (path, size, mtime, ctime, inode) (:func:`pidlib.io.file_digest`), so a large
  checkpoint is read once. For a hub id, the commit hash transformers resolved.
"""
from __future__ import annotations

import fnmatch
import hashlib
import os
from pathlib import Path

from pidlib.io import DigestCache, file_digest

__all__ = ["model_identity", "model_fingerprint", "fingerprint_files", "is_local_model"]

#: Files that never change a model's numbers (left out of the fingerprint).
SKIP_PATTERNS = ("README*", "*.md", "LICENSE*", "LICENCE*", "NOTICE*", "provenance.json", ".*", "*.lock",
                 "*.png", "*.jpg", "*.jpeg", "*.gif", "*.svg", "*.pdf")
#: Sub-folders read by ``from_pretrained`` that are part of the fingerprint.
SUBDIRS = ("additional_chat_templates",)


def is_local_model(model: str) -> bool:
    """True when ``model`` names an existing local directory."""
    return os.path.isdir(os.path.expanduser(str(model)))


def model_identity(model: str) -> str:
    """The run key's model name: a local directory's real path, else the id unchanged."""
    m = os.path.expanduser(str(model))
    return os.path.realpath(m) if os.path.isdir(m) else str(model)


def fingerprint_files(model_dir: str | os.PathLike) -> list[Path]:
    """The files of a local model directory that enter its fingerprint (sorted)."""
    d = Path(os.path.expanduser(str(model_dir)))
    out = []
    for sub in (d, *(d / s for s in SUBDIRS)):
        if not sub.is_dir():
            continue
        for p in sub.iterdir():
            if p.is_file() and not any(fnmatch.fnmatch(p.name, pat) for pat in SKIP_PATTERNS):
                out.append(p)
    return sorted(out, key=lambda p: p.relative_to(d).as_posix())


def model_fingerprint(model: str, adapter=None, *, cache: DigestCache | bool = True,
                      details: list | None = None) -> str:
    """A hash of everything behind ``model`` that changes the numbers.

    Parameters
    ----------
    model : str
        A local ``save_pretrained`` directory or a Hugging Face id.
    adapter : pidlib.models.Adapter, optional
        For a hub id: the loaded model, whose config carries the resolved commit.
    cache : DigestCache or bool
        File-digest cache (default: the user cache, see :mod:`pidlib.io`).
    details : list, optional
        Filled with ``{"file", "size", "digest"}`` per fingerprinted file.

    Returns
    -------
    str
        32 hex digits for a local directory; ``"hub:<commit>"`` for a hub id whose commit
        is known, else ``""``.
    """
    if is_local_model(model):
        d = Path(os.path.expanduser(str(model)))
        files = fingerprint_files(d)
        c = DigestCache() if cache is True else (cache or None)
        h = hashlib.blake2b(digest_size=16)
        for p in files:
            rel = p.relative_to(d).as_posix()
            dig = file_digest(p, cache=c if c is not None else False, save=False)
            size = p.stat().st_size
            h.update(f"{rel}\0{size}\0{dig}\n".encode())
            if details is not None:
                details.append({"file": rel, "size": size, "digest": dig})
        if c is not None:
            c.save()
        return h.hexdigest()
    cfg = getattr(getattr(adapter, "model", None), "config", None)
    commit = str(getattr(cfg, "_commit_hash", "") or "")
    return f"hub:{commit}" if commit else ""
