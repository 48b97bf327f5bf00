"""Helpers shared by the book's notebooks: one setup call, figure style, tables, glue.

Every chapter starts with::

    from pidlib.analysis import nb
    ch = nb.setup(source, models=models, datasets=datasets, n_samples=n_samples, seed=seed, device=device)

which sets the figure style (fonts of at least 9 pt at the page's width, pixel-doubled
PNGs for high-density screens), limits torch to one thread and gives a
:class:`Chapter` that reads the spectra table once (``ch.spectra(...)``) with its atoms
read through :func:`pidlib.analysis.verdicts.read_atoms`, the one accessor of the atom
columns.

Notebooks must run under plain papermill as well as inside the book, so ``glue`` falls
back to a shim when ``myst_nb`` is not importable. Prose lives in Markdown cells, with
numbers and verdict words glued in (``{glue:text}`` / ``{glue:md}``); :func:`md` is kept
for the notes a chapter shows only when data are missing.
"""
from __future__ import annotations

import html as _html
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pidlib.analysis import verdicts as V

try:  # the book's glue; absent outside a myst-nb environment
    from myst_nb import glue as _glue
except ImportError:  # pragma: no cover - exercised only without myst_nb
    _glue = None

ATOMS = list(V.ATOMS)
#: Colours of the four atoms, fixed across the book (colour-blind safe).
ATOM_COLORS = {"redundancy": "#8c8c8c", "unique1": "#4c72b0", "unique2": "#dd8452", "synergy": "#55a868"}
#: Math symbols of the atoms (matplotlib mathtext and MyST alike).
ATOM_SYMBOLS = {"redundancy": "$R$", "unique1": "$U_1$", "unique2": "$U_2$", "synergy": "$S$"}
ATOM_LABELS = {"redundancy": "$R$ redundancy", "unique1": "$U_1$ unique visual",
               "unique2": "$U_2$ unique language", "synergy": "$S$ synergy"}
#: Symbols of the other quantities of the spectra table.
QUANTITY_SYMBOLS = {**ATOM_SYMBOLS, "total": "$I(X_1,X_2;Y)$", "interaction": "$I(X_1;X_2;Y)$",
                    "accuracy": "accuracy", "d_vision": r"$D_\mathrm{vision}$"}
#: Plain-text symbols for table headers (tables are HTML, no math there).
PLAIN_SYMBOLS = {"redundancy": "R", "unique1": "U₁", "unique2": "U₂", "synergy": "S",
                 "total": "I(X₁,X₂;Y)", "interaction": "I(X₁;X₂;Y)", "I1": "I(X₁;Y)", "I2": "I(X₂;Y)",
                 "accuracy_language_only": "language-only accuracy", "d_vision": "D_vision"}
PROBE_LABELS = dict(V.PROBE_KINDS)
#: Short labels of the probe kinds, for axis ticks.
PROBE_SHORT = {"noise": "noise", "noise8": "noise×8", "donors4": "donors×4", "donors8": "donors×8", "reference": "reference",
               "discretized": "discretized"}
#: Colour of each probe kind in every figure.
PROBE_COLORS = {"noise": "#c44e52", "noise8": "#dd8452", "donors4": "#4c72b0", "donors8": "#55a868", "reference": "#222222",
                "discretized": "#8172b3"}
#: Grey and hatch of an incoherent spectrum in every figure.
INCOHERENT_COLOR = "#d9d9d9"
INCOHERENT_HATCH = "xx"
VERDICT_COLORS = {V.REPRODUCED: "#d9f0d3", V.REVERSED: "#f4cccc", V.INCONCLUSIVE: "#eeeeee", V.NOT_RUN: "#ffffff"}

#: Width of a figure (inches): 650 CSS px at 100 dpi, inside the 676 px text column of the
#: book at a 1280 px window, so fonts keep their point size on the page; pixel-doubled
#: PNGs give 1300 px, above the 1.5 x column width tools/check_html.py asks for.
FIG_WIDTH = 6.5
FONT_PT = 10


# ----------------------------------------------------------------------------- glue & prose
def glue(name: str, value, display: bool = False):
    """``myst_nb.glue`` if available, else store nothing and (optionally) display the value."""
    if _glue is not None:
        return _glue(name, value, display=display)
    if display:  # pragma: no cover
        from IPython.display import display as _display
        _display(value)
    return None


