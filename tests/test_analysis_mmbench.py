"""MMBench CircularEval, per-category accuracy and per-category spectra of a run
(pidlib.analysis.mmbench, ``pidlib mmbench``), on a run whose rows are designed so every
number is known."""
from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

sys.path.insert(0, str(Path(__file__).parent))
from test_run_trust import png_b64  # noqa: E402

from pidlib.analysis.mmbench import circular_accuracy, mmbench_report  # noqa: E402
from pidlib.cli import main  # noqa: E402
from pidlib.store import RunStore  # noqa: E402

M = 1_000_000


def design():
    """(index, category, correct, mass) rows: cat1 has 10 questions x 2 rotations (groups
    0-5 right, 6-7 right only in the original, 8-9 wrong), cat2 has 3 one-row questions
    (10 right, 11 wrong, 12 right but below tau: a uniform fallback, wrong)."""
    out = []
    for g in range(10):
        for rot in (0, 1):
            ok = g < 6 or (g < 8 and rot == 0)
            out.append((g + rot * M, "cat1", ok, 0.9))
    out += [(10, "cat2", True, 0.9), (11, "cat2", False, 0.9), (12, "cat2", True, 0.1)]
    return out


@pytest.fixture()
def run(tmp_path):
    rng = np.random.RandomState(0)
    tsv = tmp_path / "MMBench_DEV_EN.tsv"
    with open(tsv, "w", newline="") as f:
        w = csv.writer(f, delimiter="\t")
        w.writerow(["index", "question", "A", "B", "C", "answer", "category", "l2-category", "split", "image"])
        for idx, cat, _, _ in design():
            w.writerow([idx, f"q{idx % M}", "x", "y", "z", "A", cat, "l2" + cat[-1], "dev", png_b64(rng)])
    st = RunStore(tmp_path / "runs", "m", "MMBench_DEV_EN", "all", {"tau": 0.3, "noise_draws": 1}, data_id="d" * 32)
    rows = []
    for idx, cat, ok, mass in design():
        p = np.array([0.7, 0.2, 0.1, 0.0]) if ok else np.array([0.2, 0.7, 0.1, 0.0])
        if mass < 0.3:
            p = np.array([1 / 3, 1 / 3, 1 / 3, 0.0])
        q = rng.dirichlet([1, 1, 1])
        rows.append({"index": str(idx), "answer": "A", "n_options": 3, "pred": "A" if ok else "B",
                     "x1": rng.randn(6), "x2": rng.randn(6), "p_full": p, "p_vis": np.r_[q, 0],
                     "p_lang": np.array([0.1, 0.8, 0.1, 0.0]) if idx != 3 else np.array([0.8, 0.1, 0.1, 0.0]),
                     "mass_full": mass, "mass_vis": 0.9, "mass_lang": 0.9})
    st.append(rows)
    st.update_meta(data={"format": "mmbench", "sources": [{"spec": f"mmbench:{tsv}"}]}, status="complete")
    return st


def test_circular_eval_and_categories(run):
    rep = mmbench_report(run, min_rows=20, spectra=False)
    o, c1, c2 = rep["overall"], rep["categories"]["cat1"], rep["categories"]["cat2"]
    assert (o["n_rows"], o["n_questions"]) == (23, 13)
    assert o["circular_accuracy"] == pytest.approx(7 / 13)
    assert c1["circular_accuracy"] == pytest.approx(6 / 10) and c1["accuracy"] == pytest.approx(14 / 20)
    assert c1["accuracy_original"] == pytest.approx(8 / 10)
    assert c2["circular_accuracy"] == pytest.approx(1 / 3) and c2["n_questions"] == 3
    # language-only: only row 3 (an original, whose rotation is wrong) is right -> no question survives
    assert c1["accuracy_language_only"] == pytest.approx(1 / 20) and c1["circular_accuracy_language_only"] == 0
    assert set(rep["l2_categories"]) == {"l21", "l22"} and rep["too_small"] == {"cat2": 3}
    # the helper alone: a question without any gold answer is left out
    p = np.array([[0.9, 0.1], [0.9, 0.1], [0.1, 0.9]])
    assert circular_accuracy(p, ["A", "A", None], ["0", "0", "1"]) == (1.0, 1)


def test_per_category_spectrum_is_the_spectrum_of_the_category_rows(run):
    from pidlib.analysis.spectrum import run_rows, spectra

    rep = mmbench_report(run, min_rows=20, seed=3)
    assert set(rep["spectra"]) == {"cat1"} and rep["min_rows"] == 20
    rows = run_rows(run.read(), "x", layers=False)
    sel = np.array([not i.endswith(("10", "11", "12")) or len(i) > 2 for i in rows.index])
    direct = [r for r in spectra(rows.subset(sel), probes="noise", tau=0.3, seed=3, layers=False) if r["layer"] < 0]
    got = rep["spectra"]["cat1"]
    assert got["n_fit"] + got["n_eval"] == 20
    for a in ("redundancy", "unique1", "unique2", "synergy"):
        assert got[a] == pytest.approx(direct[0][a], abs=1e-9)
    with pytest.raises(ValueError, match="min_rows"):
        mmbench_report(run, min_rows=2)


def test_cli_mmbench(run, capsys, tmp_path):
    assert main(["mmbench", str(run.dir), "--json", "--min-rows", "20", "--no-spectra"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep[0]["overall"]["circular_accuracy"] == pytest.approx(7 / 13)
    assert main(["mmbench", str(run.root), "--min-rows", "100", "--no-spectra"]) == 0   # a store root
    text = capsys.readouterr().out
    assert "CircularEval  53.8% over 13 questions" in text and "no spectrum (fewer than 100 rows): cat1 (20), cat2 (3)" in text
    assert main(["mmbench", str(tmp_path / "nowhere")]) == 2
    assert "neither a run directory" in capsys.readouterr().err
    other = tmp_path / "other.tsv"
    other.write_text("index\tquestion\tA\tB\tanswer\timage\n999\tq\tx\ty\tA\t" + png_b64(np.random.RandomState(1)) + "\n")
    assert main(["mmbench", str(run.dir), "--dataset", f"mmbench:{other}", "--no-spectra"]) == 2
    assert "stored rows are not in the dataset" in capsys.readouterr().err
