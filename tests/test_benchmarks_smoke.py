"""The estimator benchmark runs end to end at tiny sizes (its figures are not asserted)."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_estimator_benchmark_smoke():
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "estimators.py"), "--smoke", "--threads", "1"],
                         capture_output=True, text=True, timeout=300, check=True).stdout
    assert "speed-up for the sweep" in out
    assert "max|pidlib-baseline|" in out
