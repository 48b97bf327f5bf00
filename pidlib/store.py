"""Resumable run store: per-sample probe rows in parquet parts, keyed by configuration.

Layout::

    ROOT/<model>/<dataset>/<split>/<config_hash>/
        meta.json             model, dataset, split, config, hash, versions, date, command
        part-00000.parquet    one part per append() (one batch or a group of batches)
        part-00001.parquet
        noise_stats.safetensors   (optional; see save_noise_stats)

``config_hash`` is the first 12 hex digits of the SHA-256 of the configuration's
canonical JSON (sorted keys, no whitespace), so a run with any changed probe setting goes
to a different directory and stale rows are never reused. ``<model>`` and ``<dataset>``
are made filesystem-safe (``llava-hf/llava-1.5-7b-hf`` -> ``llava-hf__llava-1.5-7b-hf``).

Resume protocol (one writer per directory)::

    store = RunStore(root, model, dataset.name, split, config)
    todo = [s for s in dataset if s.index not in store.done()]
    for batch in chunks(todo):
        store.append(rows_for(batch))     # atomic: temp file + os.replace

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

import datetime as _dt
import hashlib
import json
import os
import platform
import re
import sys
import uuid
from pathlib import Path
from typing import Any, Mapping, Sequence, Union

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = [
    "RunStore",
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
]

PathLike = Union[str, os.PathLike]

NOISE_STATS_FILE = "noise_stats.safetensors"
_PART_RE = re.compile(r"^part-(\d{5,})\.parquet$")

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


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------
def _json_default(o: Any):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, os.PathLike):
        return os.fspath(o)
    if isinstance(o, (set, frozenset)):
        return sorted(o)
    raise TypeError(f"config value of type {type(o).__name__} is not JSON-serializable: {o!r}")


def canonical_json(obj: Any) -> str:
    """Canonical JSON: sorted keys, no whitespace, ASCII, NaN rejected."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False, default=_json_default)


def config_hash(config: Mapping[str, Any]) -> str:
    """First 12 hex digits of SHA-256 of :func:`canonical_json` of ``config``."""
    return hashlib.sha256(canonical_json(dict(config)).encode("ascii")).hexdigest()[:12]


def safe_name(name: str, max_len: int = 96) -> str:
    """A filesystem-safe directory name for a model id, path or dataset name.

    ``/`` becomes ``__``; characters outside ``[A-Za-z0-9._-]`` become ``_``; names that
    had to be altered beyond that, or are too long, get a short hash suffix so that two
    different inputs do not collide.
    """
    s = str(name).strip().strip("/")
    out = re.sub(r"[^A-Za-z0-9._-]+", "_", s.replace("/", "__")).strip("._") or "_"
    lossy = out != s.replace("/", "__") or len(out) > max_len
    if lossy:
        h = hashlib.sha256(str(name).encode("utf-8")).hexdigest()[:8]
        out = f"{out[: max_len - 9]}-{h}"
    return out