def glue_num(name: str, value, digits: int = 3, missing: str = "n/a", sign: bool = False) -> None:
    """Glue a number as formatted text for ``{glue:text}`name```: fixed ``digits``,
    ``missing`` (never "nan") when the value is undefined, a ``+`` with ``sign``."""
    if value is None or (isinstance(value, (float, np.floating)) and math.isnan(value)):
        text = missing
    else:
        text = f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"
    glue(name, text)


def glue_md(name: str, text: str) -> None:
    """Glue a piece of Markdown (a verdict word, a model name) for ``{glue:md}`name```."""
    from IPython.display import Markdown
    glue(name, Markdown(str(text)))


def glue_verdict(name: str, v: V.Verdict) -> None:
    """Glue a verdict as ``<name>`` (the bold word) and ``<name>_numbers`` (its numbers)."""
    glue_md(name, f"**{v.label}**")
    glue_md(f"{name}_numbers", v.numbers() or "no spectra of this kind")


def md(text: str) -> None:
    """Display Markdown (MyST in the book). For notes on missing data only; prose with
    numbers belongs in Markdown cells with glued values."""
    from IPython.display import Markdown, display
    display(Markdown(text))


def fmt(x, digits: int = 3, missing: str = "n/a") -> str:
    """A number for prose: fixed digits, ``missing`` for NaN/None."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return missing
    return f"{x:.{digits}f}"


def fmt_ci(x, lo, hi, digits: int = 2) -> str:
    """``0.75 [0.41, 0.92]``; the interval is omitted when undefined."""
    if lo is None or hi is None or any(isinstance(v, float) and math.isnan(v) for v in (lo, hi)):
        return fmt(x, digits)
    return f"{fmt(x, digits)} [{fmt(lo, digits)}, {fmt(hi, digits)}]"


def no_cache_note(what: str, command: str = "make book-fresh") -> str:
    """MyST note for a chapter whose cached zoo runs do not exist (no number is invented)."""
    how = f"`{command}`" if command == "make book-fresh" else f"`{command}` (or `make book-fresh`)"
    return (":::{note}\n"
            f"**No cached run yet.** {what} This build found no cached zoo results in "
            "`data/results/spectra.csv`, so only the paper's reported numbers are shown. "
            f"Produce them with {how}, then rebuild.\n"
            ":::")


def symbol(quantity: str) -> str:
    """Math symbol of a spectra-table quantity (``synergy`` -> ``$S$``)."""
    return QUANTITY_SYMBOLS.get(quantity, quantity)


# ----------------------------------------------------------------------------- names
_SCALE_ABBR = {"tiny": "T", "small": "S", "medium": "M", "large": "L", "xlarge": "XL", "xl": "XL", "huge": "H"}


def short_model(name: str) -> str:
    """A model's short name for tables and legends.

    ``data/zoo/fusion-large`` -> ``fusion-L``; ``data/zoo/fusion-large-s1`` ->
    ``fusion-L s1``; ``data/zoo/emergence/fusion-medium/stage2-step188`` ->
    ``fusion-M @ stage2 188``; a Hugging Face id keeps its last part.
    """
    s = str(name).strip().rstrip("/")
    s = re.sub(r"^(\./)?(data/)?zoo/", "", s)
    parts = s.split("/")
    if parts[0] == "emergence" and len(parts) >= 3:
        base, ckpt = parts[1], parts[2]
        ckpt = ckpt.replace("-step", " ").replace("_", " ")
        return f"{short_model(base)} @ {ckpt}"
    s = parts[-1]

    def abbr(m):
        return "-" + _SCALE_ABBR[m.group(1).lower()]

    s = re.sub(r"-(tiny|small|medium|large|xlarge|xl|huge)(?=$|-)", abbr, s, flags=re.I)
    s = re.sub(r"-s(\d+)$", r" s\1", s)
    return s


def scale_label(n_params) -> str:
    """A model size for ticks: ``43456`` -> ``43k``, ``1.2e9`` -> ``1.2B``."""
    try:
        v = float(n_params)
    except (TypeError, ValueError):
        return str(n_params)
    if math.isnan(v):
        return "?"
    for div, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if v >= div:
            return f"{v / div:.3g}{unit}"
    return f"{v:.0f}"


def probe_label(kind: str, short: bool = False) -> str:
    """Label of a probe kind (``donors4`` -> ``donors, 4``; short: ``donors×4``)."""
    return (PROBE_SHORT if short else PROBE_LABELS).get(kind, str(kind))


# ----------------------------------------------------------------------------- style
def setup_style() -> None:
    """The figure style of the book (fonts >= 9 pt at the page's width, retina PNGs)."""
    import matplotlib
    import seaborn as sns
    try:  # in a kernel, draw inline even if MPLBACKEND=Agg is exported (make sets it)
        from IPython import get_ipython
        ip = get_ipython()
        if ip is not None and getattr(ip, "kernel", None) is not None:
            matplotlib.use("module://matplotlib_inline.backend_inline")
            from matplotlib_inline.backend_inline import set_matplotlib_formats
            set_matplotlib_formats("retina")
    except ImportError:  # pragma: no cover
        pass
    sns.set_theme(context="notebook", style="whitegrid", font="DejaVu Sans")
    matplotlib.rcParams.update({
        "figure.dpi": 100, "savefig.dpi": 200, "figure.figsize": (FIG_WIDTH, 3.4),
        "font.size": FONT_PT, "axes.titlesize": FONT_PT, "axes.labelsize": FONT_PT,
        "xtick.labelsize": 9, "ytick.labelsize": 9, "legend.fontsize": 9, "legend.title_fontsize": 9,
        "figure.titlesize": 11, "figure.constrained_layout.use": True, "axes.titlelocation": "left",
        "legend.frameon": False, "savefig.bbox": "tight",
    })


def grid(n: int, ncols: int = 3, *, height: float = 2.3, width: float = FIG_WIDTH, sharex=False, sharey=True,
         squeeze_last: bool = True):
    """A figure with ``n`` panels on a grid of ``ncols`` columns (never six in a row).

    Returns ``(fig, axes)`` with ``axes`` a flat list of the ``n`` used panels (unused
    cells are removed).
    """
    import matplotlib.pyplot as plt
    n = max(1, int(n))
    ncols = max(1, min(ncols, n))
    nrows = int(math.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, height * nrows + 0.4), sharex=sharex, sharey=sharey,
                             squeeze=False)
    flat = list(axes.ravel())
    if squeeze_last:
        for ax in flat[n:]:
            ax.remove()
    return fig, flat[:n]


