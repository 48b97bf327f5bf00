"""Adding a family is one decorated class: registration by config class, conflicts, refusals,
and the declared prefix-sharing capability (no method-identity test)."""
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

from pidlib.models import Adapter, AdapterError, FAMILIES, UNSUPPORTED  # noqa: E402
from pidlib.models.registration import adapter_class_for_config, model_class_name, refuse, register_adapter  # noqa: E402


class ToyConfig:
    model_type = "toy"


class RefusedConfig:
    model_type = "refused"


def test_a_decorated_class_is_found_by_its_config_class():
    try:
        @register_adapter(ToyConfig, model_class="ToyForConditionalGeneration")
        class ToyAdapter(Adapter):
            family = "toy"

        assert adapter_class_for_config(ToyConfig()) is ToyAdapter
        assert model_class_name(ToyConfig()) == "ToyForConditionalGeneration"
        assert FAMILIES["ToyConfig"] == (ToyAdapter, "ToyForConditionalGeneration")

        with pytest.raises(ValueError, match="already registered to ToyAdapter"):
            @register_adapter("ToyConfig", model_class="X")
            class OtherAdapter(Adapter):
                pass
    finally:
        FAMILIES.pop("ToyConfig", None)


def test_refused_config_gives_its_reason():
    try:
        refuse(RefusedConfig, "needs the authors' own code")
        with pytest.raises(AdapterError, match="authors' own code"):
            adapter_class_for_config(RefusedConfig())
    finally:
        UNSUPPORTED.pop("RefusedConfig", None)


def test_overriding_row_inputs_requires_declaring_shares_prefix():
    with pytest.raises(TypeError, match="must declare shares_prefix"):
        class Forgetful(Adapter):
            def row_inputs(self, input_ids, attention_mask, row_vision=None):
                return {"token_type_ids": input_ids * 0}

    class Declared(Adapter):
        shares_prefix = False

        def row_inputs(self, input_ids, attention_mask, row_vision=None):
            return {}

    assert Declared.shares_prefix is False and Adapter.shares_prefix is True


def test_builtin_capabilities():
    from pidlib.models import families as f

    assert not f.Gemma3Adapter.shares_prefix and not f.PaliGemmaAdapter.shares_prefix
    assert not f.MllamaAdapter.shares_prefix and not f.Qwen3VLAdapter.shares_prefix
    assert f.LlavaAdapter.shares_prefix and f.Qwen2VLAdapter.shares_prefix and f.LlavaNextAdapter.shares_prefix


def test_shared_prefix_follows_the_flag_not_the_method(monkeypatch):
    """probe_batch asks the adapter's flag: an adapter declaring shares_prefix=False never
    takes the shared-prefix path, one declaring True does."""
    import pidlib.probes.rows as rows
    from pidlib.models import adapter_for, tiny
    from pidlib.models.base import Prepared
    from pidlib.probes import compute_noise_stats
    from pidlib.probes.rows import ProbeItem, probe_batch

    model, proc = tiny.tiny_llava()
    a = adapter_for(model, proc)
    tok = a.tokenizer
    pre = tok("USER:")["input_ids"] + [a.image_token_id] * 16
    ids = torch.tensor(pre + tok("What color ? ASSISTANT:", add_special_tokens=False)["input_ids"])
    mask = torch.zeros(len(ids), dtype=torch.bool)
    mask[len(pre):len(pre) + 3] = True
    item = ProbeItem("0", 2, "A", Prepared(ids, mask, {"pixel_values": torch.randn(1, 3, 16, 16)},
                                           "USER: <image>\nWhat color ? ASSISTANT:"))
    stats = compute_noise_stats(a, [item.prepared], progress=False)
    calls = []
    real = rows.forward_shared_prefix
    monkeypatch.setattr(rows, "forward_shared_prefix", lambda *x, **k: calls.append(1) or real(*x, **k))
    probe_batch(a, [item], stats, share_prefix=True)
    assert calls == [1]
    a.shares_prefix = False
    probe_batch(a, [item], stats, share_prefix=True)
    assert calls == [1]
