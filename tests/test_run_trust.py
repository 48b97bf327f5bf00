"""Issue 12: runs you can trust with real benchmarks.

Each test reproduces one failure of the issue on real files (an MMBench-format dev TSV with
a ``split`` column saying ``dev``, a tiny random-init Llava saved with ``save_pretrained``)
through the README's commands or :func:`pidlib.run`:

- the README's first command (no ``--split``) on the dev file: one run over the file; any
  spelling of the model folder is the same run;
- kill -9 and resume; a concurrent second writer; a part from another run and a corrupt
  part; a finished run on a read-only disk;
- an edited weight file (one byte in the middle of a > 2 MiB file, size and mtime kept) and
  an edited tokenizer / chat-template file; ``world:`` specs with n=500 and n=60;
- a model whose weights are NaN; an adapter/model that ignores the image;
- out-of-range options and other user errors: one ``error:`` line, exit status 2.
"""
from __future__ import annotations

import base64
import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

from pidlib.cli import main  # noqa: E402

MM_HEADER = ["index", "question", "hint", "A", "B", "C", "D", "answer", "category", "l2-category", "split",
             "image"]
QUESTIONS = [("What color is the circle ?", ["red", "green", "blue", "yellow"]),
             ("How many shapes are there ?", ["one", "two", "three", ""]),
             ("What shape is on the left ?", ["circle", "square", "triangle", "yes"]),
             ("Is there a red square ?", ["yes", "no", "", ""])]
ENV = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")


def png_b64(rng, h=16, w=20) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray((rng.rand(h, w, 3) * 255).astype("uint8")).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def write_mmbench_dev(path: Path, n: int, seed: int = 0) -> Path:
    """An MMBench dev TSV in VLMEvalKit's layout: base64 images, circular duplicates that
    refer to the first image by index, split = dev."""
    rng = np.random.RandomState(seed)
    rows = []
    for i in range(n):
        q, opts = QUESTIONS[i % len(QUESTIONS)]
        k = sum(1 for o in opts if o)
        image = png_b64(rng) if i % 5 != 4 else str(i - 1)      # every 5th row reuses the previous image
        rows.append([str(i), q, "A toy scene." if i % 3 == 0 else "", *opts, "ABCD"[i % k],
                     "attribute_recognition", "finegrained_perception (instance-level)", "dev", image])
    with open(path, "w", newline="") as f:
        w = csv.writer(f, delimiter="\t")
        w.writerow(MM_HEADER)
        w.writerows(rows)
    return path


def save_tiny_llava(path: Path, seed: int = 1, hidden: int = 32) -> Path:
    from pidlib.models.tiny import tiny_llava

    model, proc = tiny_llava(seed=seed, hidden=hidden)
    model.save_pretrained(path)
    proc.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """A tiny Llava with a > 2 MiB weight file and an MMBench dev TSV, in one folder."""
    root = tmp_path_factory.mktemp("trust")
    save_tiny_llava(root / "model", hidden=192)
    write_mmbench_dev(root / "MMBench_DEV_EN.tsv", 10)
    return root


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PIDLIB_CACHE_DIR", str(tmp_path / "cache"))


def _runs(out):
    from pidlib.store import find_runs
    return find_runs(out)


