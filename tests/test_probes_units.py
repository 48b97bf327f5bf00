"""Unit tests of the probe building blocks: noise statistics and generators, letter ids,
option distributions with the tau threshold, the registry's refusals."""
import hashlib

import numpy as np
import pytest
import torch

from pidlib.probes.noise import RunningMoments, draw_noise, sample_generator
from pidlib.probes.scoring import letter_token_ids, option_distribution, pad_options


def test_running_moments_match_population_std_in_float64():
    rng = np.random.default_rng(0)
    x = rng.normal(1e4, 3.0, size=(1000, 5)).astype(np.float32)  # large mean: cancellation-prone
    m = RunningMoments()
    for chunk in np.array_split(x, [1, 7, 300, 301, 999]):
        m.update(torch.from_numpy(chunk))
    ref = x.astype(np.float64)
    assert m.n == 1000 and m.mean.dtype == torch.float64
    np.testing.assert_allclose(m.mean.numpy(), ref.mean(0), rtol=1e-12)
    np.testing.assert_allclose(m.std.numpy(), ref.std(0, ddof=0), rtol=1e-9)


def test_sample_generator_is_a_stable_sha256_key():
    a = draw_noise(torch.zeros(4), torch.ones(4), 3, sample_generator(0, "ds", "17"))
    b = draw_noise(torch.zeros(4), torch.ones(4), 3, sample_generator(0, "ds", "17"))
    c = draw_noise(torch.zeros(4), torch.ones(4), 3, sample_generator(0, "ds", "18"))
    d = draw_noise(torch.zeros(4), torch.ones(4), 3, sample_generator(1, "ds", "17"))
    assert torch.equal(a, b) and not torch.equal(a, c) and not torch.equal(a, d)
    want = int.from_bytes(hashlib.sha256(b"0|ds|17").digest()[:8], "little") & ((1 << 63) - 1)
    assert sample_generator(0, "ds", "17").initial_seed() == want
    # scaled and shifted per dimension
    mu, sig = torch.tensor([5.0, -5.0]), torch.tensor([0.0, 2.0])
    z = draw_noise(mu, sig, 4000, sample_generator(0, "ds", "1"))
    assert torch.all(z[:, 0] == 5.0) and abs(float(z[:, 1].std()) - 2.0) < 0.1


def test_option_distribution_threshold_and_renormalization():
    # mass 0.5 + 0.2 = 0.7 >= tau: renormalize
    s = torch.log(torch.tensor([[0.5, 0.2], [0.1, 0.05]]))
    p, mass = option_distribution(s, tau=0.3)
    assert p.dtype == torch.float32
    np.testing.assert_allclose(mass.numpy(), [0.7, 0.15], rtol=1e-6)
    np.testing.assert_allclose(p[0].numpy(), [5 / 7, 2 / 7], rtol=1e-6)
    np.testing.assert_allclose(p[1].numpy(), [0.5, 0.5])       # below tau: uniform
    p0, _ = option_distribution(s, tau=0.0)
    np.testing.assert_allclose(p0[1].numpy(), [2 / 3, 1 / 3], rtol=1e-6)
    assert pad_options(p, 4).shape == (2, 4) and float(pad_options(p, 4)[:, 2:].abs().sum()) == 0
    with pytest.raises(ValueError):
        pad_options(torch.ones(5), 4)
    # rows padded to a common width: padding gets 0, the fallback is uniform over the valid entries
    padded = torch.cat([s, torch.zeros(2, 2)], 1)
    valid = torch.tensor([[True, True, False, False]] * 2)
    pm, mm = option_distribution(padded, tau=0.3, valid=valid)
    np.testing.assert_allclose(pm.numpy(), pad_options(p, 4).numpy(), rtol=1e-6)
    np.testing.assert_allclose(mm.numpy(), mass.numpy(), rtol=1e-6)


def test_letter_ids_first_differing_token_and_distinctness():
    from pidlib.models.tiny import word_tokenizer

    tok = word_tokenizer()
    ids = letter_token_ids(tok, "Answer: ASSISTANT:", "ABCD")
    assert [c for c in ids] == [[tok.convert_tokens_to_ids(x)] for x in "ABCD"]
    # letters the vocabulary lacks collapse to [UNK]: not distinct -> error
    small = word_tokenizer()
    with pytest.raises(ValueError, match="share first tokens"):
        letter_token_ids(small, "ASSISTANT:", "AXY")


def test_registry_refuses_unsupported_families_with_reasons():
    from transformers import LlavaNextConfig, MllamaConfig, Qwen2_5_VLConfig, Qwen3VLConfig

    from pidlib.models.base import AdapterError
    from pidlib.models.families import (LlavaNextAdapter, MllamaAdapter, Qwen2VLAdapter, Qwen3VLAdapter,
                                        adapter_class_for_config)

    assert adapter_class_for_config(MllamaConfig()) is MllamaAdapter
    assert adapter_class_for_config(Qwen2_5_VLConfig()) is Qwen2VLAdapter
    assert adapter_class_for_config(Qwen3VLConfig()) is Qwen3VLAdapter
    assert adapter_class_for_config(LlavaNextConfig()) is LlavaNextAdapter

    class OtherConfig:
        model_type = "other"

    with pytest.raises(AdapterError, match="unsupported model family.*LlavaNextConfig"):
        adapter_class_for_config(OtherConfig())

    class CambrianConfig:
        model_type = "cambrian_llama"

    with pytest.raises(AdapterError, match="not part of transformers"):
        adapter_class_for_config(CambrianConfig())
