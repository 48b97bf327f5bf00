"""Issue 13: past one GPU, on CPU.

- a device map that splits a tiny model's layers (half on the CPU, half offloaded to disk;
  also ``auto``) gives the rows of the single-device run, with the logit lens, and the same
  run key (the map changes no number);
- two processes under ``torchrun`` (gloo) shard the samples, write their own parts into the
  same run under the store's lock, resume per rank (rank 0 ran alone before), and the
  finished run equals the one-process run sample for sample;
- ``--dry-run`` prints the exact prompt and the option token ids without loading weights.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

import pidlib  # noqa: E402
from pidlib.cli import main  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from test_run_trust import save_tiny_llava, write_mmbench_dev  # noqa: E402

BIN = Path(sys.executable).parent
ENV = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
COLS = ("x1", "x2", "p_full", "p_vis", "p_lang", "mass_full", "mass_vis", "mass_lang", "lens_full", "lens_vis",
        "lens_lang")

SPLIT_MAP = {"model.vision_tower": "cpu", "model.multi_modal_projector": "cpu",
             "model.language_model.embed_tokens": "cpu", "model.language_model.rotary_emb": "cpu",
             "model.language_model.layers.0": "cpu", "model.language_model.layers.1": "disk",
             "model.language_model.norm": "disk", "lm_head": "disk"}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("scale")
    save_tiny_llava(root / "model")
    write_mmbench_dev(root / "dev.tsv", 9)
    return root


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PIDLIB_CACHE_DIR", str(tmp_path / "cache"))


def _same_rows(a, b, atol=1e-6):
    da, db = a.store.read(), b.store.read()
    assert list(da["index"]) == list(db["index"]) and len(da) > 0
    assert list(da["pred"]) == list(db["pred"])
    for c in COLS:
        if c in da.columns:
            np.testing.assert_allclose(np.stack(da[c]) if da[c].dtype == object else da[c],
                                       np.stack(db[c]) if db[c].dtype == object else db[c], atol=atol, err_msg=c)


def test_a_device_map_splitting_the_layers_gives_the_single_device_rows(env, tmp_path):
    kw = dict(layers=True, batch_size=4, progress=False, verbose=False)
    one = pidlib.run(str(env / "model"), f"mmbench:{env / 'dev.tsv'}", tmp_path / "one", **kw)
    split = pidlib.run(str(env / "model"), f"mmbench:{env / 'dev.tsv'}", tmp_path / "split",
                       device_map=json.dumps(SPLIT_MAP), offload_folder=str(tmp_path / "offload"), **kw)
    auto = pidlib.run(str(env / "model"), f"mmbench:{env / 'dev.tsv'}", tmp_path / "auto", device_map="auto", **kw)
    # the map is part of nothing that changes numbers: same run key
    assert one.dir.relative_to(tmp_path / "one") == split.dir.relative_to(tmp_path / "split") \
        == auto.dir.relative_to(tmp_path / "auto")
    _same_rows(one, split)
    _same_rows(one, auto)
    assert split.meta["adapter"]["device_map"]["lm_head"] == "disk"
    assert "device_map" not in json.dumps(split.meta["config"])
    # ... but the dtype is
    bf = pidlib.run(str(env / "model"), f"mmbench:{env / 'dev.tsv'}", tmp_path / "bf", dtype="bf16", limit=2,
                    progress=False, verbose=False)
    assert bf.meta["config"]["dtype"] == "bfloat16" and bf.meta["config_hash"] != one.meta["config_hash"]


def test_lens_hooks_gather_states_from_layers_on_other_devices():
    """Captured states land on the final norm's execution device, whatever the layer's."""
    from pidlib.probes.lens import capture_last_position

    layers = torch.nn.ModuleList([torch.nn.Linear(3, 3), torch.nn.Linear(3, 3)])
    with capture_last_position(layers, torch.device("meta")) as st:
        h = torch.randn(2, 4, 3)
        for lay in layers:
            h = lay(h)
    assert all(s.device.type == "meta" and s.shape == (2, 3) for s in st)


@pytest.mark.parametrize("extra, fragment", [
    (["--device-map", "everywhere"], "device map 'everywhere'"),
    (["--device-map", '{"lm_head": [1]}'], "is not a device"),
    (["--max-memory", "0=10GiB"], "max_memory needs a device map"),
    (["--device-map", "auto", "--max-memory", "zero"], "expected DEVICE=AMOUNT"),
])
def test_bad_device_map_options_give_one_error_line(env, tmp_path, capsys, extra, fragment):
    code = main(["run", "--model", str(env / "model"), "--dataset", f"mmbench:{env / 'dev.tsv'}", "--out",
                 str(tmp_path / "o"), "--no-progress", *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error:") and fragment in err[0], err


def test_two_ranks_under_torchrun_equal_the_one_process_run(env, tmp_path):
    model, data = str(env / "model"), f"mmbench:{env / 'dev.tsv'}"
    kw = dict(batch_size=2, progress=False, verbose=False)
    one = pidlib.run(model, data, tmp_path / "one", **kw)
    # rank 0 of 2 ran alone first (e.g. the job was preempted): its shard and the noise statistics
    r0 = pidlib.run(model, data, tmp_path / "multi", shard=(0, 2), **kw)
    assert r0.meta["status"] == "incomplete" and r0.n_new == 5 and r0.n_rows == 5
    assert all(p.name.startswith("part-r000-") for p in r0.store.parts())
    # the whole job under torchrun: rank 0 resumes (nothing left), rank 1 probes its shard
    cmd = [str(BIN / "torchrun"), "--standalone", "--nproc-per-node", "2", str(BIN / "pidlib"), "run",
           "--model", model, "--dataset", data, "--out", str(tmp_path / "multi"), "--batch-size", "2",
           "--no-progress"]
    proc = subprocess.run(cmd, env=dict(ENV, PIDLIB_CACHE_DIR=str(tmp_path / "cache")), capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "5 already stored, 0 new" in proc.stdout and "0 already stored, 4 new" in proc.stdout, proc.stdout
    from pidlib.store import RunStore

    st = RunStore.from_dir(r0.dir)
    m = st.meta()
    assert m["status"] == "complete" and sorted(m["ranks"]) == ["0", "1"] and m["world_size"] == 2
    assert {p.name[:10] for p in st.parts()} == {"part-r000-", "part-r001-"}
    assert r0.dir.relative_to(tmp_path / "multi") == one.dir.relative_to(tmp_path / "one")
    _same_rows(one, type(one)(st.dir, st, 0, 0, 9, [], [], True, m))
    # a finished multi-rank run is a no-op for any rank, and for a plain process
    again = pidlib.run(model, data, tmp_path / "multi", shard=(1, 2), **kw)
    assert again.noop and again.n_rows == 9


def test_dry_run_prints_the_prompt_and_option_ids_without_loading_weights(env, tmp_path, capsys, monkeypatch):
    import transformers

    from pidlib.data import load_dataset
    from pidlib.models import adapter_for
    from pidlib.models.tiny import tiny_llava

    def no_weights(*a, **k):
        raise AssertionError("dry run loaded the weights")

    monkeypatch.setattr(transformers.LlavaForConditionalGeneration, "from_pretrained", no_weights)
    out = tmp_path / "never"
    assert main(["run", "--model", str(env / "model"), "--dataset", f"mmbench:{env / 'dev.tsv'}", "--out", str(out),
                 "--dry-run", "2"]) == 0
    text = capsys.readouterr().out
    assert not out.exists()
    # the printed prompt is the one a run feeds the model
    _, proc = tiny_llava(with_processor=True)
    a = adapter_for(tiny_llava(seed=1, with_processor=False)[0], proc)
    s = load_dataset(f"mmbench:{env / 'dev.tsv'}").samples[0]
    prompt = a.prepare(s).prompt
    assert ">>>\n" + prompt + "\n<<<" in text
    ids = {L: proc.tokenizer.convert_tokens_to_ids(L) for L in "ABCD"}
    assert f"A=[{ids['A']}] ['A']  B=[{ids['B']}] ['B']" in text
    assert text.count("--- sample") == 2 and "No forward pass was run" in text