def _version(pkg: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(pkg)
    except PackageNotFoundError:
        return None


def provenance() -> dict[str, Any]:
    """Versions (python, numpy, pyarrow, torch, transformers, pidlib), UTC date, command."""
    return {
        "versions": {
            "python": platform.python_version(),
            "pidlib": _version("pidlib"),
            "torch": _version("torch"),
            "transformers": _version("transformers"),
            "numpy": np.__version__,
            "pyarrow": pa.__version__,
        },
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": list(sys.argv),
        "host": platform.node(),
    }


def _fsync_dir(d: Path) -> None:
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


def _tmp_path(final: Path) -> Path:
    return final.with_name(f".{final.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def atomic_write_bytes(path: PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file in the same directory + ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_path(path)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    _fsync_dir(path.parent)


def atomic_write_text(path: PathLike, text: str) -> None:
    """UTF-8 text version of :func:`atomic_write_bytes`."""
    atomic_write_bytes(path, text.encode("utf-8"))


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
# the store
# ---------------------------------------------------------------------------------------
class RunStore:
    """Per-sample probe rows for one (model, dataset, split, config).

    Parameters
    ----------
    root : str or Path
        Root of the store (``--out``), e.g. ``data/runs``.
    model, dataset, split : str
        The key; ``model`` may be a Hugging Face id or a local path.
    config : dict
        Every setting that changes the numbers (probe settings, tau, seed, dtype, layers,
        noise-statistics source, ...). JSON-serializable.
    create : bool
        Create the directory and ``meta.json`` now (default). With ``False`` nothing is
        written until the first :meth:`append`.

    Raises
    ------
    ValueError
        When ``meta.json`` in the target directory records a different key or config
        (e.g. two model paths that map to the same safe name).
    """

    def __init__(self, root: PathLike, model: str, dataset: str, split: str,
                 config: Mapping[str, Any], *, create: bool = True):
        self.root = Path(root)
        self.model = str(model)
        self.dataset = str(dataset)
        self.split = str(split)
        self.config = json.loads(canonical_json(dict(config)))
        self.hash = config_hash(self.config)
        self.dir = (self.root / safe_name(self.model) / safe_name(self.dataset) / safe_name(self.split)
                    / self.hash)
        self._known_parts: set[str] = set()
        self._done: set[str] = set()
        self._check_meta()
        if create:
            self._ensure_meta()

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
        self.root = path.parents[3] if len(path.parents) >= 4 else path
        self.model, self.dataset, self.split = meta["model"], meta["dataset"], meta["split"]
        self.config = meta["config"]
        self.hash = config_hash(self.config)
        if self.hash != meta.get("config_hash"):
            raise ValueError(f"{meta_path}: config_hash {meta.get('config_hash')!r} does not match its config "
                             f"(recomputed {self.hash!r})")
        self.dir = path
        self._known_parts, self._done = set(), set()
        return self

    @property
    def meta_path(self) -> Path:
        return self.dir / "meta.json"

    @property
    def noise_stats_path(self) -> Path:
        return self.dir / NOISE_STATS_FILE

    def meta(self) -> dict:
        """The contents of ``meta.json`` (``{}`` before it is written)."""
        return json.loads(self.meta_path.read_text()) if self.meta_path.is_file() else {}

    def _check_meta(self) -> None:
        m = self.meta()
        if not m:
            return
        mine = {"model": self.model, "dataset": self.dataset, "split": self.split, "config": self.config}
        for k, v in mine.items():
            if m.get(k) != v:
                raise ValueError(f"{self.meta_path}: records {k}={m.get(k)!r}, not {v!r}; "
                                 "refusing to mix runs in one directory")

    def _ensure_meta(self) -> None:
        if self.meta_path.is_file():
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        prov = provenance()
        meta = {"model": self.model, "dataset": self.dataset, "split": self.split,
                "config": self.config, "config_hash": self.hash, "versions": prov["versions"],
                "created": prov["date"], "command": prov["command"], "host": prov["host"]}
        atomic_write_text(self.meta_path, json.dumps(meta, indent=2, sort_keys=True, default=_json_default) + "\n")

    def update_meta(self, **fields: Any) -> None:
        """Merge ``fields`` into ``meta.json`` atomically (e.g. ``skipped=[...]``,
        ``summary={...}``). The key fields (model, dataset, split, config, hash) are
        read-only."""
        bad = {"model", "dataset", "split", "config", "config_hash"} & set(fields)
        if bad:
            raise ValueError(f"cannot change key fields {sorted(bad)} of a run")
        self._ensure_meta()
        m = self.meta()
        m.update(fields)
        atomic_write_text(self.meta_path, json.dumps(m, indent=2, sort_keys=True, default=_json_default) + "\n")

    # -- parts --------------------------------------------------------------------------
    def parts(self) -> list[Path]:
        """Completed parts in append order (temp files are never listed)."""
        if not self.dir.is_dir():
            return []
        found = [(int(m.group(1)), p) for p in self.dir.iterdir() if (m := _PART_RE.match(p.name))]
        return [p for _, p in sorted(found)]

    def _refresh(self) -> None:
        for p in self.parts():
            if p.name in self._known_parts:
                continue
            idx = pq.read_table(p, columns=["index"]).column("index").to_pylist()
            dup = self._done.intersection(idx)
            if dup or len(set(idx)) != len(idx):
                which = sorted(dup) or sorted({i for i in idx if idx.count(i) > 1})
                raise ValueError(f"{p}: indices stored twice in {self.dir}: {which[:5]}")
            self._done.update(idx)
            self._known_parts.add(p.name)

    def done(self) -> set[str]:
        """Indices of the samples already stored."""
        self._refresh()
        return set(self._done)

    def __len__(self) -> int:
        return len(self.done())

    def append(self, rows: Sequence[Mapping[str, Any]]) -> Path | None:
        """Write ``rows`` as one new parquet part, atomically.

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
        self._ensure_meta()
        self._refresh()
        self._refuse_stored(idx)
        table = _rows_to_table(rows)
        tmp = _tmp_path(self.dir / "part.parquet")
        try:
            pq.write_table(table, tmp, compression="zstd")
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
            for _ in range(1000):
                existing = self.parts()
                n = int(_PART_RE.match(existing[-1].name).group(1)) + 1 if existing else 0
                final = self.dir / f"part-{n:05d}.parquet"
                try:
                    os.link(tmp, final)  # atomic and exclusive: never overwrites a part
                except FileExistsError:  # another writer took this number: re-check, retry
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
        """All parts as one arrow table (see :meth:`read`)."""
        parts = self.parts()
        if not parts:
            return pa.table({"index": pa.array([], pa.string())})
        cols = None if columns is None else list(dict.fromkeys(["index", *columns]))
        tables = [pq.read_table(p, columns=cols) for p in parts]
        t = pa.concat_tables(tables, promote_options="default")
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


def find_runs(root: PathLike, model: str | None = None, dataset: str | None = None,
              split: str | None = None) -> list[RunStore]:
    """All run directories under ``root`` (those with a ``meta.json``), filtered by key."""
    out = []
    for meta in sorted(Path(root).glob("*/*/*/*/meta.json")):
        try:
            s = RunStore.from_dir(meta.parent)
        except (ValueError, KeyError, json.JSONDecodeError):
            continue
        if (model is None or s.model == model) and (dataset is None or s.dataset == dataset) \
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
