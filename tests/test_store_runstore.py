"""Resumable run store: resume after a crash, config hashing, atomicity, noise statistics."""
import json
import os

import numpy as np
import pytest
import torch

from pidlib.store import (
    RunStore,
    atomic_write_text,
    config_hash,
    find_runs,
    load_noise_stats,
    safe_name,
    save_noise_stats,
)

CFG = {"tau": 0.3, "seed": 0, "layers": False, "dtype": "float32"}


def make_row(i, d=6, k=4):
    rng = np.random.default_rng(i)
    p = rng.random(k).astype(np.float32)
    p /= p.sum()
    return {
        "index": str(i), "answer": "ABCD"[i % 4] if i % 5 else None, "n_options": k, "pred": "A",
        "x1": rng.standard_normal(d).astype(np.float32), "x2": torch.from_numpy(rng.standard_normal(d + 1)),
        "p_full": p, "p_vis": p[::-1].copy(), "p_lang": [0.25] * k,
        "mass_full": 0.9, "mass_vis": 0.5, "mass_lang": 0.1,
    }


class Crash(RuntimeError):
    pass


def run(store, indices, batch=3, crash_after=None):
    """A probe-run loop in miniature: skip done(), append per batch, maybe crash."""
    done = store.done()
    todo = [i for i in indices if str(i) not in done]
    for n, start in enumerate(range(0, len(todo), batch)):
        if crash_after is not None and n == crash_after:
            raise Crash
        store.append([make_row(i) for i in todo[start:start + batch]])


def test_resume_after_crash_every_sample_once(tmp_path):
    idx = list(range(20))
    s1 = RunStore(tmp_path, "llava-hf/llava-1.5-7b-hf", "mmbench_dev", "test", CFG)
    with pytest.raises(Crash):
        run(s1, idx, crash_after=3)
    assert len(s1.done()) == 9
    # the crash also left a half-written part behind (what a kill during write leaves)
    (s1.dir / ".part-00003.parquet.tmp-999-deadbeef").write_bytes(b"PAR1 half a footer")
    s2 = RunStore(tmp_path, "llava-hf/llava-1.5-7b-hf", "mmbench_dev", "test", dict(CFG))
    assert s2.dir == s1.dir and s2.done() == {str(i) for i in range(9)}
    run(s2, idx, batch=4)  # resumes with a different batch size
    df = s2.read()
    assert list(df["index"]) == [str(i) for i in idx]  # each exactly once, in index order
    assert df["index"].is_unique and len(s2.parts()) == 3 + 3
    a = s2.read_arrays(["x1", "x2", "p_full", "n_options", "mass_full", "answer"])
    assert a["x1"].shape == (20, 6) and a["x1"].dtype == np.float32 and a["x2"].shape == (20, 7)
    np.testing.assert_allclose(a["x1"][7], make_row(7)["x1"])
    np.testing.assert_allclose(a["p_full"].sum(1), 1.0, rtol=1e-6)
    assert a["n_options"].tolist() == [4] * 20 and a["answer"][0] is None and a["answer"][1] == "B"
    # nothing left to do, and appending a stored sample is refused
    run(s2, idx)
    assert len(s2.parts()) == 6
    with pytest.raises(ValueError, match="already stored"):
        s2.append([make_row(5)])
    with pytest.raises(ValueError, match="repeated within"):
        s2.append([make_row(30), make_row(30)])
    assert len(s2.read()) == 20


def test_changed_config_goes_elsewhere(tmp_path):
    a = RunStore(tmp_path, "m", "d", "test", CFG)
    a.append([make_row(0)])
    b = RunStore(tmp_path, "m", "d", "test", {**CFG, "tau": 0.5})
    assert b.dir != a.dir and b.done() == set() and b.read().empty
    # key order does not matter; values do
    assert config_hash(dict(reversed(list(CFG.items())))) == config_hash(CFG) == a.hash
    assert len(a.hash) == 12 and all(c in "0123456789abcdef" for c in a.hash)
    assert RunStore(tmp_path, "m", "d", "fit", CFG).dir != a.dir
    meta = json.loads(a.meta_path.read_text())
    assert meta["config"] == CFG and meta["config_hash"] == a.hash and meta["model"] == "m"
    assert {"python", "torch", "transformers", "pidlib"} <= set(meta["versions"])
    assert meta["created"] and isinstance(meta["command"], list)
    # a directory recording a different config is never reused (hash collision / tampering)
    meta["config"]["tau"] = 0.9
    a.meta_path.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="refusing to mix"):
        RunStore(tmp_path, "m", "d", "test", CFG)


