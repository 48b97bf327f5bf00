"""Probes: noise statistics, three probes in one pass, option scoring, logit lens."""
from pidlib.probes.noise import NoiseStats, RunningMoments, sample_generator, draw_noise  # noqa: F401
from pidlib.probes.scoring import letter_token_ids, option_distribution, DEFAULT_TAU  # noqa: F401
from pidlib.probes.lens import capture_last_position, lens_logits  # noqa: F401
from pidlib.probes.pipeline import (  # noqa: F401
    ProbeItem, probe_batch, compute_noise_stats, run_probes, donor_indices, PROBES,
)