def legend_below(fig, handles=None, labels=None, ncol: int = 4, **kw):
    """One legend for the whole figure, below the panels (off the data)."""
    if handles is None:
        seen = {}
        for ax in fig.axes:
            for h, lab in zip(*ax.get_legend_handles_labels()):
                seen.setdefault(lab, h)
        labels, handles = list(seen), list(seen.values())
    elif labels is None:
        labels = [h.get_label() for h in handles]
    for ax in fig.axes:
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    return fig.legend(handles, labels, loc="outside lower center", ncol=ncol, **kw)


def legend_right(ax, **kw):
    """The axis' legend outside the plot, on its right (off the data)."""
    return ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, **kw)


def atom_handles(incoherent: bool = True):
    """Legend handles of the four atoms (and of an incoherent spectrum)."""
    from matplotlib.patches import Patch
    hs = [Patch(facecolor=ATOM_COLORS[a], label=ATOM_LABELS[a]) for a in ATOMS]
    if incoherent:
        hs.append(Patch(facecolor=INCOHERENT_COLOR, hatch=INCOHERENT_HATCH, edgecolor="#777777",
                        label="incoherent: total only"))
    return hs


def spectrum_bars(ax, frame: pd.DataFrame, labels, *, width: float = 0.75, horizontal: bool = False) -> None:
    """Stacked atom bars, one per row of ``frame`` (atoms read by :func:`V.read_atoms`).

    A usable spectrum is drawn as its four stacked atoms; a spectrum that is not usable
    (incoherent, or its estimator did not train) as one grey hatched bar of its total,
    labelled with the reason, because its atoms are not a decomposition.
    """
    a = V.read_atoms(frame) if "usable" not in frame.columns else frame
    xs = np.arange(len(a))
    for i, (_, r) in enumerate(a.iterrows()):
        if r.usable:
            base = 0.0
            for atom in ATOMS:
                v = max(float(r[atom]), 0.0)  # usable: no atom below -floor; tiny negatives draw as 0
                if horizontal:
                    ax.barh(xs[i], v, width, left=base, color=ATOM_COLORS[atom])
                else:
                    ax.bar(xs[i], v, width, bottom=base, color=ATOM_COLORS[atom])
                base += v
        else:
            tot = max(float(r.total), 0.0) if not math.isnan(r.total) else 0.0
            kw = dict(color=INCOHERENT_COLOR, hatch=INCOHERENT_HATCH, edgecolor="#777777", linewidth=0.5)
            if horizontal:
                ax.barh(xs[i], tot, width, **kw)
            else:
                ax.bar(xs[i], tot, width, **kw)
    heights = [max(float(r[ATOMS].clip(lower=0).sum()) if r.usable else float(np.nan_to_num(r.total)), 0.0)
               for _, r in a.iterrows()]
    top = 1.12 * max(heights + [0.05])
    first = ax.get_subplotspec() is None or ax.get_subplotspec().is_first_col()
    if horizontal:
        ax.set_yticks(xs, list(labels))
        ax.set_xlim(right=max(ax.get_xlim()[1], top))
        ax.set_xlabel("bits")
    else:
        ax.set_xticks(xs, list(labels))
        ax.set_ylim(top=max(ax.get_ylim()[1], top))
        if first:
            ax.set_ylabel("bits")


