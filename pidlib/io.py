"""Hashing, provenance and atomic file I/O: the one copy used by the run store, the analysis
and the zoo.

Atomic writes
    :func:`atomic_write_bytes` writes to a hidden temporary file in the target's directory
    (created with normal permissions, ``0o666`` minus the umask), flushes and fsyncs it,
    moves it into place with ``os.replace`` and fsyncs the directory: a crash leaves the
    old file or the new one, never a mix.

Canonical JSON and config hashes
    :func:`canonical_json` (sorted keys, no whitespace, ASCII, NaN rejected) and
    :func:`config_hash` (first 12 hex digits of its SHA-256) key run stores and zoo
    builds.

Content hashes with a cache
    :func:`file_digest` hashes every byte of a file with BLAKE2b (streamed, 1 MiB
    chunks). Digests are cached in a JSON file (never pickle) keyed by the file's real
    path, size, modification time (ns), change time (ns) and inode, so a 15 GB checkpoint
    is hashed once and rehashed only when it changes. The cache lives in
    ``$PIDLIB_CACHE_DIR`` (default ``$XDG_CACHE_HOME/pidlib`` or ``~/.cache/pidlib``) as
    ``file-digests.json``; an unwritable cache directory only costs the caching.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import sys
import threading
import uuid
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Mapping, Union

__all__ = [
    "PathLike",
    "canonical_json",
    "config_hash",
    "safe_name",
    "json_default",
    "package_versions",
    "provenance",
    "atomic_write_bytes",
    "atomic_write_text",
    "write_json",
    "sidecar",
    "fsync_dir",
    "file_digest",
    "bytes_digest",
    "DigestCache",
    "default_cache_dir",
]

PathLike = Union[str, os.PathLike]

#: Packages whose versions shape the numbers (absent ones are skipped).
PACKAGES = ("pidlib", "numpy", "scipy", "pandas", "pyarrow", "torch", "transformers", "tokenizers",
            "safetensors", "pillow", "seaborn", "matplotlib", "papermill", "jupyter-book")


# ---------------------------------------------------------------------------------------
# canonical JSON, hashes, names
# ---------------------------------------------------------------------------------------
def json_default(o: Any):
    """``json.dumps(default=...)`` for numpy scalars/arrays, paths and sets."""
    try:
        import numpy as np
    except ImportError:  # pragma: no cover
        np = None
    if np is not None:
        if isinstance(o, np.integer):
            return int(o)
        if isinstance(o, np.floating):
            return float(o)
        if isinstance(o, np.ndarray):
            return o.tolist()
    if isinstance(o, os.PathLike):
        return os.fspath(o)
    if isinstance(o, (set, frozenset)):
        return sorted(o)
    raise TypeError(f"value of type {type(o).__name__} is not JSON-serializable: {o!r}")


def canonical_json(obj: Any) -> str:
    """Canonical JSON: sorted keys, no whitespace, ASCII, NaN rejected."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False, default=json_default)


def config_hash(config: Mapping[str, Any], n: int = 12) -> str:
    """First ``n`` hex digits of SHA-256 of :func:`canonical_json` of ``config``."""
    return hashlib.sha256(canonical_json(dict(config)).encode("ascii")).hexdigest()[:n]


def safe_name(name: str, max_len: int = 96) -> str:
    """A filesystem-safe directory name for a model id, path or dataset name.

    ``/`` becomes ``__``; characters outside ``[A-Za-z0-9._-]`` become ``_``; names that
    had to be altered beyond that, or are too long, get a short hash suffix so that two
    different inputs do not collide.
    """
    import re

    s = str(name).strip().strip("/")
    out = re.sub(r"[^A-Za-z0-9._-]+", "_", s.replace("/", "__")).strip("._") or "_"
    lossy = out != s.replace("/", "__") or len(out) > max_len
    if lossy:
        h = hashlib.sha256(str(name).encode("utf-8")).hexdigest()[:8]
        out = f"{out[: max_len - 9]}-{h}"
    return out


# ---------------------------------------------------------------------------------------
# provenance
# ---------------------------------------------------------------------------------------
def package_versions(packages: Iterable[str] = PACKAGES) -> dict[str, str]:
    """Installed versions of ``packages`` (absent ones skipped) and of Python."""
    out = {"python": platform.python_version()}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def provenance(command: str | None = None, parameters: dict | None = None, **extra: Any) -> dict:
    """A provenance record: command, parameters, package versions, UTC date, host and the
    instruction set of torch's CPU kernels (:mod:`pidlib.cpu`; when torch is loaded).

    ``command`` defaults to the process's command line (``sys.argv`` joined by spaces).
    """
    rec = {
        "command": command if command is not None else " ".join(sys.argv),
        "parameters": parameters or {},
        "versions": package_versions(),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node(),
    }
    if "torch" in sys.modules:
        from pidlib.cpu import capability

        rec["cpu_capability"] = capability()
    rec.update(extra)
    return rec


