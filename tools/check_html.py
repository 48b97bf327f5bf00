#!/usr/bin/env python3
"""Open the built book in headless Chromium and check that every chapter renders.

For every chapter page (``book/*.html``, ``notebooks/*.html``) of a Jupyter Book build:

- every image has loaded (``complete`` and ``naturalWidth > 0``), and the page has at
  least the number of figures asked for with ``--min-figures``;
- every math element was typeset by MathJax (one ``mjx-container`` per ``.math``
  element, no ``mjx-merror``), and MathJax itself came from the build;
- no network request failed, none went anywhere but the local server serving the
  build (no CDN), and no JavaScript exception was thrown;
- every figure is sharp: its natural pixel width is at least 1.5 x the text column's
  width in CSS pixels (the column is measured in a 1280 px window);
- no rendered table shows a bare ``NaN`` (or ``nan``, ``<NA>``) or a ``data/zoo/`` path,
  and no table or displayed equation is wider than the text column (nothing clipped on
  the right);
- the first visible element after the page title is prose, not a code toggle ("Show
  code cell source") or a code cell.

With ``--screenshots DIR`` every page is also saved as a full-page PNG at 1280 px.

The build is served on 127.0.0.1 by a throw-away HTTP server; Chromium is driven over
the DevTools protocol with a minimal WebSocket client from the standard library only.

Usage::

    python tools/check_html.py [_build/html] [--chromium PATH] [--json report.json]
                               [--min-figures notebooks/01_five_distributions=2 ...]
                               [--screenshots DIR] [--pages notebooks/03_task_regimes.html ...]

Exit status 0 when every page passes, 1 otherwise, 2 when Chromium cannot be found.
"""
from __future__ import annotations

import argparse
import base64
import functools
import http.server
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


def find_chromium(explicit: str | None = None) -> str | None:
    """Path of a Chromium binary: ``explicit``, ``$CHROMIUM``, or one on PATH."""
    for cand in (explicit, os.environ.get("CHROMIUM")):
        if cand and shutil.which(cand):
            return shutil.which(cand)
    for name in CHROMIUM_NAMES:
        if shutil.which(name):
            return shutil.which(name)
    return None


