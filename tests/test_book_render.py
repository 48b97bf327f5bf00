"""Headless Chromium renders every chapter: figures, math, no failed or external request."""
from __future__ import annotations

import sys

import pytest

import _book_session as S

sys.path.insert(0, str(S.ROOT / "tools"))
import check_html  # noqa: E402

CHROMIUM = check_html.find_chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (Debian package `chromium`); "
                                                          "render check skipped")


def test_every_chapter_renders():
    rc, html = S.built_html()
    assert rc == 0
    records = check_html.check_build(html, CHROMIUM, {"notebooks/01_five_distributions": 2,
                                                      "notebooks/02_world_zoo": 2,
                                                      "notebooks/03_task_regimes": 2,
                                                      "notebooks/05_scaling": 1})
    assert len(records) >= 14
    bad = {r["page"]: r["problems"] for r in records if r["problems"]}
    assert not bad, bad
    assert any(r["math"] > 0 and r["typeset"] == r["math"] for r in records)


def test_checker_fails_on_cdn_and_broken_image(tmp_path):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "index.html").write_text("<html><body>x</body></html>")
    (tmp_path / "notebooks" / "bad.html").write_text(
        '<html><head><script src="https://cdn.example.invalid/x.js"></script></head>'
        '<body><main><img src="missing.png"></main></body></html>')
    records = check_html.check_build(tmp_path, CHROMIUM)
    probs = " ".join(records[0]["problems"])
    assert "outside the build" in probs and "images not rendered" in probs
