"""Analysis for the book: spectra tables from probe runs, correlations, paper references.

- :mod:`~pidlib.analysis.tables`: the spectra-table schema, :func:`load_spectra`,
  :func:`write_spectra` (atomic, with provenance).
- :mod:`~pidlib.analysis.spectra`: :func:`build_spectra` from cached run stores
  (BATCH per run, task and layer; bootstrap intervals).
- :mod:`~pidlib.analysis.correlations`: Spearman rho with bootstrap percentile intervals.
- :mod:`~pidlib.analysis.paper`: the paper's reported numbers (``data/paper``).
- :mod:`~pidlib.analysis.pipeline`: ``source="fresh"`` (zoo -> runs -> table).

Command line: ``python -m pidlib.analysis spectra [--runs DIR] [--out CSV] [--n-boot N]``.
"""
from pidlib.analysis.correlations import correlation_table, spearman, spearman_ci, verdict  # noqa: F401
from pidlib.analysis.paper import load_paper, paper_correlations_long  # noqa: F401
from pidlib.analysis.paths import data_dir, repo_root, results_dir, runs_dir  # noqa: F401
from pidlib.analysis.tables import (  # noqa: F401
    ATOMS,
    SPECTRA_COLUMNS,
    SpectraTableError,
    add_derived,
    empty_spectra,
    interaction_information,
    load_spectra,
    validate_spectra,
    write_spectra,
)


def __getattr__(name):  # heavy imports (torch via estimators) only on use
    if name in ("build_spectra", "spectra_from_run", "find_runs", "read_run", "RunDataError"):
        from pidlib.analysis import spectra
        return getattr(spectra, name)
    if name in ("get_spectra", "fresh_spectra", "run_provenance"):
        from pidlib.analysis import pipeline
        return getattr(pipeline, name)
    raise AttributeError(name)
