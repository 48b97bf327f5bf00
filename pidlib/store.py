"""Resumable run store: per-sample probe rows in parquet parts, keyed by model, data and
configuration; one writer at a time; parts that prove they are whole.

Layout::

    ROOT/<model>/<dataset>/<split>/<config_hash>[-<data_id[:12]>]/
        meta.json             model, dataset, split, data_id, config, hash, versions, date, ...
        part-00000.parquet    one part per append() (one batch)
        part-00001.parquet
        noise_stats.safetensors   (see save_noise_stats)
        .lock                 the writer lock (holder's pid, host and start time inside)
        quarantine/           parts that could not be read or belong to another run

A run written by several processes (``torchrun``, ``accelerate launch``: ranks of one
job, see :func:`pidlib.run`) has parts named ``part-r<rank>-<n>.parquet``
(``part-r001-00000.parquet``), so ranks never collide; each rank holds ``.lock-r<rank>``
for its whole run (a second process of the same rank stops or waits) and takes the shared
``.lock`` only while it writes a part or updates ``meta.json``.

``config_hash`` is the first 12 hex digits of the SHA-256 of the configuration's
canonical JSON (sorted keys, no whitespace), so a run with any changed setting goes to a
different directory and stale rows are never reused. ``data_id`` (optional) is the content
identity of the rows the run holds (:func:`pidlib.data.identity.samples_identity`); it
separates runs over different data that share a configuration. ``<model>`` and
``<dataset>`` are made filesystem-safe (``llava-hf/llava-1.5-7b-hf`` ->
``llava-hf__llava-1.5-7b-hf``).

One writer at a time
    :meth:`RunStore.lock` takes an exclusive ``flock`` on ``.lock`` (``wait`` seconds at
    most, then :class:`RunLockedError` naming the holder). :meth:`RunStore.append` takes
    it for its own duration when the caller does not hold it, so two processes can never
    interleave parts; :func:`pidlib.run` holds it for the whole run.

Parts that prove they are whole
    Every part carries its run's ``config_hash``, ``data_id`` and split in the parquet
    key-value metadata (``pidlib.config_hash``, ...) and parquet page checksums
    (``write_page_checksum``); reading verifies both. A part that cannot be read
    (truncated, a flipped byte), that belongs to another run, or whose indices are already
    stored in an earlier part is *named* and -- when the store holds the writer lock --
    moved to ``quarantine/`` and listed in ``meta.json["quarantined"]`` (its samples are
    then probed again by the resumed run). Without the lock (a reader) such a part is
    skipped with a warning, except duplicated indices, which raise ``ValueError``.
    Parts written before this format (``meta.json`` without ``store_version``) carry no
    key metadata and are accepted.

A part is written to a hidden temp file in the same directory, flushed, fsynced and
moved into place with an exclusive hard link (``os.replace`` where the filesystem has no
hard links), so a crash leaves either a complete part or an ignored temp file;
:meth:`RunStore.append` refuses indices already stored, so no sample is stored twice.
No pickle anywhere: parquet for rows, JSON for metadata, safetensors for tensors.

Row columns are those of "Probe run rows" in ARCHITECTURE.md: ``index`` (str),
``answer`` (str or null), ``n_options`` (int64), ``pred`` (str), list<float32> columns
``x1, x2, p_full, p_vis, p_lang`` (and ``lens_*``), float64 ``mass_*``. Other columns
are stored with the type pyarrow infers.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import time
import warnings
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pidlib.io import (  # noqa: F401  (re-exported: the store's public helpers)
    PathLike,
    atomic_write_bytes,
    atomic_write_text,
    canonical_json,
    config_hash,
    fsync_dir as _fsync_dir,
    json_default as _json_default,
    provenance as _provenance,
    safe_name,
    tmp_path as _tmp_path,
)

__all__ = [
    "RunStore",
    "RunLockedError",
    "config_hash",
    "canonical_json",
    "safe_name",
    "find_runs",
    "provenance",
    "atomic_write_bytes",
    "atomic_write_text",
    "save_noise_stats",
    "load_noise_stats",
    "NOISE_STATS_FILE",
    "STORE_VERSION",
]

NOISE_STATS_FILE = "noise_stats.safetensors"
QUARANTINE = "quarantine"
LOCK_FILE = ".lock"
#: 2: parts carry key metadata and page checksums; meta.json has ``store_version``.
STORE_VERSION = 2
#: ``part-00012.parquet`` (one writer) or ``part-r003-00012.parquet`` (rank 3 of a multi-process run)
_PART_RE = re.compile(r"^part-(?:r(\d{3,})-)?(\d{5,})\.parquet$")


def _part_key(m: "re.Match") -> tuple[int, int]:
    """(rank, number) of a part name; -1 for the rank of single-writer parts."""
    return (int(m.group(1)) if m.group(1) is not None else -1, int(m.group(2)))
_KV = {"config_hash": b"pidlib.config_hash", "data_id": b"pidlib.data_id", "split": b"pidlib.split"}

#: Known column types (ARCHITECTURE.md, "Probe run rows").
LIST_F32_COLUMNS = ("x1", "x2", "p_full", "p_vis", "p_lang", "lens_full", "lens_vis", "lens_lang",
                    "p_vis_draws", "p_lang_draws")
_KNOWN_TYPES: dict[str, pa.DataType] = {
    "index": pa.string(),
    "answer": pa.string(),
    "pred": pa.string(),
    "n_options": pa.int64(),
    "mass_full": pa.float64(),
    "mass_vis": pa.float64(),
    "mass_lang": pa.float64(),
    **{c: pa.list_(pa.float32()) for c in LIST_F32_COLUMNS},
}


class RunLockedError(RuntimeError):
    """Another writer holds a run directory's lock."""


