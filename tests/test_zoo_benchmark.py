"""The zoo training benchmark runs end to end at a tiny size (its figures are not asserted)."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_zoo_training_benchmark_smoke():
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "zoo_train.py"), "--smoke", "--scales", "tiny",
                          "--steps", "1"], capture_output=True, text=True, timeout=600, check=True).stdout
    assert "sharing one encoding" in out and "x\n" in out
    row = next(line for line in out.splitlines() if line.startswith("tiny"))
    assert row.count("ms") >= 5 and row.count("x") >= 2, row
