"""The built-page checks fail on bad pages and pass on good ones: a figure too narrow for
the text column, NaN or a data/zoo/ path in a table, a code toggle as the first element
(static checks in pidlib.book, run by `make book`; the same in headless Chromium in
tools/check_html.py, which also measures the column and catches clipped tables)."""
from __future__ import annotations

import struct
import sys
import zlib
from pathlib import Path

import pytest

from pidlib import book

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import check_html  # noqa: E402

CHROMIUM = check_html.find_chromium()
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (Debian package `chromium`)")

TITLE = '<h1>A chapter<a class="headerlink" href="#x">#</a></h1>'
PROSE = "<p>What the reader learns first.</p>"
TOGGLE = ('<div class="cell tag_hide-input docutils container"><details class="hide above-input">'
          '<summary><p>Show code cell source</p></summary><div class="cell_input docutils container">'
          '<pre>x = 1</pre></div></details></div>')


def png(path: Path, width: int, height: int = 40) -> None:
    """A tiny valid grey PNG of the given size."""
    raw = b"".join(b"\x00" + b"\x80" * width for _ in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def page(body: str) -> str:
    style = "<style>article{width:700px;padding:0 12px;box-sizing:content-box}</style>"
    return (f"<html><head>{style}</head><body><main><article class=\"bd-article\"><section>{TITLE}"
            f"{body}</section></article></main></body></html>")


def site(tmp_path: Path, pages: dict[str, str]) -> Path:
    (tmp_path / "notebooks").mkdir(parents=True)
    (tmp_path / "_images").mkdir()
    (tmp_path / "index.html").write_text("<html><body>index</body></html>")
    png(tmp_path / "_images" / "narrow.png", 600)
    png(tmp_path / "_images" / "sharp.png", 1400)
    for name, body in pages.items():
        (tmp_path / "notebooks" / f"{name}.html").write_text(page(body))
    return tmp_path


BAD = {
    "narrow_figure": PROSE + '<figure><img src="../_images/narrow.png" width="600"></figure>',
    "nan_cell": PROSE + "<table><tr><th>S</th></tr><tr><td>NaN</td></tr></table>",
    "zoo_path": PROSE + "<table><tr><th>model</th></tr><tr><td>data/zoo/fusion-large</td></tr></table>",
    "toggle_first": TOGGLE + PROSE,
}
GOOD = {
    "sharp_figure": PROSE + '<figure><img src="../_images/sharp.png" width="650"></figure>',
    "explained_cell": PROSE + "<table><tr><th>S</th></tr><tr><td>incoherent</td></tr>"
                              "<tr><td>fusion-L</td></tr><tr><td>Nano</td></tr></table>",
    "prose_first": PROSE + TOGGLE,
}
EXPECT = {"narrow_figure": "px wide", "nan_cell": "NaN", "zoo_path": "data/zoo/", "toggle_first": "code toggle"}


def test_static_checks_fail_on_bad_pages(tmp_path):
    html = site(tmp_path, BAD)
    for name, needle in EXPECT.items():
        probs = book.page_problems(html / "notebooks" / f"{name}.html", html, column_px=700)
        assert len(probs) == 1 and needle in probs[0], (name, probs)


def test_static_checks_pass_on_good_pages(tmp_path):
    html = site(tmp_path, GOOD)
    assert book.check_pages(html, column_px=700) == []


def test_static_check_sees_a_visible_code_cell_first(tmp_path):
    cell = '<div class="cell docutils container"><div class="cell_input docutils container"><pre>x</pre></div></div>'
    html = site(tmp_path, {"code_first": cell + PROSE, "output_first": '<div class="cell tag_remove-input">'
                           '<div class="cell_output"><p>A glued table</p></div></div>' + PROSE})
    probs = book.check_pages(html, column_px=700)
    assert len(probs) == 1 and "code_first" in probs[0] and "a code cell" in probs[0]


@needs_chromium
def test_browser_checks_fail_on_bad_pages_and_pass_on_good(tmp_path):
    html = site(tmp_path, {**BAD, **GOOD,
                           "wide_table": PROSE + "<table><tr>" + "".join(f"<td>column{i:03d}</td>" for i in range(40))
                                         + "</tr></table>",
                           "wide_math": PROSE + '<div class="math" style="overflow-x:auto"><span style="display:'
                                        'inline-block;width:2000px">x</span></div>'})
    records = {r["page"].split("/")[-1][:-5]: r for r in check_html.check_build(html, CHROMIUM)}
    for name, needle in {**EXPECT, "nan_cell": "'NaN'", "wide_table": "wider than the text column",
                         "wide_math": "equation wider"}.items():
        probs = [p for p in records[name]["problems"]]
        assert any(needle in p for p in probs), (name, probs)
    for name in GOOD:
        assert records[name]["problems"] == [], (name, records[name]["problems"])
    assert records["sharp_figure"]["column"] == pytest.approx(700, abs=2)


@needs_chromium
def test_screenshots_are_written(tmp_path):
    html = site(tmp_path / "site", {"prose_first": GOOD["prose_first"]})
    check_html.check_build(html, CHROMIUM, screenshots=tmp_path / "shots")
    shot = tmp_path / "shots" / "notebooks__prose_first.png"
    assert shot.exists() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">I", shot.read_bytes()[16:20])[0] == check_html.WINDOW_WIDTH