def test_atomic_parts_and_temp_files_ignored(tmp_path, monkeypatch):
    s = RunStore(tmp_path, "m", "d", "test", CFG)
    s.append([make_row(i) for i in range(3)])
    for junk in (".part-00001.parquet.tmp-1-abc", "part-00001.parquet.tmp", "notes.txt"):
        (s.dir / junk).write_bytes(b"garbage")
    assert [p.name for p in s.parts()] == ["part-00000.parquet"]
    assert len(s.read()) == 3 and s.done() == {"0", "1", "2"}
    s.append([make_row(3)])
    assert [p.name for p in s.parts()] == ["part-00000.parquet", "part-00001.parquet"]
    # a write that dies midway leaves no part and no temp file behind
    import pidlib.store as store_mod

    def dying_write(table, where, **kw):
        with open(where, "wb") as f:
            f.write(b"PAR1 partial")
        raise OSError("disk full")

    before = set(os.listdir(s.dir))
    monkeypatch.setattr(store_mod.pq, "write_table", dying_write)
    with pytest.raises(OSError, match="disk full"):
        s.append([make_row(9)])
    monkeypatch.undo()
    assert set(os.listdir(s.dir)) == before and "9" not in s.done()
    with pytest.raises(TypeError):
        s.append([{"index": "10", "x1": [object()]}])
    assert set(os.listdir(s.dir)) == before
    s.append([make_row(9)])
    assert "9" in s.done()
    os.remove(s.parts()[-1])
    # duplicates that reach disk anyway (two writers) are detected on read
    import shutil
    shutil.copy(s.dir / "part-00001.parquet", s.dir / "part-00007.parquet")
    with pytest.raises(ValueError, match="stored"):
        RunStore(tmp_path, "m", "d", "test", CFG).read()


def test_atomic_write_text_and_update_meta(tmp_path):
    p = tmp_path / "sub" / "x.json"
    atomic_write_text(p, "one")
    atomic_write_text(p, "two")
    assert p.read_text() == "two" and os.listdir(p.parent) == ["x.json"]
    s = RunStore(tmp_path, "m", "d", "test", CFG)
    s.update_meta(skipped=["d.tsv, row 3: missing option C"])
    assert s.meta()["skipped"] == ["d.tsv, row 3: missing option C"] and s.meta()["config"] == CFG
    with pytest.raises(ValueError, match="key fields"):
        s.update_meta(config={})


def test_from_dir_find_runs_and_safe_names(tmp_path):
    a = RunStore(tmp_path, "llava-hf/llava-1.5-7b-hf", "pope", "test", CFG)
    a.append([make_row(1), make_row(2)])
    RunStore(tmp_path, "/abs/path/to my model", "pope", "fit", CFG)
    assert a.dir.relative_to(tmp_path).parts[:3] == ("llava-hf__llava-1.5-7b-hf", "pope", "test")
    assert safe_name("/abs/path/to my model") != safe_name("/abs/path/to_my model")
    b = RunStore.from_dir(a.dir)
    assert (b.model, b.dataset, b.split, b.hash) == (a.model, a.dataset, a.split, a.hash)
    assert b.done() == {"1", "2"}
    runs = find_runs(tmp_path, dataset="pope")
    assert sorted(r.split for r in runs) == ["fit", "test"]
    assert [r.model for r in find_runs(tmp_path, split="fit")] == ["/abs/path/to my model"]
    with pytest.raises(FileNotFoundError):
        RunStore.from_dir(tmp_path)


def test_noise_stats_roundtrip(tmp_path):
    t = {"mu_image": torch.randn(5), "sigma_image": torch.rand(5, dtype=torch.float64),
         "mu_text": np.arange(3, dtype=np.float32), "sigma_text": torch.ones(3, dtype=torch.bfloat16)}
    meta = {"model": "m", "split": "fit", "n_image_tokens": 1234, "unbiased": False}
    path = save_noise_stats(tmp_path, t, meta)
    assert path.name == "noise_stats.safetensors" and os.listdir(tmp_path) == [path.name]
    got, m = load_noise_stats(tmp_path)
    assert torch.equal(got["mu_image"], t["mu_image"]) and got["sigma_image"].dtype == torch.float64
    assert torch.equal(got["mu_text"], torch.arange(3, dtype=torch.float32))
    assert got["sigma_text"].dtype == torch.float32 and torch.equal(got["sigma_text"], torch.ones(3))
    assert {k: m[k] for k in meta} == meta and "versions" in m["provenance"]
    gn, _ = load_noise_stats(path, framework="np")
    assert isinstance(gn["mu_text"], np.ndarray)
    with pytest.raises(FileNotFoundError):
        load_noise_stats(tmp_path / "nowhere")


