"""Provenance records for every file the analysis writes, and atomic writes."""
from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

_PACKAGES = ("pidlib", "numpy", "scipy", "pandas", "pyarrow", "torch", "transformers",
             "seaborn", "matplotlib", "papermill", "jupyter-book")


def package_versions(packages=_PACKAGES) -> dict[str, str]:
    """Installed versions of the packages that shape the numbers (absent ones skipped)."""
    out = {"python": platform.python_version()}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def provenance(command: str | None = None, parameters: dict | None = None, **extra: Any) -> dict:
    """A provenance record: command, parameters, package versions and UTC date."""
    rec = {
        "command": command if command is not None else " ".join(sys.argv),
        "parameters": parameters or {},
        "versions": package_versions(),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    rec.update(extra)
    return rec


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)   # mkstemp creates 0600; give the file normal permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Text version of :func:`atomic_write_bytes` (UTF-8)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Atomically write ``obj`` as indented JSON."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def sidecar(path: str | os.PathLike) -> Path:
    """The provenance file beside a data file: ``name.csv`` -> ``name.provenance.json``."""
    path = Path(path)
    return path.with_name(path.stem + ".provenance.json")
