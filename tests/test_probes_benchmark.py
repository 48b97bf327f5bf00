"""benchmarks/pipeline.py runs at a tiny shape on CPU (both patterns, prefix sharing)."""
import importlib.util
import json
from pathlib import Path

import torch

torch.set_num_threads(1)


def test_benchmark_runs_tiny(tmp_path, capsys):
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "pipeline.py"
    spec = importlib.util.spec_from_file_location("bench_pipeline", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "bench.json"
    assert mod.main(["--tiny", "--n", "2", "--batch-size", "2", "--repeats", "1", "--prefix-sharing",
                     "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert set(res["samples_per_s"]) == {"paper", "ours", "ours+prefix"}
    assert all(v > 0 for v in res["samples_per_s"].values())
    assert "vs paper" in capsys.readouterr().out


def test_benchmark_refuses_the_7b_shape_without_cuda(capsys):
    import pytest

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "pipeline.py"
    spec = importlib.util.spec_from_file_location("bench_pipeline2", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(SystemExit):
        mod.main(["--shape", "llava-1.5-7b"])
    assert "needs CUDA" in capsys.readouterr().err
