"""Small helpers shared by the book's notebooks.

Notebooks must run under plain papermill as well as inside the book, so ``glue`` falls
back to a shim when ``myst_nb`` is not importable, and prose that depends on the data is
emitted as Markdown output (rendered as MyST by the book).
"""
from __future__ import annotations

import math

import pandas as pd

from pidlib.analysis.tables import SYMBOLS

try:  # the book's glue; absent outside a myst-nb environment
    from myst_nb import glue as _glue
except ImportError:  # pragma: no cover - exercised only without myst_nb
    _glue = None

#: Colours of the four atoms, fixed across the book.
ATOM_COLORS = {"redundancy": "#8c8c8c", "unique1": "#4c72b0", "unique2": "#dd8452", "synergy": "#55a868"}
ATOM_LABELS = {"redundancy": "R (redundancy)", "unique1": "U1 (unique visual)",
               "unique2": "U2 (unique language)", "synergy": "S (synergy)"}


def glue(name: str, value, display: bool = False):
    """``myst_nb.glue`` if available, else store nothing and (optionally) display the value."""
    if _glue is not None:
        return _glue(name, value, display=display)
    if display:  # pragma: no cover
        from IPython.display import display as _display
        _display(value)
    return None


def md(text: str) -> None:
    """Display Markdown (MyST in the book) computed from the data."""
    from IPython.display import Markdown, display
    display(Markdown(text))


def setup_style() -> None:
    """The seaborn style used by every figure."""
    import matplotlib
    import seaborn as sns
    try:  # in a kernel, draw inline even if MPLBACKEND=Agg is exported (make sets it)
        from IPython import get_ipython
        ip = get_ipython()
        if ip is not None and getattr(ip, "kernel", None) is not None:
            matplotlib.use("module://matplotlib_inline.backend_inline")
    except ImportError:  # pragma: no cover
        pass
    matplotlib.rcParams.update({"figure.dpi": 100, "savefig.dpi": 100, "figure.figsize": (7.0, 3.6)})
    sns.set_theme(context="notebook", style="whitegrid", font="DejaVu Sans")


def fmt(x, digits: int = 3) -> str:
    """A number for prose: fixed digits, "n/a" for NaN/None."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:.{digits}f}"


def fmt_ci(x, lo, hi, digits: int = 2) -> str:
    """``0.75 [0.41, 0.92]``; the interval is omitted when undefined."""
    if lo is None or hi is None or any(isinstance(v, float) and math.isnan(v) for v in (lo, hi)):
        return fmt(x, digits)
    return f"{fmt(x, digits)} [{fmt(lo, digits)}, {fmt(hi, digits)}]"


def no_cache_note(what: str, command: str) -> str:
    """MyST note for a chapter whose cached zoo runs do not exist yet (no number is invented)."""
    how = f"`{command}`" if command == "make book-fresh" else f"`{command}` (or `make book-fresh`)"
    return (":::{note}\n"
            f"**No cached run yet.** {what} This build found no cached zoo results in "
            "`data/results/spectra.csv`, so only the paper's reported numbers are shown. "
            f"Produce them with {how}, then rebuild.\n"
            ":::")


def symbol(quantity: str) -> str:
    """Short symbol of a spectra-table quantity (``synergy`` -> ``S``)."""
    return SYMBOLS.get(quantity, quantity)


def table(df: pd.DataFrame, digits: int = 3):
    """A compact HTML-friendly table (rounded floats, no index)."""
    return df.round(digits).style.hide(axis="index").format(precision=digits, na_rep="–")
