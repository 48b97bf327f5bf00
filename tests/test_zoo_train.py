"""Zoo training: deterministic for a seed, resumable, and it actually learns the world."""
import json

import pytest
import torch

pytest.importorskip("transformers")

from safetensors.torch import load_file

from pidlib.world import FAMILIES, make_samples
from pidlib.zoo.build import Builder, load_model
from pidlib.zoo.config import ZooConfig
from pidlib.zoo.train import Schedule, mc_accuracy

MICRO = ZooConfig(
    name="micro", scales=("tiny",), families=("fusion", "language"),
    schedule=Schedule(lm_steps=4, lm_batch=8, vision_steps=3, vision_batch=8, stage1_steps=4, stage1_batch=8,
                      stage2_steps=4, stage2_batch=8, n_text=40, n_captions=40, n_train=8),
    emergence=("fusion", "tiny"), stage1_checkpoints=(0.0, 0.5), stage2_checkpoints=(0.5,), n_eval=4)

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
    man = Builder(MICRO, a, progress=False).build()
    Builder(MICRO, b, progress=False).build()
    models = json.loads(man.read_text())["models"]
    paths = sorted(m["path"] for m in models)
    assert paths == sorted(["aligned-tiny", "fusion-tiny", "language-tiny", "emergence/fusion-tiny/init",
                            "emergence/fusion-tiny/stage1-step0", "emergence/fusion-tiny/stage1-step2",
                            "emergence/fusion-tiny/stage2-step2"])
    for p in paths:
        wa, wb = _weights(a / p), _weights(b / p)
        assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa), p
    # the language family's stage 2 leaves the language model untouched
    base, lang, fus = _weights(a / "aligned-tiny"), _weights(a / "language-tiny"), _weights(a / "fusion-tiny")
    lm_keys = [k for k in base if "language_model" in k or k.startswith("lm_head")]
    assert lm_keys and all(torch.equal(base[k], lang[k]) for k in lm_keys)
    assert any(not torch.equal(base[k], fus[k]) for k in lm_keys)
    proj = [k for k in base if "multi_modal_projector" in k]
    assert any(not torch.equal(base[k], lang[k]) for k in proj)
    # a rerun skips everything (same hash), a changed schedule rebuilds
    prov = (a / "fusion-tiny" / "provenance.json").read_text()
    Builder(MICRO, a, progress=False).build()
    assert (a / "fusion-tiny" / "provenance.json").read_text() == prov
    p = json.loads(prov)
    assert p["versions"]["transformers"] and p["command"] and p["date"] and p["parameters"]["family"]["tune_lm"]


@pytest.fixture(scope="module")
def learned(tmp_path_factory):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("learn")
    Builder(LEARN, out, progress=False).build()
    return load_model(out / "fusion-small")


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
