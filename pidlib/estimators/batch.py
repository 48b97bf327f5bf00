"""BATCH: PID on high-dimensional features (Liang et al., NeurIPS 2023), as the paper adapts it.

Given, per sample i, source features x1_i (visual) and x2_i (language) and the model's own
predictive distributions p(y|x1_i), p(y|x2_i), p(y|x1_i,x2_i) over k options, BATCH looks
for the distribution Q in Delta_P (Bertschinger et al. 2014) on a minibatch of B samples:

    Q(a, b, y) = exp(L_y[a, b] + f_y[a] + g_y[b]),   a, b = 1..B,                    (1)

where L_y[a, b] = <h1_y(x1_a), h2_y(x2_b)> / sqrt(e) are scaled dot products of per-label
embeddings from two MLP encoders (each label's e-dim embedding standardized), and the
potentials f, g are found by Sinkhorn iterations so that Q's (X1, Y) marginal equals
q(y|x1_a)/B and its (X2, Y) marginal equals q(y|x2_b)/B. The encoders are trained with
Adam to minimize I_Q(X1, X2; Y) on minibatches (Liang et al. eq. 9). On held-out
evaluation rows the atoms follow as in the exact case:

    R  = I(X1;Y) + I(X2;Y) - I_Q(X1,X2;Y)      U1 = I_Q - I(X2;Y)                   (2)
    U2 = I_Q - I(X1;Y)                          S  = I(X1,X2;Y) - I_Q

with I(X1;Y) = mean_a KL(q(.|x1_a) || P), I(X2;Y), I(X1,X2;Y) likewise, and P(Y) the soft
aggregate (mean) of p(y|x1,x2) over the evaluation rows.

One decomposition: coherent unimodal conditionals
--------------------------------------------------
The three conditionals come from three separate probes, so they need not be those of one
joint distribution. The law of total probability requires mean_i p(y|x1_i) = P(y) =
mean_i p(y|x2_i); when it fails, no Q has both probes as its marginals, and atoms computed
from Q on one side and from the untouched probes on the other mix two distributions (R
above I(X2;Y), atoms that no PID can have). By default (``coherence="project"``) each
unimodal probe is first replaced by its I-projection onto the conditionals that obey the
law of total probability,

    q(y|x1_a) = p(y|x1_a) w_y / sum_y' p(y'|x1_a) w_y',   mean_a q(y|x1_a) = P(y),     (3)

(the minimum-KL change of the probe: one exponential tilt per outcome, found by Newton's
method on its dual with a line search), separately on the fit rows and on every
evaluation batch. Q then meets both marginals exactly, I(X1;Y) and I(X2;Y) are Q's own,
and the atoms satisfy R + U1 = I(X1;Y), R + U2 = I(X2;Y), R + U1 + U2 + S = I(X1,X2;Y)
with U1, U2 >= 0 by construction. What the projection removed is reported
(``diagnostics["coherence"]``) and decides ``coherent``; the other two constructions are
kept for comparison:
``"row"`` keeps Q's (X1, Y) marginal exact and leaves the probes untouched (the published
code), ``"symmetric"`` rescales both targets of each label to their mean total (pidlib
before version 0.2). See the method chapter for the measured comparison.

Training budget
---------------
The encoders train for ``max(epochs * batches_per_epoch, min_steps)`` Adam steps. The
paper's 8 epochs are 8 steps at 250 fit rows, too few for the kernel to leave its
initial, nearly constant state, where Q is the conditional-independence coupling
Q(a, b, y) = q(y|x1_a) q(y|x2_b) / (B^2 P(y)) and the features play no role; ``min_steps``
(default 150) lets the loss plateau at every sample size. ``diagnostics`` report whether
it did (``trained``), the final loss slope and the gap I_Q(CI coupling) - I_Q(BATCH).

Training gradient
-----------------
The loss of a training step is I_Q of the coupling that ``sinkhorn_iters`` (10) Sinkhorn
iterations make of the minibatch kernel; its gradient is taken through those iterations.
Autograd through the unrolled loop is replaced by a hand-written reverse pass
(:func:`sinkhorn_iq`): with G = dI_Q/dlog Q, each iteration contributes two rank-one terms,

    dI_Q/dL = G + exp(L) * sum_t (e^f_t dv_t^T + du_t e^g~_t^T),                     (4)

(``_SinkhornIQ`` spells out dv_t, du_t), the same gradient as autograd's to float
rounding (``tests/test_estimators_batch.py``), 2.3-2.7x faster per step
(``benchmarks/batch_training.py``). In evaluation, I_Q is summed without forming Q over
labels and replicates (``_iq_coupling``, ``_iq_product``).

Other deliberate differences from the published code (see shared notes, "weak points"):
Sinkhorn is vectorized over labels and estimates, keeps log-domain potentials, runs a
fixed number of iterations in training and never synchronizes with the host inside the
loop; P(Y) is the soft aggregate over the evaluation rows; every evaluation row is kept
(no ``drop_last``) and evaluation batches hold up to ``eval_batch_size`` rows.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from pidlib.estimators._checks import check_conditional, check_features
from pidlib.estimators.result import PIDResult, from_raw

LOG2 = math.log(2.0)
_TINY = 1e-20
COHERENCE_MODES = ("project", "row", "symmetric")
#: Default tolerance (bits) of the coherence verdict: the validated accuracy of BATCH at
#: n_fit >= 500 (method chapter, ``benchmarks/RESULTS.md``).
COHERENCE_TOL = 0.05


@dataclass(frozen=True)
class BatchConfig:
    """Hyper-parameters of BATCH.

    hidden, embed, layers, lr and epochs are the paper's values. ``batch_size`` (training
    minibatch; the paper: 256) is 128: validated as accurate (method chapter) at a quarter
    of the Sinkhorn work per step. ``min_steps`` is the least number of Adam steps (the
    budget is ``max(epochs * batches, min_steps)``), ``eval_batch_size`` the largest
    evaluation batch (the paper: 256; a larger grid lowers the minibatch floor of the
    estimate from about 0.02 to about 0.002 bit), ``sinkhorn_tol`` the relative L1 error
    of Q's marginals at which evaluation stops iterating, ``coherence`` the construction of
    the unimodal marginals (see the module docstring) and ``coherence_tol`` the tolerance
    in bits of the coherence verdict.
    """

    hidden: int = 32
    embed: int = 10
    layers: int = 3
    lr: float = 1e-3
    batch_size: int = 128
    epochs: int = 8
    min_steps: int = 150
    sinkhorn_iters: int = 10
    sinkhorn_iters_eval: int = 500
    sinkhorn_tol: float = 1e-3
    eval_batch_size: int = 1024
    coherence: str = "project"
    coherence_tol: float = COHERENCE_TOL


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

    def __call__(self, x: torch.Tensor, sl: slice = slice(None)) -> torch.Tensor:
        n = len(self.params) // 2
        for i in range(n):
            x = torch.baddbmm(self.params[2 * i + 1][sl], x, self.params[2 * i][sl])
            if i < n - 1:
                x = torch.relu(x)
        return x


def _label_embeddings(mlp: _BatchedMLP, x: torch.Tensor, k: int, e: int, sl: slice = slice(None)) -> torch.Tensor:
    """(M, B, d) -> (M, k, B, e), each label's embedding standardized over its e dims."""
    h = mlp(x, sl).unflatten(-1, (k, e))
    h = (h - h.mean(-1, keepdim=True)) / (h.std(-1, keepdim=True) + 1e-6)
    return h.transpose(1, 2)


