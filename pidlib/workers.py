"""Worker processes for the CPU-bound stages (zoo build, probe runs, spectra).

Each worker is spawned (not forked: torch and fork do not mix), runs one torch thread (on
the 2-core machine two workers fill the cores; more threads per worker oversubscribe them)
and keeps freed memory instead of handing it back to the kernel at once. The second point
matters on CPU: the estimators and the tiny models allocate and free megabyte tensors
thousands of times a second; glibc returns such blocks to the kernel (``munmap`` / heap
trimming) and every new block then pays a page fault per 4 KiB page when it is first
written. With the mmap threshold at 32 MiB and trimming above 1 GiB (``mallopt``), the
blocks are reused: about 13 % less time for one spectra run (``benchmarks/RESULTS.md``).
Numbers are unchanged; only where the memory comes from differs.
"""
from __future__ import annotations

import ctypes
import ctypes.util
from typing import Callable, Iterable

#: ``mallopt`` parameters (glibc ``malloc.h``) and the values the workers use.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 1 << 30


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds in this process (see the module docstring);
    False where the C library is not glibc (nothing is changed there)."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))


def init_worker() -> None:
    """Initializer of a worker process: one torch thread, freed memory kept."""
    import torch

    torch.set_num_threads(1)
    keep_freed_memory()


def map_processes(fn: Callable, items: Iterable, jobs: int) -> list:
    """``fn`` over ``items`` in ``jobs`` spawned worker processes (:func:`init_worker`),
    results in order; in this process when ``jobs <= 1`` or there is one item."""
    items = list(items)
    if jobs <= 1 or len(items) <= 1:
        return [fn(x) for x in items]
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn"),
                             initializer=init_worker) as ex:
        return list(ex.map(fn, items))
