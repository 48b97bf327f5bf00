"""Throughput plumbing keeps the numbers: one vision-tower call per batch gives each sample
its own features, the noise-statistics pass hands its prepared inputs to the probes (one
processor call per sample), and a bounded cache stays bounded."""
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def adapter_and_samples():
    from pidlib.models import adapter_for
    from pidlib.models.tiny import tiny_llava
    from pidlib.world import make_samples

    model, proc = tiny_llava(seed=3)
    return adapter_for(model, proc), make_samples("color", 12, seed=1)


def test_batched_vision_features_equal_per_sample(adapter_and_samples):
    a, ss = adapter_and_samples
    assert a.batch_vision
    ps = [a.prepare(s) for s in ss]
    many = a.vision_features_many(ps)
    for p, (f, extras) in zip(ps, many):
        one, _ = a.vision_features(p)
        torch.testing.assert_close(f, one, atol=1e-5, rtol=1e-5)
        assert extras == {}


def test_a_run_prepares_each_sample_once(adapter_and_samples, tmp_path, monkeypatch):
    import pidlib.models as M
    from pidlib.runner import run

    a, _ = adapter_and_samples
    calls = []
    orig = type(a).prepare

    def counting(self, sample):
        calls.append(str(sample.index))
        return orig(self, sample)

    monkeypatch.setattr(type(a), "prepare", counting)
    monkeypatch.setattr(M, "load_adapter", lambda *args, **kw: a)   # the runner imports it from here
    path = tmp_path / "m"
    a.model.save_pretrained(path)
    a.processor.save_pretrained(path)
    res = run(str(path), "world:color?n=20&seed=0&split=eval", tmp_path / "runs", batch_size=8, progress=False)
    assert res.n_rows == 20
    assert sorted(calls) == sorted(set(calls)) and len(calls) == 20      # noise pass only


def test_prepared_cache_is_bounded(adapter_and_samples):
    from pidlib.models.base import PreparedCache

    a, ss = adapter_and_samples
    ps = [a.prepare(s) for s in ss[:4]]
    size = PreparedCache.size(ps[0])
    c = PreparedCache(max_bytes=int(2.5 * size))
    for i, p in enumerate(ps):
        c.put(str(i), p)
    assert len(c) == 2 and c.nbytes <= c.max_bytes
    assert c.pop("0") is ps[0] and c.pop("0") is None and c.pop("3") is None and len(c) == 1
