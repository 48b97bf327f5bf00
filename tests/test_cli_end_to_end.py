"""End to end: a tiny LLaVA saved with save_pretrained (model + processor) works by path
through ``pidlib run`` (fit and eval splits of a conv-format JSON fixture with images) and
``pidlib spectrum``; a second run resumes without duplicating rows."""
import json
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

from pidlib.cli import main  # noqa: E402

QUESTIONS = [("What color is the circle ?", ["red", "green", "blue"]),
             ("How many ?", ["one", "two"]),
             ("What shape is on the left ?", ["circle", "square", "triangle", "yes"]),
             ("Is there a red square ?", ["yes", "no"])]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    from PIL import Image

    from pidlib.models.tiny import tiny_llava

    root = tmp_path_factory.mktemp("e2e")
    model, proc = tiny_llava(seed=1)
    model.save_pretrained(root / "model")
    proc.save_pretrained(root / "model")
    rng = np.random.RandomState(0)
    (root / "imgs").mkdir()
    recs = []
    for i in range(10):
        q, opts = QUESTIONS[i % len(QUESTIONS)]
        Image.fromarray((rng.rand(16 + i, 20, 3) * 255).astype("uint8")).save(root / "imgs" / f"{i}.png")
        human = "<image>\n" + q + "\n" + "\n".join(f"{'ABCD'[j]}. {o}" for j, o in enumerate(opts))
        recs.append({"id": str(i), "image": f"{i}.png", "num_options": len(opts),
                     "split": "fit" if i < 6 else "eval",
                     "conversations": [{"from": "human", "value": human},
                                       {"from": "gpt", "value": "AB"[i % 2]}]})
    (root / "data.json").write_text(json.dumps(recs))
    return root


def _run(root, split, *extra):
    return main(["run", "--model", str(root / "model"), "--dataset", f"conv:{root / 'data.json'}",
                 "--images", str(root / "imgs"), "--split", split, "--fit-split", "fit",
                 "--out", str(root / "runs"), "--batch-size", "4", "--layers", "--no-progress", *extra])


