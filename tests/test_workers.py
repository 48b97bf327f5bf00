"""Worker processes of the CPU stages: results in order, one torch thread, malloc settings."""
import platform

import pytest

from pidlib.workers import keep_freed_memory, map_processes


def _threads_and_square(x):
    import torch

    return torch.get_num_threads(), x * x


def test_map_processes_keeps_order_and_uses_one_thread_per_worker():
    out = map_processes(_threads_and_square, range(5), jobs=2)
    assert [v for _, v in out] == [0, 1, 4, 9, 16]
    assert {t for t, _ in out} == {1}


def test_map_processes_in_this_process_for_one_job():
    assert map_processes(lambda x: x + 1, [1, 2], jobs=1) == [2, 3]


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_keep_freed_memory_is_accepted_by_glibc():
    assert keep_freed_memory() is True
