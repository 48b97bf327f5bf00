"""End-to-end check on the classroom world: a trained zoo model, the real pipeline (CLI run
-> run store -> spectra table), scored against the exact reference spectrum.

The reference (:mod:`pidlib.analysis.reference`) is the exact PID of the model's own
full-probe predictions with respect to the world's generating variables: what the model
does, with no probe in between. What this test pins down:

- the reference itself shows the designed atom on the tasks the model solves
  (``describe`` -> U1, ``knowledge`` -> U2, ``exist`` -> S);
- BATCH with *donor* probes (finite-D split-half corrected) recovers the reference within
  a stated error (beyond the information the model draws from features outside the
  generating variables, which only BATCH's total contains) on the tasks whose picture and question are independent (``color``,
  ``exist``, ``describe``, ``knowledge``; donor probes assume that independence, and
  ``redundant`` violates it, so it is not asserted);
- the paper's single-draw noise probes are flagged incoherent where they are off;
- a random-initialised model carries almost no information about its own answer.
"""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "data" / "zoo" / "smoke" / "fusion-small-s0"
N = 400
DESIGNED = {"exist": "synergy", "describe": "unique1", "knowledge": "unique2"}
ATOMS = ("redundancy", "unique1", "unique2", "synergy")
#: Largest |donor estimate - reference| per atom asserted (bits) at 200 fit + 200 eval rows.
DONOR_TOL = 0.15


def _table(model: Path, task: str, out: Path, *extra: str):
    from pidlib.analysis.spectra import find_runs, spectra_from_run
    from pidlib.cli import main

    spec = f"world:{task}?n={N}&seed=0&split=eval"
    assert main(["run", "--model", str(model), "--dataset", spec, "--out", str(out),
                 "--batch-size", "16", "--no-progress", *extra]) == 0
    runs = [r for r in find_runs(out) if f"world-{task}-" in str(r)]
    assert len(runs) == 1
    return spectra_from_run(runs[0], n_boot=0, layers=False).set_index("probes")


@pytest.mark.slow
@pytest.mark.skipif(not SMOKE.exists(), reason="no smoke zoo (python -m pidlib.zoo build --config smoke)")
@pytest.mark.parametrize("task", ["color", "exist", "describe", "knowledge"])
def test_donor_probes_recover_the_exact_reference(task, tmp_path):
    t = _table(SMOKE, task, tmp_path, "--donors", "8")
    ref, est = t.loc["reference"], t.loc["donors8"]
    assert est.correction == "split-half" and est.trained and est.coherent, est
    if task in DESIGNED:                      # learned tasks: the reference has the designed atom
        assert ref.accuracy > 0.75, ref
        assert max(ATOMS, key=lambda a: ref[a]) == DESIGNED[task], ref[list(ATOMS)]
        assert ref[DESIGNED[task]] >= 0.6 * ref.total
    # The features carry more than the generating variables (shapes, sizes, positions); what
    # the model draws from them enters BATCH's total but not the reference's (on color, where
    # the smoke model is 64 % right, about 0.2 bit), and it shows up as synergy.
    gap = est.total - ref.total
    errs = {a: est[f"err_{a}"] - (gap if a == "synergy" else 0.0) for a in ATOMS}
    for a in ATOMS:
        assert abs(errs[a]) <= DONOR_TOL, (task, a, errs, est[list(ATOMS)], ref[list(ATOMS)])


@pytest.mark.slow
@pytest.mark.skipif(not SMOKE.exists(), reason="no smoke zoo (python -m pidlib.zoo build --config smoke)")
def test_noise_probes_are_flagged_where_they_are_off(tmp_path):
    t = _table(SMOKE, "describe", tmp_path)
    est = t.loc["noise"]
    worst = max(abs(est[f"err_{a}"]) for a in ATOMS)
    assert worst > 0.2 and not est.coherent, est          # far off the reference, and says so
    assert max(est.kl_vis, est.kl_lang) > 0.05


@pytest.mark.slow
def test_untrained_model_carries_almost_no_information(tmp_path):
    from pidlib.zoo.config import SCALES
    from pidlib.zoo.model import make_model, make_processor

    proc = make_processor(SCALES["small"].patch_size)
    model = make_model(SCALES["small"], proc.tokenizer, seed=0)
    path = tmp_path / "random-small"
    model.save_pretrained(path)
    proc.save_pretrained(path)
    for task in ("exist", "knowledge"):
        # tau = 0: no uniform fallback, so "no information" is not an artefact of the threshold
        t = _table(path, task, tmp_path / "runs", "--tau", "0")
        assert t.loc["noise"].total < 0.05 and t.loc["reference"].total < 0.05, (task, t)


#: A rebuild of the smoke zoo with the same seed: weights within this (absolute) tolerance
#: of the committed ones, and spectra within SPECTRUM_TOL bit. With torch's CPU kernels
#: pinned to AVX2 (pidlib.cpu) an AVX2 and an AVX-512 machine give identical bits; without
#: the pin they do not (fusion-small-s0 0.36 apart), as training turns rounding into drift.
WEIGHT_TOL = 1e-4
SPECTRUM_TOL = 1e-3


@pytest.mark.slow
@pytest.mark.skipif(not SMOKE.exists(), reason="no smoke zoo (python -m pidlib.zoo build --config smoke)")
def test_rebuild_with_the_same_seed_reproduces_the_smoke_spectra(tmp_path):
    import torch
    from safetensors.torch import load_file

    from pidlib.zoo.build import build

    torch.set_num_threads(1)
    build("smoke", tmp_path / "smoke", progress=False, log=False)
    for name in ("fusion-small-s0", "aligned-small-s0"):
        a = load_file(str(SMOKE.parent / name / "model.safetensors"))
        b = load_file(str(tmp_path / "smoke" / name / "model.safetensors"))
        assert a.keys() == b.keys()
        worst = max(float((a[k].float() - b[k].float()).abs().max()) for k in a)
        assert worst <= WEIGHT_TOL, (name, worst)
    committed = _table(SMOKE, "exist", tmp_path / "runs-committed")
    rebuilt = _table(tmp_path / "smoke" / "fusion-small-s0", "exist", tmp_path / "runs-rebuilt")
    for probes in ("noise", "reference"):
        for a in (*ATOMS, "total"):
            assert abs(committed.loc[probes, a] - rebuilt.loc[probes, a]) <= SPECTRUM_TOL, (probes, a)
