import os

os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

import pidlib  # noqa: E402,F401  (first: pins torch's CPU kernels to AVX2 before torch loads)
import torch  # noqa: E402

torch.set_num_threads(1)
