"""The pinned environment: requirements.lock and environment.yml state the same pins."""
from pathlib import Path

from pidlib.envfile import read_environment_yml, read_lock, render

ROOT = Path(__file__).resolve().parents[1]


def test_environment_yml_matches_lock():
    lock = read_lock(ROOT / "requirements.lock")
    env = read_environment_yml(ROOT / "environment.yml")
    assert env == lock, {k: (lock.get(k), env.get(k)) for k in set(lock) | set(env) if lock.get(k) != env.get(k)}
    assert (ROOT / "environment.yml").read_text() == render(lock), "regenerate with `make env-yml`"


def test_key_pins():
    lock = read_lock(ROOT / "requirements.lock")
    assert lock["torch"] == "2.13.0"
    assert lock["jupyter-book"] == "1.0.4.post1"
    for name in ("transformers", "pandas", "scipy", "seaborn", "jupytext", "papermill", "pyarrow", "safetensors"):
        assert name in lock, name


def test_read_lock_rejects_loose_lines(tmp_path):
    import pytest

    f = tmp_path / "req.txt"
    f.write_text("numpy>=1\n")
    with pytest.raises(ValueError, match="req.txt:1: not an exact pin"):
        read_lock(f)
