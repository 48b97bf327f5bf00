"""pidlib: partial information decomposition (PID) of vision-language models.

The package follows the flow of the analysis:

``data`` (multiple-choice samples, loaders, the classroom world)
-> ``models`` (one adapter interface over Hugging Face LVLM families)
-> ``probes`` (features, calibrated-noise probes, option scoring, logit lens)
-> ``store`` (resumable run store) and :func:`run` (one probe run as a library call)
-> ``estimators`` (exact discrete PID and BATCH)
-> ``analysis`` (spectra, correlations, tables for the book).

Importing ``pidlib`` pins torch's CPU kernels to one instruction set before torch loads
(:mod:`pidlib.cpu`: runs reproduce bit for bit across x86 machines; ``PIDLIB_NATIVE_CPU=1``
keeps the machine's own).
"""
from pidlib.cpu import pin_instruction_set as _pin

_pin()

from pidlib.estimators import (  # noqa: F401,E402
    PIDResult,
    pid_exact,
    pid_batch,
    pid_batch_many,
    pid_discretized,
    bootstrap_pid,
)

__version__ = "0.1.0"


def run(model, dataset, out, **options):
    """Probe ``model`` on ``dataset`` into the run store ``out`` (resumable); see
    :func:`pidlib.runner.run` for every option.

    Examples
    --------
    >>> import pidlib
    >>> r = pidlib.run("models/llava", "mmbench:MMBench_DEV_EN.tsv", "runs")   # doctest: +SKIP
    >>> r.dir, r.n_rows, r.warnings                                           # doctest: +SKIP
    """
    from pidlib.runner import run as _run  # imported on use: torch and transformers are heavy

    return _run(model, dataset, out, **options)