# ----------------------------------------------------------------------------- the first command
def test_readme_first_command_on_the_mmbench_dev_file(env, tmp_path, monkeypatch, capsys):
    """`pidlib run --model M --dataset mmbench:MMBench_DEV_EN.tsv --out runs` (no --split) on a
    dev file whose split column says `dev`: one run over every row."""
    monkeypatch.chdir(tmp_path)
    shutil.copy(env / "MMBench_DEV_EN.tsv", "MMBench_DEV_EN.tsv")
    os.symlink(env / "model", "M")
    assert main("run --model M --dataset mmbench:MMBench_DEV_EN.tsv --out runs --no-progress".split()) == 0
    (run,) = _runs("runs")
    assert run.split == "all" and sorted(run.done(), key=int) == [str(i) for i in range(10)]
    m = run.meta()
    assert m["status"] == "complete" and m["model"] == os.path.realpath(env / "model")
    assert m["data"]["n_samples"] == 10 and m["data"]["split"] is None and m["data_id"] == run.data_id
    assert m["data"]["sources"][0]["files"][0]["path"] == str((tmp_path / "MMBench_DEV_EN.tsv").resolve())
    assert m["noise_stats"]["n_samples"] == 10 and m["noise_stats"]["rows"] == "the run's own rows"
    assert m["config"]["noise_fit"]["data_id"] == run.data_id      # the run holds its noise rows
    assert {f["file"] for f in m["model_files"]} >= {"model.safetensors", "tokenizer.json", "chat_template.jinja",
                                                     "processor_config.json", "config.json"}
    df = run.read()
    assert np.allclose(np.stack(df["p_full"]).sum(1), 1, atol=1e-5) and set(df["n_options"]) == {2, 3, 4}
    assert "1 row" not in capsys.readouterr().err
    # ... and `pidlib spectrum runs --json` splits that one run's rows into fit and eval itself
    assert main("spectrum runs --json --n-boot 0".split()) == 0
    (res,) = json.loads(capsys.readouterr().out)
    assert res["n_fit"] == 5 and res["n_eval"] == 5 and "seeded random split" in res["split"]
    assert res["config"]["hash"] == run.hash and res["config"]["probes"] == "noise" and res["config"]["tau"] == 0.3
    assert np.isfinite(res["total"]) and res["error_vs_reference"] is None   # not world rows: no reference
    # the same model by other spellings (./M/, the real path) is the same run: nothing to do
    for spelling in ("./M/", str(env / "model")):
        assert main(["run", "--model", spelling, "--dataset", "mmbench:MMBench_DEV_EN.tsv", "--out", "runs",
                     "--no-progress"]) == 0
        assert "nothing to do" in capsys.readouterr().out
    assert len(_runs("runs")) == 1
    # --split dev still selects by the split column; a file without one rejects --split
    assert main(["run", "--model", "M", "--dataset", "mmbench:MMBench_DEV_EN.tsv", "--out", "runs", "--split", "fit",
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "no samples of split 'fit'" in err and "['dev']" in err


def test_library_call_with_run_info_and_a_fit_file(env, tmp_path):
    """pidlib.run is the CLI's run; run_info labels land in meta.json; --fit-dataset takes the
    noise statistics from another file, and both runs share the config hash."""
    import pidlib

    write_mmbench_dev(tmp_path / "fit.tsv", 6, seed=3)
    a = pidlib.run(str(env / "model"), f"mmbench:{tmp_path / 'fit.tsv'}", tmp_path / "runs", progress=False,
                   run_info={"task": "MMBench", "family": "llava", "kind": "user"})
    b = pidlib.run(str(env / "model"), f"mmbench:{env / 'MMBench_DEV_EN.tsv'}", tmp_path / "runs", progress=False,
                   fit_dataset=f"mmbench:{tmp_path / 'fit.tsv'}")
    assert a.n_new == 6 and b.n_new == 10 and not a.warnings
    ma, mb = a.meta, b.meta
    assert ma["task"] == "MMBench" and ma["family"] == "llava" and ma["run_info"]["kind"] == "user"
    assert a.store.hash == b.store.hash and a.store.data_id != b.store.data_id
    assert mb["config"]["noise_fit"]["data_id"] == a.store.data_id
    assert mb["noise_stats"]["how"].startswith("reused from") and mb["noise_stats"]["n_samples"] == 6
    with pytest.raises(ValueError, match="run_info"):
        pidlib.run(str(env / "model"), f"mmbench:{tmp_path / 'fit.tsv'}", tmp_path / "runs2", progress=False,
                   run_info={"colour": "red"})


# ----------------------------------------------------------------------------- kills, writers, parts
def _cli(*args):
    return [sys.executable, "-m", "pidlib.cli", "run", *args]


def test_kill_minus_nine_and_resume(env, tmp_path):
    import pidlib

    write_mmbench_dev(tmp_path / "big.tsv", 24, seed=5)
    spec = f"mmbench:{tmp_path / 'big.tsv'}"
    args = ["--model", str(env / "model"), "--dataset", spec, "--out", str(tmp_path / "runs"), "--batch-size", "1",
            "--no-progress"]
    proc = subprocess.Popen(_cli(*args), env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and not list((tmp_path / "runs").rglob("part-00001.parquet")):
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    (run,) = _runs(tmp_path / "runs")
    n_killed = len(run.done())
    assert 2 <= n_killed < 24 and run.meta()["status"] == "running"
    res = pidlib.run(str(env / "model"), spec, tmp_path / "runs", batch_size=5, progress=False)   # resume
    assert res.n_done_before == n_killed and res.n_new == 24 - n_killed and res.dir == run.dir
    df = run.read()
    assert list(df["index"]) == [str(i) for i in range(24)] and run.meta()["status"] == "complete"
    ref = pidlib.run(str(env / "model"), spec, tmp_path / "ref", batch_size=7, progress=False)
    want = ref.store.read()
    for col in ("p_full", "p_vis", "p_lang", "x1"):
        np.testing.assert_allclose(np.stack(df[col]), np.stack(want[col]), atol=2e-5, err_msg=col)


def test_a_second_writer_stops_or_waits(env, tmp_path, capsys):
    """Two writers at once on the same run (two threads, each with its own lock file
    descriptor: flock treats them as two processes): each sample is stored once. A second
    writer stops with a message naming the holder (default) or waits (--wait)."""
    import threading

    import pidlib
    from pidlib.store import RunStore

    spec = f"mmbench:{env / 'MMBench_DEV_EN.tsv'}"
    results, errors = [], []

    def writer():
        try:
            results.append(pidlib.run(str(env / "model"), spec, tmp_path / "runs", batch_size=1, progress=False,
                                      wait=120))
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=writer) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not errors and len(results) == 2
    assert sorted(r.noop for r in results) == [False, True]      # the second found the run complete
    (run,) = _runs(tmp_path / "runs")
    assert list(run.read()["index"]) == [str(i) for i in range(10)]
    # a holder that does not let go: the second writer stops at once, naming the holder
    os.remove(run.parts()[-1])                                   # something left to do
    args = ["run", "--model", str(env / "model"), "--dataset", spec, "--out", str(tmp_path / "runs"), "--no-progress"]
    holder = RunStore.from_dir(run.dir)
    holder.acquire()
    capsys.readouterr()
    try:
        assert main(args) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"being written by process {os.getpid()}" in err
        threading.Timer(1.0, holder.release).start()
        assert main(args + ["--wait", "30"]) == 0                 # waits for the holder, then resumes
        assert "9 already stored, 1 new" in capsys.readouterr().out
    finally:
        holder.release()
    assert len(RunStore.from_dir(run.dir).read()) == 10


def test_foreign_and_corrupt_parts_are_named_and_quarantined(env, tmp_path, capsys):
    args = ["run", "--model", str(env / "model"), "--dataset", f"mmbench:{env / 'MMBench_DEV_EN.tsv'}",
            "--out", str(tmp_path / "runs"), "--batch-size", "4", "--no-progress"]
    assert main(args) == 0
    assert main(args + ["--tau", "0.5"]) == 0                     # another run (another config)
    a, b = sorted(_runs(tmp_path / "runs"), key=lambda r: r.config["tau"])
    parts = a.parts()
    assert len(parts) == 3
    shutil.copy(b.parts()[0], a.dir / "part-00007.parquet")       # a foreign part
    data = bytearray(parts[1].read_bytes())                       # a flipped byte in a data page
    data[len(data) // 3] ^= 0x5A
    parts[1].write_bytes(bytes(data))
    with pytest.warns(UserWarning) as rec:                        # a reader names and skips them
        got = a.read()
    text = " ".join(str(w.message) for w in rec)
    assert "part-00007.parquet: belongs to another run" in text and "part-00001.parquet: unreadable" in text
    assert len(got) == 6
    assert main(args) == 0                                        # the writer quarantines and resumes
    capsys.readouterr()
    from pidlib.store import RunStore

    s = RunStore.from_dir(a.dir)
    assert list(s.read()["index"]) == [str(i) for i in range(10)]
    q = {x["part"]: x["problem"] for x in s.meta()["quarantined"]}
    assert set(q) == {"part-00001.parquet", "part-00007.parquet"}
    assert sorted(p.name for p in (a.dir / "quarantine").iterdir()) == ["part-00001.parquet", "part-00007.parquet"]


def test_a_finished_run_on_a_read_only_disk_is_a_no_op(env, tmp_path, monkeypatch, capsys):
    """Every write under the run store or the cache fails (EROFS, as on a read-only mount):
    rerunning a finished run succeeds without writing."""
    import builtins
    import errno

    out = tmp_path / "runs"
    args = ["run", "--model", str(env / "model"), "--dataset", f"mmbench:{env / 'MMBench_DEV_EN.tsv'}",
            "--out", str(out), "--no-progress"]
    assert main(args) == 0
    capsys.readouterr()
    guarded = (str(out), str(tmp_path / "cache"))

    def ro(path):
        return os.path.abspath(os.fspath(path)).startswith(guarded)

    def refuse(path):
        raise OSError(errno.EROFS, "Read-only file system", os.fspath(path))

    real_open, real_os_open = builtins.open, os.open

    def fake_open(file, mode="r", *a, **k):
        if isinstance(file, (str, os.PathLike)) and ro(file) and any(c in mode for c in "wax+"):
            refuse(file)
        return real_open(file, mode, *a, **k)

    def fake_os_open(path, flags, *a, **k):
        if ro(path) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            refuse(path)
        return real_os_open(path, flags, *a, **k)

    monkeypatch.setattr(builtins, "open", fake_open)
    monkeypatch.setattr(os, "open", fake_os_open)
    for name in ("mkdir", "makedirs", "replace", "rename", "link", "unlink", "remove", "rmdir"):
        real = getattr(os, name)
        monkeypatch.setattr(os, name, (lambda real: lambda p, *a, **k: refuse(p) if ro(p) else real(p, *a, **k))(real))
    assert main(args) == 0
    assert "nothing to do" in capsys.readouterr().out
    # an unfinished run on the same disk fails with one error line
    assert main(args + ["--tau", "0.4"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot write") and err.count("\n") == 1


# ----------------------------------------------------------------------------- the run key
def _flip_middle_byte_keep_stat(path: Path) -> None:
    st = path.stat()
    with open(path, "r+b") as f:
        f.seek(st.st_size // 2)
        b = f.read(1)
        f.seek(st.st_size // 2)
        f.write(bytes([b[0] ^ 0x01]))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns


def test_edited_weights_and_tokenizer_files_give_new_runs(env, tmp_path, capsys):
    from pidlib.models.identity import model_fingerprint

    model = tmp_path / "model"
    shutil.copytree(env / "model", model)
    weights = model / "model.safetensors"
    assert weights.stat().st_size > 2 << 20
    args = ["run", "--model", str(model), "--dataset", f"mmbench:{env / 'MMBench_DEV_EN.tsv'}",
            "--out", str(tmp_path / "runs"), "--limit", "3", "--no-progress"]
    assert main(args) == 0
    fp0 = model_fingerprint(str(model))
    _flip_middle_byte_keep_stat(weights)       # one weight in the middle: same size, same mtime
    fp1 = model_fingerprint(str(model))
    assert fp1 != fp0
    assert main(args) == 0                     # a new run, not the old rows
    assert "3 new" in capsys.readouterr().out and len(_runs(tmp_path / "runs")) == 2
    seen = {fp1}
    for name, edit in (("tokenizer_config.json", lambda t: t.replace('"<s>"', '"<s>" ', 1)),
                       ("chat_template.jinja", lambda t: t.replace("ASSISTANT:", "ASSISTANT :")),
                       ("processor_config.json", lambda t: t.replace("}", ' }', 1))):
        p = model / name
        p.write_text(edit(p.read_text()))
        fp = model_fingerprint(str(model))
        assert fp not in seen, name
        seen.add(fp)
    # unchanged files are read once: the digest cache answers (a JSON file, no pickle)
    cache = json.loads((tmp_path / "cache" / "file-digests.json").read_text())
    assert str(weights.resolve()) in cache["files"]
    (model / "README.md").write_text("notes")  # documentation does not change the numbers
    assert model_fingerprint(str(model)) == fp


def test_world_specs_key_on_every_parameter(env, tmp_path):
    """n=500 and n=60 are different data (today they shared a run and its noise statistics);
    n=500 limited to its first 60 samples is the n=60 data (the world draws sample i alike)."""
    from pidlib.data.identity import samples_identity
    from pidlib.data.loaders import load_dataset

    big = load_dataset("world:color?n=500&seed=0&split=eval")
    small = load_dataset("world:color?n=60&seed=0&split=eval")
    assert samples_identity(big.samples) != samples_identity(small.samples)
    assert samples_identity(big.samples[:60]) == samples_identity(small.samples)
    assert samples_identity(load_dataset("world:color?n=60&seed=1&split=eval").samples) != \
        samples_identity(small.samples)
    import pidlib

    out = tmp_path / "runs"
    r8 = pidlib.run(str(env / "model"), "world:color?n=8&seed=0", out, progress=False)
    r5 = pidlib.run(str(env / "model"), "world:color?n=5&seed=0", out, progress=False)
    assert r8.dir != r5.dir and r8.n_rows == 8 and r5.n_new == 5
    assert r8.meta["noise_stats"]["n_samples"] == 8 and r5.meta["noise_stats"]["n_samples"] == 5
    same = pidlib.run(str(env / "model"), "world:color?n=8&seed=0", out, progress=False, limit=5)
    assert same.dir == r5.dir and same.noop


def test_an_edited_data_file_with_the_same_name_is_a_new_run(env, tmp_path, capsys):
    tsv = write_mmbench_dev(tmp_path / "MMBench_DEV_EN.tsv", 4)
    args = ["run", "--model", str(env / "model"), "--dataset", f"mmbench:{tsv}", "--out", str(tmp_path / "runs"),
            "--no-progress"]
    assert main(args) == 0
    text = tsv.read_text().replace("What color is the circle ?", "What colour is the circle ?")
    tsv.write_text(text)
    assert main(args) == 0
    assert "4 new" in capsys.readouterr().out
    runs = _runs(tmp_path / "runs")
    assert len(runs) == 2 and len({r.data_id for r in runs}) == 2
    for r in runs:   # each meta.json names the file digest its rows came from
        (src,) = r.meta()["data"]["sources"]
        assert src["files"][0]["path"] == str(tsv.resolve())
    assert {r.meta()["data"]["sources"][0]["files"][0]["digest"] for r in runs}.__len__() == 2


# ----------------------------------------------------------------------------- bad output
def test_a_nan_model_stops_with_an_error_naming_model_sample_and_probe(env, tmp_path, capsys):
    from transformers import LlavaForConditionalGeneration

    nan_lm = tmp_path / "nan-lm"
    shutil.copytree(env / "model", nan_lm)
    m = LlavaForConditionalGeneration.from_pretrained(nan_lm)
    with torch.no_grad():
        m.lm_head.weight.fill_(float("nan"))
    m.save_pretrained(nan_lm)
    out = tmp_path / "runs"
    args = ["run", "--model", str(nan_lm), "--dataset", f"mmbench:{env / 'MMBench_DEV_EN.tsv'}", "--out", str(out),
            "--no-progress"]
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(nan_lm) in err
    assert "NaN or infinite logits for sample '0', probe full" in err
    (run,) = _runs(out)
    assert run.parts() == [] and run.meta()["status"] == "running"   # nothing stored, run not complete

    nan_vision = tmp_path / "nan-vision"                            # NaN image features: noise statistics
    shutil.copytree(env / "model", nan_vision)
    m = LlavaForConditionalGeneration.from_pretrained(nan_vision)
    with torch.no_grad():
        m.model.multi_modal_projector.linear_2.bias.fill_(float("nan"))
    m.save_pretrained(nan_vision)
    capsys.readouterr()
    assert main([*args[:2], str(nan_vision), *args[3:]]) == 2
    err = capsys.readouterr().err
    assert "non-finite image features for sample '0', probe noise statistics" in err


def test_a_model_that_ignores_the_image_gets_a_warning(env, tmp_path, capsys):
    """A projector of zeros feeds the language model nothing from the image: full and
    language-only probes agree on every sample; the run warns and meta.json says so."""
    from transformers import LlavaForConditionalGeneration

    blind = tmp_path / "blind"
    shutil.copytree(env / "model", blind)
    m = LlavaForConditionalGeneration.from_pretrained(blind)
    with torch.no_grad():
        for p in m.model.multi_modal_projector.parameters():
            p.zero_()
    m.save_pretrained(blind)
    capsys.readouterr()
    args = ["run", "--model", str(blind), "--dataset", f"mmbench:{env / 'MMBench_DEV_EN.tsv'}",
            "--out", str(tmp_path / "runs"), "--no-progress"]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "warning: the image changes no sample's distribution" in err
    (run,) = _runs(tmp_path / "runs")
    m = run.meta()
    assert m["input_effect"]["image_changes_output"] == 0 and m["input_effect"]["question_changes_output"] == 10
    assert len(m["warnings"]) == 1 and "image" in m["warnings"][0]
    # the untouched model has no such warning
    ok = tmp_path / "runs-ok"
    assert main(["run", "--model", str(env / "model"), *args[3:5], "--out", str(ok), "--no-progress"]) == 0
    assert "warning" not in capsys.readouterr().err
    assert _runs(ok)[0].meta()["warnings"] == []


# ----------------------------------------------------------------------------- user errors
@pytest.mark.parametrize("extra, fragment", [
    (["--tau", "1.5"], "argument --tau: must be in [0, 1]"),
    (["--tau", "nan"], "argument --tau: must be in [0, 1]"),
    (["--limit", "0"], "argument --limit/--n-samples: must be >= 1"),
    (["--batch-size", "0"], "argument --batch-size: must be >= 1"),
    (["--noise-draws", "0"], "argument --noise-draws: must be >= 1"),
    (["--donors", "-1"], "argument --donors: must be >= 0"),
    (["--seed", "-3"], "argument --seed: must be >= 0"),
    (["--wait", "-1"], "argument --wait: must be >= 0"),
    (["--dtype", "int8"], "argument --dtype: invalid choice"),
    (["--device", "gpu7"], "device 'gpu7' is not a torch device"),
    (["--donors", "2", "--noise-draws", "2"], "donors cannot be combined"),
])
def test_out_of_range_options_give_one_error_line(env, tmp_path, capsys, extra, fragment):
    args = ["run", "--model", str(env / "model"), "--dataset", f"mmbench:{env / 'MMBench_DEV_EN.tsv'}",
            "--out", str(tmp_path / "runs"), "--no-progress", *extra]
    try:
        rc = main(args)
    except SystemExit as e:   # argparse
        rc = e.code
    assert rc == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and err.count("\n") == 1 and fragment in err, err
    assert not (tmp_path / "runs").exists()


def test_other_user_errors_give_one_error_line(env, tmp_path, capsys):
    (tmp_path / "pope").mkdir()
    from PIL import Image
    Image.new("RGB", (8, 8)).save(tmp_path / "a.jpg")
    (tmp_path / "p.jsonl").write_text(json.dumps({"question_id": 1, "image": "a.jpg", "text": "Is it?",
                                                  "label": "yes"}) + "\n")
    cases = [
        (["--model", str(tmp_path / "no-such-model")], "no-such-model"),
        (["--dataset", f"pope:{tmp_path / 'pope'}"], "is a directory; give the pope annotation file"),
        (["--dataset", f"pope:{tmp_path / 'p.jsonl'}", "--split", "fit"], "the rows carry no split"),
        (["--dataset", f"pope:{tmp_path / 'p.jsonl'}@{tmp_path / 'pope'}"], "image file missing"),
    ]
    for change, fragment in cases:
        args = {"--model": str(env / "model"), "--dataset": f"mmbench:{env / 'MMBench_DEV_EN.tsv'}",
                "--out": str(tmp_path / "runs")}
        extra = []
        for k, v in zip(change[::2], change[1::2]):
            if k in args:
                args[k] = v
            else:
                extra += [k, v]
        argv = ["run", *[x for kv in args.items() for x in kv], "--no-progress", *extra]
        assert main(argv) == 2, change
        err = capsys.readouterr().err
        assert err.startswith("error:") and err.count("\n") == 1 and fragment in err, (change, err)


def test_torchvision_error_names_all_five_families(monkeypatch, tmp_path):
    from transformers import AutoProcessor

    from pidlib.models import AdapterError, load_adapter

    save_tiny_llava(tmp_path / "m")

    def no_torchvision(*a, **k):
        raise ImportError("Qwen2VLImageProcessor requires the Torchvision library but it was not found")

    monkeypatch.setattr(AutoProcessor, "from_pretrained", no_torchvision)
    with pytest.raises(AdapterError) as e:
        load_adapter(str(tmp_path / "m"))
    msg = str(e.value)
    for family in ("Qwen2-VL", "Qwen2.5-VL", "LLaVA-OneVision", "InternVL", "SmolVLM"):
        assert family in msg
    assert "torchvision" in msg and "matches your torch" in msg


def test_donor_probes_on_mixed_option_counts_stay_on_the_samples_letters(env, tmp_path):
    """MMBench mixes 2-, 3- and 4-option questions: donors come from samples with the same
    number of options, so no donor distribution puts mass past a sample's own letters."""
    import pidlib
    from pidlib.analysis.spectra import run_arrays

    r = pidlib.run(str(env / "model"), f"mmbench:{env / 'MMBench_DEV_EN.tsv'}", tmp_path / "runs", donors=2,
                   progress=False)
    df = r.store.read()
    arr = run_arrays(df, "donors")                     # the analysis' own row checks pass
    k = df["n_options"].to_numpy()
    for col in ("p_vis", "p_lang"):
        p = arr[col]
        assert np.all(p[np.arange(p.shape[1])[None, :] >= k[:, None]] == 0), col
    assert r.meta["config"]["donor_pool"] == "same number of options"
    one = write_mmbench_dev(tmp_path / "one.tsv", 4)   # one 3-option and one 2-option sample
    with pytest.raises(Exception, match="only one with 3 options"):
        pidlib.run(str(env / "model"), f"mmbench:{one}", tmp_path / "runs", donors=2, progress=False)