class PartError(ValueError):
    """A part that cannot be adopted (unreadable, foreign, duplicated indices)."""


def provenance() -> dict[str, Any]:
    """Versions (python, numpy, pyarrow, torch, transformers, pidlib, ...), UTC date, command
    (``sys.argv`` as a list) and host."""
    import sys

    p = _provenance()
    return {"versions": p["versions"], "date": p["date"], "command": list(sys.argv), "host": p["host"]}


def _natural_key(s: str):
    """Sort key: integer-like indices numerically, then the rest as text."""
    try:
        return (0, int(s), "")
    except ValueError:
        return (1, 0, s)


# ---------------------------------------------------------------------------------------
# rows -> arrow
# ---------------------------------------------------------------------------------------
def _to_numpy(v: Any) -> np.ndarray:
    if hasattr(v, "detach"):  # torch.Tensor without importing torch
        v = v.detach().float().cpu().numpy()
    return np.asarray(v, dtype=np.float32)


def _list_f32_column(name: str, values: list) -> pa.Array:
    arrs = []
    for i, v in enumerate(values):
        if v is None:
            arrs.append(None)
            continue
        a = _to_numpy(v)
        if a.ndim != 1:
            a = a.reshape(-1)
        arrs.append(a)
    lengths = np.array([0 if a is None else a.size for a in arrs], dtype=np.int64)
    offsets = np.zeros(len(arrs) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    flat = np.concatenate([a for a in arrs if a is not None]) if any(a is not None for a in arrs) \
        else np.zeros(0, np.float32)
    mask = np.array([a is None for a in arrs])
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat, type=pa.float32()),
                                    mask=pa.array(mask) if mask.any() else None)


def _rows_to_table(rows: Sequence[Mapping[str, Any]]) -> pa.Table:
    keys = list(rows[0].keys())
    kset = set(keys)
    for i, r in enumerate(rows):
        if set(r.keys()) != kset:
            raise ValueError(f"row {i} (index {r.get('index')!r}) has columns {sorted(r)}, "
                             f"expected {sorted(kset)} as in the first row")
    cols = {}
    for k in keys:
        vals = [r[k] for r in rows]
        if k in LIST_F32_COLUMNS:
            cols[k] = _list_f32_column(k, vals)
        elif k in _KNOWN_TYPES:
            if k in ("index", "answer", "pred"):
                vals = [None if v is None else str(v) for v in vals]
            elif k == "n_options":
                vals = [None if v is None else int(v) for v in vals]
            else:
                vals = [None if v is None else float(v) for v in vals]
            cols[k] = pa.array(vals, type=_KNOWN_TYPES[k])
        else:
            vals = [v.detach().cpu().numpy() if hasattr(v, "detach") else v for v in vals]
            vals = [v.tolist() if isinstance(v, np.ndarray) else v for v in vals]
            vals = [v.item() if isinstance(v, np.generic) else v for v in vals]
            cols[k] = pa.array(vals)
    return pa.table(cols)


