"""The three probes of a batch of samples: input-embedding rows, one stacked forward,
option distributions.

For each sample the vision tower runs once; its projected features are scattered into the
input embeddings to give the *full* row, from which two more rows are made by replacing a
span with calibrated noise (:mod:`pidlib.probes.noise`):

- *visual-only*: the question's text embeddings -> N(mu_text, sigma_text^2) noise;
- *language-only*: the image embeddings -> N(mu_image, sigma_image^2) noise.

The rows of a sample have the same length. B samples give 3B rows, left-padded to a
common length, with position ids from the adapter (``cumsum(mask) - 1`` by default,
3-D M-RoPE ids for Qwen2/2.5-VL, ...), and one ``forward`` with ``logits_to_keep=1``
scores them all (:mod:`pidlib.probes.forward`). No ``generate``: no generation-config
logits processors (e.g. the Qwen checkpoints' ``repetition_penalty``) touch the scores,
and all three probes are scored the same way (with ``noise_draws`` = K > 1, each noised
probe gets K rows with independent noise and its distribution is their mean: 1 + 2K rows
per sample). X1 is the mean projected image feature, X2 the mean question-token input
embedding (as the model scales it). For Mllama (images through cross-attention) the image
features are per-row ``cross_attention_states`` and the language-only row gets noise
states instead.

Per row stored: ``pred`` is the argmax letter of the full probe's raw option scores
(before the tau fallback); ``p_*`` the option distributions after the threshold; ``mass_*``
the raw option masses. The logit lens scores the first token of each option letter (the
output scores use all tokens of a multi-token letter; with every real tokenizer tried the
letters after the assistant prefix are single tokens).

Non-finite numbers never reach the store: NaN or +inf logits, non-finite features, option
scores or masses raise :class:`NonFiniteError` naming the model, the sample and the probe.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch

from pidlib.models.base import Adapter, AdapterError, NonFiniteError, Prepared
from pidlib.probes.forward import forward_rows, forward_shared_prefix
from pidlib.probes.lens import lens_logits
from pidlib.probes.noise import NoiseStats, draw_noise, sample_generator
from pidlib.probes.scoring import DEFAULT_TAU, letter_token_ids, option_distribution

__all__ = ["ProbeItem", "ProbeRows", "probe_rows", "probe_batch", "NonFiniteError", "PROBES", "K_MAX"]

PROBES = ("full", "vis", "lang")
_LETTERS = "ABCDEFGH"
K_MAX = 4


def _probe_name(j: int, K: int, donors: bool) -> str:
    """Name of row ``j`` (0 .. 2K) of a sample's 1 + 2K rows."""
    if j == 0:
        return "full"
    what = "donor" if donors else "noise draw"
    if j <= K:
        return "visual-only" + (f" ({what} {j})" if K > 1 or donors else "")
    return "language-only" + (f" ({what} {j - K})" if K > 1 or donors else "")


def _check_rows_finite(adapter, items, bad: torch.Tensor, R: int, K: int, donors: bool, what: str) -> None:
    """Raise NonFiniteError for the first True entry of ``bad`` (one flag per row)."""
    if not bool(bad.any()):
        return
    r = int(torch.nonzero(bad.reshape(-1))[0])
    b, j = divmod(r, R)
    n = int(bad.sum())
    raise NonFiniteError(f"model {adapter.name}: {what} for sample {items[b].index!r}, probe "
                         f"{_probe_name(j, K, donors)} ({n} of {bad.numel()} rows of the batch affected); "
                         "nothing of this batch was stored -- check the weights (NaN/inf), the dtype "
                         "(fp16 overflow: try --dtype fp32 or bf16) and the inputs")


class ProbeRows(NamedTuple):
    """The three input rows of one sample, its X1/X2 and the rows' vision inputs."""

    rows: tuple
    x1: torch.Tensor
    x2: torch.Tensor
    vision: list


