"""BATCH: PID on high-dimensional features (Liang et al., NeurIPS 2023), as the paper adapts it.

Given, per sample i, source features x1_i (visual) and x2_i (language) and the model's own
predictive distributions p(y|x1_i), p(y|x2_i), p(y|x1_i,x2_i) over k options, BATCH looks
for the distribution Q in Delta_P (Bertschinger et al. 2014) on a minibatch of B samples:

    Q(a, b, y) = exp(L_y[a, b] + f_y[a] + g_y[b]),   a, b = 1..B,

where L_y[a, b] = <h1_y(x1_a), h2_y(x2_b)> / sqrt(e) are scaled dot products of per-label
embeddings from two MLP encoders (each label's e-dim embedding standardized), and the
potentials f, g are found by Sinkhorn iterations so that Q's (X1, Y) marginal equals
p(y|x1_a)/B and its (X2, Y) marginal equals p(y|x2_b)/B. The encoders are trained with Adam
to minimize I_Q(X1, X2; Y) on minibatches (equivalently I_Q(X2; Y | X1), Liang et al.
eq. 9). On held-out evaluation rows the atoms follow as in the exact case:

    R  = I(X1;Y) + I(X2;Y) - I_Q(X1,X2;Y)      U1 = I_Q - I(X2;Y)
    U2 = I_Q - I(X1;Y)                          S  = I(X1,X2;Y) - I_Q

with I(X1;Y) = mean_a KL(p(.|x1_a) || P), I(X2;Y), I(X1,X2;Y) likewise, and P(Y) the soft
aggregate (mean) of p(y|x1,x2) over the evaluation rows.

Deliberate differences from the published code (see shared notes, "weak points"):

* The per-label row and column targets of a minibatch generally differ in total (the three
  conditionals come from separate probes), so both marginals cannot hold; the published
  code runs Sinkhorn to its iteration cap. Here both target vectors of a label are
  rescaled to their common mean total before Sinkhorn (symmetric in X1 and X2); the raw
  mismatch is reported as ``diagnostics["target_mismatch"]``.
* Sinkhorn is vectorized over labels (and over independent estimates), keeps its
  potentials in the log domain with shift-stabilized kernel products (the kernel
  exp(L) is bounded because |L| <= (e-1)/sqrt(e)), runs a fixed number of iterations
  and never synchronizes with the host inside the loop.
* P(Y) is the soft aggregate over the evaluation rows (the published code reuses the fit
  rows' P(Y), which adds KL(p_eval || p_fit) to every term).
* The evaluation keeps every row (no ``drop_last``): rows are split into near-equal
  batches; atoms are averaged over batches weighted by size.
* Raw atoms are reported beside the clipped ones; the raw atoms sum to I(X1,X2;Y).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from pidlib.estimators._checks import check_conditional, check_features
from pidlib.estimators.result import ATOMS, PIDResult, from_raw

LOG2 = math.log(2.0)
_TINY = 1e-20


@dataclass(frozen=True)
class BatchConfig:
    """Hyper-parameters of BATCH (defaults as in the paper's adaptation)."""

    hidden: int = 32
    embed: int = 10
    layers: int = 3
    lr: float = 1e-3
    batch_size: int = 256
    epochs: int = 8
    sinkhorn_iters: int = 10
    sinkhorn_iters_eval: int = 500


# ----------------------------------------------------------------------------- encoders
class _BatchedMLP:
    """M independent MLPs d -> hidden -> (hidden -> hidden) x layers -> out, ReLU.

    Weights have a leading problem axis, so M estimates train in one set of bmm calls.
    Initialization matches ``torch.nn.Linear`` (U(-1/sqrt(fan_in), 1/sqrt(fan_in))) and
    is drawn per problem from that problem's own generator.
    """

    def __init__(self, sizes: Sequence[int], gens: Sequence[torch.Generator], device, dtype):
        self.params: list[torch.Tensor] = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            bound = 1.0 / math.sqrt(fan_in)
            W = torch.stack([(torch.rand(fan_in, fan_out, generator=g, dtype=torch.float64) * 2 - 1) * bound
                             for g in gens])
            b = torch.stack([(torch.rand(1, fan_out, generator=g, dtype=torch.float64) * 2 - 1) * bound
                             for g in gens])
            self.params += [W.to(device=device, dtype=dtype).requires_grad_(),
                            b.to(device=device, dtype=dtype).requires_grad_()]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        n = len(self.params) // 2
        for i in range(n):
            x = torch.baddbmm(self.params[2 * i + 1], x, self.params[2 * i])
            if i < n - 1:
                x = torch.relu(x)
        return x


def _label_embeddings(mlp: _BatchedMLP, x: torch.Tensor, k: int, e: int) -> torch.Tensor:
    """(M, B, d) -> (M, k, B, e), each label's embedding standardized over its e dims."""
    h = mlp(x).unflatten(-1, (k, e))
    h = (h - h.mean(-1, keepdim=True)) / (h.std(-1, keepdim=True) + 1e-6)
    return h.transpose(1, 2)


# ----------------------------------------------------------------------------- Sinkhorn
def sinkhorn_log(logK: torch.Tensor, log_r: torch.Tensor, log_c: torch.Tensor, n_iter: int,
                 tol: float | None = None, check_every: int = 10) -> torch.Tensor:
    """Entropic projection onto given row/column sums, vectorized over leading axes.

    Parameters
    ----------
    logK : (..., B, B) tensor of bounded log-kernel values (here |logK| <= 2.85).
    log_r, log_c : (..., B) log row and column targets with equal totals per leading index.
    n_iter : maximum number of (row, column) update pairs.
    tol : float, optional
        If given, stop once the relative L1 error of the row marginals is below ``tol``;
        checked every ``check_every`` iterations (one host sync per check, none between).

    Returns
    -------
    log_pi : (..., B, B) whose column sums equal exp(log_c) and whose row sums approach
    exp(log_r). The potentials f, g live in the log domain,
    f <- log r - log(K exp(g)), g <- log c - log(K^T exp(f)); no max-shift is needed
    because K = exp(logK) is bounded and the targets are clamped away from 0, so exp(f) and
    exp(g) stay within float32 range.
    """
    K = torch.exp(logK)
    Kt = K.transpose(-1, -2)
    g = torch.zeros_like(log_c)
    for it in range(1, n_iter + 1):
        f = log_r - torch.log(K @ torch.exp(g).unsqueeze(-1)).squeeze(-1)
        ef = torch.exp(f).unsqueeze(-1)
        g = log_c - torch.log(Kt @ ef).squeeze(-1)
        if tol is not None and it % check_every == 0:
            rows = torch.exp(f) * (K @ torch.exp(g).unsqueeze(-1)).squeeze(-1)
            r = torch.exp(log_r)
            if float(((rows - r).abs().sum(-1) / r.sum(-1)).max()) < tol:
                break
    return logK + f.unsqueeze(-1) + g.unsqueeze(-2)


def _targets(p1: torch.Tensor, p2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Row/column targets (M, k, B) rescaled to a common per-label total, and the raw mismatch."""
    B = p1.shape[1]
    r = p1.transpose(1, 2) / B
    c = p2.transpose(1, 2) / B
    sr = r.sum(-1, keepdim=True)
    sc = c.sum(-1, keepdim=True)
    tot = 0.5 * (sr + sc)
    mismatch = (sr - sc).abs().sum((1, 2))  # L1 over labels between the two label marginals
    r = r * (tot / sr.clamp_min(_TINY))
    c = c * (tot / sc.clamp_min(_TINY))
    return r, c, mismatch


def _iq(log_pi: torch.Tensor, log_py: torch.Tensor) -> torch.Tensor:
    """I_Q(X1,X2;Y) in nats per problem: sum Q log(Q(y|a,b)/P(y)); log_py (M, k)."""
    log_pab = torch.logsumexp(log_pi, dim=1, keepdim=True)
    pi = torch.exp(log_pi)
    return (pi * (log_pi - log_pab - log_py[:, :, None, None])).sum((1, 2, 3))


def _kl_rows(p: torch.Tensor, log_py: torch.Tensor) -> torch.Tensor:
    """sum_rows sum_y p log(p / P(y)) per problem, for p (M, B, k)."""
    return (torch.special.xlogy(p, p) - p * log_py[:, None, :]).sum((1, 2))


# ----------------------------------------------------------------------------- core
def _prepare(x, name: str, n: int | None, M: int | None, ndim_single: int, check) -> np.ndarray:
    a = np.asarray(x) if not isinstance(x, torch.Tensor) else x.detach().cpu().numpy()
    if a.ndim == ndim_single:
        return check(a, name)[None]
    if a.ndim == ndim_single + 1:
        return np.stack([check(a[m], f"{name}[{m}]") for m in range(a.shape[0])])
    raise ValueError(f"{name}: expected {ndim_single} or {ndim_single + 1} dimensions, got shape {a.shape}")


def _fit_eval(X1: np.ndarray, X2: np.ndarray, P1: np.ndarray, P2: np.ndarray, P12: np.ndarray,
              fit_idx: np.ndarray, eval_idx: np.ndarray, seeds: Sequence[int], cfg: BatchConfig,
              device: str | torch.device, dtype: torch.dtype) -> list[PIDResult]:
    """Train and evaluate M estimates at once.

    X1: (M1, N, d1), X2: (M2, N, d2), P*: (Mp, N, k) with M1, M2, Mp in {1, M};
    fit_idx: (M, n_fit) and eval_idx: (M, n_eval) row indices per problem.
    """
    M = len(seeds)
    k = P12.shape[-1]
    # Drop outcome columns that no row of any probe ever charges (e.g. zero padding).
    active = (P1.max((0, 1)) > 0) | (P2.max((0, 1)) > 0) | (P12.max((0, 1)) > 0)
    P1, P2, P12 = P1[..., active], P2[..., active], P12[..., active]
    k = int(active.sum())
    if k < 2:
        raise ValueError("p_y_x1x2: fewer than 2 outcomes carry probability mass in any row")

    dev = torch.device(device)
    t = lambda a: torch.as_tensor(np.array(a), dtype=dtype, device=dev)  # noqa: E731
    X1t, X2t, P1t, P2t, P12t = t(X1), t(X2), t(P1), t(P2), t(P12)
    fit_t = torch.as_tensor(np.array(fit_idx), device=dev)
    eval_t = torch.as_tensor(np.array(eval_idx), device=dev)
    gens = [torch.Generator().manual_seed(int(s)) for s in seeds]
    e = cfg.embed
    sizes1 = [X1.shape[-1], cfg.hidden] + [cfg.hidden] * cfg.layers + [e * k]
    sizes2 = [X2.shape[-1], cfg.hidden] + [cfg.hidden] * cfg.layers + [e * k]
    enc1 = _BatchedMLP(sizes1, gens, dev, dtype)
    enc2 = _BatchedMLP(sizes2, gens, dev, dtype)
    opt = torch.optim.Adam(enc1.params + enc2.params, lr=cfg.lr)
    mrange = torch.arange(M, device=dev)[:, None]

    def gather(T: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """Rows idx (M, B) of T (1 or M, N, ...) -> (M, B, ...)."""
        return T[0][idx] if T.shape[0] == 1 else T[mrange, idx]

    def batch_log_pi(idx: torch.Tensor, n_iter: int, tol: float | None = None):
        h1 = _label_embeddings(enc1, gather(X1t, idx), k, e)
        h2 = _label_embeddings(enc2, gather(X2t, idx), k, e)
        logK = h1 @ h2.transpose(-1, -2) / math.sqrt(e)  # (M, k, B, B)
        p1, p2 = gather(P1t, idx), gather(P2t, idx)
        r, c, mismatch = _targets(p1, p2)
        log_pi = sinkhorn_log(logK, torch.log(r.clamp_min(_TINY)), torch.log(c.clamp_min(_TINY)), n_iter, tol)
        return log_pi, r, mismatch

    # ---- fit
    n_fit = fit_idx.shape[1]
    n_batches = max(1, math.ceil(n_fit / cfg.batch_size))
    losses = []
    for _ in range(cfg.epochs):
        perms = torch.stack([torch.randperm(n_fit, generator=g) for g in gens]).to(dev)
        for chunk in torch.tensor_split(perms, n_batches, dim=1):
            idx = torch.gather(fit_t, 1, chunk)
            log_pi, r, _ = batch_log_pi(idx, cfg.sinkhorn_iters)
            log_q_y = torch.log(r.sum(-1).clamp_min(_TINY))  # Q's own label marginal
            iq = _iq(log_pi, log_q_y)
            opt.zero_grad(set_to_none=True)
            iq.sum().backward()
            opt.step()
            losses.append(iq.detach())

    # ---- evaluate
    n_eval = eval_idx.shape[1]
    with torch.no_grad():
        py = gather(P12t, eval_t).mean(1)  # (M, k) soft aggregation over eval rows
        p1e, p2e = gather(P1t, eval_t), gather(P2t, eval_t)
        for name, pe in (("p_y_x1", p1e), ("p_y_x2", p2e)):
            bad = (pe.amax(1) > 0) & (py <= 0)
            if bool(bad.any()):
                raise ValueError(f"{name}: charges an outcome that p_y_x1x2 never does; "
                                 "I(X;Y) would be infinite")
        log_py = torch.log(py.clamp_min(_TINY))
        sums = torch.zeros(M, 4, dtype=torch.float64, device=dev)  # I1, I2, I12, IQ (nats, summed)
        marg_err = torch.zeros(M, dtype=torch.float64, device=dev)
        mismatch_sum = torch.zeros(M, dtype=torch.float64, device=dev)
        n_eval_batches = max(1, math.ceil(n_eval / cfg.batch_size))
        order = torch.stack([torch.randperm(n_eval, generator=g) for g in gens]).to(dev)
        for chunk in torch.tensor_split(order, n_eval_batches, dim=1):
            idx = torch.gather(eval_t, 1, chunk)
            B = idx.shape[1]
            log_pi, r, mismatch = batch_log_pi(idx, cfg.sinkhorn_iters_eval, tol=1e-6)
            rows = torch.exp(torch.logsumexp(log_pi, -1))
            marg_err = torch.maximum(marg_err, ((rows - r).abs().sum((1, 2)) / r.sum((1, 2))).double())
            mismatch_sum += mismatch.double() * B
            p1, p2, p12 = gather(P1t, idx), gather(P2t, idx), gather(P12t, idx)
            # Each term is a mean over the batch; weight the batch by its size.
            sums[:, 0] += _kl_rows(p1, log_py).double()
            sums[:, 1] += _kl_rows(p2, log_py).double()
            sums[:, 2] += _kl_rows(p12, log_py).double()
            sums[:, 3] += _iq(log_pi, log_py).double() * B
    terms = (sums / n_eval / LOG2).cpu().numpy()
    loss_curve = (torch.stack(losses) / LOG2).cpu().numpy() if losses else np.zeros((0, M))
    marg_err = marg_err.cpu().numpy()
    mismatch = (mismatch_sum / n_eval).cpu().numpy()

    results = []
    for m in range(M):
        I1, I2, I12, IQ = (float(v) for v in terms[m])
        raw = {"redundancy": I1 + I2 - IQ, "unique1": IQ - I2, "unique2": IQ - I1, "synergy": I12 - IQ}
        diagnostics = {
            "seed": int(seeds[m]),
            "n_fit": int(n_fit),
            "n_eval": int(n_eval),
            "I_Q": IQ,
            "sinkhorn_marginal_error": float(marg_err[m]),
            "target_mismatch": float(mismatch[m]),
            "loss_curve": loss_curve[:, m].tolist(),
            "config": cfg.__dict__.copy(),
        }
        results.append(from_raw(raw, total=I12, I1=I1, I2=I2, diagnostics=diagnostics, method="batch"))
    return results


def _split(n: int, eval_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if not 0.0 < eval_fraction < 1.0:
        raise ValueError(f"eval_fraction: must lie in (0, 1), got {eval_fraction}")
    perm = np.random.default_rng(seed).permutation(n)
    n_eval = int(round(n * eval_fraction))
    if n_eval < 2 or n - n_eval < 2:
        raise ValueError(f"x1: {n} rows are too few to split into fit and eval rows")
    return np.sort(perm[n_eval:]), np.sort(perm[:n_eval])


def _validate_set(x1, x2, p1, p2, p12, tag: str = "") -> tuple[np.ndarray, ...]:
    """Validate one (x1, x2, p1, p2, p12) set, with shared or per-problem leading axes."""
    P12 = _prepare(p12, f"p_y_x1x2{tag}", None, None, 2, lambda a, nm: check_conditional(a, nm))
    n, k = P12.shape[1], P12.shape[2]
    P1 = _prepare(p1, f"p_y_x1{tag}", n, None, 2, lambda a, nm: check_conditional(a, nm, n, k))
    P2 = _prepare(p2, f"p_y_x2{tag}", n, None, 2, lambda a, nm: check_conditional(a, nm, n, k))
    X1 = _prepare(x1, f"x1{tag}", n, None, 2, lambda a, nm: check_features(a, nm, n))
    X2 = _prepare(x2, f"x2{tag}", n, None, 2, lambda a, nm: check_features(a, nm, n))
    return X1, X2, P1, P2, P12


def pid_batch_many(x1, x2, p_y_x1, p_y_x2, p_y_x1x2, *, seeds: int | Sequence[int] = 0,
                   eval_data: tuple | None = None, eval_fraction: float = 1 / 3,
                   fit_idx: np.ndarray | None = None, eval_idx: np.ndarray | None = None,
                   device: str = "cpu", dtype: torch.dtype = torch.float32, chunk: int | None = None,
                   **config) -> list[PIDResult]:
    """Fit many BATCH estimates together (batched across layers, seeds or bootstrap replicates).

    Every array may carry a leading problem axis M (e.g. one set of conditionals per layer)
    or be shared by all problems (e.g. the same features for every layer). ``seeds`` gives
    one seed per problem (an int repeats over the M problems implied by the arrays).
    Results equal those of :func:`pid_batch` run problem by problem with the same seeds,
    up to float round-off.

    Parameters
    ----------
    x1, x2 : array (n, d) or (M, n, d)
    p_y_x1, p_y_x2, p_y_x1x2 : array (n, k) or (M, n, k)
    seeds : int or sequence of int
    eval_data : tuple (x1, x2, p_y_x1, p_y_x2, p_y_x1x2), optional
        Separate evaluation rows; when absent, the rows are split per problem at random
        (``eval_fraction`` of them for evaluation, the split drawn from the seed).
    fit_idx, eval_idx : int arrays (M, n_fit), (M, n_eval), optional
        Explicit row indices per problem into the given arrays (used by the bootstrap).
    chunk : int, optional
        Train at most this many problems at a time (bounds memory); default all.
    **config
        :class:`BatchConfig` fields: hidden, embed, layers, lr, batch_size, epochs,
        sinkhorn_iters, sinkhorn_iters_eval.

    Returns
    -------
    list of PIDResult, one per problem.
    """
    unknown = set(config) - set(BatchConfig.__dataclass_fields__)
    if unknown:
        raise TypeError(f"unknown BATCH parameter(s): {sorted(unknown)}")
    cfg = BatchConfig(**config)
    for name in ("hidden", "embed", "layers", "batch_size", "epochs", "sinkhorn_iters", "sinkhorn_iters_eval"):
        if int(getattr(cfg, name)) < (0 if name == "epochs" else 1):
            raise ValueError(f"{name}: must be a positive integer, got {getattr(cfg, name)}")

    X1, X2, P1, P2, P12 = _validate_set(x1, x2, p_y_x1, p_y_x2, p_y_x1x2)
    n = P12.shape[1]
    sizes = {a.shape[0] for a in (X1, X2, P1, P2, P12)} - {1}
    if len(sizes) > 1:
        raise ValueError(f"leading problem axes disagree: {sorted(sizes)}")
    if isinstance(seeds, (int, np.integer)):
        M = sizes.pop() if sizes else 1
        seeds = [int(seeds)] * M
    seeds = [int(s) for s in seeds]
    M = len(seeds)
    if sizes and sizes.pop() != M:
        raise ValueError(f"seeds: {M} seeds for arrays with a different number of problems")

    if eval_data is not None:
        if fit_idx is not None or eval_idx is not None:
            raise ValueError("eval_data: give either eval_data or fit_idx/eval_idx, not both")
        E = _validate_set(*eval_data, tag=" (eval_data)")
        if E[4].shape[2] != P12.shape[2]:
            raise ValueError(f"eval_data: has {E[4].shape[2]} outcomes, the fit rows {P12.shape[2]}")
        for a, b_, nm in ((X1, E[0], "x1"), (X2, E[1], "x2")):
            if a.shape[2] != b_.shape[2]:
                raise ValueError(f"eval_data: {nm} has dimension {b_.shape[2]}, the fit rows {a.shape[2]}")
        ne = E[4].shape[1]

        def cat(a, b_):
            if a.shape[0] != b_.shape[0]:
                a, b_ = np.broadcast_to(a, (M,) + a.shape[1:]), np.broadcast_to(b_, (M,) + b_.shape[1:])
            return np.concatenate([a, b_], axis=1)

        X1, X2, P1, P2, P12 = (cat(a, b_) for a, b_ in zip((X1, X2, P1, P2, P12), E))
        fit_idx = np.broadcast_to(np.arange(n), (M, n))
        eval_idx = np.broadcast_to(np.arange(n, n + ne), (M, ne))
    elif fit_idx is None or eval_idx is None:
        splits = [_split(n, eval_fraction, s) for s in seeds]
        fit_idx = np.stack([s[0] for s in splits])
        eval_idx = np.stack([s[1] for s in splits])
    fit_idx = np.asarray(fit_idx, dtype=np.int64)
    eval_idx = np.asarray(eval_idx, dtype=np.int64)
    if fit_idx.shape[0] != M or eval_idx.shape[0] != M:
        raise ValueError(f"fit_idx/eval_idx: need {M} rows of indices, one per problem")
    if eval_idx.shape[1] < 2 or fit_idx.shape[1] < 2:
        raise ValueError("eval_idx/fit_idx: need at least 2 rows each")

    chunk = chunk or M
    out: list[PIDResult] = []
    for s in range(0, M, chunk):
        sl = slice(s, min(M, s + chunk))
        pick = lambda A: A if A.shape[0] == 1 else A[sl]  # noqa: E731
        out += _fit_eval(pick(X1), pick(X2), pick(P1), pick(P2), pick(P12),
                         fit_idx[sl], eval_idx[sl], seeds[sl], cfg, device, dtype)
    return out


def pid_batch(x1, x2, p_y_x1, p_y_x2, p_y_x1x2, *, seed: int = 0, eval_data: tuple | None = None,
              eval_fraction: float = 1 / 3, device: str = "cpu", dtype: torch.dtype = torch.float32,
              **config) -> PIDResult:
    """PID of a model's predictions from high-dimensional features with BATCH.

    Parameters
    ----------
    x1 : array (n, d1)
        Visual source features (the paper: mean-pooled visual token embeddings).
    x2 : array (n, d2)
        Language source features (mean-pooled question token embeddings).
    p_y_x1, p_y_x2, p_y_x1x2 : array (n, k), k >= 2
        The model's option distributions under the visual-only, language-only and full
        probes; rows sum to 1 (tolerance 1e-4). Options a sample does not have carry 0.
    seed : int, default 0
        Seeds the encoders' initialization, the minibatch order and the fit/eval split.
    eval_data : tuple (x1, x2, p_y_x1, p_y_x2, p_y_x1x2), optional
        Held-out evaluation rows. Default: a random ``eval_fraction`` of the given rows.
    eval_fraction : float, default 1/3
        The paper's 2000 fit / 1000 eval rows in proportion.
    device : str, default "cpu"
    dtype : torch.dtype, default torch.float32
    **config
        hidden=32, embed=10, layers=3, lr=1e-3, batch_size=256, epochs=8 (the paper's
        values); sinkhorn_iters=10 (training: the evaluation converges fully, and 10
        gave the same atoms as 30 on the gates); sinkhorn_iters_eval=500 (evaluation,
        stops early once the marginals hold to 1e-6).

    Returns
    -------
    PIDResult
        Atoms in bits, clipped at 0; ``raw`` holds the unclipped atoms (they sum to
        ``total`` = I(X1,X2;Y)). A negative raw atom means the three probes' conditionals
        are not those of one joint distribution (weak point 4 in the notes); it is not
        an estimation error to hide. ``diagnostics``: ``sinkhorn_marginal_error`` (max
        relative L1 error of Q's (X1,Y) marginal on the eval batches),
        ``target_mismatch`` (mean L1 gap between the batch's label marginals under
        p(y|x1) and p(y|x2) before rescaling), ``loss_curve`` (I_Q per training step,
        bits), ``I_Q``, ``n_fit``, ``n_eval``, ``seed``, ``config``.

    Raises
    ------
    ValueError
        On shape mismatches, NaN, negative probabilities, rows not summing to 1, k < 2.
    """
    return pid_batch_many(x1, x2, p_y_x1, p_y_x2, p_y_x1x2, seeds=[seed], eval_data=eval_data,
                          eval_fraction=eval_fraction, device=device, dtype=dtype, **config)[0]