# ----------------------------------------------------------------------------- tables
def _cell(v, digits: int, missing: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA or v is pd.NaT:
        return missing
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (float, np.floating)):
        if abs(v) < 0.5 * 10.0 ** -digits:
            v = 0.0  # no "-0.000"
        return f"{v:,.0f}" if digits == 0 else f"{v:.{digits}f}"
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,d}"
    return str(v)


@dataclass
class Table:
    """An HTML table for the book: no index, units in the headers, every missing value
    explained, long tables folded into a dropdown (see :func:`table`)."""

    html: str
    n_rows: int
    columns: list = field(default_factory=list)

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return f"<Table: {self.n_rows} rows x {len(self.columns)} columns>"


def table(df: pd.DataFrame, *, units: dict | None = None, digits: int | dict = 3, missing="not measured",
          max_rows: int = 12, caption: str | None = None, csv: str | None = None, model_col: str | None = "model",
          highlight: dict | None = None, col_width: dict | None = None) -> Table:
    """Format a table for a chapter page.

    Parameters
    ----------
    df : DataFrame
        The rows to show (its index is dropped).
    units : dict, optional
        Column -> unit, shown in the header (``{"synergy": "bit"}`` -> ``S (bit)``).
        Atom columns get their symbol as the header.
    digits : int or dict
        Decimals of float columns (per column with a dict).
    missing : str or dict or Series
        What to write for a missing value, per column with a dict, or per row with a
        Series (e.g. the ``why`` column of :func:`V.read_atoms`): never a bare NaN.
    max_rows : int
        Longer tables show their first ``max_rows`` rows and fold the rest into a
        "show all" dropdown (with ``csv``, a pointer to the file holding every row).
    caption : str, optional
        A line above the table.
    model_col : str, optional
        A column of model paths shown by their short names (:func:`short_model`).
    highlight : dict, optional
        Column -> {value: background colour} for a few cells (verdicts).
    """
    units = units or {}
    highlight = highlight or {}
    d = df.reset_index(drop=True).copy()
    if model_col and model_col in d.columns:
        d[model_col] = d[model_col].map(short_model)
    headers = []
    for c in d.columns:
        name = PLAIN_SYMBOLS.get(c, c)
        if isinstance(name, str) and name.startswith("share_"):
            name = f"{PLAIN_SYMBOLS.get(name[6:], name[6:])} share"
        u = units.get(c)
        headers.append(f"{name} ({u})" if u else str(name))

    def miss(i, c):
        if isinstance(missing, pd.Series):
            r = missing.reset_index(drop=True).iloc[i]
            return str(r) if r else "not measured"
        if isinstance(missing, dict):
            return missing.get(c, "not measured")
        return str(missing)

    def row_html(i, r):
        cells = []
        for c in d.columns:
            dg = digits.get(c, 3) if isinstance(digits, dict) else digits
            text = _cell(r[c], dg, miss(i, c))
            style = ""
            if c in highlight and r[c] in highlight[c]:
                style = f' style="background:{highlight[c][r[c]]}"'
            num = isinstance(r[c], (float, int, np.floating, np.integer)) and not isinstance(r[c], (bool, np.bool_))
            cls = ' class="num"' if num and text != miss(i, c) else (' class="why"' if text == miss(i, c) else
                                                                      (' class="short"' if len(text) <= 14 else ""))
            cells.append(f"<td{cls}{style}>{_html.escape(text)}</td>")
        return "<tr>" + "".join(cells) + "</tr>"

    head = "<thead><tr>" + "".join(f"<th>{_html.escape(h)}</th>" for h in headers) + "</tr></thead>"
    rows = [row_html(i, r) for i, r in d.iterrows()]
    style = ('<style>.pidlib-table{border-collapse:collapse;font-size:0.85em;margin:0.4em 0 0.8em 0;max-width:100%}'
             '.pidlib-table th{text-align:left;border-bottom:1px solid #888;padding:2px 6px;vertical-align:bottom}'
             '.pidlib-table td{padding:2px 6px;border-bottom:1px solid #e5e5e5;vertical-align:top}'
             '.pidlib-table td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}'
             '.pidlib-table td.short{white-space:nowrap}'
             '.pidlib-table td.why{color:#777;font-style:italic}'
             '.pidlib-more summary{cursor:pointer;color:#1f5fa8;margin:0.2em 0}</style>')

    dense = ' style="font-size:0.76em"' if len(d.columns) > 8 else ""

    def tbl(body):
        return f'<table class="pidlib-table"{dense}>{head}<tbody>{"".join(body)}</tbody></table>'

    parts = [style]
    if caption:
        parts.append(f'<p class="pidlib-caption">{_html.escape(caption)}</p>')
    if len(rows) > max_rows:
        parts.append(tbl(rows[:max_rows]))
        where = f" (all of them are in <code>{_html.escape(csv)}</code>)" if csv else ""
        parts.append(f'<details class="pidlib-more"><summary>Show the other {len(rows) - max_rows} of '
                     f'{len(rows)} rows{where}</summary>{tbl(rows[max_rows:])}</details>')
    else:
        parts.append(tbl(rows))
    return Table("<div class=\"pidlib-table-wrap\">" + "".join(parts) + "</div>", len(rows), list(d.columns))