def test_two_handles_never_duplicate(tmp_path):
    a = RunStore(tmp_path, "m", "d", "test", CFG)
    b = RunStore(tmp_path, "m", "d", "test", CFG)
    assert a.done() == b.done() == set()
    a.append([make_row(0), make_row(1)])
    with pytest.raises(ValueError, match="already stored"):
        b.append([make_row(1), make_row(2)])  # b's view was stale; the store re-checks
    b.append([make_row(2)])
    assert [p.name for p in a.parts()] == ["part-00000.parquet", "part-00001.parquet"]
    assert list(a.read()["index"]) == ["0", "1", "2"]


def test_parts_carry_their_run_and_checksums(tmp_path):
    import pyarrow.parquet as pq

    s = RunStore(tmp_path, "m", "d", "test", CFG, data_id="ab" * 16)
    part = s.append([make_row(0), make_row(1)])
    kv = pq.ParquetFile(part).metadata.metadata
    assert kv[b"pidlib.config_hash"] == s.hash.encode() and kv[b"pidlib.data_id"] == s.data_id.encode()
    assert kv[b"pidlib.split"] == b"test" and s.dir.name == f"{s.hash}-{'ab' * 6}"
    assert s.meta()["store_version"] == 2 and s.meta()["data_id"] == "ab" * 16
    # same config, other data: another directory, and its parts are foreign here
    t = RunStore(tmp_path, "m", "d", "test", CFG, data_id="cd" * 16)
    assert t.dir != s.dir
    other = t.append([make_row(5)])
    import shutil
    shutil.copy(other, s.dir / "part-00003.parquet")
    fresh = RunStore.from_dir(s.dir)
    with pytest.warns(UserWarning, match="part-00003.parquet: belongs to another run"):
        assert fresh.done() == {"0", "1"}
    with fresh.lock():                                  # a writer moves it aside and says why
        with pytest.warns(UserWarning, match="quarantined part-00003.parquet"):
            assert fresh.done() == {"0", "1"}
    assert (s.dir / "quarantine" / "part-00003.parquet").is_file()
    assert fresh.meta()["quarantined"][0]["part"] == "part-00003.parquet"


def test_one_writer_at_a_time(tmp_path):
    from pidlib.store import RunLockedError

    a = RunStore(tmp_path, "m", "d", "test", CFG)
    b = RunStore(tmp_path, "m", "d", "test", CFG)
    a.acquire()
    with pytest.raises(RunLockedError, match=f"being written by process {os.getpid()}"):
        b.acquire()
    with pytest.raises(RunLockedError):
        b.append([make_row(0)])                       # append takes the lock too
    a.append([make_row(1)])                           # the holder writes
    a.release()
    b.append([make_row(0)])
    assert b.done() == {"0", "1"} and not b.locked
    import threading
    a.acquire()
    threading.Timer(0.5, a.release).start()
    with b.lock(wait=10):                             # waits for the holder
        assert b.locked
    assert not b.locked


def test_legacy_runs_without_key_metadata_still_read(tmp_path):
    import pyarrow.parquet as pq

    from pidlib.store import _rows_to_table

    s = RunStore(tmp_path, "m", "d", "test", CFG)
    meta = s.meta()
    del meta["store_version"]
    s.meta_path.write_text(json.dumps(meta))
    pq.write_table(_rows_to_table([make_row(3)]), s.dir / "part-00000.parquet")   # the old writer's part
    r = RunStore.from_dir(s.dir)
    assert r.done() == {"3"} and len(r.read()) == 1


def test_file_digests_are_cached_as_json(tmp_path):
    from pidlib.io import DigestCache, file_digest

    f = tmp_path / "w.bin"
    f.write_bytes(b"\0" * 5000)
    cache = DigestCache(tmp_path / "c.json")
    d = file_digest(f, cache=cache)
    entry = json.loads((tmp_path / "c.json").read_text())["files"][str(f.resolve())]
    assert entry["digest"] == d and entry["stat"][0] == 5000
    entry["digest"] = "cached-answer"                  # the cache is what answers while the file is unchanged
    (tmp_path / "c.json").write_text(json.dumps({"version": 1, "digest": "blake2b-256",
                                                 "files": {str(f.resolve()): entry}}))
    assert file_digest(f, cache=DigestCache(tmp_path / "c.json")) == "cached-answer"
    f.write_bytes(b"\1" + b"\0" * 4999)                 # same size: stat changes, the file is hashed again
    assert file_digest(f, cache=DigestCache(tmp_path / "c.json")) not in ("cached-answer", d)
    (tmp_path / "c.json").write_text("not json")       # a damaged cache is an empty one
    assert len(file_digest(f, cache=DigestCache(tmp_path / "c.json"))) == 64
