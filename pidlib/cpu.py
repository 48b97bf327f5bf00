"""One instruction set for the CPU kernels, so that a rebuild reproduces bit for bit on
another x86 machine.

torch picks its CPU kernels by the instruction set of the machine it runs on: ATen's own
vectorized kernels (AVX2 or AVX-512), MKL's matrix products and oneDNN's convolutions.
Vectors of 8 or 16 floats sum in different orders, so the same program gives results that
differ in the last bits on an AVX2 and on an AVX-512 machine, and the zoo's training,
being chaotic, turns those bits into different models (weights up to 0.6 apart after a
full build; ``benchmarks/RESULTS.md``, "Fourth measurement"). Pinning the three to AVX2,
which every x86-64 machine of the last decade has, gives the same bits on both kinds:

==========================  =======  ===============================================
variable                    value    kernels it pins
==========================  =======  ===============================================
``ATEN_CPU_CAPABILITY``     avx2     ATen's vectorized kernels (element-wise, reductions)
``MKL_CBWR``                AVX2     MKL's code path (Conditional Numerical Reproducibility)
``ONEDNN_MAX_CPU_ISA``      AVX2     oneDNN's convolutions (the vision tower's patches)
==========================  =======  ===============================================

They are read when torch loads, so :func:`pin_instruction_set` runs when ``pidlib`` is
imported, before it imports torch, and sets only the variables the environment does not
already set. It does nothing when torch is already loaded, on machines without AVX2
(ARM, other operating systems than Linux), or with ``PIDLIB_NATIVE_CPU=1`` (the machine's
own instruction set; faster on some machines, not reproducible across them). GPU kernels
are not affected. The instruction set a run used is recorded in its provenance
(:func:`capability`).
"""
from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

__all__ = ["PINNED", "OPT_OUT", "pin_instruction_set", "capability"]

#: The variables and their values (see the module docstring).
PINNED = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
#: Set to a non-empty value other than "0" to keep the machine's own instruction set.
OPT_OUT = "PIDLIB_NATIVE_CPU"


def _has_avx2(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """True on an x86-64 Linux machine whose CPU flags include avx2 and fma."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[-1].split())
            return {"avx2", "fma"} <= flags
    return False


def pin_instruction_set(environ=None, *, has_avx2=None) -> dict:
    """Set the variables of :data:`PINNED` that ``environ`` (default ``os.environ``) does
    not set; returns those it set (empty when it did nothing: torch already loaded, no
    AVX2, or :data:`OPT_OUT` set)."""
    environ = os.environ if environ is None else environ
    if "torch" in sys.modules or environ.get(OPT_OUT, "") not in ("", "0"):
        return {}
    if not (_has_avx2() if has_avx2 is None else has_avx2):
        return {}
    done = {k: v for k, v in PINNED.items() if k not in environ}
    environ.update(done)
    return done


def capability() -> str:
    """The instruction set of torch's CPU kernels in this process ("AVX2", "AVX512",
    "DEFAULT", ...; imports torch)."""
    import torch

    return str(torch.backends.cpu.get_cpu_capability())
