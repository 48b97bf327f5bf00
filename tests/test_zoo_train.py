"""Zoo training: deterministic for a seed, resumable, and it actually learns the world."""
import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

pytest.importorskip("transformers")

from safetensors.torch import load_file

from pidlib.world import FAMILIES, make_samples
from pidlib.zoo.build import Builder, load_model
from pidlib.zoo.config import ZooConfig
from pidlib.zoo.train import Schedule, mc_accuracy

MICRO = ZooConfig(
    name="micro", scales=("tiny",), families=("fusion", "language", "vision", "textheavy"), seeds=(0, 1),
    schedule=Schedule(lm_steps=4, lm_batch=8, vision_steps=3, vision_batch=8, stage1_steps=4, stage1_batch=8,
                      stage2_steps=4, stage2_batch=8, n_text=40, n_captions=40, n_train=8,
                      vision_place_negatives=True),
    emergence=(("fusion", "tiny"), ("language", "tiny")), stage1_checkpoints=(0.0, 0.5),
    stage2_checkpoints=(0.5,), n_eval=4)

# trained once per session for the accuracy test (about a minute on one thread)
LEARN = ZooConfig(
    name="learn", scales=("small",), families=("fusion",),
    schedule=Schedule(lm_steps=120, vision_steps=60, stage1_steps=100, stage2_steps=300, n_text=1000,
                      n_captions=600, n_train=250, stage2_lr=3e-3),
    n_eval=40)


def _weights(path):
    return load_file(str(path / "model.safetensors"))


def test_deterministic_and_resumable(tmp_path):
    torch.set_num_threads(1)
    a, b = tmp_path / "a", tmp_path / "b"
    man = Builder(MICRO, a, progress=False, log=False).build()
    before = man.read_text()
    Builder(MICRO, a, progress=False, log=False).build()  # nothing to do: the manifest stays the first build's
    assert man.read_text() == before
    Builder(MICRO, b, progress=False, log=False).build(jobs=2)  # two worker processes: the same weights
    models = json.loads(man.read_text())["models"]
    paths = sorted(m["path"] for m in models)
    want = []
    for seed in (0, 1):
        want.append(f"aligned-tiny-s{seed}")
        want += [f"{f}-tiny-s{seed}" for f in ("fusion", "language", "vision", "textheavy")]
        for f in ("fusion", "language"):
            want += [f"emergence/{f}-tiny-s{seed}/stage1-step0", f"emergence/{f}-tiny-s{seed}/stage1-step2",
                     f"emergence/{f}-tiny-s{seed}/stage2-step2"]
    assert paths == sorted(want)
    for p in paths:
        wa, wb = _weights(a / p), _weights(b / p)
        assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa), p
    row = {m["path"]: m for m in models}
    assert row["emergence/language-tiny-s1/stage1-step2"]["family"] == "language"
    assert row["fusion-tiny-s1"]["seed"] == 1 and row["fusion-tiny-s1"]["scale"] == "tiny"
    assert row["fusion-tiny-s1"]["n_params"] > 0 and row["emergence/fusion-tiny-s0/stage2-step2"]["step"] == 2
    # the analysis reads the manifest: family, scale (parameter count), seed, stage, kind, step
    from pidlib.analysis.pipeline import zoo_models
    info = {Path(k).relative_to(a).as_posix(): v for k, v in zoo_models(a).items()}
    assert len(info) == len(paths)
    ck = info["emergence/language-tiny-s1/stage1-step2"]
    assert (ck["family"], ck["train_seed"], ck["kind"], ck["stage"], ck["step"]) == ("language", 1, "checkpoint", "stage1", 2.0)
    assert ck["scale"] == info["fusion-tiny-s0"]["scale"] == float(row["fusion-tiny-s0"]["n_params"])
    assert info["textheavy-tiny-s0"]["kind"] == "member" and info["textheavy-tiny-s0"]["train_seed"] == 0
    # seeds are independent runs; stage-1 checkpoints are shared by the families of a (scale, seed)
    s0, s1 = _weights(a / "aligned-tiny-s0"), _weights(a / "aligned-tiny-s1")
    assert any(not torch.equal(s0[k], s1[k]) for k in s0)
    f1, l1 = _weights(a / "emergence/fusion-tiny-s0/stage1-step2"), _weights(a / "emergence/language-tiny-s0/stage1-step2")
    assert all(torch.equal(f1[k], l1[k]) for k in f1)
    # what each family's stage 2 trains
    base = _weights(a / "aligned-tiny-s0")
    fam = {f: _weights(a / f"{f}-tiny-s0") for f in ("fusion", "language", "vision", "textheavy")}
    lm_keys = [k for k in base if "language_model" in k or k.startswith("lm_head")]
    vis_keys = [k for k in base if "vision_tower" in k]
    proj = [k for k in base if "multi_modal_projector" in k]
    assert lm_keys and vis_keys and proj

    def changed(f, keys):
        return any(not torch.equal(base[k], fam[f][k]) for k in keys)

    assert not changed("language", lm_keys) and not changed("language", vis_keys) and changed("language", proj)
    assert changed("fusion", lm_keys) and not changed("fusion", vis_keys)
    assert changed("vision", lm_keys) and changed("vision", vis_keys)
    assert changed("textheavy", lm_keys) and not changed("textheavy", vis_keys)
    assert any(not torch.equal(fam["fusion"][k], fam["textheavy"][k]) for k in lm_keys)  # other data
    # a rerun skips everything (same hash), a changed schedule rebuilds
    prov = (a / "fusion-tiny-s0" / "provenance.json").read_text()
    Builder(MICRO, a, progress=False, log=False).build()
    assert (a / "fusion-tiny-s0" / "provenance.json").read_text() == prov
    p = json.loads(prov)
    assert p["versions"]["transformers"] and p["command"] and p["date"] and p["parameters"]["family"]["tune_lm"]
    assert {"lm", "vision", "stage1", "stage2", "eval"} <= set(p["seconds"])
    # pruning: a model the config no longer produces goes, nested zoos stay
    one = replace(MICRO, families=("fusion",), seeds=(0,), emergence=())
    nested = a / "smoke" / "x"
    nested.mkdir(parents=True)
    (nested / "provenance.json").write_text("{}")
    (a / "smoke" / "manifest.json").write_text("{}")
    stale = {d.relative_to(a).as_posix() for d in Builder(one, a, progress=False, log=False).stale_paths()}
    assert "language-tiny-s0" in stale and "emergence/fusion-tiny-s0/stage1-step0" in stale
    assert "fusion-tiny-s0" not in stale and "aligned-tiny-s0" not in stale and "smoke/x" not in stale
    Builder(one, a, progress=False, log=False).prune()
    assert not (a / "language-tiny-s0").exists() and not (a / "emergence").exists() and nested.exists()
    assert (a / "fusion-tiny-s0" / "model.safetensors").is_file()


