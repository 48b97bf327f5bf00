"""pidlib.cpu: torch's CPU kernels pinned to one instruction set at import."""
import os
import subprocess
import sys

import pytest

from pidlib import cpu


def test_pin_sets_only_what_the_environment_does_not_set(monkeypatch):
    monkeypatch.delitem(sys.modules, "torch", raising=False)   # as before torch loads
    env = {"MKL_CBWR": "COMPATIBLE"}
    done = cpu.pin_instruction_set(env, has_avx2=True)
    assert done == {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
    assert env == {"MKL_CBWR": "COMPATIBLE", **done}


def test_pin_does_nothing_without_avx2_with_the_opt_out_or_after_torch(monkeypatch):
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    env = {}
    assert cpu.pin_instruction_set(env, has_avx2=False) == {} and env == {}
    env = {cpu.OPT_OUT: "1"}
    assert cpu.pin_instruction_set(env, has_avx2=True) == {} and env == {cpu.OPT_OUT: "1"}
    env = {cpu.OPT_OUT: "0"}                          # "0" does not opt out
    assert cpu.pin_instruction_set(env, has_avx2=True) == cpu.PINNED
    monkeypatch.setitem(sys.modules, "torch", object())   # torch loaded: too late to pin
    env = {}
    assert cpu.pin_instruction_set(env, has_avx2=True) == {} and env == {}


def test_has_avx2_reads_the_cpu_flags(tmp_path, monkeypatch):
    monkeypatch.setattr(cpu.platform, "machine", lambda: "x86_64")
    f = tmp_path / "cpuinfo"
    f.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx fma avx2 avx512f\n")
    assert cpu._has_avx2(f)
    f.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx\n")
    assert not cpu._has_avx2(f)
    assert not cpu._has_avx2(tmp_path / "missing")
    monkeypatch.setattr(cpu.platform, "machine", lambda: "aarch64")
    f.write_text("flags\t\t: avx2 fma\n")
    assert not cpu._has_avx2(f)


def _capability(extra_env):
    env = {k: v for k, v in os.environ.items() if k not in cpu.PINNED and k != cpu.OPT_OUT}
    env.update(extra_env)
    code = "import pidlib, torch; print(torch.backends.cpu.get_cpu_capability())"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


@pytest.mark.skipif(not cpu._has_avx2(), reason="not an x86-64 Linux machine with AVX2")
def test_importing_pidlib_pins_torch_to_avx2():
    assert _capability({}) == "AVX2"
    native = _capability({cpu.OPT_OUT: "1"})
    assert native in ("AVX2", "AVX512")   # the machine's own
