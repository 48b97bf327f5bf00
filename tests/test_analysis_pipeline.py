"""The fresh pipeline's pieces: zoo manifest -> model info, world specs, cache/fresh switch,
and (when a smoke zoo has been built) a tiny end-to-end fresh run."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from pidlib.analysis import pipeline as PL
from pidlib.analysis.tables import final_models, training_series

ROOT = Path(__file__).resolve().parents[1]


def _fake_zoo(tmp_path):
    zoo = tmp_path / "zoo"
    models = [
        {"path": "aligned-small", "kind": "aligned", "family": None, "scale": "small", "stage": "stage1", "step": 150},
        {"path": "fusion-small", "kind": "member", "family": "fusion", "scale": "small", "stage": "stage2", "step": 700},
        {"path": "emergence/fusion-small/stage1-step0", "kind": "checkpoint", "family": None, "scale": None,
         "stage": "init", "step": 0},
        {"path": "emergence/fusion-small/stage1-step75", "kind": "checkpoint", "family": None, "scale": None,
         "stage": "stage1", "step": 75},
        {"path": "emergence/fusion-small/stage2-step350", "kind": "checkpoint", "family": "fusion", "scale": "small",
         "stage": "stage2", "step": 350},
        # zoo v3 names: a training seed in the manifest and a -sSEED suffix on the folders
        {"path": "fusion-small-s1", "kind": "member", "family": "fusion", "scale": "small", "stage": "stage2",
         "step": 1000, "seed": 1},
        {"path": "emergence/fusion-small-s1/stage1-step75", "kind": "checkpoint", "family": None, "scale": None,
         "stage": "stage1", "step": 75, "seed": 1},
    ]
    for m in models:
        d = zoo / m["path"]
        d.mkdir(parents=True)
        prov = {"n_params": 12345} if m["kind"] in ("member", "aligned") else {}
        (d / "provenance.json").write_text(json.dumps(prov))
    (zoo / "manifest.json").write_text(json.dumps({"models": models}))
    return zoo


def test_zoo_models_from_manifest(tmp_path):
    zoo = _fake_zoo(tmp_path)
    info = PL.zoo_models(zoo)
    keys = {Path(k).relative_to(zoo).as_posix(): v for k, v in info.items()}
    assert "emergence/fusion-small/stage1-step0" not in keys  # the untrained init is not probed
    assert keys["fusion-small"] == {"family": "fusion", "scale": 12345.0, "scale_name": "small", "stage": "stage2",
                                    "kind": "member", "step": 700.0}
    ck = keys["emergence/fusion-small/stage1-step75"]
    assert ck["family"] == "fusion" and ck["scale"] == 12345.0 and ck["kind"] == "checkpoint"
    assert keys["fusion-small-s1"]["train_seed"] == 1 and "train_seed" not in keys["fusion-small"]
    ck1 = keys["emergence/fusion-small-s1/stage1-step75"]
    assert (ck1["family"], ck1["scale_name"], ck1["train_seed"]) == ("fusion", "small", 1)
    with pytest.raises(FileNotFoundError, match="manifest.json"):
        PL.zoo_models(tmp_path / "nothing")


def test_world_specs_one_per_family():
    from pidlib.world.tasks import FAMILIES
    specs = PL.world_specs(50, seed=1)
    assert len(specs) == len(FAMILIES)
    assert all(s.startswith("world:") and "n=50" in s and "seed=1" in s for s in specs)


def test_get_spectra_rejects_unknown_source():
    with pytest.raises(ValueError, match="source"):
        PL.get_spectra("yesterday")


def test_get_spectra_filters_one_probe_configuration(monkeypatch):
    df = pd.DataFrame({"model": ["a", "a", "a", "b"], "probes": ["noise", "donors4", "noise8", None]})
    monkeypatch.setattr(PL, "load_spectra", lambda: df)
    assert PL.get_spectra().probes.fillna("noise").tolist() == ["noise", "noise"]   # the default: the paper's
    assert PL.get_spectra(probes="donors4").probes.tolist() == ["donors4"]
    assert len(PL.get_spectra(probes=None)) == 4
    assert PL.get_spectra(models=["b"]).model.tolist() == ["b"]            # a table without the column
    monkeypatch.setattr(PL, "load_spectra", lambda: df.drop(columns="probes"))
    assert len(PL.get_spectra()) == 4


def test_probe_labels():
    from pidlib.analysis.spectra import probe_label
    assert probe_label({}) == "noise" and probe_label({"noise_draws": 1, "donors": 0}) == "noise"
    assert probe_label({"noise_draws": 8}) == "noise8" and probe_label({"donors": 8}) == "donors8" and probe_label({"donors": 4}) == "donors4"
    with pytest.raises(ValueError, match="probe sets"):
        PL.fresh_spectra(["m"], ["d"], probe_sets=("magic",))


def test_member_and_checkpoint_selection():
    df = pd.DataFrame({"kind": ["member", "checkpoint", "aligned", "checkpoint"], "stage": ["stage2", "stage1", "stage1", "stage2"],
                       "step": [700, 75, 150, 350]})
    assert final_models(df).kind.tolist() == ["member"]
    assert training_series(df).step.tolist() == [75, 350]
    plain = pd.DataFrame({"stage": ["", "a"], "step": [float("nan"), 1.0]})
    assert len(final_models(plain)) == 2 and len(training_series(plain)) == 1


SMOKE = ROOT / "data" / "zoo" / "smoke" / "manifest.json"


@pytest.mark.slow
@pytest.mark.skipif(not SMOKE.exists(), reason="no smoke zoo (python -m pidlib.zoo build --config smoke)")
def test_fresh_smoke_run(tmp_path):
    """source='fresh' at tiny settings: one smoke-zoo member as a *user* model, one world task,
    24 samples, in this process; runs and table go to out_dir, never to data/results."""
    member = next(m for m in json.loads(SMOKE.read_text())["models"] if m["kind"] == "member")
    model = str(SMOKE.parent / member["path"])
    (tmp_path / "data").mkdir()
    env = dict(os.environ, PIDLIB_ROOT=str(tmp_path), OMP_NUM_THREADS="1")
    mine = tmp_path / "mine"
    code = ("from pidlib.analysis.pipeline import fresh_spectra; "
            f"t = fresh_spectra([{model!r}], ['world:color?n=24&split=eval'], n_samples=24, n_boot=0, layers=True, "
            f"tau=0.2, out_dir={str(mine)!r}); print(len(t))")
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600,
                         cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert not (tmp_path / "data" / "results" / "spectra.csv").exists()   # never the zoo's table
    t = pd.read_csv(mine / "spectra.csv")
    # one output-layer row per probe set, plus the world's exact reference and the k-means
    # cross-check once; the logit lens only for the paper's noise probes (and its reference)
    assert sorted(t[t.layer == -1].probes) == sorted([*PL.DEFAULT_PROBE_SETS, "reference", "discretized"])
    assert (t.layer >= 0).sum() >= 2 and set(t[t.layer >= 0].probes) == {"noise", "reference"}
    assert set(t.task) == {"color"} and set(t.kind) == {"user"} and set(t.tau) == {0.2}
    prov = json.loads((mine / "spectra.provenance.json").read_text())
    assert any(c.startswith("pidlib run") and "--tau 0.2" in c for c in prov["run_commands"])
    # the runs are under out_dir/runs and carry the labels written at run time
    metas = [json.loads(p.read_text()) for p in (mine / "runs").rglob("meta.json")]
    assert len(metas) == len(PL.DEFAULT_PROBE_SETS) and all(m["task"] == "color" and m["kind"] == "user" for m in metas)
    # refusing to write a user table over the zoo's
    with pytest.raises(ValueError, match="committed spectra table"):
        PL.output_paths(["some/model"], out=PL.default_path())


def test_output_paths_and_labels(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runs, table = PL.output_paths(["org/model"])
    assert runs == tmp_path / PL.DEFAULT_USER_OUT / "runs" and table == tmp_path / PL.DEFAULT_USER_OUT / "spectra.csv"
    runs, table = PL.output_paths(["org/model"], out_dir=tmp_path / "x")
    assert (runs, table) == (tmp_path / "x" / "runs", tmp_path / "x" / "spectra.csv")
    assert PL.output_paths([PL.ZOO])[1] == PL.default_path()
    assert PL.dataset_task("pope:/d/p.jsonl@/d/img") == "POPE" and PL.dataset_task("mmbench:x.tsv") == "MMBench"
    assert PL.dataset_task("world:color?n=5") == "color" and PL.dataset_task("conv:x.json") == "conv"
    (tmp_path / "m").mkdir()
    assert PL.model_label("./m/") == PL.model_label("m") == str((tmp_path / "m").resolve())


def test_get_spectra_reads_out_dir_and_matches_any_model_spelling(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m").mkdir()
    label = str((tmp_path / "m").resolve())
    df = pd.DataFrame({"model": [label, "other"], "probes": ["noise", "noise"]})
    seen = {}
    monkeypatch.setattr(PL, "load_spectra", lambda path=None: seen.setdefault("path", path) is not None and df)
    got = PL.get_spectra("cache", ["./m/"], out_dir=tmp_path / "res")
    assert seen["path"] == tmp_path / "res" / "spectra.csv" and got.model.tolist() == [label]


@pytest.mark.slow
@pytest.mark.skipif(not SMOKE.exists(), reason="no smoke zoo (python -m pidlib.zoo build --config smoke)")
def test_fresh_on_a_small_zoo_config(tmp_path):
    """``models=["zoo"]`` with another zoo configuration (the classroom path, here the smoke
    zoo): its manifest's models are probed (member at ``n_samples``, stage-1 model at
    ``n_samples_other``) and its table never replaces the book's."""
    out = tmp_path / "out"
    code = ("from pidlib.analysis.pipeline import fresh_spectra; "
            "t = fresh_spectra(['zoo'], ['world'], zoo_config='smoke', n_samples=30, n_samples_other=20, "
            "layer_samples=12, n_boot=0, probe_sets=('noise',), "
            f"out_dir={str(out)!r}); print(len(t))")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=900,
                         cwd=ROOT)
    assert res.returncode == 0, res.stderr[-3000:]
    t = pd.read_csv(out / "spectra.csv")
    out_rows = t[(t.layer == -1) & (t.probes == "noise")]
    assert set(out_rows.kind) == {"member", "aligned"} and out_rows.task.nunique() == 5
    assert set(out_rows[out_rows.kind == "member"].n_fit + out_rows[out_rows.kind == "member"].n_eval) == {30}
    assert set(out_rows[out_rows.kind == "aligned"].n_fit + out_rows[out_rows.kind == "aligned"].n_eval) == {20}
    # the member's logit-lens spectra use layer_samples rows; the stage-1 model has none
    lay = t[(t.layer >= 0) & (t.probes == "noise")]
    assert len(lay) and set(lay.kind) == {"member"} and set(lay.n_fit + lay.n_eval) == {12}
    assert PL.output_paths(["zoo"], zoo_config="class")[1] == PL.default_path().parent / "class" / "spectra.csv"