def scoreboard_table(board: pd.DataFrame, *, chapter_links: bool = False) -> Table:
    """The scoreboard as a table: one row per finding, one column per probe kind, each cell
    the verdict word (coloured) over its numbers."""
    kinds = list(dict.fromkeys(board.probes))
    claims = board.drop_duplicates("key")[["key", "claim"]]
    head = "<thead><tr><th>finding (the paper's claim, as the zoo tests it)</th>" + "".join(
        f"<th>{_html.escape(probe_label(k))}</th>" for k in kinds) + "</tr></thead>"
    rows = []
    for r in claims.itertuples():
        claim = _html.escape(r.claim)
        claim = re.sub(r"`([^`]+)`", r"<code>\1</code>", claim)
        cells = [f"<td>{claim}</td>"]
        for k in kinds:
            hit = board[(board.key == r.key) & (board.probes == k)]
            if hit.empty:
                cells.append(f'<td><b>{V.NOT_RUN}</b></td>')
                continue
            c = hit.iloc[0]
            bg = VERDICT_COLORS.get(c.verdict, "#ffffff")
            why = (f'<br><span class="sb-why">{_html.escape(c.reason)}</span>'
                   if c.verdict == V.INCONCLUSIVE and c.reason else "")
            lines = re.sub(r", (?=(p [=<]|n = |Δ |ρ ))", "\n", str(c.numbers)) if c.numbers else ""
            nums = ('<br><span class="sb-num">' + "<br>".join(_html.escape(x) for x in lines.split("\n"))
                    + "</span>") if lines else ""
            cells.append(f'<td style="background:{bg}"><b>{_html.escape(c.verdict)}</b>{nums}{why}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    style = ('<style>.pidlib-scoreboard{border-collapse:collapse;font-size:0.8em;width:100%;table-layout:fixed}'
             '.pidlib-scoreboard th,.pidlib-scoreboard td{border:1px solid #ccc;padding:3px 5px;vertical-align:top;'
             'overflow-wrap:break-word;hyphens:auto}.pidlib-scoreboard th{background:#f5f5f5;text-align:left}'
             '.pidlib-scoreboard .sb-num{font-variant-numeric:tabular-nums}'
             '.pidlib-scoreboard .sb-why{color:#666;font-style:italic}</style>')
    first = 30 if len(kinds) > 3 else 36
    cols = f'<col style="width:{first}%">' + "".join(
        f'<col style="width:{(100 - first) / max(1, len(kinds)):.2f}%">' for _ in kinds)
    html = (f'<div class="pidlib-table-wrap">{style}<table class="pidlib-scoreboard"><colgroup>{cols}</colgroup>'
            f'{head}<tbody>{"".join(rows)}</tbody></table></div>')
    return Table(html, len(rows), ["finding", *kinds])