@pytest.fixture(scope="module")
def learned(tmp_path_factory):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("learn")
    Builder(LEARN, out, progress=False, log=False).build()
    return load_model(out / "fusion-small-s0")


def test_smoke_model_learns_the_world(learned):
    """Clearly above chance where the answer is learnable in a minute; reported per family."""
    model, processor = learned
    acc = mc_accuracy(model, processor, make_samples("all", 200, seed=0, split="eval"))
    assert set(acc) == set(FAMILIES)
    assert acc["knowledge"] >= 0.8, acc       # chance 0.25: facts learned from text
    assert acc["redundant"] >= 0.8, acc       # chance 0.25
    assert acc["describe"] >= 0.45, acc       # chance 0.25: the picture is read
    chance = {"exist": 0.5}
    mean_chance = sum(chance.get(f, 0.25) for f in FAMILIES) / len(FAMILIES)
    assert sum(acc.values()) / len(acc) >= mean_chance + 0.25, acc


def test_untrained_model_is_at_chance():
    from pidlib.zoo.config import SCALES
    from pidlib.zoo.model import make_model, make_processor
    proc = make_processor(SCALES["tiny"].patch_size)
    model = make_model(SCALES["tiny"], proc.tokenizer, seed=0)
    acc = mc_accuracy(model, proc, make_samples("all", 100, seed=0, split="eval"))
    assert sum(acc.values()) / len(acc) < 0.5, acc


def test_configs_size_and_validation():
    """The book's zoo is big enough for correlations across models; the class zoo is small;
    bad configs fail with a clear message."""
    from pidlib.zoo.config import CONFIGS, FAMILIES, STARVED, MIXTURE

    full = CONFIGS["full"]
    assert len(full.members()) >= 24 and len(full.families) >= 3 and len(full.scales) >= 3 and len(full.seeds) >= 2
    assert len({f for f, _ in full.emergence}) >= 2
    assert 6 <= len(CONFIGS["class"].members()) <= 12 and len(CONFIGS["smoke"].members()) == 1
    paths = Builder(full, "unused", progress=False, log=False).expected_paths()
    assert "fusion-large-s1" in paths and "emergence/language-medium-s1/stage2-step500" in paths
    # the textheavy family differs from fusion only in its stage-2 mixture
    th, fu = FAMILIES["textheavy"], FAMILIES["fusion"]
    assert th.tune_lm == fu.tune_lm and th.tune_vision == fu.tune_vision and th.mixture == STARVED
    assert full.schedule_for("textheavy").stage2_weights == STARVED
    assert full.schedule_for("fusion").stage2_weights == MIXTURE
    w = dict(STARVED)
    assert w["color"] == dict(MIXTURE)["color"] / 4 and w["describe"] == dict(MIXTURE)["describe"]
    with pytest.raises(ValueError, match="unknown family"):
        ZooConfig(name="bad", families=("nope",))
    with pytest.raises(ValueError, match="emergence"):
        ZooConfig(name="bad", emergence=(("fusion",),))
