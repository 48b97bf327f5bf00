"""Build the book: ``python -m pidlib.book build [--fresh]`` (``make book`` / ``make book-fresh``).

Steps
-----
1. Stage a copy of the book sources (``_config.yml``, ``_toc.yml``, ``book/``, the chapter
   notebooks) in ``_build/book_src``.
2. With ``--fresh``, first refresh the cache once: ``python -m pidlib.analysis fresh``
   (build the zoo, run the probes, write the spectra table, all with provenance).
   Then execute every chapter notebook with papermill into the staging folder, two at a
   time, with ``source="cache"`` (read ``data/``). A notebook run on its own with
   ``-p source fresh`` runs the same pipeline itself.
   Timings and status go to ``_build/book_src/notebooks/execution_report.json``; the
   reproducing chapter runs last and shows that report.
3. Build the staged copy with Jupyter Book 1 (execution off: the notebooks are already
   executed), offline, warnings as errors (``-W -n --keep-going``), into ``_build/html``.
   MathJax comes from ``sphinx-mathjax-offline`` (``_static/mathjax``); the executed
   notebooks are the pages' sources, so each page's download button (and the links in
   the reproducing chapter) give the executed ``.ipynb``.

Run a single notebook as a user would::

    papermill notebooks/03_task_regimes.ipynb out.ipynb -p source cache
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

#: Notebooks that run after all others (they report on the others' execution).
RUN_LAST = ("10_reproducing",)
#: Parameter passed to the reproducing notebook: where the execution report lies.
REPORT_NAME = "execution_report.json"


def repo_root() -> Path:
    """The checkout holding this package (``_toc.yml`` beside ``pidlib/``), else cwd."""
    here = Path(__file__).resolve().parents[1]
    return here if (here / "_toc.yml").exists() else Path.cwd().resolve()


def toc_files(root: Path) -> list[str]:
    """Every document named in ``_toc.yml`` (root first), as paths without suffix."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    out = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                out.append(node["file"])
            for key in ("parts", "chapters", "sections"):
                for child in node.get(key, []) or []:
                    walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(toc)
    return out


def toc_notebooks(root: Path) -> list[Path]:
    """The ``.ipynb`` chapters named in the toc, in toc order."""
    nbs = []
    for f in toc_files(root):
        p = root / f"{f}.ipynb"
        if p.exists():
            nbs.append(p)
        elif not (root / f"{f}.md").exists():
            raise FileNotFoundError(f"_toc.yml names {f!r} but neither {f}.ipynb nor {f}.md exists")
    return nbs


def stage(root: Path, staging: Path) -> None:
    """Copy the book sources into ``staging`` (replacing an older copy)."""
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(root / name, staging / name)
    shutil.copytree(root / "book", staging / "book")
    (staging / "notebooks").mkdir()
    # Only the notebooks the toc names; their .py twins stay out (no duplicate stems).
    for nb in toc_notebooks(root):
        shutil.copy2(nb, staging / nb.relative_to(root))


def _execute(src: Path, dst: Path, params: dict, cwd: Path, timeout: int, env: dict | None = None) -> dict:
    """Run one notebook with papermill in a subprocess; returns a report row."""
    cmd = [sys.executable, "-m", "papermill", str(src), str(dst), "-k", "python3", "--cwd", str(cwd),
           "--no-progress-bar", "--execution-timeout", str(timeout), "-y", json.dumps(params)]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - t0
    row = {"notebook": src.name, "seconds": round(seconds, 2), "status": "ok" if res.returncode == 0 else "failed",
           "parameters": params, "command": " ".join(["papermill", f"notebooks/{src.name}", "OUT.ipynb", "-y",
                                                        repr(json.dumps(params))])}
    if res.returncode != 0:
        row["error"] = (res.stderr or res.stdout)[-4000:]
    return row


def inputs_digest(root: Path) -> str:
    """Hash of everything a cache-mode notebook reads besides itself: the package's
    sources, ``data/paper``, ``data/results`` and the cached runs (meta files and part names
    and sizes; parts are immutable once written)."""
    h = hashlib.sha256()
    files = sorted((root / "pidlib").rglob("*.py"))
    for sub in ("data/paper", "data/results"):
        files += sorted(p for p in (root / sub).rglob("*") if p.is_file()) if (root / sub).exists() else []
    for f in files:
        h.update(str(f.relative_to(root)).encode())
        h.update(f.read_bytes())
    runs = root / "data" / "runs"
    if runs.exists():
        for f in sorted(p for p in runs.rglob("*") if p.is_file()):
            h.update(str(f.relative_to(root)).encode())
            h.update(f.read_bytes() if f.suffix == ".json" else str(f.stat().st_size).encode())
    return h.hexdigest()