# ----------------------------------------------------------------------------- the chapter
@dataclass
class Chapter:
    """What a chapter notebook works with: its parameters and the spectra table.

    ``table`` holds every row of the spectra table (all probe kinds; ``probes`` filled
    with ``"noise"`` where absent) with atoms read by :func:`V.with_atoms`.
    """

    params: dict
    table: pd.DataFrame

    @property
    def have_zoo(self) -> bool:
        """Whether the table has any zoo rows."""
        return len(self.table) > 0

    @property
    def probe_kinds(self) -> list[str]:
        """Probe kinds present in the table, in the scoreboard's order."""
        return [k for k in V.probe_kinds(self.table, always=()) if k in set(self.table.probes)]

    def spectra(self, probes: str | list | None = "noise", *, layer: int | str | None = -1, final: bool = True,
                tasks: bool = True) -> pd.DataFrame:
        """Rows of the spectra table.

        Parameters
        ----------
        probes : str, list or None
            Probe kind(s) to keep (``"noise"``, the paper's, by default); None keeps all.
        layer : int, "layers" or None
            ``-1`` the output layer, ``"layers"`` every logit-lens layer, None all rows.
        final : bool
            Keep only final models (zoo ``member`` rows when the table marks a kind).
        tasks : bool
            Drop rows pooled over task families (``task == "all"``) when per-task rows exist.
        """
        t = self.table
        if probes is not None:
            keep = [probes] if isinstance(probes, str) else list(probes)
            t = t[t.probes.isin(keep)]
        if layer == "layers":
            t = t[t.layer >= 0]
        elif layer is not None:
            t = t[t.layer == layer]
        if final and "kind" in t.columns and t["kind"].eq("member").any():
            t = t[t["kind"] == "member"]
        if tasks and "task" in t.columns and (t.task != "all").any():
            t = t[t.task != "all"]
        return t.reset_index(drop=True)

    def scoreboard(self, chapters=None, **kw) -> pd.DataFrame:
        """:func:`V.scoreboard` of this chapter's table (the findings of ``chapters``); the
        families' strategies come from the zoo's manifest where it states them."""
        if isinstance(chapters, str):
            chapters = [chapters]
        kw.setdefault("strategies", manifest_strategies())
        return V.scoreboard(self.raw, chapters=chapters, seed=self.params.get("seed", 0), **kw)

    def answer(self, chapter: str, board: pd.DataFrame | None = None) -> tuple[str, str]:
        """The answer of a finding chapter (:func:`V.chapter_answer`), glued for its first
        sentence as ``answer`` (the words of :data:`V.ANSWERS`) and ``answer_probes`` (the
        kind of probe the answer rests on); returns ``(probes, answer key)``."""
        if board is None:
            board = self.scoreboard(chapter) if self.have_zoo else pd.DataFrame(columns=["chapter", "probes",
                                                                                          "verdict"])
        kind, key = V.chapter_answer(board, chapter)
        glue("answer", V.ANSWERS[key])
        glue("answer_probes", probe_label(kind) if kind else "no probes run")
        return kind, key

    @property
    def raw(self) -> pd.DataFrame:
        """The table as read (before :func:`V.with_atoms`), for :func:`V.scoreboard`."""
        return self._raw

    _raw: pd.DataFrame = field(default=None, repr=False)


