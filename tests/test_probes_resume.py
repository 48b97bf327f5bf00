"""Resume after a simulated crash yields every sample exactly once, with the numbers of an
uninterrupted run (noise is keyed by sample, not by batch position)."""
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)


class Crash(Exception):
    pass


class CrashingStore:
    """Wraps a RunStore; the n-th append leaves a temp file behind and raises."""

    def __init__(self, store, crash_at):
        self.store, self.crash_at, self.calls = store, crash_at, 0

    def done(self):
        return self.store.done()

    def append(self, rows):
        self.calls += 1
        if self.calls == self.crash_at:
            (self.store.dir / ".part-00099.parquet.tmp-crash").write_bytes(b"half a parquet file")
            raise Crash()
        return self.store.append(rows)


@pytest.fixture(scope="module")
def setup():
    from PIL import Image

    from pidlib.data.schema import MCDataset, MCSample
    from pidlib.models import adapter_for
    from pidlib.models.tiny import tiny_llava
    from pidlib.probes import compute_noise_stats

    model, proc = tiny_llava(seed=2)
    a = adapter_for(model, proc)
    rng = np.random.RandomState(0)
    samples = [MCSample(str(i), "What color is the circle ?" if i % 2 else "How many ?",
                        ["red", "blue", "green"][: 2 + i % 2], "A",
                        Image.fromarray((rng.rand(16, 16 + i, 3) * 255).astype("uint8")))
               for i in range(7)]
    ds = MCDataset("toy", "<memory>", samples)
    return a, ds, compute_noise_stats(a, samples, progress=False)


def test_resume_after_crash_gives_each_sample_once(setup, tmp_path):
    from pidlib.probes import run_probes
    from pidlib.store import RunStore

    a, ds, stats = setup
    cfg = {"tau": 0.0, "seed": 5}
    crashing = CrashingStore(RunStore(tmp_path, "m", ds.name, "fit", cfg), crash_at=2)
    with pytest.raises(Crash):
        run_probes(a, ds, "fit", crashing, batch_size=3, tau=0.0, seed=5, noise_stats=stats, progress=False)
    store = RunStore(tmp_path, "m", ds.name, "fit", cfg)
    assert store.done() == {"0", "1", "2"}
    summary = run_probes(a, ds, "fit", store, batch_size=2, tau=0.0, seed=5, noise_stats=stats,
                         progress=False)
    assert summary["n_done_before"] == 3 and summary["n_new"] == 4
    again = run_probes(a, ds, "fit", store, batch_size=2, tau=0.0, seed=5, noise_stats=stats,
                       progress=False)
    assert again["n_new"] == 0
    got = store.read()
    assert list(got["index"]) == [str(i) for i in range(7)]

    ref_store = RunStore(tmp_path / "ref", "m", ds.name, "fit", cfg)
    run_probes(a, ds, "fit", ref_store, batch_size=7, tau=0.0, seed=5, noise_stats=stats, progress=False)
    ref = ref_store.read()
    for col in ("p_full", "p_vis", "p_lang", "x1", "x2"):
        np.testing.assert_allclose(np.stack(got[col]), np.stack(ref[col]), atol=2e-5, err_msg=col)
    assert list(got["pred"]) == list(ref["pred"])
