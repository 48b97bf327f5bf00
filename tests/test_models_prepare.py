"""Adapter.prepare_many: batched processor calls give every sample what prepare() gives it."""
import pytest
import torch

pytest.importorskip("transformers")

from pidlib.models.base import Adapter, AdapterError
from pidlib.models.families import LlavaAdapter
from pidlib.world import make_samples
from pidlib.zoo.model import Arch, make_model, make_processor

ARCH = Arch(hidden=16, layers=1, heads=2, vision_hidden=16, vision_layers=1, vision_heads=2, patch_size=8)


@pytest.fixture(scope="module")
def adapter():
    proc = make_processor(ARCH.patch_size)
    model = make_model(ARCH, proc.tokenizer, seed=1).eval()
    return LlavaAdapter(model, proc, name="tiny")


def _same(a, b):
    assert a.input_ids.tolist() == b.input_ids.tolist()
    assert a.question_mask.tolist() == b.question_mask.tolist()
    assert a.prompt == b.prompt
    assert set(a.vision_inputs) == set(b.vision_inputs) == {"pixel_values"}
    assert torch.equal(a.vision_inputs["pixel_values"], b.vision_inputs["pixel_values"])


def test_batched_equals_one_at_a_time(adapter, monkeypatch):
    # every task family: prompts of different lengths, so the batch is padded
    samples = make_samples("all", 25, seed=3)
    assert len({len(adapter.prepare(s).input_ids) for s in samples}) > 1
    calls = []
    real = adapter.processor.__class__.__call__

    def counting(self, *a, **kw):
        calls.append(len(kw.get("text") or a[0]))
        return real(self, *a, **kw)

    monkeypatch.setattr(adapter.processor.__class__, "__call__", counting)
    monkeypatch.setattr(LlavaAdapter, "prepare_chunk", 10)
    many = adapter.prepare_many(samples)
    assert calls == [10, 10, 5]          # one processor call per chunk
    monkeypatch.undo()
    for s, p in zip(samples, many):
        _same(p, adapter.prepare(s))


def test_a_bad_sample_is_named(adapter):
    from dataclasses import replace
    samples = make_samples("all", 6, seed=4)
    samples[3] = replace(samples[3], image=None)
    with pytest.raises(AdapterError, match=repr(samples[3].index)):
        adapter.prepare_many(samples)


def test_other_families_prepare_one_at_a_time(adapter, monkeypatch):
    class Dynamic(LlavaAdapter):
        batch_vision = False       # e.g. dynamic resolution: a padded batch would differ

    a = Dynamic(adapter.model, adapter.processor, name="tiny")
    real = Adapter._prepare_batch
    seen = []

    def recording(self, ss):
        seen.append(len(ss))
        return real(self, ss)

    monkeypatch.setattr(Adapter, "_prepare_batch", recording)
    samples = make_samples("all", 4, seed=5)
    for s, p in zip(samples, a.prepare_many(samples)):
        _same(p, adapter.prepare(s))
    assert seen[:4] == [1, 1, 1, 1]