# ---------------------------------------------------------------------------------------
# the writer lock
# ---------------------------------------------------------------------------------------
try:  # POSIX
    import fcntl as _fcntl

    def _try_lock(fd: int) -> bool:
        try:
            _fcntl.flock(fd, _fcntl.LOCK_EX | _fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False

    def _unlock(fd: int) -> None:
        _fcntl.flock(fd, _fcntl.LOCK_UN)
except ImportError:  # pragma: no cover - Windows
    import msvcrt as _msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            _msvcrt.locking(fd, _msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        _msvcrt.locking(fd, _msvcrt.LK_UNLCK, 1)


# ---------------------------------------------------------------------------------------
# the store
# ---------------------------------------------------------------------------------------
class RunStore:
    """Per-sample probe rows for one (model, dataset, split, data, config).

    Parameters
    ----------
    root : str or Path
        Root of the store (``--out``), e.g. ``data/runs``.
    model, dataset, split : str
        The key; ``model`` is the model's resolved identity (hub id, or the real path of a
        local directory), ``dataset`` a short name (the file stem).
    config : dict
        Every setting that changes the numbers (probe settings, tau, seed, dtype, layers,
        model fingerprint, noise-statistics source, ...). JSON-serializable.
    create : bool
        Create the directory and ``meta.json`` now (default). With ``False`` nothing is
        written until the first :meth:`append` (a finished run on a read-only disk is
        opened this way).
    data_id : str, optional
        Content identity of the rows this run holds (a hex digest); part of the directory
        name and checked in every part.

    Raises
    ------
    ValueError
        When ``meta.json`` in the target directory records a different key or config
        (e.g. two model paths that map to the same safe name).
    """

    def __init__(self, root: PathLike, model: str, dataset: str, split: str,
                 config: Mapping[str, Any], *, create: bool = True, data_id: str | None = None,
                 rank: int | None = None, lock_wait: float = 0.0):
        self.rank = None if rank is None else int(rank)
        self.lock_wait = float(lock_wait)
        self.root = Path(root)
        self.model = str(model)
        self.dataset = str(dataset)
        self.split = str(split)
        self.data_id = None if data_id is None else str(data_id)
        self.config = json.loads(canonical_json(dict(config)))
        self.hash = config_hash(self.config)
        leaf = self.hash if self.data_id is None else f"{self.hash}-{self.data_id[:12]}"
        self.dir = (self.root / safe_name(self.model) / safe_name(self.dataset) / safe_name(self.split) / leaf)
        self._init_state()
        self._check_meta()
        if create:
            self._ensure_meta()

    def _init_state(self) -> None:
        self._known_parts: set[str] = set()
        self._done: set[str] = set()
        self._lock_fd: int | None = None
        self._rank_fd: int | None = None
        self.bad_parts: dict[str, str] = {}     # part name -> problem (parts skipped by a reader)

    # -- construction helpers -----------------------------------------------------------
    @classmethod
    def from_dir(cls, path: PathLike) -> "RunStore":
        """Open an existing run directory (the one holding ``meta.json``) for reading."""
        path = Path(path)
        meta_path = path / "meta.json"
        if not meta_path.is_file():
            raise FileNotFoundError(f"not a run directory (no meta.json): {path}")
        meta = json.loads(meta_path.read_text())
        self = cls.__new__(cls)
        self.rank, self.lock_wait = None, 0.0
        self.root = path.parents[3] if len(path.parents) >= 4 else path
        self.model, self.dataset, self.split = meta["model"], meta["dataset"], meta["split"]
        self.data_id = meta.get("data_id")
        self.config = meta["config"]
        self.hash = config_hash(self.config)
        if self.hash != meta.get("config_hash"):
            raise ValueError(f"{meta_path}: config_hash {meta.get('config_hash')!r} does not match its config "
                             f"(recomputed {self.hash!r})")
        self.dir = path
        self._init_state()
        return self

    @property
    def meta_path(self) -> Path:
        return self.dir / "meta.json"

    @property
    def noise_stats_path(self) -> Path:
        return self.dir / NOISE_STATS_FILE

    @property
    def quarantine_dir(self) -> Path:
        return self.dir / QUARANTINE

    def meta(self) -> dict:
        """The contents of ``meta.json`` (``{}`` before it is written)."""
        return json.loads(self.meta_path.read_text()) if self.meta_path.is_file() else {}

    def _versioned(self) -> bool:
        """Parts of this run carry key metadata (a run of store version >= 2, or a new one)."""
        m = self.meta()
        return not m or int(m.get("store_version", 1)) >= 2

    def _check_meta(self) -> None:
        m = self.meta()
        if not m:
            return
        mine = {"model": self.model, "dataset": self.dataset, "split": self.split, "config": self.config}
        if self.data_id is not None or m.get("data_id") is not None:
            mine["data_id"] = self.data_id
        for k, v in mine.items():
            if m.get(k) != v:
                raise ValueError(f"{self.meta_path}: records {k}={m.get(k)!r}, not {v!r}; "
                                 "refusing to mix runs in one directory")

    def _ensure_meta(self) -> None:
        if self.meta_path.is_file():
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        prov = provenance()
        meta = {"model": self.model, "dataset": self.dataset, "split": self.split, "data_id": self.data_id,
                "config": self.config, "config_hash": self.hash, "store_version": STORE_VERSION,
                "versions": prov["versions"], "created": prov["date"], "command": prov["command"],
                "host": prov["host"]}
        atomic_write_text(self.meta_path, json.dumps(meta, indent=2, sort_keys=True, default=_json_default) + "\n")

    def update_meta(self, **fields: Any) -> None:
        """Merge ``fields`` into ``meta.json`` atomically (e.g. ``skipped=[...]``,
        ``summary={...}``). The key fields (model, dataset, split, data_id, config, hash)
        are read-only."""
        bad = {"model", "dataset", "split", "data_id", "config", "config_hash", "store_version"} & set(fields)
        if bad:
            raise ValueError(f"cannot change key fields {sorted(bad)} of a run")
        with self.lock():   # read-modify-write: ranks of one run update it in turn
            self._ensure_meta()
            m = self.meta()
            m.update(fields)
            atomic_write_text(self.meta_path, json.dumps(m, indent=2, sort_keys=True, default=_json_default) + "\n")

    # -- the writer lock ----------------------------------------------------------------
    @property
    def lock_path(self) -> Path:
        return self.dir / LOCK_FILE

    @property
    def locked(self) -> bool:
        """True while this object holds the writer lock."""
        return self._lock_fd is not None

    def _holder(self, path: Path | None = None) -> str:
        try:
            info = json.loads((path or self.lock_path).read_text() or "{}")
        except (OSError, ValueError):
            info = {}
        if not info:
            return "another process"
        return f"process {info.get('pid')} on {info.get('host')} since {info.get('since')}"

    def _take(self, path: Path, wait: float, what: str) -> int:
        self.dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        deadline = time.monotonic() + max(0.0, float(wait))
        while not _try_lock(fd):
            if time.monotonic() >= deadline:
                os.close(fd)
                raise RunLockedError(
                    f"run directory {self.dir} is being written by {self._holder(path)}{what}; "
                    + (f"waited {wait:g} s; " if wait else "")
                    + "wait for it to finish (or pass a waiting time, CLI --wait SECONDS) -- two writers "
                      "would store samples twice")
            time.sleep(0.05)
        import datetime as _dt
        import platform

        info = json.dumps({"pid": os.getpid(), "host": platform.node(), "rank": self.rank,
                           "since": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")})
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, info.encode(), 0)
        except OSError:
            pass
        return fd

    def acquire(self, wait: float = 0.0) -> None:
        """Take the writer lock, waiting at most ``wait`` seconds.

        Raises
        ------
        RunLockedError
            Naming the directory and the holder (pid, host, start time).
        """
        if self._lock_fd is not None:
            return
        self._lock_fd = self._take(self.lock_path, wait, "")
        if self.rank is None:   # re-read all under the lock (ranks only ever add parts beside ours)
            self._known_parts, self._done, self.bad_parts = set(), set(), {}

    @staticmethod
    def _drop(fd: int | None) -> None:
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)
        except OSError:
            pass
        try:
            _unlock(fd)
        finally:
            os.close(fd)

    def release(self) -> None:
        """Release the writer lock (no-op when not held)."""
        fd, self._lock_fd = self._lock_fd, None
        self._drop(fd)

    # -- ranks of a multi-process run ---------------------------------------------------
    def rank_lock_path(self, rank: int | None = None) -> Path:
        r = self.rank if rank is None else rank
        return self.dir / f"{LOCK_FILE}-r{int(r):03d}"

    def acquire_rank(self, wait: float = 0.0) -> None:
        """Take the lock of this store's rank (``.lock-rNNN``) for a whole run: a second
        process of the same rank stops (or waits); other ranks write beside it, each part
        under the shared writer lock for the moment it is written."""
        if self.rank is None:
            raise RuntimeError("acquire_rank() needs a store opened with rank=")
        if self._rank_fd is None:
            self._rank_fd = self._take(self.rank_lock_path(), wait, f" (rank {self.rank})")

    def release_rank(self) -> None:
        fd, self._rank_fd = self._rank_fd, None
        self._drop(fd)

    @contextlib.contextmanager
    def lock(self, wait: float | None = None):
        """``with store.lock(wait=60): ...`` holds the writer lock for the block (no-op when
        already held; ``wait`` defaults to the store's ``lock_wait``)."""
        held = self.locked
        self.acquire(self.lock_wait if wait is None else wait)
        try:
            yield self
        finally:
            if not held:
                self.release()

    # -- parts --------------------------------------------------------------------------
    def parts(self) -> list[Path]:
        """Completed parts in append order (temp files are never listed)."""
        if not self.dir.is_dir():
            return []
        found = [(_part_key(m), p) for p in self.dir.iterdir() if (m := _PART_RE.match(p.name))]
        return [p for _, p in sorted(found)]

    def _kv(self) -> dict[bytes, bytes]:
        kv = {_KV["config_hash"]: self.hash.encode(), _KV["split"]: self.split.encode()}
        if self.data_id is not None:
            kv[_KV["data_id"]] = self.data_id.encode()
        return kv

    def _read_part(self, p: Path, columns: Sequence[str] | None = None) -> pa.Table:
        """Read a part, verifying page checksums and its key metadata; raises PartError."""
        try:
            f = pq.ParquetFile(p, page_checksum_verification=True)
            kv = f.metadata.metadata or {}
            t = f.read(columns=None if columns is None else [c for c in columns if c in f.schema_arrow.names])
        except (OSError, pa.ArrowException, ValueError) as e:
            raise PartError(f"{p.name}: unreadable ({type(e).__name__}: {str(e).strip().splitlines()[0]})") from None
        want = self._kv()
        if _KV["config_hash"] in kv or self._versioned():
            for key in (_KV["config_hash"], _KV["data_id"], _KV["split"]):
                if key in want and kv.get(key) != want[key]:
                    got = kv.get(key)
                    raise PartError(f"{p.name}: belongs to another run ({key.decode()} "
                                    f"{got.decode() if got else None!r}, this run {want[key].decode()!r})")
        if "index" not in t.column_names:
            raise PartError(f"{p.name}: no 'index' column")
        return t

    def quarantine(self, part: Path, problem: str) -> Path:
        """Move ``part`` to ``quarantine/`` and record why in ``meta.json`` (needs the lock)."""
        if not self.locked:
            raise RuntimeError("quarantine() needs the writer lock")
        qd = self.quarantine_dir
        qd.mkdir(exist_ok=True)
        target = qd / part.name
        n = 1
        while target.exists():
            target = qd / f"{part.stem}.{n}{part.suffix}"
            n += 1
        os.replace(part, target)
        _fsync_dir(self.dir)
        warnings.warn(f"{self.dir}: quarantined {part.name} -> {QUARANTINE}/{target.name}: {problem}",
                      stacklevel=3)
        m = self.meta()
        q = list(m.get("quarantined", []))
        q.append({"part": part.name, "moved_to": f"{QUARANTINE}/{target.name}", "problem": problem,
                  "date": provenance()["date"]})
        self.update_meta(quarantined=q)
        return target

    def _refresh(self) -> None:
        for p in self.parts():
            if p.name in self._known_parts or p.name in self.bad_parts:
                continue
            try:
                idx = self._read_part(p).column("index").to_pylist()
                rep = sorted({i for i in idx if idx.count(i) > 1}) if len(set(idx)) != len(idx) else []
                dup = sorted(self._done.intersection(idx))
                if rep or dup:
                    raise PartError(f"{p.name}: indices stored twice in {self.dir}: {(dup or rep)[:5]}"
                                    + (" (already in earlier parts)" if dup else " (within the part)"))
            except PartError as e:
                if self.locked:
                    self.quarantine(p, str(e))
                    continue
                if "stored twice" in str(e):
                    raise ValueError(str(e)) from None
                self.bad_parts[p.name] = str(e)
                warnings.warn(f"{self.dir}: skipping {e}", stacklevel=3)
                continue
            self._done.update(idx)
            self._known_parts.add(p.name)

    def done(self) -> set[str]:
        """Indices of the samples already stored."""
        self._refresh()
        return set(self._done)

    def __len__(self) -> int:
        return len(self.done())

    def append(self, rows: Sequence[Mapping[str, Any]]) -> Path | None:
        """Write ``rows`` as one new parquet part, atomically, under the writer lock.

        Parameters
        ----------
        rows : list of dict
            One dict per sample, all with the same keys, including ``index``. List
            columns accept lists, numpy arrays or torch tensors.

        Returns
        -------
        Path or None
            The new part (``None`` when ``rows`` is empty).

        Raises
        ------
        ValueError
            When an index is already stored or repeated within ``rows``, or a row lacks
            ``index``, or the rows' columns differ.
        RunLockedError
            When another writer holds the lock.
        """
        rows = list(rows)
        if not rows:
            return None
        idx = []
        for i, r in enumerate(rows):
            if "index" not in r or r["index"] is None:
                raise ValueError(f"row {i} has no 'index'")
            idx.append(str(r["index"]))
        if len(set(idx)) != len(idx):
            seen, rep = set(), []
            for i in idx:
                (rep.append(i) if i in seen else seen.add(i))
            raise ValueError(f"indices repeated within the rows to append: {rep[:5]}")
        with self.lock():
            return self._append_locked(rows, idx)

    def _append_locked(self, rows, idx) -> Path:
        self._ensure_meta()
        self._refresh()
        self._refuse_stored(idx)
        table = _rows_to_table(rows)
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **self._kv()})
        tmp = _tmp_path(self.dir / "part.parquet")
        try:
            pq.write_table(table, tmp, compression="zstd", write_page_checksum=True)
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
            for _ in range(1000):
                existing = self.parts() + [self.dir / n for n in self.bad_parts]
                mine = -1 if self.rank is None else self.rank
                n = max((k[1] for p in existing if (k := _part_key(_PART_RE.match(p.name)))[0] == mine),
                        default=-1) + 1
                final = self.dir / (f"part-{n:05d}.parquet" if self.rank is None
                                    else f"part-r{self.rank:03d}-{n:05d}.parquet")
                try:
                    os.link(tmp, final)  # atomic and exclusive: never overwrites a part
                except FileExistsError:  # pragma: no cover - the lock makes this unreachable
                    self._refresh()
                    self._refuse_stored(idx)
                    continue
                except OSError:  # filesystem without hard links
                    if final.exists():
                        continue
                    os.replace(tmp, final)
                break
            else:  # pragma: no cover
                raise RuntimeError(f"could not find a free part number in {self.dir}")
        finally:
            if tmp.exists():
                tmp.unlink()
        _fsync_dir(self.dir)
        self._done.update(idx)
        self._known_parts.add(final.name)
        return final

    def _refuse_stored(self, idx: list[str]) -> None:
        already = self._done.intersection(idx)
        if already:
            raise ValueError(f"{len(already)} indices are already stored in {self.dir} "
                             f"(e.g. {sorted(already, key=_natural_key)[:5]}); skip samples in done()")

    # -- reading ------------------------------------------------------------------------
    def read_table(self, columns: Sequence[str] | None = None, sort: bool = True) -> pa.Table:
        """All parts as one arrow table (see :meth:`read`); page checksums and each part's
        key metadata are verified, bad parts skipped with a warning (see the module
        docstring)."""
        cols = None if columns is None else list(dict.fromkeys(["index", *columns]))
        tables = []
        for p in self.parts():
            if p.name in self.bad_parts:
                continue
            try:
                tables.append(self._read_part(p, cols))
            except PartError as e:
                self.bad_parts[p.name] = str(e)
                warnings.warn(f"{self.dir}: skipping {e}", stacklevel=2)
        if not tables:
            return pa.table({"index": pa.array([], pa.string())})
        t = pa.concat_tables([x.replace_schema_metadata(None) for x in tables], promote_options="default")
        idx = t.column("index").to_pylist()
        if len(set(idx)) != len(idx):
            seen, rep = set(), []
            for i in idx:
                (rep.append(i) if i in seen else seen.add(i))
            raise ValueError(f"{self.dir}: indices stored more than once: {rep[:5]}")
        if sort:
            order = sorted(range(len(idx)), key=lambda j: _natural_key(idx[j]))
            t = t.take(pa.array(order, type=pa.int64()))
        return t

    def read(self, columns: Sequence[str] | None = None, sort: bool = True):
        """All rows as a ``pandas.DataFrame``.

        Rows are sorted by index (integer-like indices numerically) unless
        ``sort=False`` (then in append order), so the result does not depend on where an
        interrupted run resumed. Raises ``ValueError`` if an index appears twice.
        """
        return self.read_table(columns, sort).to_pandas()

    def read_arrays(self, cols: Sequence[str], sort: bool = True) -> dict[str, np.ndarray]:
        """Columns as numpy arrays, in :meth:`read` order; ``"index"`` is always included.

        List columns (``x1``, ``p_full``, ``lens_vis``, ...) become 2-D float32 arrays
        ``(n, width)`` (raises ``ValueError`` if their lengths differ or a value is
        null); scalar columns become 1-D arrays (strings as object arrays).
        """
        t = self.read_table(cols, sort)
        out: dict[str, np.ndarray] = {"index": np.array(t.column("index").to_pylist(), dtype=object)}
        for c in cols:
            if c == "index":
                continue
            if c not in t.column_names:
                raise KeyError(f"column {c!r} not in run {self.dir} (columns: {t.column_names})")
            col = t.column(c).combine_chunks()
            if pa.types.is_list(col.type) or pa.types.is_large_list(col.type):
                if col.null_count:
                    raise ValueError(f"column {c!r} has {col.null_count} null rows")
                lengths = np.asarray(col.value_lengths().to_numpy(zero_copy_only=False))
                if len(lengths) and (lengths != lengths[0]).any():
                    raise ValueError(f"column {c!r} has rows of different lengths {sorted(set(lengths.tolist()))[:5]}")
                width = int(lengths[0]) if len(lengths) else 0
                vals = np.asarray(col.flatten().to_numpy(zero_copy_only=False))
                out[c] = vals.reshape(len(col), width)
            elif pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
                out[c] = np.array(col.to_pylist(), dtype=object)
            else:
                out[c] = np.asarray(col.to_numpy(zero_copy_only=False))
        return out

    def __repr__(self) -> str:
        return (f"RunStore(model={self.model!r}, dataset={self.dataset!r}, split={self.split!r}, "
                f"hash={self.hash!r}, dir={str(self.dir)!r})")

    def __del__(self):  # pragma: no cover - best effort
        try:
            self.release()
            self.release_rank()
        except Exception:
            pass