@dataclass
class ProbeItem:
    """One sample ready to probe: its key, options count, gold letter and model inputs."""

    index: str
    n_options: int
    answer: str | None
    prepared: Prepared
    option_ids: list[list[int]] | None = None
    #: donor probes only: (visual-only items, language-only items), see :func:`probe_batch`
    donors: tuple | None = None


def _option_ids(adapter, item: ProbeItem, cache: dict) -> list[list[int]]:
    if item.option_ids is not None:
        return item.option_ids
    letters = _LETTERS[:item.n_options]
    key = (item.prepared.prompt[-200:], letters)
    if key not in cache:
        if adapter.tokenizer is None:
            raise AdapterError("option letter ids need a tokenizer (or ProbeItem.option_ids)")
        cache[key] = letter_token_ids(adapter.tokenizer, item.prepared.prompt, letters)
    return cache[key]


def _vision_key(p: Prepared) -> tuple:
    return tuple(sorted((k, id(v)) for k, v in p.vision_inputs.items()))


def _batch_features(adapter, items: list, donor_items: list | None) -> dict:
    """Image features of every distinct vision input of a batch (its samples and their
    donors), computed together (:meth:`Adapter.vision_features_many`), keyed as
    :func:`_full_row` looks them up."""
    todo: dict = {}
    for it in items:
        todo.setdefault(_vision_key(it.prepared), it.prepared)
    for vis, lang in (donor_items or []):
        for d in list(vis) + list(lang):
            todo.setdefault(_vision_key(d.prepared), d.prepared)
    dev = adapter.device
    out: dict = {"_device": (dev, adapter.dtype)}
    for key, (feats, extras) in zip(todo, adapter.vision_features_many(list(todo.values()))):
        out[key] = (feats.to(dev), {k: v.to(dev) for k, v in extras.items()})
    return out


def _full_row(adapter, item: ProbeItem, feat_cache: dict | None = None, need_x: bool = True):
    """(full-input embedding row, its vision inputs, x1, x2, image mask, question mask, features);
    x1 and x2 are None with ``need_x=False`` (donor rows: their features are not stored).

    ``feat_cache`` (valid within one call of :func:`probe_batch`, while the inputs are
    alive) reuses the image features of vision inputs made of the very same tensors.
    Extra image-side inputs (:meth:`Adapter.vision_features`, e.g. DeepStack) travel in the
    row's vision dict under ``"extras"``.
    """
    if feat_cache is not None and "_device" in feat_cache:   # looked up once per batch
        dev, dt = feat_cache["_device"]
    else:
        dev, dt = adapter.device, adapter.dtype
    p = item.prepared
    key = _vision_key(p)
    if feat_cache is not None and key in feat_cache:
        feats, extras = feat_cache[key]
    else:
        feats, extras = adapter.vision_features(p)
        feats = feats.to(dev)
        extras = {k: v.to(dev) for k, v in extras.items()}
        if feat_cache is not None:
            feat_cache[key] = (feats, extras)
    img = adapter.image_mask(p.input_ids).to(dev)
    n_img = int(img.sum())
    if adapter.image_in_sequence and n_img != feats.shape[0]:
        raise AdapterError(f"sample {item.index!r}: {n_img} image tokens in the prompt but "
                           f"{feats.shape[0]} image feature vectors")
    for name, x in extras.items():
        if x.shape[0] != feats.shape[0]:
            raise AdapterError(f"sample {item.index!r}: {x.shape[0]} {name} vectors for {feats.shape[0]} "
                               "image feature vectors")
    e = adapter.embed(p.input_ids)
    q = p.question_mask.to(dev)
    if bool((q & img).any()):
        raise AdapterError(f"sample {item.index!r}: question span overlaps image tokens")
    x1 = feats.float().mean(0).cpu() if need_x else None
    x2 = e[q].float().mean(0).cpu() if need_x else None
    full = e.clone()
    if adapter.image_in_sequence:
        full[img] = feats.to(dt)
        vision = dict(p.vision_inputs, extras=extras) if extras else p.vision_inputs
    else:  # cross-attention families: the image states travel with each row
        vision = dict(p.vision_inputs, image_states=feats)
    return full, vision, x1, x2, img, q, feats


