"""Spectra tables from run stores: a synthetic run with known structure goes through
pidlib.store.RunStore and pidlib.analysis.build_spectra (tiny BATCH settings)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from pidlib.analysis import spectra as SP
from pidlib.analysis.tables import SPECTRA_COLUMNS, load_spectra
from pidlib.estimators.synthetic import gate, sample_discrete
from pidlib.store import RunStore

torch.set_num_threads(1)
TINY = {"epochs": 2, "batch_size": 64, "min_steps": 60, "sinkhorn_iters_eval": 100}
LETTERS = "ABCD"


def _pad(p, k=4):
    out = np.zeros((len(p), k), np.float32)
    out[:, : p.shape[1]] = p
    return out / out.sum(1, keepdims=True)


def make_run(root, name="zoo/tiny-1", g="xor", n=240, seed=0, layers=0, config=None, world_tasks=None):
    d = sample_discrete(gate(g), n, embedding="noisy", dim=8, sigma=0.3, seed=seed)
    rng = np.random.default_rng(seed)
    p12, p1, p2 = _pad(d["p_y_x1x2"]), _pad(d["p_y_x1"]), _pad(d["p_y_x2"])
    ys = np.array([rng.choice(4, p=row) for row in p12])
    store = RunStore(root, name, "world:all", "eval", config or {"tau": 0.1, "seed": seed, "layers": bool(layers)})
    store.update_meta(family="tiny", scale=1.0, stage="instruct", step=100, command="tests: make_run")
    rows = []
    for i in range(n):
        index = str(i) if not world_tasks else f"{world_tasks[i % len(world_tasks)]}-eval-0-{i // len(world_tasks)}"
        r = {"index": index, "answer": LETTERS[ys[i]], "n_options": 2, "pred": LETTERS[int(p12[i].argmax())],
             "x1": d["x1"][i], "x2": d["x2"][i], "p_full": p12[i], "p_vis": p1[i], "p_lang": p2[i],
             "mass_full": 1.0, "mass_vis": 1.0, "mass_lang": 1.0}
        if layers:
            r["lens_full"] = np.tile(p12[i], layers)
            r["lens_vis"] = np.tile(p1[i], layers)
            r["lens_lang"] = np.tile(p2[i], layers)
        rows.append(r)
    store.append(rows[: n // 2])
    store.append(rows[n // 2:])
    return store.dir


def test_build_spectra_from_store(tmp_path):
    run = make_run(tmp_path / "runs", layers=3)
    assert SP.find_runs(tmp_path / "runs") == [run]
    t = SP.build_spectra([run], seed=0, n_boot=3, batch_kwargs=TINY)
    assert list(t.columns[: len(SPECTRA_COLUMNS)]) == SPECTRA_COLUMNS
    assert sorted(t.layer.tolist()) == [-1, 0, 1, 2]
    assert set(t.probes) == {"noise"}          # not world rows: no reference, no discretized rows
    out = t[t.layer == -1].iloc[0]
    assert out.model == "zoo/tiny-1" and out.family == "tiny" and out.stage == "instruct" and out.step == 100
    assert out.n_fit + out.n_eval == 240
    # XOR: synergy dominates (the estimator is tiny, the structure is not)
    assert out.synergy > 0.5 and out.synergy > 3 * max(out.redundancy, out.unique1, out.unique2)
    assert out.synergy_lo <= out.synergy_hi and not np.isnan(out.synergy_lo) and out.n_boot == 5  # 3 fits x 2 evals - 1
    # the atoms are not clipped: they sum to the total; true conditionals are coherent
    assert out[["redundancy", "unique1", "unique2", "synergy"]].sum() == pytest.approx(out.total, abs=1e-4)
    assert out.coherent and out.trained and out.steps == 60
    assert np.isnan(out.err_synergy)
    # full probe = truth here: accuracy is that of the argmax of p(y|x1,x2)
    assert 0.5 < out.accuracy <= 1.0
    assert out.d_vision == pytest.approx(out.accuracy - out.accuracy_language_only)
    # lens layers equal the output distributions, so every layer repeats the output spectrum roughly
    assert t[t.layer >= 0].synergy.min() > 0.5
    assert out.tau == 0.1


def test_layer_spectra_on_a_subset(tmp_path):
    """``layer_samples``: the output spectrum on every row, the lens spectra on a seeded
    subset -- the same rows the full call gives for that subset (estimates have their own
    seeds, so leaving the subset's output spectrum out changes nothing)."""
    from pidlib.analysis.spectrum import spectra
    run = make_run(tmp_path / "runs", n=240, layers=3)
    t = SP.spectra_from_run(run, n_boot=2, layer_samples=100, batch_kwargs=TINY)
    out, lay = t[t.layer == -1].iloc[0], t[t.layer >= 0]
    assert out.n_fit + out.n_eval == 240 and set(lay.n_fit + lay.n_eval) == {100} and len(lay) == 3
    df, _ = SP.read_run(run)
    sub = df.sample(n=100, random_state=0).sort_values("index").reset_index(drop=True)
    full = [r for r in spectra(SP.run_rows(sub, "x", layers=True), n_boot=2, tau=0.1, batch_kwargs=TINY)
            if r["layer"] >= 0]
    np.testing.assert_allclose(lay.synergy.to_numpy(), [r["synergy"] for r in full], atol=1e-9)
    np.testing.assert_allclose(lay.synergy_hi.to_numpy(), [r["synergy_hi"] for r in full], atol=1e-9)


def test_world_rows_split_by_task_with_reference_and_errors(tmp_path):
    run = make_run(tmp_path / "runs", n=320, world_tasks=["color", "knowledge"])
    t = SP.build_spectra([run], n_boot=0, batch_kwargs=TINY)
    assert sorted(set(t.task)) == ["color", "knowledge"]
    assert sorted(t.probes) == sorted(["reference", "noise", "discretized"] * 2)
    assert t.synergy_lo.isna().all()
    est = t[t.probes == "noise"].set_index("task")
    ref = t[t.probes == "reference"].set_index("task")
    for a in ("redundancy", "unique1", "unique2", "synergy"):   # error = estimate - reference
        np.testing.assert_allclose(est[f"err_{a}"], est[a] - ref.loc[est.index, a], atol=1e-5)
    assert (ref.n_fit == 0).all() and (ref.n_eval == 160).all() and ref.coherent.all()


def test_cli_writes_table_with_provenance(tmp_path):
    from pidlib.analysis.__main__ import main
    run = make_run(tmp_path / "runs", n=160)
    out = tmp_path / "results" / "spectra.csv"
    assert main(["spectra", "--runs", str(run), "--out", str(out), "--n-boot", "0"]) == 0
    t = load_spectra(out)
    assert len(t) == 1
    prov = json.loads((tmp_path / "results" / "spectra.provenance.json").read_text())
    assert prov["command"].startswith("python -m pidlib.analysis spectra")
    assert "numpy" in prov["versions"] and prov["date"]




def test_bad_rows_name_row_and_problem(tmp_path):
    run = make_run(tmp_path / "runs", n=40)
    df, _ = SP.read_run(run)
    bad = df.copy()
    bad.at[5, "p_full"] = np.array([0.7, 0.7, 0, 0], np.float32)
    with pytest.raises(SP.RunDataError, match=r"row 5 \(5\), column 'p_full': sums to 1.4"):
        SP.run_arrays(bad, "run.parquet")
    bad = df.copy()
    bad.at[3, "p_vis"] = np.array([0.5, 0.25, 0.25, 0], np.float32)
    with pytest.raises(SP.RunDataError, match=r"row 3 \(3\), column 'p_vis': probability mass past n_options=2"):
        SP.run_arrays(bad, "run.parquet")
    bad = df.copy()
    bad.at[2, "x1"] = np.full(8, np.nan, np.float32)
    with pytest.raises(SP.RunDataError, match=r"row 2 \(2\), column 'x1': NaN"):
        SP.run_arrays(bad, "run.parquet")
    with pytest.raises(SP.RunDataError, match=r"missing column\(s\) \['p_lang'\]"):
        SP.run_arrays(df.drop(columns=["p_lang"]), "run.parquet")
    with pytest.raises(SP.RunDataError, match="lens_full"):
        SP.run_arrays(df, "run.parquet", layers=True)
    with pytest.raises(ValueError, match="n_boot"):
        SP.spectra(SP.run_rows(df, "run"), n_boot=1)


def test_no_runs_gives_empty_table(tmp_path):
    assert SP.find_runs(tmp_path / "nothing") == []
    assert len(SP.build_spectra([])) == 0


def test_spectra_in_two_worker_processes_equal_one(tmp_path):
    """fresh_spectra(jobs=2) maps runs over spawned workers; the rows are the same."""
    from pidlib.analysis.pipeline import _map, _spectra_job

    runs = [make_run(tmp_path / "runs", name=f"zoo/tiny-{i}", n=120, seed=i) for i in range(2)]
    kw = dict(seed=0, n_boot=0, batch_kwargs=TINY)
    one = _map(_spectra_job, [(str(r), kw) for r in runs], 1)
    two = _map(_spectra_job, [(str(r), kw) for r in runs], 2)
    for a, b in zip(one, two):
        pd.testing.assert_frame_equal(a, b)