def _mark_injected(nb_path: Path) -> None:
    """Remove papermill's injected-parameters cell from the rendered book (tag it
    ``remove-cell``): the chapter states its parameters in prose, and the executed
    ``.ipynb`` offered for download keeps the cell."""
    nb = json.loads(nb_path.read_text())
    changed = False
    for cell in nb["cells"]:
        tags = cell.get("metadata", {}).get("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            cell["metadata"]["tags"] = [t for t in tags if t != "hide-input"] + ["remove-cell"]
            changed = True
    if changed:
        nb_path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def execute_all(root: Path, staging: Path, *, fresh: bool, jobs: int, timeout: int, only=None,
                use_cache: bool = True, params: dict | None = None, env: dict | None = None,
                command: str = "python -m pidlib.book build") -> list[dict]:
    """Execute the staged notebooks (RUN_LAST ones at the end); write the execution report.

    In cache mode an executed notebook is reused from ``_build/exec_cache`` when the
    notebook, its parameters and :func:`inputs_digest` are unchanged (the report marks it
    ``cached`` with the time of the original execution). ``params`` are passed to every
    notebook besides ``source``; ``env`` replaces the kernels' environment.
    """
    nbs = [staging / nb.relative_to(root) for nb in toc_notebooks(root)]
    if only:
        nbs = [nb for nb in nbs if any(o in nb.stem for o in only)]
    first = [nb for nb in nbs if nb.stem not in RUN_LAST]
    last = [nb for nb in nbs if nb.stem in RUN_LAST]
    base = {"source": "fresh" if fresh else "cache", **(params or {})}
    report_path = staging / "notebooks" / REPORT_NAME
    rows: list[dict] = []

    cache_dir = root / "_build" / "exec_cache"
    digest = inputs_digest(root) if use_cache and not fresh else None

    def run(nb: Path, extra: dict | None = None) -> dict:
        params = dict(base, **(extra or {}))
        key = None
        if digest is not None and not extra:
            key = hashlib.sha256(nb.read_bytes() + json.dumps(params, sort_keys=True).encode()
                                 + digest.encode()).hexdigest()[:20]
            hit = cache_dir / f"{nb.stem}.{key}.ipynb"
            meta = hit.with_suffix(".json")
            if hit.exists() and meta.exists():
                shutil.copy2(hit, nb)
                row = dict(json.loads(meta.read_text()), cached=True)
                print(f"  cached {row['seconds']:7.1f} s  {nb.name} (inputs unchanged; executed earlier)", flush=True)
                return row
        tmp = nb.with_suffix(".executing.ipynb")
        row = _execute(nb, tmp, params, root, timeout, env)
        if tmp.exists():
            os.replace(tmp, nb)
            _mark_injected(nb)
        if key is not None and row["status"] == "ok":
            cache_dir.mkdir(parents=True, exist_ok=True)
            for old in cache_dir.glob(f"{nb.stem}.*"):
                old.unlink()
            shutil.copy2(nb, cache_dir / f"{nb.stem}.{key}.ipynb")
            (cache_dir / f"{nb.stem}.{key}.json").write_text(json.dumps(row))
        print(f"  {row['status']:6s} {row['seconds']:7.1f} s  {nb.name}", flush=True)
        return row

    print(f"executing {len(nbs)} notebook(s) with papermill (source={base['source']}, jobs={jobs})", flush=True)
    with cf.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        rows.extend(pool.map(run, first))
    _write_report(report_path, rows, base, command)
    for nb in last:
        rows.append(run(nb, {"exec_report": str(report_path)}))
    _write_report(report_path, rows, base, command)
    return rows


def _write_report(path: Path, rows: list[dict], base: dict, command: str) -> None:
    from pidlib.analysis.provenance import provenance, write_json
    write_json(path, {"notebooks": rows, **provenance(command=command, parameters=base)})


def build_html(staging: Path, root: Path, *, strict: bool = True) -> int:
    """Run Jupyter Book on the staged sources; HTML lands in ``<root>/_build/html``."""
    jb = Path(sys.executable).parent / "jupyter-book"
    launcher = [str(jb)] if jb.exists() else [sys.executable, "-c", "from jupyter_book.cli.main import main; main()"]
    cmd = launcher + ["build", str(staging), "--path-output", str(root), "--builder", "html", "--all"]
    if strict:
        cmd += ["-W", "-n", "--keep-going"]
    print("$", " ".join(cmd), flush=True)
    return subprocess.run(cmd).returncode


def check_offline_assets(html: Path) -> list[str]:
    """Problems with the built HTML's self-containment (MathJax served locally, no CDN URL)."""
    problems = []
    if not (html / "_static" / "mathjax" / "tex-chtml.js").exists():
        problems.append("_static/mathjax/tex-chtml.js missing (sphinx-mathjax-offline did not copy MathJax)")
    pat = re.compile(r"""<(?:script|link|img)\b[^>]*?\b(?:src|href)\s*=\s*["'](https?:)?//""", re.I)
    for page in sorted(html.rglob("*.html")):
        text = page.read_text(errors="replace")
        for m in pat.finditer(text):
            problems.append(f"{page.relative_to(html)}: remote asset {text[m.start():m.start() + 120]!r}")
    return problems


#: Width (CSS px) of the text column of sphinx-book-theme 1.3 in a 1280 px window, as
#: measured by ``tools/check_html.py`` (``article.bd-article`` less its padding). Figures
#: must be at least :data:`FIGURE_DENSITY` times wider in pixels to stay sharp on a
#: high-density screen.
COLUMN_PX = 676
FIGURE_DENSITY = 1.5
#: Text that must not appear in a rendered table cell: a bare missing value, or a path
#: into the zoo's files where a model name belongs.
BAD_CELL = re.compile(r"(?<![A-Za-z])(NaN|nan|<NA>|NaT)(?![A-Za-z])|data/zoo/")


def _png_width(path: Path) -> int | None:
    """Pixel width of a PNG file from its header (None for other formats)."""
    try:
        head = path.open("rb").read(24)
    except OSError:
        return None
    if head[:8] != b"\x89PNG\r\n\x1a\n" or len(head) < 24:
        return None
    return int.from_bytes(head[16:20], "big")


def _is_content(tag) -> bool:
    """A block a reader sees as page content (for the first-element check)."""
    name = tag.name
    classes = set(tag.get("class") or [])
    if name in ("p", "ul", "ol", "dl", "table", "figure", "img", "pre", "blockquote", "details",
                "h2", "h3", "h4", "h5", "h6", "button"):
        return True
    return name == "div" and bool(classes & {"cell", "admonition", "math", "output", "sd-card", "dropdown"})


def _toggle_kind(tag) -> str | None:
    """"a code toggle" / "a code cell" when ``tag`` (the first content block) is one."""
    classes = set(tag.get("class") or [])
    if tag.name in ("details", "button") or "toggle-button" in classes or "dropdown" in classes:
        return "a code toggle" if (tag.select_one(".cell_input") or "hide" in classes
                                   or tag.find_parent(class_="cell")) else None
    if tag.name == "div" and "cell" in classes:
        if tag.find("details") is not None or "tag_hide-input" in classes:
            return "a code toggle"
        if tag.select_one(".cell_input") is not None:
            return "a code cell"
    return None


def first_content_problem(article) -> str | None:
    """Why the first thing after the page title is not prose (None when it is).

    The page's first ``h1`` (and the anchors beside it) is skipped; the first content
    block after it must not be a code toggle ("Show code cell source") or a code cell.
    """
    h1 = article.find("h1")
    for tag in article.find_all(True):
        if h1 is not None and (tag is h1 or h1 in tag.parents):
            continue
        if tag.name == "div" and set(tag.get("class") or []) & {"cell"}:
            kind = _toggle_kind(tag)
            return f"the first element after the title is {kind}" if kind else None
        if _is_content(tag):
            kind = _toggle_kind(tag)
            return f"the first element after the title is {kind}" if kind else None
    return None


def page_problems(page: Path, html: Path, column_px: int = COLUMN_PX) -> list[str]:
    """Static checks of one built page: tables without NaN or zoo paths, figures sharp at
    the column width, prose (not a code toggle) first."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(page.read_text(errors="replace"), "html.parser")
    article = soup.select_one("article.bd-article") or soup.find("main") or soup.body or soup
    rel = page.relative_to(html)
    problems = []
    for t, table in enumerate(article.find_all("table")):
        for cell in table.find_all(["td", "th"]):
            text = cell.get_text(" ", strip=True)
            m = BAD_CELL.search(text)
            if m:
                problems.append(f"{rel}: table {t + 1} has a cell {text[:60]!r} ({m.group(0)!r}: say why a value "
                                f"is missing, name models by their short name)")
                break
    need = FIGURE_DENSITY * column_px
    for img in article.select("figure img, div.cell_output img, div.output img"):
        src = img.get("src", "")
        if not src or src.startswith(("data:", "http:", "https:")):
            continue
        width = _png_width((page.parent / src).resolve())
        if width is not None and width < need:
            problems.append(f"{rel}: figure {src} is {width} px wide, under {FIGURE_DENSITY} x the "
                            f"{column_px} px text column ({need:.0f} px)")
    why = first_content_problem(article)
    if why:
        problems.append(f"{rel}: {why}")
    return problems


def check_pages(html: Path, column_px: int = COLUMN_PX) -> list[str]:
    """:func:`page_problems` of every chapter page (``book/``, ``notebooks/``) of a build."""
    html = Path(html)
    pages = sorted(p for sub in ("book", "notebooks") for p in (html / sub).glob("*.html"))
    return [p for page in pages for p in page_problems(page, html, column_px)]


def build(fresh: bool = False, jobs: int = 2, timeout: int = 1800, only=None, execute: bool = True,
          strict: bool = True, use_cache: bool = True) -> int:
    """The whole build; returns a process exit status."""
    t0 = time.perf_counter()
    root = repo_root()
    staging = root / "_build" / "book_src"
    os.environ.setdefault("PIDLIB_ROOT", str(root))
    # Kernels draw inline (setup_style() also forces it); a plain Agg backend would drop figures.
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    stage(root, staging)
    failed = []
    if fresh:
        # One pipeline run (zoo -> runs -> spectra table) for the whole book; the notebooks
        # then read the refreshed cache (two notebooks must not write the same run store).
        cmd = [sys.executable, "-m", "pidlib.analysis", "fresh"]
        print("$", " ".join(cmd), flush=True)
        if subprocess.run(cmd, cwd=root).returncode != 0:
            print("fresh pipeline failed", file=sys.stderr)
            return 1
    if execute:
        rows = execute_all(root, staging, fresh=False, jobs=jobs, timeout=timeout, only=only,
                           use_cache=use_cache and not fresh,
                           command="python -m pidlib.book build" + (" --fresh" if fresh else ""))
        failed = [r for r in rows if r["status"] != "ok"]
        for r in failed:
            print(f"\n--- {r['notebook']} failed ---\n{r.get('error', '')}", file=sys.stderr)
    t1 = time.perf_counter()
    if (root / "_build" / "html").exists():  # no stale pages or downloads from an older build
        shutil.rmtree(root / "_build" / "html")
    rc = build_html(staging, root, strict=strict)
    html = root / "_build" / "html"
    problems = (check_offline_assets(html) + check_pages(html)) if rc == 0 else []
    for p in problems:
        print("page check:", p, file=sys.stderr)
    t2 = time.perf_counter()
    print(f"book: notebooks {t1 - t0:.1f} s, html {t2 - t1:.1f} s, total {t2 - t0:.1f} s -> {html}/index.html")
    return 1 if (failed or rc or problems) else 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pidlib.book", description="Build the pidlib book.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="execute the chapter notebooks and build _build/html")
    b.add_argument("--fresh", action="store_true",
                   help="source='fresh': rerun the zoo, probes and analysis and rewrite the cached results")
    b.add_argument("--jobs", type=int, default=2, help="notebooks executed at once (default 2)")
    b.add_argument("--timeout", type=int, default=1800, help="seconds per notebook cell (default 1800)")
    b.add_argument("--only", nargs="*", help="execute only notebooks whose name contains one of these")
    b.add_argument("--no-execute", action="store_true", help="render the committed notebooks without running them")
    b.add_argument("--no-strict", action="store_true", help="do not turn warnings into errors")
    b.add_argument("--no-cache", action="store_true", help="execute every notebook even if its inputs are unchanged")
    args = ap.parse_args(argv)
    return build(fresh=args.fresh, jobs=args.jobs, timeout=args.timeout, only=args.only,
                 execute=not args.no_execute, strict=not args.no_strict, use_cache=not args.no_cache)


if __name__ == "__main__":
    sys.exit(main())
