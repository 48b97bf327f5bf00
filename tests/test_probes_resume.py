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


def test_donor_indices_are_keyed_and_never_self():
    from pidlib.probes import donor_indices

    keys = [str(i) for i in range(10)]
    a = donor_indices(keys, "3", 4, seed=1, dataset="d")
    assert a == donor_indices(keys, "3", 4, seed=1, dataset="d") and len(set(a)) == 4 and 3 not in a
    assert a != donor_indices(keys, "3", 4, seed=2, dataset="d")
    few = donor_indices(keys[:3], "0", 5, seed=0, dataset="d")      # fewer others than k
    assert len(few) == 5 and set(few) <= {1, 2}
    with pytest.raises(ValueError, match="no other sample"):
        donor_indices(["0"], "0", 1)


def test_donor_probes_average_crossed_samples_and_resume(setup, tmp_path):
    """Donor probes: p_vis = mean over donors of the full probe of (own image, donor's
    question); p_lang = mean of (own question, donor's image); batching and resuming do
    not change them."""
    from dataclasses import replace

    from pidlib.probes import donor_indices, run_probes
    from pidlib.probes.pipeline import ProbeItem, probe_batch
    from pidlib.store import RunStore

    a, ds, stats = setup
    D = 3
    cfg = {"tau": 0.0, "seed": 1, "donors": D}
    crashing = CrashingStore(RunStore(tmp_path, "m", ds.name, "fit", cfg), crash_at=2)
    with pytest.raises(Crash):
        run_probes(a, ds, "fit", crashing, batch_size=2, tau=0.0, seed=1, noise_stats=stats,
                   progress=False, donors=D)
    store = RunStore(tmp_path, "m", ds.name, "fit", cfg)
    run_probes(a, ds, "fit", store, batch_size=3, tau=0.0, seed=1, noise_stats=stats, progress=False, donors=D)
    got = store.read()
    assert list(got["index"]) == [str(i) for i in range(7)]
    ref_store = RunStore(tmp_path / "ref", "m", ds.name, "fit", cfg)
    run_probes(a, ds, "fit", ref_store, batch_size=7, tau=0.0, seed=1, noise_stats=stats, progress=False,
               donors=D)
    ref = ref_store.read()
    for col in ("p_full", "p_vis", "p_lang"):
        np.testing.assert_allclose(np.stack(got[col]), np.stack(ref[col]), atol=2e-5, err_msg=col)

    samples = sorted(ds.samples, key=lambda s: s.index)

    def p_full(smp):
        it = ProbeItem(smp.index, len(smp.options), None, a.prepare(smp))
        return probe_batch(a, [it], stats, tau=0.0)[0]["p_full"]

    for i in (0, 5):
        s = samples[i]
        same = [x for x in samples if len(x.options) == len(s.options)]   # donors share the option count
        js = donor_indices([x.index for x in same], s.index, D, seed=1, dataset=ds.name)
        want_vis = np.mean([p_full(replace(same[j], image=s.image, answer=None)) for j in js], 0)
        want_lang = np.mean([p_full(replace(s, image=same[j].image, answer=None)) for j in js], 0)
        row = got[got["index"] == s.index].iloc[0]
        np.testing.assert_allclose(row["p_vis"], want_vis, atol=2e-5)
        np.testing.assert_allclose(row["p_lang"], want_lang, atol=2e-5)
        assert row["p_full"] == pytest.approx(p_full(s), abs=2e-5)
    # noise probes and donor probes differ (a different estimate of the unimodal conditional)
    noise_store = RunStore(tmp_path / "noise", "m", ds.name, "fit", {"tau": 0.0, "seed": 1})
    run_probes(a, ds, "fit", noise_store, batch_size=7, tau=0.0, seed=1, noise_stats=stats, progress=False)
    assert not np.allclose(np.stack(noise_store.read()["p_vis"]), np.stack(got["p_vis"]), atol=1e-3)
    with pytest.raises(ValueError, match="donors"):
        run_probes(a, ds, "fit", store, noise_stats=stats, progress=False, donors=2, noise_draws=2)


class CountingStore:
    """Wraps a RunStore; records the size of every append."""

    def __init__(self, store):
        self.store, self.sizes = store, []

    def done(self):
        return self.store.done()

    def append(self, rows):
        self.sizes.append(len(rows))
        return self.store.append(rows)


def test_write_every_batches_parts_and_writes_waiting_rows_on_error(setup, tmp_path):
    """``write_every`` keeps rows in memory until N are ready: fewer parts, the same rows;
    an error in a later batch still writes the rows probed before it, and a resume adds
    the rest once each."""
    from dataclasses import replace

    from pidlib.data.schema import MCDataset
    from pidlib.models.base import AdapterError
    from pidlib.probes import run_probes
    from pidlib.store import RunStore

    a, ds, stats = setup
    cfg = {"tau": 0.0, "seed": 5}
    every = CountingStore(RunStore(tmp_path / "every", "m", ds.name, "fit", cfg))
    run_probes(a, ds, "fit", every, batch_size=2, tau=0.0, seed=5, noise_stats=stats, progress=False)
    grouped = CountingStore(RunStore(tmp_path / "grouped", "m", ds.name, "fit", cfg))
    summary = run_probes(a, ds, "fit", grouped, batch_size=2, tau=0.0, seed=5, noise_stats=stats,
                         progress=False, write_every=5)
    assert every.sizes == [2, 2, 2, 1] and grouped.sizes == [6, 1] and summary["n_new"] == 7
    a_rows, b_rows = every.store.read(), grouped.store.read()
    assert list(b_rows["index"]) == list(a_rows["index"])
    for col in ("p_full", "p_vis", "p_lang", "x1", "x2"):
        np.testing.assert_array_equal(np.stack(b_rows[col]), np.stack(a_rows[col]), err_msg=col)

    # sample 5 has no image: its batch (samples 4, 5) raises; samples 0-3 are written anyway
    broken = MCDataset(ds.name, ds.source, [replace(s, image=None) if s.index == "5" else s for s in ds.samples])
    st = CountingStore(RunStore(tmp_path / "broken", "m", ds.name, "fit", cfg))
    with pytest.raises(AdapterError, match="'5'"):
        run_probes(a, broken, "fit", st, batch_size=2, tau=0.0, seed=5, noise_stats=stats, progress=False,
                   write_every=100)
    assert st.sizes == [4] and st.store.done() == {"0", "1", "2", "3"}
    again = run_probes(a, ds, "fit", st.store, batch_size=2, tau=0.0, seed=5, noise_stats=stats, progress=False,
                       write_every=100)
    assert again["n_done_before"] == 4 and again["n_new"] == 3
    np.testing.assert_array_equal(np.stack(st.store.read()["p_full"]), np.stack(a_rows["p_full"]))
    with pytest.raises(ValueError, match="write_every"):
        run_probes(a, ds, "fit", st.store, noise_stats=stats, progress=False, write_every=0)


def test_run_rejects_bad_write_every(tmp_path):
    from pidlib.runner import ConfigError, run

    with pytest.raises(ConfigError, match="write_every"):
        run("no-such-model", "world:color?n=4", tmp_path, write_every=0)