def test_run_and_spectrum_end_to_end(workdir, capsys):
    from pidlib.store import find_runs, load_noise_stats

    assert _run(workdir, "eval") == 0          # computes the fit split's noise statistics first
    assert _run(workdir, "fit") == 0
    assert _run(workdir, "fit") == 0           # resumes: nothing new
    out = capsys.readouterr().out
    assert "complete (6 rows); nothing to do" in out       # a finished run writes nothing

    runs = {r.split: r for r in find_runs(workdir / "runs")}
    assert set(runs) == {"fit", "eval"} and runs["fit"].hash == runs["eval"].hash
    fit = runs["fit"].read()
    ev = runs["eval"].read()
    assert sorted(fit["index"]) == [str(i) for i in range(6)]
    assert sorted(ev["index"]) == [str(i) for i in range(6, 10)]
    for col in ("x1", "x2", "p_full", "p_vis", "p_lang", "lens_full", "lens_vis", "lens_lang",
                "mass_full", "mass_vis", "mass_lang", "pred", "answer", "n_options"):
        assert col in fit.columns, col
    p = np.stack(fit["p_full"].to_numpy())
    assert p.shape == (6, 4) and np.allclose(p.sum(1), 1, atol=1e-5)
    for row, k in zip(p, fit["n_options"]):
        assert np.all(row[k:] == 0)
    assert len(fit["lens_full"][0]) == 2 * 4
    t, meta = load_noise_stats(runs["fit"].dir)
    assert meta["split"] == "fit" and meta["n_samples"] == 6 and t["sigma_text"].dtype == torch.float64
    assert "command" in runs["eval"].meta()

    assert main(["spectrum", str(workdir / "runs"), "--fit-split", "fit", "--eval-split", "eval",
                 "--json", "--n-boot", "0"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert isinstance(out, list) and len(out) == 1       # always a list, one object per spectrum
    res = out[0]
    for key in ("redundancy", "unique1", "unique2", "synergy", "total", "accuracy",
                "accuracy_language_only", "d_vision"):
        assert np.isfinite(res[key]), key
    assert res["n_fit"] == 6 and res["n_eval"] == 4 and res["split"] == "separate runs"
    assert res["d_vision"] == pytest.approx(res["accuracy"] - res["accuracy_language_only"])
    assert sum(res[a] for a in ("redundancy", "unique1", "unique2", "synergy")) == pytest.approx(res["total"], abs=1e-6)
    assert res["config"]["probes"] == "noise" and res["config"]["tau"] is not None and res["config"]["hash"]
    assert isinstance(res["coherent"], bool) and isinstance(res["trained"], bool)

    assert main(["spectrum", str(workdir / "runs"), "--fit-split", "fit", "--eval-split", "eval",
                 "--n-boot", "2", "--layers"]) == 0
    text = capsys.readouterr().out
    assert "R " in text and "D_vision" in text and "[" in text and "layer 1" in text
    assert "probes noise" in text and ("coherent" in text or "INCOHERENT" in text)


def test_run_with_noise_draws_and_donors(workdir, capsys):
    """--noise-draws / --donors are part of the run key and give complete runs; donors come
    from samples with the same number of options (a sample alone with its count is an error,
    or skipped with --on-error skip)."""
    from pidlib.store import find_runs

    assert _run(workdir, "eval", "--noise-draws", "3") == 0
    whole = ["run", "--model", str(workdir / "model"), "--dataset", f"conv:{workdir / 'data.json'}",
             "--images", str(workdir / "imgs"), "--out", str(workdir / "runs"), "--batch-size", "4", "--no-progress"]
    assert main(whole + ["--donors", "2"]) == 0                     # every row: each option count has 2+ samples
    capsys.readouterr()
    assert _run(workdir, "eval", "--donors", "2") == 2              # eval rows 6..9: 6 is the only 4-option one
    assert "sample '6' is the only one with 4 options" in capsys.readouterr().err
    assert _run(workdir, "eval", "--donors", "2", "--on-error", "skip") == 0
    assert "2 skipped" in capsys.readouterr().out                   # 6 (4 options) and 8 (3 options)
    runs = find_runs(workdir / "runs")
    cfgs = {(r.split, r.meta()["config"].get("noise_draws"), r.meta()["config"].get("donors")): r for r in runs}
    assert {("eval", 3, 0), ("all", 1, 2), ("eval", 1, 2)} <= set(cfgs)
    for key, want in ((("eval", 3, 0), range(6, 10)), (("all", 1, 2), range(10)), (("eval", 1, 2), (7, 9))):
        df = cfgs[key].read()
        assert sorted(df["index"], key=int) == [str(i) for i in want]
        p = np.stack(df["p_vis"].to_numpy())
        assert np.allclose(p.sum(1), 1, atol=1e-5)
        draws = np.stack(df["p_vis_draws"].to_numpy()).reshape(len(df), -1, p.shape[1])
        assert draws.shape[1] == max(key[1:]) and np.allclose(draws.mean(1), p, atol=1e-6)
        for row, k in zip(draws.reshape(len(df), -1), df["n_options"]):
            assert np.all(row.reshape(-1, p.shape[1])[:, k:] == 0)     # no mass past the sample's letters
    assert _run(workdir, "eval", "--donors", "2", "--noise-draws", "2") == 2
    assert "donors" in capsys.readouterr().err


def test_model_fingerprint_follows_the_weights(tmp_path):
    from pidlib.models.identity import model_fingerprint

    d = tmp_path / "m"
    d.mkdir()
    (d / "config.json").write_text("{}")
    (d / "model.safetensors").write_bytes(b"\0" * 100)
    a = model_fingerprint(str(d))
    assert a == model_fingerprint(str(d)) and len(a) == 32
    (d / "model.safetensors").write_bytes(b"\1" + b"\0" * 99)      # retrained: same size, new bytes
    assert model_fingerprint(str(d)) != a
    assert model_fingerprint("org/not-a-local-dir") == ""


def test_cli_errors_are_clear(workdir, capsys):
    rc = main(["run", "--model", str(workdir / "model"), "--dataset", f"conv:{workdir / 'missing.json'}",
               "--split", "fit", "--out", str(workdir / "runs2"), "--no-progress"])
    assert rc == 2 and "missing.json" in capsys.readouterr().err
    assert _run(workdir, "test") == 2
    err = capsys.readouterr().err
    assert "no samples of split 'test'" in err and err.count("\n") == 1 and err.startswith("error:")


def test_bad_rows_raise_or_are_skipped_and_reported(workdir, capsys):
    from pidlib.store import find_runs

    recs = json.loads((workdir / "data.json").read_text())[:3]
    recs[1]["image"] = "no_such_image.png"
    for r in recs:
        r["split"] = "fit"
    (workdir / "bad.json").write_text(json.dumps(recs))
    args = ["run", "--model", str(workdir / "model"), "--dataset", f"conv:{workdir / 'bad.json'}",
            "--images", str(workdir / "imgs"), "--split", "fit", "--out", str(workdir / "runs_bad"),
            "--no-progress"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "bad.json, row 2" in err and "no_such_image.png" in err
    assert main(args + ["--on-error", "skip"]) == 0
    assert "1 skipped" in capsys.readouterr().out
    (run,) = find_runs(workdir / "runs_bad")
    assert sorted(run.done()) == ["0", "2"]
    (sk,) = run.meta()["skipped"]
    assert sk["row"] == 2 and "bad.json, row 2" in sk["message"]
