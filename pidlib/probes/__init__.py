"""Probes: noise statistics, three probes in one pass, option scoring, logit lens.

- :mod:`~pidlib.probes.noise`: noise statistics (stage 1) and keyed per-sample noise;
- :mod:`~pidlib.probes.forward`: one stacked forward over many rows (padding, positions,
  shared prefix, lens capture);
- :mod:`~pidlib.probes.rows`: the full, visual-only and language-only rows of a batch and
  their option distributions (:func:`probe_batch`);
- :mod:`~pidlib.probes.loop`: the resumable loop over a split (:func:`run_probes`);
- :mod:`~pidlib.probes.scoring`, :mod:`~pidlib.probes.lens`: option scores, logit lens.
"""
from pidlib.probes.noise import (  # noqa: F401
    NoiseStats, RunningMoments, sample_generator, draw_noise, compute_noise_stats,
)
from pidlib.probes.scoring import letter_token_ids, option_distribution, DEFAULT_TAU  # noqa: F401
from pidlib.probes.lens import capture_last_position, lens_logits  # noqa: F401
from pidlib.probes.rows import ProbeItem, probe_batch, NonFiniteError, PROBES  # noqa: F401
from pidlib.probes.loop import run_probes, donor_indices  # noqa: F401