@torch.no_grad()
def probe_rows(adapter, item: ProbeItem, noise: NoiseStats, *, seed: int = 0, dataset: str = "",
               draws: int = 1, feat_cache: dict | None = None):
    """The input-embedding rows of one sample and its X1, X2.

    Parameters
    ----------
    draws : int
        Independent noise draws per noised probe (default 1, the paper's single draw).
        The draws come from the sample's keyed generator in the order (text noise, image
        noise) per draw, so ``draws=1`` gives exactly the single-draw rows and the first
        draw of a larger ``draws`` equals it.

    Returns
    -------
    ProbeRows
        ``rows``: (full, visual-only x draws, language-only x draws), each (T, D) in the
        model's dtype; ``x1``, ``x2``: float32 (D,) mean image feature and mean
        question-token embedding; ``vision``: the rows' vision-input dicts.
    """
    if int(draws) < 1:
        raise ValueError(f"draws must be >= 1, got {draws!r}")
    dt = adapter.dtype
    full, full_vision, x1, x2, img, q, feats = _full_row(adapter, item, feat_cache)
    g = sample_generator(seed, dataset, item.index, device=adapter.device)
    noise = noise.on(adapter.device)
    vis_rows, lang_rows, vis_vision, lang_vision = [], [], [], []
    extras = full_vision.get("extras") or {}
    missing = sorted(set(extras) - set(noise.extra))
    if missing:
        raise AdapterError(f"the noise statistics have no entries for {missing} (computed by an older pidlib or "
                           "for another model); delete noise_stats.safetensors of the run to recompute them")
    for _ in range(int(draws)):
        vis = full.clone()
        vis[q] = draw_noise(noise.mu_text, noise.sigma_text, int(q.sum()), g).to(dt)
        img_noise = draw_noise(noise.mu_image, noise.sigma_image, feats.shape[0], g).to(dt)
        lang = full.clone()
        vis_rows.append(vis)
        lang_rows.append(lang)
        vis_vision.append(full_vision)
        if adapter.image_in_sequence:
            lang[img] = img_noise
            if extras:   # extra image-side inputs (DeepStack) get calibrated noise too
                noisy = {k: draw_noise(*noise.extra[k], extras[k].shape[0], g).to(dt) for k in sorted(extras)}
                lang_vision.append(dict(full_vision, extras=noisy))
            else:
                lang_vision.append(full_vision)
        else:  # cross-attention families: noise image states travel with the row
            lang_vision.append(dict(full_vision, image_states=img_noise))
    return ProbeRows((full, *vis_rows, *lang_rows), x1, x2, [full_vision, *vis_vision, *lang_vision])


def _per_probe(p: torch.Tensor, mass: torch.Tensor, draws: int):
    """(..., 1 + 2 draws, k) per-row distributions -> (..., 3, k) [full, vis, lang]: the
    replaced-input probes averaged over their draws (masses likewise)."""
    K = draws
    p3 = torch.stack([p[..., 0, :], p[..., 1:1 + K, :].mean(-2), p[..., 1 + K:, :].mean(-2)], -2)
    m3 = torch.stack([mass[..., 0], mass[..., 1:1 + K].mean(-1), mass[..., 1 + K:].mean(-1)], -1)
    return p3, m3


