"""PID estimators: exact discrete (BROJA), BATCH for features, k-means discretization, bootstrap."""
from pidlib.estimators.result import ATOMS, PIDResult  # noqa: F401
from pidlib.estimators.exact import pid_exact  # noqa: F401
from pidlib.estimators.batch import BatchConfig, pid_batch, pid_batch_many, project_mean, sinkhorn_log  # noqa: F401
from pidlib.estimators.discrete import pid_discretized  # noqa: F401
from pidlib.estimators.bootstrap import BootstrapResult, bootstrap_pid  # noqa: F401
from pidlib.estimators.synthetic import GATE_ATOMS, gate, random_joint, sample_discrete, validation_cases  # noqa: F401