def setup(source: str = "cache", *, models=("zoo",), datasets=("world",), n_samples: int = 2000, seed: int = 0,
          device: str = "cpu", load: bool = True, **kwargs) -> Chapter:
    """Start a chapter: style, one torch thread, and the spectra table.

    Parameters
    ----------
    source : {"cache", "fresh"}
        ``"cache"`` reads ``data/results/spectra.csv``; ``"fresh"`` reruns the pipeline
        (zoo, probes, spectra; resumable) and writes a new table with its provenance.
    models, datasets, n_samples, seed, device
        The chapter's papermill parameters (see the "Run it on your model" chapter).
    load : bool
        Read the spectra table (chapters that need none pass False).
    **kwargs
        Further parameters, kept in ``Chapter.params``.
    """
    setup_style()
    try:
        import torch
        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass
    params = dict(source=source, models=list(models), datasets=list(datasets), n_samples=n_samples, seed=seed,
                  device=device, **kwargs)
    raw = pd.DataFrame()
    if load:
        from pidlib.analysis.pipeline import get_spectra
        raw = get_spectra(source, list(models), list(datasets), n_samples=n_samples, seed=seed, device=device,
                          probes=None)
        raw = raw.copy()
        if "probes" not in raw.columns:
            raw["probes"] = "noise"
        raw["probes"] = raw["probes"].fillna("noise").replace("", "noise")
    if not len(raw):
        from pidlib.analysis.tables import empty_spectra
        raw = empty_spectra()
        raw["probes"] = pd.Series(dtype=object)
    table = V.with_atoms(raw)
    ch = Chapter(params=params, table=table)
    ch._raw = raw
    return ch


# ----------------------------------------------------------------------------- the zoo
def zoo_manifest(root: str | Path | None = None) -> dict:
    """``data/zoo/manifest.json`` (an empty dict when the zoo was not built)."""
    import json
    from pidlib.analysis.paths import data_dir
    path = Path(root) if root is not None else data_dir() / "zoo" / "manifest.json"
    if not path.exists():
        return {}
    return json.loads(path.read_text())


def manifest_strategies(manifest: dict | None = None) -> dict:
    """Family -> ``"fusion"``/``"language"`` where the zoo's manifest states a family's
    ``strategy`` (``{"families": {"name": {"strategy": ..., ...}}}``); families it does
    not describe that way fall back to :func:`V.family_strategy` (their names)."""
    manifest = zoo_manifest() if manifest is None else manifest
    out = {}
    for name, fam in (manifest.get("families") or {}).items():
        if isinstance(fam, dict) and fam.get("strategy") in ("fusion", "language", "other"):
            out[name] = fam["strategy"]
    return out


def zoo_models(manifest: dict | None = None) -> pd.DataFrame:
    """One row per model of the zoo's manifest, every scalar field as a column (whatever
    fields the zoo writes), ``accuracy`` flattened to ``accuracy_<task>`` columns, plus the
    provenance file's ``n_params`` and ``final_loss`` where present."""
    import json
    from pidlib.analysis.paths import data_dir
    manifest = zoo_manifest() if manifest is None else manifest
    rows = []
    zoo = data_dir() / "zoo"
    for m in manifest.get("models", []):
        row = {}
        for k, v in m.items():
            if isinstance(v, dict):
                for kk, vv in v.items():
                    if not isinstance(vv, (dict, list)):
                        row[f"{k}_{kk}"] = vv
            elif not isinstance(v, list):
                row[k] = v
        prov = zoo / str(m.get("path", "")) / "provenance.json"
        if prov.exists():
            p = json.loads(prov.read_text())
            for k in ("n_params", "family", "kind", "scale", "stage", "step", "seed"):
                if k in p and not isinstance(p[k], (dict, list)):
                    row.setdefault(k, p[k])
            for k, v in (p.get("final_loss") or {}).items():
                row[f"final_loss_{k}"] = v
            fam = (p.get("parameters") or {}).get("family") or {}
            if fam.get("description"):
                row.setdefault("recipe", fam["description"])
            if "tune_lm" in fam:
                row.setdefault("tune_lm", fam["tune_lm"])
        rows.append(row)
    return pd.DataFrame(rows)