# ----------------------------------------------------------------------------- websocket
class WebSocket:
    """Just enough of RFC 6455 for the DevTools protocol (text frames, client masking)."""

    def __init__(self, url: str, timeout: float = 30.0):
        u = urllib.parse.urlparse(url)
        self.sock = socket.create_connection((u.hostname, u.port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        req = (f"GET {u.path} HTTP/1.1\r\nHost: {u.hostname}:{u.port}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
        self.sock.sendall(req.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                raise ConnectionError("websocket handshake: connection closed")
            head += chunk
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise ConnectionError(f"websocket handshake failed: {head[:200]!r}")

    def _recv_exact(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("websocket closed")
            buf += chunk
        return buf

    def send(self, text: str) -> None:
        payload = text.encode()
        header = bytearray([0x81])
        n = len(payload)
        if n < 126:
            header.append(0x80 | n)
        elif n < 1 << 16:
            header.append(0x80 | 126)
            header += struct.pack(">H", n)
        else:
            header.append(0x80 | 127)
            header += struct.pack(">Q", n)
        mask = os.urandom(4)
        header += mask
        self.sock.sendall(bytes(header) + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def recv(self) -> str:
        parts = []
        while True:
            b0, b1 = self._recv_exact(2)
            fin, opcode, n = b0 & 0x80, b0 & 0x0F, b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._recv_exact(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._recv_exact(8))[0]
            if b1 & 0x80:
                mask = self._recv_exact(4)
                data = bytes(b ^ mask[i % 4] for i, b in enumerate(self._recv_exact(n)))
            else:
                data = self._recv_exact(n)
            if opcode == 0x8:
                raise ConnectionError("websocket closed by peer")
            if opcode == 0x9:  # ping -> ignore (Chromium does not require pong here)
                continue
            parts.append(data)
            if fin:
                return b"".join(parts).decode()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class DevTools:
    """A DevTools session on one page target (flattened sessions)."""

    def __init__(self, ws: WebSocket):
        self.ws = ws
        self.next_id = 0
        self.events: list[dict] = []
        self.session: str | None = None

    def call(self, method: str, params: dict | None = None, session: bool = True, timeout: float = 60.0) -> dict:
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        self.ws.send(json.dumps(msg))
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = json.loads(self.ws.recv())
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})
            if "method" in m:
                self.events.append(m)
        raise TimeoutError(method)

    def wait_event(self, name: str, timeout: float = 60.0) -> dict:
        for i, e in enumerate(self.events):
            if e["method"] == name:
                return self.events.pop(i)
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = json.loads(self.ws.recv())
            if "method" in m:
                if m["method"] == name:
                    return m
                self.events.append(m)
        raise TimeoutError(name)

    def evaluate(self, expr: str, await_promise: bool = False, timeout: float = 60.0):
        r = self.call("Runtime.evaluate", {"expression": expr, "returnByValue": True,
                                           "awaitPromise": await_promise}, timeout=timeout)
        if "exceptionDetails" in r:
            raise RuntimeError(f"evaluate failed: {r['exceptionDetails'].get('text')}")
        return r.get("result", {}).get("value")


# ----------------------------------------------------------------------------- checks
PAGE_PROBE = r"""
(() => {
  const main = document.querySelector('main') || document.body;
  const article = document.querySelector('article.bd-article') || main;
  const acs = getComputedStyle(article);
  const column = article.clientWidth - parseFloat(acs.paddingLeft || 0) - parseFloat(acs.paddingRight || 0);
  const colRight = article.getBoundingClientRect().left + article.clientWidth - parseFloat(acs.paddingRight || 0);
  const imgs = Array.from(main.querySelectorAll('img')).map(i => ({src: i.getAttribute('src'),
      ok: i.complete && i.naturalWidth > 0}));
  const figs = Array.from(main.querySelectorAll('figure img, .cell_output img, .output img')).map(i => ({
      src: i.getAttribute('src'), natural: i.naturalWidth, shown: i.getBoundingClientRect().width}));
  const maths = main.querySelectorAll('.math').length;
  const typeset = main.querySelectorAll('mjx-container').length;
  const errors = main.querySelectorAll('mjx-merror').length;
  const raw = Array.from(main.querySelectorAll('.math')).filter(e => !e.querySelector('mjx-container')).length;
  const bad = /(^|[^A-Za-z])(NaN|nan|<NA>|NaT)([^A-Za-z]|$)|data\/zoo\//;
  const tables = Array.from(article.querySelectorAll('table')).map((t, k) => {
    const cells = Array.from(t.querySelectorAll('td, th')).map(c => c.textContent.trim());
    const hit = cells.find(c => bad.test(c));
    const r = t.getBoundingClientRect();
    // A table inside a closed <details> is not laid out; measure it only when shown.
    return {index: k + 1, bad: hit === undefined ? null : hit.slice(0, 60),
            overflow: r.width > 0 ? Math.round(r.right - colRight) : 0};
  });
  const visible = e => { const r = e.getBoundingClientRect(); const cs = getComputedStyle(e);
      return r.width > 0 && r.height > 0 && cs.visibility !== 'hidden' && cs.display !== 'none'; };
  const isContent = e => e.matches('p, ul, ol, dl, table, figure, img, pre, blockquote, details, button, '
      + 'h2, h3, h4, h5, h6, div.cell, div.admonition, div.math, div.output, div.sd-card');
  const toggleKind = e => {
    if (e.matches('div.cell')) {
      if (e.querySelector('details') || e.classList.contains('tag_hide-input')) return 'a code toggle';
      const inp = e.querySelector('.cell_input');
      if (inp && visible(inp)) return 'a code cell';
      return null;
    }
    if (e.matches('details, button.toggle-button, .toggle-button') && (e.closest('.cell') ||
        e.querySelector('.cell_input') || e.classList.contains('hide'))) return 'a code toggle';
    return null;
  };
  const wideMath = Array.from(article.querySelectorAll('div.math')).filter(
      e => e.scrollWidth > e.clientWidth + 2).map(e => e.textContent.trim().slice(0, 50));
  let first = null;
  const h1 = article.querySelector('h1');
  for (const e of article.querySelectorAll('*')) {
    if (h1 && (e === h1 || h1.contains(e))) continue;
    if (!visible(e)) continue;
    if (e.matches('div.cell') || isContent(e)) { first = toggleKind(e); break; }
  }
  return {title: document.title, images: imgs, math: maths, typeset: typeset, math_errors: errors,
          untypeset: raw, mathjax: !!(window.MathJax && window.MathJax.version),
          mathjax_version: window.MathJax ? window.MathJax.version : null,
          figures: figs.length, figure_sizes: figs, column: column, tables: tables, first_toggle: first,
          wide_math: wideMath};
})()
"""

WAIT_MATHJAX = r"""
(async () => {
  for (let i = 0; i < 200; i++) {
    if (window.MathJax && window.MathJax.startup && window.MathJax.startup.promise) {
      await window.MathJax.startup.promise; return true;
    }
    if (!document.querySelector('.math')) return true;
    await new Promise(r => setTimeout(r, 50));
  }
  return false;
})()
"""


def chapter_pages(html: Path) -> list[str]:
    """Relative paths of the chapter pages of a build."""
    pages = sorted(str(p.relative_to(html)) for sub in ("book", "notebooks") for p in (html / sub).glob("*.html"))
    if (html / "index.html").exists() and not pages:
        pages = ["index.html"]
    return pages


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # no request log on stderr
        pass


def serve(html: Path):
    """Serve ``html`` on an ephemeral 127.0.0.1 port; returns (server, base_url)."""
    handler = functools.partial(_QuietHandler, directory=str(html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def launch(chromium: str, user_dir: str) -> tuple[subprocess.Popen, str]:
    """Start headless Chromium with a DevTools port; returns (process, browser ws url)."""
    cmd = [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           "--no-first-run", "--no-default-browser-check", "--disable-extensions",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--remote-debugging-port=0", f"--user-data-dir={user_dir}", "about:blank"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    pat = re.compile(r"DevTools listening on (ws://\S+)")
    lines = []
    while time.time() < deadline:
        line = proc.stderr.readline()
        if not line:
            if proc.poll() is not None:
                raise RuntimeError("chromium exited: " + "".join(lines[-20:]))
            continue
        lines.append(line)
        m = pat.search(line)
        if m:
            threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()  # drain
            return proc, m.group(1)
    proc.kill()
    raise RuntimeError("chromium did not report a DevTools endpoint: " + "".join(lines[-20:]))


#: Width of the window every page is checked (and screenshotted) in, CSS px.
WINDOW_WIDTH = 1280
#: A figure's natural width must be at least this times the text column's width.
FIGURE_DENSITY = 1.5


def screenshot(dt: DevTools, path: Path) -> None:
    """Save the whole page (at the window's width) as a PNG: the window is stretched to
    the page's height for the capture, then restored."""
    h = dt.evaluate("Math.ceil(Math.max(document.documentElement.scrollHeight, document.body.scrollHeight))")
    h = max(int(h or 1), 1)
    dt.call("Emulation.setDeviceMetricsOverride", {"width": WINDOW_WIDTH, "height": h,
                                                   "deviceScaleFactor": 1, "mobile": False})
    time.sleep(0.3)
    try:
        shot = dt.call("Page.captureScreenshot", {"format": "png"}, timeout=120)
    finally:
        dt.call("Emulation.setDeviceMetricsOverride", {"width": WINDOW_WIDTH, "height": 900,
                                                       "deviceScaleFactor": 1, "mobile": False})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64decode(shot["data"]))


def layout_problems(info: dict) -> list[str]:
    """Figure sharpness, table contents and width, first element: problems of one page."""
    problems = []
    column = info.get("column") or 0
    need = FIGURE_DENSITY * column
    for f in info.get("figure_sizes", []):
        if f["natural"] and f["natural"] < need:
            problems.append(f"figure {f['src']} is {f['natural']} px wide, under {FIGURE_DENSITY} x the "
                            f"{column:.0f} px text column ({need:.0f} px)")
    for t in info.get("tables", []):
        if t["bad"] is not None:
            problems.append(f"table {t['index']} shows {t['bad']!r} (a bare missing value or a data/zoo/ path)")
        if t["overflow"] > 1:
            problems.append(f"table {t['index']} is {t['overflow']} px wider than the text column (clipped)")
    for m in info.get("wide_math", []):
        problems.append(f"equation wider than the text column (scrolls sideways): {m!r}")
    if info.get("first_toggle"):
        problems.append(f"the first visible element after the title is {info['first_toggle']}")
    return problems


def check_page(dt: DevTools, base: str, page: str, min_figures: int = 0, shots: Path | None = None) -> dict:
    """Load one page and return its check record (``problems`` empty when it passes)."""
    dt.events.clear()
    dt.call("Page.navigate", {"url": base + page})
    dt.wait_event("Page.loadEventFired", timeout=60)
    mj_ok = dt.evaluate(WAIT_MATHJAX, await_promise=True)
    time.sleep(0.2)  # let late requests (fonts) settle
    info = dt.evaluate(PAGE_PROBE)
    # drain pending events
    dt.call("Runtime.evaluate", {"expression": "1"})
    requests, failed, bad_status, exceptions = {}, [], [], []
    for e in dt.events:
        p = e.get("params", {})
        if e["method"] == "Network.requestWillBeSent":
            requests[p["requestId"]] = p["request"]["url"]
        elif e["method"] == "Network.loadingFailed":
            failed.append({"url": requests.get(p["requestId"], "?"), "error": p.get("errorText")})
        elif e["method"] == "Network.responseReceived":
            if p["response"]["status"] >= 400:
                bad_status.append({"url": p["response"]["url"], "status": p["response"]["status"]})
        elif e["method"] == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            exceptions.append((d.get("exception", {}) or {}).get("description") or d.get("text"))
    external = sorted({u for u in requests.values() if not (u.startswith(base) or u.startswith("data:")
                                                             or u.startswith("blob:") or u == "about:blank")})
    failed = [f for f in failed if not f["url"].endswith("favicon.ico")]
    bad_status = [b for b in bad_status if not b["url"].endswith("favicon.ico")]
    problems = []
    if external:
        problems.append(f"requests outside the build: {external}")
    if failed:
        problems.append(f"failed requests: {failed}")
    if bad_status:
        problems.append(f"HTTP errors: {bad_status}")
    if exceptions:
        problems.append(f"JavaScript exceptions: {exceptions}")
    broken = [i["src"] for i in info["images"] if not i["ok"]]
    if broken:
        problems.append(f"images not rendered: {broken}")
    if info["figures"] < min_figures:
        problems.append(f"{info['figures']} figure image(s), expected at least {min_figures}")
    if info["math"]:
        if not mj_ok or not info["mathjax"]:
            problems.append("MathJax did not load")
        if info["untypeset"] or info["math_errors"]:
            problems.append(f"math not typeset: {info['untypeset']} of {info['math']} element(s) raw, "
                            f"{info['math_errors']} MathJax error(s)")
    mathjax_urls = [u for u in requests.values() if "mathjax" in u.lower()]
    if info["math"] and not any(u.startswith(base) for u in mathjax_urls):
        problems.append("MathJax was not served from the build")
    problems += layout_problems(info)
    if shots is not None:
        screenshot(dt, shots / (page[:-5].replace("/", "__") + ".png"))
    return {"page": page, "title": info["title"], "images": len(info["images"]), "figures": info["figures"],
            "math": info["math"], "typeset": info["typeset"], "requests": len(requests),
            "column": info["column"], "mathjax_version": info["mathjax_version"], "problems": problems}


def check_build(html: str | Path, chromium: str, min_figures: dict[str, int] | None = None,
                pages: list[str] | None = None, screenshots: str | Path | None = None) -> list[dict]:
    """Check every chapter page of a build (in a 1280 px window); one record per page.
    With ``screenshots``, save a full-page PNG of each page in that folder."""
    html = Path(html).resolve()
    if not (html / "index.html").exists():
        raise FileNotFoundError(f"{html}: no index.html (build the book first: make book)")
    pages = pages or chapter_pages(html)
    min_figures = min_figures or {}
    server, base = serve(html)
    user_dir = tempfile.mkdtemp(prefix="pidlib-chromium-")
    proc, ws_url = launch(chromium, user_dir)
    records = []
    try:
        ws = WebSocket(ws_url)
        dt = DevTools(ws)
        target = dt.call("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        dt.session = dt.call("Target.attachToTarget", {"targetId": target, "flatten": True},
                             session=False)["sessionId"]
        for domain in ("Page", "Network", "Runtime"):
            dt.call(f"{domain}.enable")
        dt.call("Network.setCacheDisabled", {"cacheDisabled": True})
        dt.call("Emulation.setDeviceMetricsOverride", {"width": WINDOW_WIDTH, "height": 900,
                                                       "deviceScaleFactor": 1, "mobile": False})
        shots = Path(screenshots) if screenshots else None
        for page in pages:
            key = page[:-5] if page.endswith(".html") else page
            records.append(check_page(dt, base, page, min_figures.get(key, 0), shots))
        ws.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        server.shutdown()
        shutil.rmtree(user_dir, ignore_errors=True)
    return records


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("html", nargs="?", default="_build/html", help="the built book (default _build/html)")
    ap.add_argument("--chromium", default=None, help="Chromium binary (default: $CHROMIUM or chromium on PATH)")
    ap.add_argument("--json", default=None, help="write the per-page records to this file")
    ap.add_argument("--min-figures", nargs="*", default=[], metavar="PAGE=N",
                    help="require at least N figure images on PAGE (e.g. notebooks/01_five_distributions=2)")
    ap.add_argument("--screenshots", default=None, metavar="DIR",
                    help="save a full-page PNG of every page (1280 px wide) in DIR")
    ap.add_argument("--pages", nargs="*", default=None, help="check only these pages (default: every chapter)")
    args = ap.parse_args(argv)
    chromium = find_chromium(args.chromium)
    if chromium is None:
        print("chromium not found (install the Debian package `chromium` or pass --chromium)", file=sys.stderr)
        return 2
    mins = {}
    for item in args.min_figures:
        page, _, n = item.partition("=")
        mins[page.removesuffix(".html")] = int(n)
    records = check_build(args.html, chromium, mins, pages=args.pages, screenshots=args.screenshots)
    if args.json:
        Path(args.json).write_text(json.dumps(records, indent=2))
    bad = 0
    for r in records:
        status = "ok  " if not r["problems"] else "FAIL"
        print(f"{status} {r['page']}: {r['figures']} figure(s), {r['typeset']}/{r['math']} math, "
              f"{r['requests']} request(s)")
        for p in r["problems"]:
            print(f"     - {p}")
        bad += bool(r["problems"])
    print(f"{len(records) - bad} of {len(records)} page(s) passed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
