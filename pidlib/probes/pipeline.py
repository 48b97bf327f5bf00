"""Compatibility module: the probe pipeline now lives in three modules --
:mod:`pidlib.probes.forward` (one stacked forward over rows), :mod:`pidlib.probes.rows`
(the three probes of a batch) and :mod:`pidlib.probes.loop` (the resumable run loop);
:func:`compute_noise_stats` is in :mod:`pidlib.probes.noise`. The names stay importable
from here and from :mod:`pidlib.probes`."""
from pidlib.probes.forward import _pad_left, forward_rows, forward_shared_prefix  # noqa: F401
from pidlib.probes.loop import donor_indices, run_probes  # noqa: F401
from pidlib.probes.noise import compute_noise_stats  # noqa: F401
from pidlib.probes.rows import (  # noqa: F401
    K_MAX,
    PROBES,
    NonFiniteError,
    ProbeItem,
    ProbeRows,
    _full_row,
    _option_ids,
    _per_probe,
    probe_batch,
    probe_rows,
)

__all__ = ["ProbeItem", "ProbeRows", "probe_rows", "forward_rows", "forward_shared_prefix", "probe_batch",
           "compute_noise_stats", "run_probes", "donor_indices", "PROBES", "NonFiniteError"]