# ---------------------------------------------------------------------------------------
# atomic writes
# ---------------------------------------------------------------------------------------
def fsync_dir(d: PathLike) -> None:
    """fsync a directory (its entries), where the platform allows it."""
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def tmp_path(final: PathLike) -> Path:
    """A hidden, unique temporary name beside ``final`` (same directory, same filesystem)."""
    final = Path(final)
    return final.with_name(f".{final.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def atomic_write_bytes(path: PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file + fsync + ``os.replace``.

    The file gets normal permissions (``0o666`` minus the umask).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_path(path)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    fsync_dir(path.parent)


def atomic_write_text(path: PathLike, text: str) -> None:
    """UTF-8 text version of :func:`atomic_write_bytes`."""
    atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: PathLike, obj: Any) -> None:
    """Atomically write ``obj`` as indented, key-sorted JSON."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def sidecar(path: PathLike) -> Path:
    """The provenance file beside a data file: ``name.csv`` -> ``name.provenance.json``."""
    path = Path(path)
    return path.with_name(path.stem + ".provenance.json")


# ---------------------------------------------------------------------------------------
# content hashes
# ---------------------------------------------------------------------------------------
_CHUNK = 1 << 20
DIGEST = "blake2b-256"


def bytes_digest(data: bytes | str) -> str:
    """BLAKE2b-256 hex digest of ``data`` (text is UTF-8 encoded)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.blake2b(data, digest_size=32).hexdigest()


def default_cache_dir() -> Path:
    """``$PIDLIB_CACHE_DIR``, else ``$XDG_CACHE_HOME/pidlib``, else ``~/.cache/pidlib``."""
    env = os.environ.get("PIDLIB_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "pidlib"


class DigestCache:
    """File digests keyed by ``(real path, size, mtime_ns, ctime_ns, inode)``, as JSON.

    Parameters
    ----------
    path : str or Path, optional
        The JSON file (default ``default_cache_dir() / "file-digests.json"``).

    Reading a missing or damaged cache gives an empty one; :meth:`save` merges with what
    another process may have written meanwhile and ignores an unwritable location.
    """

    VERSION = 1

    def __init__(self, path: PathLike | None = None):
        self.path = Path(path) if path is not None else default_cache_dir() / "file-digests.json"
        self._entries: dict[str, dict] = self._load()
        self._dirty = False
        self._lock = threading.Lock()

    def _load(self) -> dict:
        try:
            obj = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(obj, dict) or obj.get("version") != self.VERSION or obj.get("digest") != DIGEST:
            return {}
        ent = obj.get("files")
        return ent if isinstance(ent, dict) else {}

    @staticmethod
    def _stamp(st: os.stat_result) -> list:
        return [int(st.st_size), int(st.st_mtime_ns), int(st.st_ctime_ns), int(st.st_ino)]

    def get(self, real: str, st: os.stat_result) -> str | None:
        e = self._entries.get(real)
        if isinstance(e, dict) and e.get("stat") == self._stamp(st) and isinstance(e.get("digest"), str):
            return e["digest"]
        return None

    def put(self, real: str, st: os.stat_result, digest: str) -> None:
        with self._lock:
            self._entries[real] = {"stat": self._stamp(st), "digest": digest}
            self._dirty = True

    def save(self) -> None:
        """Write the cache (merged with the file's current entries); errors are ignored."""
        if not self._dirty:
            return
        try:
            merged = self._load()
            merged.update(self._entries)
            atomic_write_text(self.path, json.dumps({"version": self.VERSION, "digest": DIGEST,
                                                     "files": merged}, separators=(",", ":")))
            self._dirty = False
        except OSError:
            pass


_DEFAULT_CACHE: DigestCache | None = None


def _default_cache() -> DigestCache:
    global _DEFAULT_CACHE
    want = default_cache_dir() / "file-digests.json"
    if _DEFAULT_CACHE is None or _DEFAULT_CACHE.path != want:
        _DEFAULT_CACHE = DigestCache(want)
    return _DEFAULT_CACHE


def file_digest(path: PathLike, cache: DigestCache | None | bool = True, save: bool = True) -> str:
    """BLAKE2b-256 hex digest of every byte of a file, cached (see :class:`DigestCache`).

    Parameters
    ----------
    path : str or Path
    cache : DigestCache, True (the default cache) or False/None (no cache)
    save : bool
        Write the cache file after a new digest (batch callers pass False and call
        ``cache.save()`` once).
    """
    real = os.path.realpath(path)
    st = os.stat(real)
    c = _default_cache() if cache is True else (cache or None)
    if c is not None:
        hit = c.get(real, st)
        if hit is not None:
            return hit
    h = hashlib.blake2b(digest_size=32)
    with open(real, "rb") as f:
        while True:
            b = f.read(_CHUNK)
            if not b:
                break
            h.update(b)
    d = h.hexdigest()
    st2 = os.stat(real)
    if c is not None and DigestCache._stamp(st2) == DigestCache._stamp(st):  # unchanged while hashing
        c.put(real, st, d)
        if save:
            c.save()
    return d
