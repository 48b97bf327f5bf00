"""pidlib: partial information decomposition (PID) of vision-language models.

The package follows the flow of the analysis:

``data`` (multiple-choice samples, loaders, the classroom world)
-> ``models`` (one adapter interface over Hugging Face LVLM families)
-> ``probes`` (features, calibrated-noise probes, option scoring, logit lens)
-> ``estimators`` (exact discrete PID and BATCH)
-> ``analysis`` (spectra, correlations, tables for the book).
"""
from pidlib.estimators import (  # noqa: F401
    PIDResult,
    pid_exact,
    pid_batch,
    pid_batch_many,
    pid_discretized,
    bootstrap_pid,
)

__version__ = "0.1.0"