def _resolve_model(model: str) -> str:
    """A local directory's real path (the run key's model identity); other ids unchanged."""
    return os.path.realpath(model) if os.path.isdir(model) else model


def find_runs(root: PathLike, model: str | None = None, dataset: str | None = None,
              split: str | None = None) -> list[RunStore]:
    """All run directories under ``root`` (those with a ``meta.json``), filtered by key.

    ``model`` may be given as any spelling of a local directory (``m``, ``./m/``, its
    absolute path): it is compared by its resolved identity.
    """
    out = []
    want_model = None if model is None else _resolve_model(model)
    for meta in sorted(Path(root).glob("*/*/*/*/meta.json")):
        try:
            s = RunStore.from_dir(meta.parent)
        except (ValueError, KeyError, json.JSONDecodeError):
            continue
        if (want_model is None or s.model in (want_model, model)) and (dataset is None or s.dataset == dataset) \
                and (split is None or s.split == split):
            out.append(s)
    return out


# ---------------------------------------------------------------------------------------
# noise statistics
# ---------------------------------------------------------------------------------------
def save_noise_stats(dir: PathLike, tensors: Mapping[str, Any], metadata: Mapping[str, Any],
                     filename: str = NOISE_STATS_FILE) -> Path:
    """Save noise statistics (e.g. ``mu_image, sigma_image, mu_text, sigma_text``).

    Parameters
    ----------
    dir : str or Path
        Target directory (typically the fit split's run directory).
    tensors : dict of str -> torch.Tensor or numpy.ndarray
        Stored with their dtype (contiguous copies); bfloat16 tensors are stored as
        float32 (numpy has no bfloat16).
    metadata : dict
        JSON-serializable provenance (model, dataset, split, counts, ...). Stored in the
        safetensors header as ``{"pidlib": <canonical JSON>}`` (safetensors metadata is
        str -> str); :func:`provenance` (versions, date, command) is added under
        ``"provenance"`` unless given.

    Returns
    -------
    Path
        The file written (atomically).
    """
    from safetensors.numpy import save as np_save

    arrays = {}
    for k, v in tensors.items():
        if hasattr(v, "detach"):
            v = v.detach().cpu()
            if str(v.dtype) == "torch.bfloat16":
                v = v.float()
            v = v.numpy()
        arrays[str(k)] = np.ascontiguousarray(np.asarray(v))
    meta = dict(metadata)
    meta.setdefault("provenance", provenance())
    data = np_save(arrays, metadata={"pidlib": canonical_json(meta)})
    path = Path(dir) / filename
    atomic_write_bytes(path, data)
    return path


def load_noise_stats(dir: PathLike, filename: str = NOISE_STATS_FILE, framework: str = "pt"):
    """Load what :func:`save_noise_stats` wrote.

    Parameters
    ----------
    dir : str or Path
        Directory holding ``noise_stats.safetensors`` (or the file itself).
    framework : {"pt", "np"}
        Return torch tensors or numpy arrays.

    Returns
    -------
    (dict, dict)
        ``(tensors, metadata)``.
    """
    from safetensors import safe_open

    path = Path(dir)
    if path.is_dir():
        path = path / filename
    if not path.is_file():
        raise FileNotFoundError(f"noise statistics not found: {path}")
    if framework not in ("pt", "np"):
        raise ValueError(f"framework must be 'pt' or 'np', got {framework!r}")
    tensors = {}
    with safe_open(str(path), framework=framework) as f:
        raw = f.metadata() or {}
        for k in f.keys():
            tensors[k] = f.get_tensor(k)
    if "pidlib" not in raw:
        raise ValueError(f"{path}: no pidlib metadata in the safetensors header")
    return tensors, json.loads(raw["pidlib"])