@torch.no_grad()
def probe_batch(adapter, items: list[ProbeItem], noise: NoiseStats, *, seed: int = 0,
                dataset: str = "", tau: float = DEFAULT_TAU, layers: bool = False,
                width: int = K_MAX, share_prefix: bool = False, noise_draws: int = 1,
                donor_items: list | None = None, _cache: dict | None = None) -> list[dict]:
    """Probe a batch of samples with one stacked forward.

    Each sample gives 1 + 2K rows: the full input, K visual-only and K language-only rows.
    By default (the paper's probes) the replaced input is calibrated noise and K =
    ``noise_draws`` (default 1). With ``noise_draws`` = K > 1 each noised probe is run on K
    independent noise draws. With ``donor_items`` the replaced input is *another sample's*:
    ``donor_items[b] = (vis, lang)``, two equal-length lists of prepared
    :class:`ProbeItem` -- ``vis`` carries sample b's image with other samples' questions
    (and their options), ``lang`` sample b's question with other samples' images -- and K
    is their length.

    Either way the stored option distribution of a replaced-input probe (``p_vis``,
    ``p_lang``; likewise the raw masses and the logit-lens columns) is the mean of its K
    per-row distributions, each thresholded with ``tau`` first, over the option letters
    (zero-padded to ``width``): a Monte Carlo estimate of E[p(y | x1, X2')] with X2' noise
    or drawn from the data (see the method chapter).

    With ``share_prefix`` (noise probes only) the full and visual-only rows reuse the
    key/value cache of their common prefix (:func:`forward_shared_prefix`); same numbers
    within float tolerance. Families with extra per-token inputs (Gemma3, PaliGemma token
    types) always use the plain stacked forward.

    Returns one row dict per item with the columns of "Probe run rows" (ARCHITECTURE.md).
    """
    cache = {} if _cache is None else _cache
    if donor_items is not None:
        if len(donor_items) != len(items):
            raise ValueError(f"donor_items has {len(donor_items)} entries for {len(items)} items")
        K = len(donor_items[0][0]) if items else 1
        if K < 1 or any(len(v) != K or len(lg) != K for v, lg in donor_items):
            raise ValueError("every item needs the same number (>= 1) of visual and language donors")
    else:
        K = int(noise_draws)
    R = 1 + 2 * K                      # rows per sample: full, vis x K, lang x K
    feat_cache = _batch_features(adapter, items, donor_items)
    embeds, ids, vision, opts, per_item = [], [], [], [], []
    for b, it in enumerate(items):
        own = _option_ids(adapter, it, cache)
        if donor_items is None:
            rows, x1, x2, row_vision = probe_rows(adapter, it, noise, seed=seed, dataset=dataset, draws=K,
                                                  feat_cache=feat_cache)
            embeds += list(rows)
            ids += [it.prepared.input_ids] * R
            vision += row_vision
            opts += [own] * R
        else:
            full, v, x1, x2, *_ = _full_row(adapter, it, feat_cache)
            embeds.append(full)
            ids.append(it.prepared.input_ids)
            vision.append(v)
            opts.append(own)
            for d in list(donor_items[b][0]) + list(donor_items[b][1]):
                e_d, v_d, *_ = _full_row(adapter, d, feat_cache, need_x=False)
                embeds.append(e_d)
                ids.append(d.prepared.input_ids)
                vision.append(v_d)
                opts.append(_option_ids(adapter, d, cache))
        per_item.append((x1, x2, own))
        for name, x in (("image features (X1)", x1), ("question embeddings (X2)", x2)):
            if not bool(torch.isfinite(x).all()):
                raise NonFiniteError(f"model {adapter.name}: non-finite {name} for sample {it.index!r}, "
                                     "probe full; nothing of this batch was stored -- check the weights (NaN/inf) "
                                     "and the dtype")
    N = len(embeds)
    donors = donor_items is not None
    for o in opts:
        if len(o) > width:
            raise ValueError(f"{len(o)} options exceed the row width {width}")

    if share_prefix and donor_items is None and adapter.shares_prefix:
        q_starts = [int(it.prepared.question_mask.int().argmax()) for it in items]
        logits, captured = forward_shared_prefix(adapter, embeds, ids, vision, q_starts, capture=layers,
                                                 draws=K)
    else:
        logits, captured = forward_rows(adapter, embeds, ids, vision, 1, capture=layers)
    last = logits[:, -1].float()
    _check_rows_finite(adapter, items, torch.isnan(last).any(-1) | torch.isposinf(last).any(-1)
                       | torch.isneginf(last).all(-1), R, K, donors, "NaN or infinite logits")
    logp = torch.log_softmax(last, -1)                            # (N, V)
    dev = logp.device
    first = torch.zeros(N, width, dtype=torch.long)
    valid = torch.zeros(N, width, dtype=torch.bool)
    for r, o in enumerate(opts):
        first[r, :len(o)] = torch.tensor([c[0] for c in o])
        valid[r, :len(o)] = True
    first, valid = first.to(dev), valid.to(dev)
    scores = logp.gather(-1, first)                               # (N, width)

    # multi-token options: one more forward with the continuations appended
    multi = [(r, j) for r, o in enumerate(opts) for j, c in enumerate(o) if len(c) > 1]
    if multi:
        ext_e, ext_i, ext_v = [], [], []
        for r, j in multi:
            c = opts[r][j]
            ce = adapter.embed(torch.tensor(c[:-1]))
            ext_e.append(torch.cat([embeds[r], ce], 0))
            ext_i.append(torch.cat([ids[r].cpu(), torch.tensor(c[:-1])]))
            ext_v.append(vision[r])
        n_keep = max(len(opts[r][j]) for r, j in multi)
        lg, _ = forward_rows(adapter, ext_e, ext_i, ext_v, n_keep)
        lg = lg.float()
        bad = torch.zeros(N, dtype=torch.bool)
        for row, (r, j) in enumerate(multi):
            bad[r] |= bool(torch.isnan(lg[row]).any() or torch.isposinf(lg[row]).any())
        _check_rows_finite(adapter, items, bad, R, K, donors, "NaN or infinite logits (multi-token option)")
        lp = torch.log_softmax(lg, -1)
        for row, (r, j) in enumerate(multi):
            c = opts[r][j]
            tok = lp[row, n_keep - len(c):, :].gather(-1, torch.tensor(c, device=lp.device)[:, None])
            scores[r, j] = tok.mean()

    p_all, mass_all = option_distribution(scores, tau, valid)   # (N, width), (N,)
    _check_rows_finite(adapter, items, ~torch.isfinite(p_all).all(-1) | ~torch.isfinite(mass_all), R, K, donors,
                       "non-finite option distribution or mass")
    B = len(items)
    p3, m3 = _per_probe(p_all.view(B, R, width), mass_all.view(B, R), K)   # (B, 3, width), (B, 3)
    lens3 = None
    if layers:
        lens = torch.log_softmax(lens_logits(adapter, captured), -1)   # (L, N, V)
        L = lens.shape[0]
        lsc = lens.gather(-1, first.to(lens.device).expand(L, N, width))
        lp_, lm_ = option_distribution(lsc, tau, valid.to(lens.device).expand(L, N, width))
        bad = (~torch.isfinite(lp_).all(-1) | ~torch.isfinite(lm_)).any(0).cpu()
        _check_rows_finite(adapter, items, bad, R, K, donors, "non-finite logit-lens distribution")
        lens3, _ = _per_probe(lp_.view(L, B, R, width), lm_.view(L, B, R), K)   # (L, B, 3, width)

    out = []
    for b, (it, (x1, x2, own)) in enumerate(zip(items, per_item)):
        k = it.n_options
        row = {"index": str(it.index), "answer": it.answer, "n_options": k,
               "pred": _LETTERS[int(scores[R * b, :k].argmax())],
               "x1": x1.numpy(), "x2": x2.numpy()}
        for r, name in enumerate(PROBES):
            row[f"p_{name}"] = p3[b, r].cpu().numpy()
            row[f"mass_{name}"] = float(m3[b, r])
        if K > 1:  # every draw / donor, for split-half and jackknife corrections of finite K
            pv = p_all.view(B, R, width)[b]
            row["p_vis_draws"] = pv[1:1 + K].reshape(-1).cpu().numpy()
            row["p_lang_draws"] = pv[1 + K:].reshape(-1).cpu().numpy()
        if lens3 is not None:
            for r, name in enumerate(PROBES):
                row[f"lens_{name}"] = lens3[:, b, r].reshape(-1).cpu().numpy()
        out.append(row)
    return out