# ----------------------------------------------------------------------------- Sinkhorn
def _row_mv(v: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
    """v @ A per leading index: (..., B) x (..., B, B) -> (..., B). A batched row-vector
    product reads A once and is 5-8x faster on CPU than ``A @ v[..., None]``."""
    return (v.unsqueeze(-2) @ A).squeeze(-2)


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
    f <- log r - log(K exp(g)), g <- log c - log(K^T exp(f)), with g centred before each
    update (the pair is defined up to a shift); no max-shift is needed because K =
    exp(logK) is bounded and the targets are clamped away from 0, so exp(f) and exp(g)
    stay within float32 range even when the two totals disagree (then the rows never
    converge and the loop runs to ``n_iter``).
    """
    K = torch.exp(logK)
    # differentiable by autograd through the loop (the training loss uses the hand-written
    # backward of sinkhorn_iq instead; this function is its reference in the tests)
    Kt = K.transpose(-1, -2)
    Kv = lambda v: _row_mv(v, Kt)      # noqa: E731
    Ktv = lambda v: _row_mv(v, K)      # noqa: E731
    g = torch.zeros_like(log_c)
    for it in range(1, n_iter + 1):
        g = g - g.mean(-1, keepdim=True)  # potentials are defined up to a shift; keep them bounded
        f = log_r - torch.log(Kv(torch.exp(g)))
        g = log_c - torch.log(Ktv(torch.exp(f)))
        if tol is not None and it % check_every == 0:
            rows = torch.exp(f) * Kv(torch.exp(g))
            r = torch.exp(log_r)
            tot = r.sum(-1)
            # relative L1 error per marginal; marginals without mass (unused options) are met
            err = torch.where(tot > 1e-9, (rows - r).abs().sum(-1) / tot.clamp_min(1e-30), 0.0)
            if float(err.max()) < tol:
                break
    return logK + f.unsqueeze(-1) + g.unsqueeze(-2)


class _SinkhornIQ(torch.autograd.Function):
    """I_Q of the training Sinkhorn coupling, with its gradient with respect to logK written
    out (the same function as ``_iq(sinkhorn_log(logK, log_r, log_c, n_iter), log_py)``,
    differentiated through the same ``n_iter`` unrolled iterations).

    Forward: the iterations of :func:`sinkhorn_log` (g_0 = 0; for t = 1..T:
    g~ = g_{t-1} - mean g_{t-1}, u_t = K e^g~, f_t = log r - log u_t, v_t = K^T e^f_t,
    g_t = log c - log v_t), then Q = K * e^f_T e^g_T^T and

        I_Q = sum_y,a,b Q (log Q - log Q(a,b) - log P(y)),    dI_Q/dlog Q = Q (log Q - log Q(a,b) - log P(y)).

    Backward (reverse mode through the T iterations by hand): with G = dI_Q/dlog Q,
    df_T = G 1, dg_T = G^T 1, and for t = T..1
    dv = -dg_t / v_t, df_t += e^f_t * (K dv), du = -df_t / u_t, dg~ = e^g~ * (K^T du),
    dg_{t-1} = dg~ - mean dg~; every iteration adds a rank-one term to dlogK through K, so

        dI_Q/dlogK = G + K * sum_t (e^f_t dv_t^T + du_t e^g~_t^T)                         (4)

    one (B x 2T) @ (2T x B) product. Autograd through the unrolled loop keeps two (B x B)
    temporaries per matrix-vector product; this keeps K, K^T and G, 2.3-2.7x faster per
    step (``benchmarks/batch_training.py``). ``log_r``, ``log_c`` and ``log_py`` are constants (the
    probes), so no gradient flows to them.
    """

    @staticmethod
    def forward(ctx, logK, log_r, log_c, log_py, n_iter):
        K = torch.exp(logK)
        Kt = K.transpose(-1, -2).contiguous()
        g = torch.zeros_like(log_c)
        saved = []
        for _ in range(n_iter):
            g = g - g.mean(-1, keepdim=True)
            eg = torch.exp(g)
            u = _row_mv(eg, Kt)
            f = log_r - torch.log(u)
            ef = torch.exp(f)
            v = _row_mv(ef, K)
            g = log_c - torch.log(v)
            saved += [eg, u, ef, v]
        pi = K * (torch.exp(f).unsqueeze(-1) * torch.exp(g).unsqueeze(-2))
        pab = pi.sum(-3, keepdim=True)
        G = logK + (f - log_py.unsqueeze(-1)).unsqueeze(-1)
        G += g.unsqueeze(-2)
        G -= torch.log(pab.clamp_min(_TINY))
        G *= pi
        ctx.n_iter = n_iter
        ctx.save_for_backward(K, Kt, G, *saved)
        return G.sum((-3, -2, -1))

    @staticmethod
    def backward(ctx, grad):
        if any(ctx.needs_input_grad[1:4]):
            raise RuntimeError("_SinkhornIQ: gradients flow to logK only (the targets are constants)")
        K, Kt, G, *saved = ctx.saved_tensors
        G = G * grad.reshape(grad.shape + (1, 1, 1))
        df, dg = G.sum(-1), G.sum(-2)
        us, vs = [], []
        for it in range(ctx.n_iter - 1, -1, -1):
            eg, u, ef, v = saved[4 * it: 4 * it + 4]
            dv = -dg / v
            df = df + ef * _row_mv(dv, Kt)
            du = -df / u
            dgc = eg * _row_mv(du, K)
            us += [ef, du]
            vs += [dv, eg]
            dg = dgc - dgc.mean(-1, keepdim=True)
            df = 0.0
        G.addcmul_(K, torch.stack(us, -1) @ torch.stack(vs, -2))
        return G, None, None, None, None


def sinkhorn_iq(logK: torch.Tensor, log_r: torch.Tensor, log_c: torch.Tensor, log_py: torch.Tensor,
                n_iter: int) -> torch.Tensor:
    """I_Q (nats, summed over the last three axes) of the coupling that ``n_iter`` Sinkhorn
    iterations (:func:`sinkhorn_log`, no tolerance) make of ``logK`` (..., k, B, B) with row
    and column targets ``exp(log_r)``, ``exp(log_c)`` (..., k, B), against ``log_py`` (..., k);
    differentiable in ``logK`` by the hand-written backward of :class:`_SinkhornIQ` (eq. 4).
    The training loss of BATCH."""
    return _SinkhornIQ.apply(logK, log_r, log_c, log_py, int(n_iter))


def project_mean(p: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None,
                 max_iter: int = 200, tol: float = 1e-9) -> tuple[torch.Tensor, torch.Tensor]:
    """I-projection of conditional rows onto those whose (weighted) mean is ``target``, eq. (3).

    Parameters
    ----------
    p : (..., n, k) rows of conditional distributions.
    target : (..., k) the required mean row (the soft aggregate P(Y)).
    weights : (..., n), optional
        Row weights summing to 1 (a bootstrap resample's multiplicities); default uniform.

    Returns
    -------
    q : (..., n, k) with q_i(y) proportional to p_i(y) w_y and sum_i weights_i q_i = target
        (weights and target first renormalized to sum to 1 in float64; the minimum of
        sum_i weights_i KL(q_i || p_i) under that constraint), found by Newton's method on
        the dual in float64; outcomes with target 0 get probability 0.
    err : (...,) the remaining L1 error of the mean (> tol only when the target is out of
        reach, e.g. an outcome P charges and no row of p does).
    """
    dtype = p.dtype
    p, target = p.double(), target.double()   # float32 means are too coarse for the tolerance
    n = p.shape[-2]
    wts = (torch.full(p.shape[:-1], 1.0 / n, dtype=p.dtype, device=p.device) if weights is None
           else weights.double())[..., None]
    # Weights and target computed in float32 sum to 1 only to about 1e-7; in float64 the
    # constraint would then be out of reach by that much and Newton would never meet ``tol``.
    # Renormalized, it converges in a few steps to the same q (to float32 precision).
    wts = wts / wts.sum(-2, keepdim=True).clamp_min(_TINY)
    target = target / target.sum(-1, keepdim=True).clamp_min(_TINY)
    k = p.shape[-1]
    active = target > 0
    log_p = torch.log(p.clamp_min(0)).nan_to_num(neginf=-torch.inf)
    log_p = torch.where(active.unsqueeze(-2), log_p, -torch.inf)
    lam = torch.zeros_like(target)
    eye = torch.eye(k, dtype=p.dtype, device=p.device)
    ones = torch.full((k, k), 1.0 / k, dtype=p.dtype, device=p.device)
    # Newton's method on the convex dual  D(lam) = sum_i w_i log sum_y p_iy e^lam_y - lam . target:
    # gradient = weighted mean of q - target, Hessian = sum_i w_i (diag q_i - q_i q_i^T);
    # the Hessian is singular along the all-ones direction (a shift of lam changes nothing),
    # which the added 11^T/k removes without changing the step; outcomes with target 0 stay
    # out (identity rows). Each step backtracks (halving, per problem) until D decreases
    # (Armijo): a full Newton step from far away overshoots when a probe gives an outcome
    # little mass (its Hessian entry is tiny), and without the check the iterates run off
    # to a one-hot q.
    def dual(lam_):
        lse_ = torch.logsumexp(log_p + lam_.unsqueeze(-2), -1)                       # (..., n)
        return (wts[..., 0] * lse_).sum(-1) - (torch.where(active, lam_, 0.0) * target).sum(-1), lse_

    mask = (active.unsqueeze(-1) & active.unsqueeze(-2)).to(p.dtype)
    val, lse = dual(lam)
    err = torch.full(target.shape[:-1], torch.inf, dtype=p.dtype, device=p.device)
    q = p
    for _ in range(max_iter):
        q = torch.exp(log_p + lam.unsqueeze(-2) - lse.unsqueeze(-1)).nan_to_num(0.0)
        grad = torch.where(active, (wts * q).sum(-2) - target, 0.0)
        err = grad.abs().sum(-1)
        if float(err.max()) < tol:
            break
        H = torch.diag_embed((wts * q).sum(-2)) - torch.einsum("...ny,...nz->...yz", wts * q, q)
        H = H * mask + eye * (1 - mask) + ones * mask + 1e-10 * eye   # ridge: outcomes out of reach
        step = torch.linalg.solve(H, grad.unsqueeze(-1)).squeeze(-1)
        slope = (grad * step).sum(-1)                   # -dD/da at a = 0 (> 0: H is positive definite)
        a = torch.ones_like(val)
        for _ in range(60):
            cand = lam - a.unsqueeze(-1) * step
            cval, clse = dual(cand)
            # Armijo, with room for round-off once the decrease is below float64 resolution
            ok = cval <= val - 1e-4 * a * slope + 1e-13 * (1.0 + val.abs())
            if bool(ok.all()):
                break
            a = torch.where(ok, a, 0.5 * a)
        lam = torch.where(ok.unsqueeze(-1), cand, lam)
        val = torch.where(ok, cval, val)
        lse = torch.where(ok.unsqueeze(-1), clse, lse)
    return q.to(dtype), err.to(dtype)


def _sinkhorn_multi(logK: torch.Tensor, r: torch.Tensor, c: torch.Tensor, n_iter: int, tol: float,
                    rows_last: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Sinkhorn for R pairs of targets on one kernel, with matrix-matrix products.

    ``logK`` (m, k, B, B); ``r``, ``c`` (m, R, k, B) row and column targets. Returns the row
    and column potentials (m, R, k, B) such that Q_r = exp(logK + f_r[:, None] + g_r[None, :])
    meets the column targets exactly (the row targets with ``rows_last``) and the other side
    to a relative L1 error of ``tol``. The R replicates share K, so one iteration is a pair
    of (B x B) @ (B x R) products instead of R matrix-vector products.
    """
    if rows_last:
        logK, r, c = logK.transpose(-1, -2), c, r
    K = torch.exp(logK)
    Kt = K.transpose(-1, -2)
    lr = torch.log(r.clamp_min(_TINY)).permute(0, 2, 3, 1)   # (m, k, B, R)
    lc = torch.log(c.clamp_min(_TINY)).permute(0, 2, 3, 1)
    # targets with mass on both sides: a label whose rows carry mass and whose columns carry
    # none cannot be met by any number of iterations, so it does not hold the loop up
    mass = (r.sum(-1) > 1e-9) & (c.sum(-1) > 1e-9)            # (m, R, k)
    mass = mass.permute(0, 2, 1)                               # (m, k, R)
    g = torch.zeros_like(lc)
    for it in range(1, n_iter + 1):
        g = g - g.mean(-2, keepdim=True)
        f = lr - torch.log(K @ torch.exp(g))
        g = lc - torch.log(Kt @ torch.exp(f))
        if it % 10 == 0:
            rows = torch.exp(f) * (K @ torch.exp(g))
            tgt = torch.exp(lr)
            err = (rows - tgt).abs().sum(-2) / tgt.sum(-2).clamp_min(1e-30)
            if float(torch.where(mass, err, 0.0).max()) < tol:
                break
    f, g = f.permute(0, 3, 1, 2), g.permute(0, 3, 1, 2)
    return (g, f) if rows_last else (f, g)


def _targets(p1: torch.Tensor, p2: torch.Tensor, rescale: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Row/column targets (M, k, B); with ``rescale`` both rescaled to a common per-label total."""
    B = p1.shape[1]
    r = p1.transpose(1, 2) / B
    c = p2.transpose(1, 2) / B
    if rescale:
        sr = r.sum(-1, keepdim=True)
        sc = c.sum(-1, keepdim=True)
        tot = 0.5 * (sr + sc)
        r = r * (tot / sr.clamp_min(_TINY))
        c = c * (tot / sc.clamp_min(_TINY))
    return r, c


def _iq(log_pi: torch.Tensor, log_py: torch.Tensor) -> torch.Tensor:
    """I_Q(X1,X2;Y) in nats: sum Q log(Q(y|a,b)/P(y)) over the last three axes (y, a, b);
    ``log_pi`` (..., k, B, B), ``log_py`` (..., k).

    Computed as sum Q log Q - sum Q(a,b) log Q(a,b) - sum Q(y) log P(y), which needs one
    exp and no logsumexp (about 1.8x faster than the direct form with its backward pass);
    ``log_pi`` is bounded (a Sinkhorn coupling), so Q(a,b) = sum_y Q(a,b,y) cannot underflow.
    """
    pi = torch.exp(log_pi)
    pab = pi.sum(-3)
    qy = pi.sum((-2, -1))
    return ((pi * log_pi).sum((-3, -2, -1)) - torch.special.xlogy(pab, pab).sum((-2, -1))
            - (qy * log_py).sum(-1))


def _iq_coupling(logK: torch.Tensor, f: torch.Tensor, g: torch.Tensor, log_py: torch.Tensor,
                 max_elems: int = 1 << 20) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """I_Q (nats) of the Sinkhorn couplings Q_r(y, a, b) = K_y[a, b] e^f_ry[a] e^g_ry[b]
    (eq. 1) that R pairs of potentials make of one kernel, without forming Q.

    ``logK`` (m, k, B, B); ``f``, ``g`` (m, R, k, B); ``log_py`` (m, R, k). With
    u = K e^g and v = K^T e^f (matrix products over the R replicates),

        sum Q log Q = sum_y [ e^f^T (K * log K) e^g + f . (e^f u) + g . (e^g v) ],

    Q(y) = e^f . u, and only Q(a, b) = sum_y K_y * (e^f_y e^g_y^T) is formed, one replicate
    chunk of at most ``max_elems`` elements at a time, for sum Q(a,b) log Q(a,b). The same
    value as ``_iq(logK + f + g, log_py)`` without the (m, R, k, B, B) tensor and its exp.
    Returns I_Q (m, R) in float64, and Q's row and column sums (m, R, k, B).
    """
    K = torch.exp(logK)
    ef, eg = torch.exp(f), torch.exp(g)
    by_col = lambda x: x.permute(0, 2, 3, 1)          # (m, R, k, B) -> (m, k, B, R)  # noqa: E731
    by_rep = lambda x: x.permute(0, 3, 1, 2)          # and back                        # noqa: E731
    rows = ef * by_rep(K @ by_col(eg))
    cols = eg * by_rep(K.transpose(-1, -2) @ by_col(ef))
    klogk = (ef * by_rep((K * logK) @ by_col(eg))).sum(-1)
    qlogq = (klogk + (f * rows).sum(-1) + (g * cols).sum(-1)).double().sum(-1)
    qy = rows.sum(-1)
    h_ab = torch.empty(f.shape[:2], dtype=torch.float64, device=f.device)
    for ms, rs in _chunks(f.shape[0], f.shape[1], f.shape[-1] ** 2, max_elems):
        pab = torch.zeros(ms.stop - ms.start, rs.stop - rs.start, *K.shape[-2:], dtype=K.dtype, device=K.device)
        for y in range(K.shape[1]):
            pab.addcmul_(K[ms, None, y] * ef[ms, rs, y, :, None], eg[ms, rs, y, None, :])
        h_ab[ms, rs] = torch.special.xlogy(pab, pab).sum((-2, -1)).double()
    return qlogq - h_ab - (qy * log_py).double().sum(-1), rows, cols


def _chunks(m: int, R: int, size: int, max_elems: int):
    """(problem slice, replicate slice) pairs covering m x R, each holding at most
    ``max_elems`` // ``size`` (problem, replicate) pairs (at least one): small enough for
    the (.., B, B) temporaries to stay in cache (1M elements: 2.3x faster than 32M)."""
    per = max(1, max_elems // size)
    if per >= R:
        mc = max(1, per // R)
        return [(slice(a, min(m, a + mc)), slice(0, R)) for a in range(0, m, mc)]
    return [(slice(a, a + 1), slice(b, min(R, b + per))) for a in range(m) for b in range(0, R, per)]


def _iq_product(r: torch.Tensor, c: torch.Tensor, log_py: torch.Tensor, max_elems: int = 1 << 20) -> torch.Tensor:
    """I_Q (nats, float64, (m, R)) of the conditional-independence couplings
    Q(y, a, b) = r_y[a] c_y[b] / T_y (T_y = sum_a r_y[a]) of targets ``r``, ``c`` (m, R, k, B):
    sum Q log Q in closed form, Q(a, b) = (r / T)^T c one product per replicate chunk.
    The same value as ``_iq(log r + log c - log T, log_py)``."""
    T = r.sum(-1)                                             # (m, R, k)
    Tc = c.sum(-1)
    Ti = 1.0 / T.clamp_min(_TINY)
    xl = torch.special.xlogy
    qlogq = ((xl(r, r).sum(-1) * Tc + xl(c, c).sum(-1) * T - T * Tc * torch.log(T.clamp_min(_TINY))) * Ti)
    qy = T * Tc * Ti
    h_ab = torch.empty(r.shape[:2], dtype=torch.float64, device=r.device)
    rt = (r * Ti[..., None]).transpose(-1, -2)               # (m, R, B, k)
    for ms, rs in _chunks(r.shape[0], r.shape[1], r.shape[-1] ** 2, max_elems):
        pab = rt[ms, rs] @ c[ms, rs]                           # (mc, Rc, B, B)
        h_ab[ms, rs] = xl(pab, pab).sum((-2, -1)).double()
    return qlogq.double().sum(-1) - h_ab - (qy * log_py).double().sum(-1)


def _kl_rows(p: torch.Tensor, log_py: torch.Tensor) -> torch.Tensor:
    """sum_rows sum_y p log(p / P(y)) per problem, for p (M, B, k)."""
    return (torch.special.xlogy(p, p) - p * log_py[:, None, :]).sum((1, 2))


def _kl(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """KL(p || q) in nats over the last axis (q clamped away from 0)."""
    return (torch.special.xlogy(p, p) - p * torch.log(q.clamp_min(_TINY))).sum(-1)


def _take(T: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """Rows ``pos`` (M, B) of T (M, n, k) -> (M, B, k)."""
    return torch.take_along_dim(T, pos[..., None], dim=1)


def _training_verdict(losses: np.ndarray, tol: float) -> tuple[bool, float]:
    """Whether a loss curve (bits per step) has plateaued, and its final slope.

    The slope is the change of the mean loss between the last two tenths of the steps
    (at least 10 steps each), in bits per 100 steps; the curve has plateaued when that
    change is below ``tol`` bits.
    """
    n = len(losses)
    w = max(10, n // 10)
    if n < 2 * w:
        return False, math.nan
    last, prev = float(losses[-w:].mean()), float(losses[-2 * w:-w].mean())
    return bool(prev - last < tol), (last - prev) / w * 100.0


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
              device: str | torch.device, dtype: torch.dtype, eval_weights: np.ndarray | None = None
              ) -> list[PIDResult]:
    """Train and evaluate M estimates at once.

    X1: (M1, N, d1), X2: (M2, N, d2), P*: (Mp, N, k) with M1, M2, Mp in {1, M};
    fit_idx: (M, n_fit) and eval_idx: (M, n_eval) row indices per problem; eval_weights:
    (M, R, n_eval) weights of the eval rows per evaluation replicate (replicate 0: the point).
    """
    M = len(seeds)
    # Drop outcome columns that no row of any probe ever charges (e.g. zero padding).
    active = (P1.max((0, 1)) > 0) | (P2.max((0, 1)) > 0) | (P12.max((0, 1)) > 0)
    P1, P2, P12 = P1[..., active], P2[..., active], P12[..., active]
    k = int(active.sum())
    if k < 2:
        raise ValueError("p_y_x1x2: fewer than 2 outcomes carry probability mass in any row")
    project = cfg.coherence == "project"
    rows_last = cfg.coherence == "row"
    rescale = cfg.coherence != "row"

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

    def gather(T: torch.Tensor, idx: torch.Tensor, sl: slice = slice(None)) -> torch.Tensor:
        """Rows idx (m, B) of T (1 or M, N, ...) -> (m, B, ...) for the problems ``sl``."""
        return T[0][idx] if T.shape[0] == 1 else T[mrange[sl], idx]

    def log_kernel(idx: torch.Tensor, sl: slice = slice(None)) -> torch.Tensor:
        h1 = _label_embeddings(enc1, gather(X1t, idx, sl), k, e, sl)
        h2 = _label_embeddings(enc2, gather(X2t, idx, sl), k, e, sl)
        return h1 @ h2.transpose(-1, -2) / math.sqrt(e)  # (m, k, B, B)

    # ---- fit: the unimodal probes of the fit rows, projected once onto P_fit(Y)
    n_fit = fit_idx.shape[1]
    F1, F2 = gather(P1t, fit_t), gather(P2t, fit_t)
    if project:
        p_fit = gather(P12t, fit_t).mean(1)
        F1, _ = project_mean(F1, p_fit)
        F2, _ = project_mean(F2, p_fit)
    n_batches = max(1, math.ceil(n_fit / cfg.batch_size))
    n_steps = max(cfg.epochs * n_batches, cfg.min_steps if cfg.epochs > 0 else 0)
    losses = []
    while len(losses) < n_steps:
        perms = torch.stack([torch.randperm(n_fit, generator=g) for g in gens]).to(dev)
        for pos in torch.tensor_split(perms, n_batches, dim=1):
            if len(losses) >= n_steps:
                break
            idx = torch.gather(fit_t, 1, pos)
            r, c = _targets(_take(F1, pos), _take(F2, pos), rescale)
            logK = log_kernel(idx)
            if rows_last:  # the transposed problem: its columns are the rows (I_Q is symmetric in a, b)
                logK, r, c = logK.transpose(-1, -2), c, r
            q_y = c.sum(-1)  # Q's own label marginal (the last-updated side)
            iq = sinkhorn_iq(logK, torch.log(r.clamp_min(_TINY)), torch.log(c.clamp_min(_TINY)),
                             torch.log(q_y.clamp_min(_TINY)), cfg.sinkhorn_iters)
            opt.zero_grad(set_to_none=True)
            iq.sum().backward()
            opt.step()
            losses.append(iq.detach())

    # ---- evaluate: replicate 0 is the point (every eval row once); replicates r >= 1 weight
    # the eval rows by bootstrap multiplicities (one kernel, R pairs of Sinkhorn targets)
    n_eval = eval_idx.shape[1]
    W = (torch.ones(M, 1, n_eval, dtype=torch.float64) if eval_weights is None
         else torch.as_tensor(np.asarray(eval_weights), dtype=torch.float64)).to(dev)
    R = W.shape[1]
    with torch.no_grad():
        E1, E2, E12 = gather(P1t, eval_t), gather(P2t, eval_t), gather(P12t, eval_t)
        py = E12.mean(1)  # (M, k) soft aggregation over the eval rows
        if not project:
            for name, pe in (("p_y_x1", E1), ("p_y_x2", E2)):
                bad = (pe.amax(1) > 0) & (py <= 0)
                if bool(bad.any()):
                    raise ValueError(f"{name}: charges an outcome that p_y_x1x2 never does; "
                                     "I(X;Y) would be infinite")
        log_py = torch.log(py.clamp_min(_TINY))
        # Coherence of the probes as given (before any projection), over all eval rows.
        m1, m2 = E1.mean(1), E2.mean(1)
        coh = {"kl_vis": _kl(m1, py) / LOG2, "kl_lang": _kl(m2, py) / LOG2,
               "target_mismatch": (m1 - m2).abs().sum(-1),
               "I1_probe": _kl_rows(E1, log_py) / n_eval / LOG2, "I2_probe": _kl_rows(E2, log_py) / n_eval / LOG2}
        # weighted global P(Y) per replicate (the non-projecting constructions use it)
        py_w = torch.einsum("mrn,mnk->mrk", W / W.sum(-1, keepdim=True), E12.double()).to(dtype)

        sums = torch.zeros(M, R, 5, dtype=torch.float64, device=dev)  # I1, I2, I12, IQ, IQ_ci (nats)
        wtot = torch.zeros(M, R, dtype=torch.float64, device=dev)
        marg_err = torch.zeros(M, dtype=torch.float64, device=dev)
        proj_err = torch.zeros(M, dtype=torch.float64, device=dev)
        eb = min(cfg.eval_batch_size, n_eval)
        n_eval_batches = max(1, math.ceil(n_eval / eb))
        order = torch.stack([torch.randperm(n_eval, generator=g) for g in gens]).to(dev)
        # bound the (m, k, B, B) grids to about 2**25 elements per problem chunk
        B_max = math.ceil(n_eval / n_eval_batches)
        m_chunk = max(1, (1 << 25) // (k * B_max * B_max))
        for pos in torch.tensor_split(order, n_eval_batches, dim=1):
            B = pos.shape[1]
            for s0 in range(0, M, m_chunk):
                sl = slice(s0, min(M, s0 + m_chunk))
                m_ = sl.stop - sl.start
                ps = pos[sl]
                idx = torch.gather(eval_t[sl], 1, ps)
                w = torch.take_along_dim(W[sl], ps[:, None, :], dim=2)            # (m, R, B)
                wb = w.sum(-1)                                                     # batch weight
                wn = (w / wb[..., None].clamp_min(_TINY)).to(dtype)
                p1, p2, p12 = _take(E1[sl], ps), _take(E2[sl], ps), _take(E12[sl], ps)   # (m, B, k)
                x = lambda p: p[:, None].expand(m_, R, B, k)   # noqa: E731
                pb = torch.einsum("mrb,mbk->mrk", wn, p12)                        # (m, R, k)
                if project:  # this batch's own (weighted) P(Y); both probes tilted onto it
                    q1, e1 = project_mean(x(p1), pb, wn)
                    q2, e2 = project_mean(x(p2), pb, wn)
                    proj_err[sl] = torch.maximum(proj_err[sl], torch.maximum(e1[:, 0], e2[:, 0]).double())
                    lpy = torch.log(pb.clamp_min(_TINY))
                else:
                    q1, q2 = x(p1), x(p2)
                    lpy = torch.log(py_w[sl].clamp_min(_TINY))
                r = (wn[..., None] * q1).transpose(-1, -2)                         # (m, R, k, B)
                c = (wn[..., None] * q2).transpose(-1, -2)
                if rescale:
                    sr, sc = r.sum(-1, keepdim=True), c.sum(-1, keepdim=True)
                    tot = 0.5 * (sr + sc)
                    r, c = r * (tot / sr.clamp_min(_TINY)), c * (tot / sc.clamp_min(_TINY))
                logK = log_kernel(idx, sl)                                         # (m, k, B, B)
                f, g_ = _sinkhorn_multi(logK, r, c, cfg.sinkhorn_iters_eval, cfg.sinkhorn_tol, rows_last)
                kl = lambda q: (torch.special.xlogy(q, q) - q * lpy[..., None, :]).sum(-1)   # noqa: E731
                part = torch.stack([(wn * kl(q1)).sum(-1), (wn * kl(q2)).sum(-1), (wn * kl(x(p12))).sum(-1)], -1)
                iq = torch.empty(m_, R, 2, dtype=torch.float64, device=dev)
                iq[..., 0], rows, cols = _iq_coupling(logK, f, g_, lpy)
                exact, target = (rows[:, 0], r[:, 0]) if not rows_last else (cols[:, 0], c[:, 0])
                err = (exact - target).abs().sum((1, 2)) / target.sum((1, 2))
                marg_err[sl] = torch.maximum(marg_err[sl], err.double())
                iq[..., 1] = _iq_product(r, c, lpy)
                sums[sl] += torch.cat([part.double(), iq], -1) * wb[..., None]
                wtot[sl] += wb
    terms = (sums / wtot[..., None].clamp_min(_TINY) / LOG2).cpu().numpy()   # (M, R, 5)
    loss_curve = (torch.stack(losses) / LOG2).cpu().numpy() if losses else np.zeros((0, M))
    coh = {key: v.double().cpu().numpy() for key, v in coh.items()}
    marg_err, proj_err = marg_err.cpu().numpy(), proj_err.cpu().numpy()

    results = []
    for m in range(M):
        I1, I2, I12, IQ, IQ_ci = (float(v) for v in terms[m, 0])
        raw = {"redundancy": I1 + I2 - IQ, "unique1": IQ - I2, "unique2": IQ - I1, "synergy": I12 - IQ}
        trained, slope = _training_verdict(loss_curve[:, m], tol=0.01)
        coherence = {key: float(v[m]) for key, v in coh.items()}
        coherence.update({"I1_minus_I12": I1 - I12, "I2_minus_I12": I2 - I12,
                          "min_atom": min(raw.values()), "projection_error": float(proj_err[m]),
                          "tol": float(cfg.coherence_tol)})
        tol = cfg.coherence_tol
        coherent = bool(coherence["kl_vis"] <= tol and coherence["kl_lang"] <= tol
                        and coherence["I1_minus_I12"] <= tol and coherence["I2_minus_I12"] <= tol
                        and coherence["min_atom"] >= -tol and coherence["projection_error"] <= 1e-3)
        diagnostics = {
            "seed": int(seeds[m]),
            "n_fit": int(n_fit),
            "n_eval": int(n_eval),
            "steps": int(len(loss_curve)),
            "trained": trained,
            "loss_slope": slope,
            "I_Q": IQ,
            "I_Q_ci": IQ_ci,
            "ci_gap": IQ_ci - IQ,
            "sinkhorn_marginal_error": float(marg_err[m]),
            "target_mismatch": coherence["target_mismatch"],
            "coherence": coherence,
            "loss_curve": loss_curve[:, m].tolist(),
            "eval_replicates": [_atoms_of(t) for t in terms[m, 1:]],
            "config": cfg.__dict__.copy(),
        }
        results.append(from_raw(raw, total=I12, I1=I1, I2=I2, diagnostics=diagnostics, method="batch",
                                coherent=coherent))
    return results


def _atoms_of(t) -> dict[str, float]:
    """Atoms, total, I1 and I2 (bits) from the terms (I1, I2, I12, I_Q, I_Q_ci) of an evaluation."""
    I1, I2, I12, IQ = (float(v) for v in t[:4])
    return {"redundancy": I1 + I2 - IQ, "unique1": IQ - I2, "unique2": IQ - I1, "synergy": I12 - IQ,
            "total": I12, "I1": I1, "I2": I2}


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


def make_config(**config) -> BatchConfig:
    """A validated :class:`BatchConfig` from keyword arguments."""
    unknown = set(config) - set(BatchConfig.__dataclass_fields__)
    if unknown:
        raise TypeError(f"unknown BATCH parameter(s): {sorted(unknown)}")
    cfg = BatchConfig(**config)
    for name in ("hidden", "embed", "layers", "batch_size", "epochs", "min_steps", "sinkhorn_iters",
                 "sinkhorn_iters_eval", "eval_batch_size"):
        if int(getattr(cfg, name)) < (0 if name in ("epochs", "min_steps") else 1):
            raise ValueError(f"{name}: must be a positive integer, got {getattr(cfg, name)}")
    if cfg.coherence not in COHERENCE_MODES:
        raise ValueError(f"coherence: must be one of {COHERENCE_MODES}, got {cfg.coherence!r}")
    if not cfg.coherence_tol >= 0:
        raise ValueError(f"coherence_tol: must be >= 0, got {cfg.coherence_tol}")
    return cfg


def pid_batch_many(x1, x2, p_y_x1, p_y_x2, p_y_x1x2, *, seeds: int | Sequence[int] = 0,
                   eval_data: tuple | None = None, eval_fraction: float = 1 / 3,
                   fit_idx: np.ndarray | None = None, eval_idx: np.ndarray | None = None,
                   device: str = "cpu", dtype: torch.dtype = torch.float32, chunk: int | None = None,
                   eval_weights: np.ndarray | None = None, **config) -> list[PIDResult]:
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
    eval_weights : array (M, R, n_eval), optional
        Evaluation replicates: each trained estimator is also evaluated with its eval rows
        weighted by ``eval_weights[m, r]`` (bootstrap multiplicities) for r >= 1, sharing the
        kernel (cheap); the results' ``diagnostics["eval_replicates"]`` hold their atoms.
        Replicate 0 must weight every row equally (the point estimate).
    **config
        :class:`BatchConfig` fields: hidden, embed, layers, lr, batch_size, epochs,
        min_steps, sinkhorn_iters, sinkhorn_iters_eval, sinkhorn_tol, eval_batch_size,
        coherence, coherence_tol.

    Returns
    -------
    list of PIDResult, one per problem.
    """
    cfg = make_config(**config)
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

    if eval_weights is not None:
        eval_weights = np.asarray(eval_weights, dtype=np.float64)
        if eval_weights.ndim != 3 or eval_weights.shape[0] != M or eval_weights.shape[2] != eval_idx.shape[1]:
            raise ValueError(f"eval_weights: need shape ({M}, R, {eval_idx.shape[1]}), got {eval_weights.shape}")
        if (eval_weights < 0).any() or not np.allclose(eval_weights[:, 0], 1.0):
            raise ValueError("eval_weights: must be >= 0, with replicate 0 weighting every row 1")
    chunk = chunk or M
    out: list[PIDResult] = []
    for s in range(0, M, chunk):
        sl = slice(s, min(M, s + chunk))
        pick = lambda A: A if A.shape[0] == 1 else A[sl]  # noqa: E731
        out += _fit_eval(pick(X1), pick(X2), pick(P1), pick(P2), pick(P12),
                         fit_idx[sl], eval_idx[sl], seeds[sl], cfg, device, dtype,
                         None if eval_weights is None else eval_weights[sl])
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
        hidden=32, embed=10, layers=3, lr=1e-3, epochs=8 (the paper's values);
        batch_size=128 (training minibatch); min_steps=150 (the step budget is
        max(epochs * batches, min_steps)); sinkhorn_iters=10 (training);
        sinkhorn_iters_eval=500 and sinkhorn_tol=1e-3 (evaluation stops once Q's
        marginals hold to 1e-3, relative L1: validated as accurate as 1e-5);
        eval_batch_size=1024; coherence="project" (eq. 3;
        "row" for the published construction, "symmetric" for pidlib 0.1's);
        coherence_tol=0.05 (bits).

    Returns
    -------
    PIDResult
        Atoms in bits, never clipped: they add up (R + U1 = I1, R + U2 = I2, sum = total).
        ``coherent`` is False when the three probes cannot come from one joint
        distribution beyond ``coherence_tol``: the mean of p(y|x1) or of p(y|x2) differs
        from P(Y) (KL above the tolerance), I1 or I2 exceeds I(X1,X2;Y), or an atom is
        negative. ``diagnostics``: ``trained`` (the loss plateaued), ``steps``,
        ``loss_slope`` (bits per 100 steps at the end), ``ci_gap`` (I_Q of the
        conditional-independence coupling minus BATCH's I_Q, bits: how far training moved
        the estimate from its starting point), ``coherence`` (``kl_vis``, ``kl_lang``,
        ``target_mismatch``, ``I1_probe``, ``I2_probe`` before projection,
        ``I1_minus_I12``, ``I2_minus_I12``, ``min_atom``, ``projection_error``, ``tol``),
        ``sinkhorn_marginal_error``, ``loss_curve`` (bits per step), ``I_Q``, ``n_fit``,
        ``n_eval``, ``seed``, ``config``.

    Raises
    ------
    ValueError
        On shape mismatches, NaN, negative probabilities, rows not summing to 1, k < 2.
    """
    return pid_batch_many(x1, x2, p_y_x1, p_y_x2, p_y_x1x2, seeds=[seed], eval_data=eval_data,
                          eval_fraction=eval_fraction, device=device, dtype=dtype, **config)[0]
