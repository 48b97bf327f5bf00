"""Zoo models are ordinary Hugging Face models: save/load by path, the adapter's prompt."""
import json

import pytest
import torch

pytest.importorskip("transformers")

from pidlib.data.schema import format_question
from pidlib.world import make_samples
from pidlib.zoo.build import is_built, load_model, save_model
from pidlib.zoo.model import Arch, make_model, make_processor, user_prompt
from pidlib.zoo.train import encode_multimodal, mc_prompts

ARCH = Arch(hidden=16, layers=1, heads=2, vision_hidden=16, vision_layers=1, vision_heads=2, patch_size=8)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    torch.manual_seed(0)
    proc = make_processor(ARCH.patch_size)
    model = make_model(ARCH, proc.tokenizer, seed=1).eval()
    path = tmp_path_factory.mktemp("zoo") / "m"
    save_model(model, proc, path, {"config_hash": "abc", "kind": "test"})
    return model, proc, path


def _logits(model, proc, samples):
    ids, pix = encode_multimodal(proc, mc_prompts(proc, samples), [s.image for s in samples])
    with torch.no_grad():
        return torch.stack([model(input_ids=torch.tensor([x]), pixel_values=pix[i:i + 1]).logits[0, -1]
                            for i, x in enumerate(ids)])


def test_reload_by_path(saved):
    from transformers import AutoModelForImageTextToText, AutoProcessor
    model, proc, path = saved
    assert (path / "model.safetensors").is_file() and not list(path.parent.glob(".tmp-*"))
    assert is_built(path, "abc") and not is_built(path, "other")
    samples = make_samples("all", 5, seed=0)
    m2 = AutoModelForImageTextToText.from_pretrained(path).eval()
    p2 = AutoProcessor.from_pretrained(path)
    assert type(m2).__name__ == "LlavaForConditionalGeneration"
    assert torch.equal(_logits(model, proc, samples), _logits(m2, p2, samples))
    m3, p3 = load_model(path)
    s = samples[0]
    assert user_prompt(p3, format_question(s)) == user_prompt(proc, format_question(s))
    assert json.loads((path / "provenance.json").read_text())["config_hash"] == "abc"


def test_prompt_matches_probe_adapter(saved):
    import pidlib.models as models
    _, _, path = saved
    adapter = models.load_adapter(str(path))
    assert adapter.family == "llava"
    for s in make_samples("all", 10, seed=2):
        body = format_question(s)
        assert adapter.build_prompt(body) == user_prompt(adapter.processor, body)
        prep = adapter.prepare(s)
        ids, _ = encode_multimodal(adapter.processor, [user_prompt(adapter.processor, body)], [s.image])
        assert prep.input_ids.tolist() == ids[0]
        # the question span the probes noise is exactly the body's tokens
        q = adapter.tokenizer(body, add_special_tokens=False)["input_ids"]
        assert prep.input_ids[prep.question_mask].tolist() == q
