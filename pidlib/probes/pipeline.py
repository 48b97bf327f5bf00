"""The three probes in one forward pass, and the resumable run over a dataset split.

For each sample the vision tower runs once; its projected features are scattered into the
input embeddings to give the *full* row, from which two more rows are made by replacing a
span with calibrated noise (:mod:`pidlib.probes.noise`):

- *visual-only*: the question's text embeddings -> N(mu_text, sigma_text^2) noise;
- *language-only*: the image embeddings -> N(mu_image, sigma_image^2) noise.

The rows of a sample have the same length. B samples give 3B rows, left-padded to a
common length, with position ids from the adapter (``cumsum(mask) - 1`` by default,
3-D M-RoPE ids for Qwen2/2.5-VL, ...), and one ``forward`` with ``logits_to_keep=1``
scores them all. No ``generate``: no generation-config logits processors (e.g. the
Qwen checkpoints' ``repetition_penalty``) touch the scores, and all three probes are scored
the same way (with ``noise_draws`` = K > 1, each noised probe gets K rows with independent
noise and its distribution is their mean: 1 + 2K rows per sample). X1 is the mean projected
image feature, X2 the mean question-token input
embedding (as the model scales it). For Mllama (images through cross-attention) the image
features are per-row ``cross_attention_states`` and the language-only row gets noise
states instead.

Per row stored: ``pred`` is the argmax letter of the full probe's raw option scores
(before the tau fallback); ``p_*`` the option distributions after the threshold; ``mass_*``
the raw option masses. The logit lens scores the first token of each option letter (the
output scores use all tokens of a multi-token letter; with every real tokenizer tried the
letters after the assistant prefix are single tokens).
"""
from __future__ import annotations

import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, replace
from typing import Iterable, NamedTuple

import torch

from pidlib.models.base import Adapter, AdapterError, Prepared
from pidlib.probes.lens import capture_last_position, lens_logits
from pidlib.probes.noise import NoiseStats, RunningMoments, draw_noise, sample_generator
from pidlib.probes.scoring import DEFAULT_TAU, letter_token_ids, option_distribution

__all__ = ["ProbeItem", "ProbeRows", "probe_rows", "forward_rows", "forward_shared_prefix", "probe_batch",
           "compute_noise_stats", "run_probes", "donor_indices", "PROBES"]

PROBES = ("full", "vis", "lang")
_LETTERS = "ABCDEFGH"
K_MAX = 4


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


def forward_rows(adapter, embeds: list, ids: list, vision: list, n_keep: int = 1,
                 capture: bool = False):
    """Left-pad rows, build position ids / extra inputs, run one forward.

    Returns logits (R, n_keep, V) and, with ``capture``, the per-layer last-position
    states (list of (R, D)).
    """
    dev = adapter.device
    R, T, D = len(embeds), max(e.shape[0] for e in embeds), embeds[0].shape[-1]
    E = embeds[0].new_zeros(R, T, D)
    I = torch.full((R, T), adapter.pad_token_id, dtype=torch.long)
    M = torch.zeros(R, T, dtype=torch.long)
    for r, (e, i) in enumerate(zip(embeds, ids)):
        n = e.shape[0]
        E[r, T - n:] = e
        I[r, T - n:] = i.cpu()
        M[r, T - n:] = 1
    I, M = I.to(dev), M.to(dev)
    extra = adapter.row_inputs(I, M, vision)
    pos = adapter.position_ids(I, M, vision)
    if capture:
        with capture_last_position(adapter.decoder_layers()) as store:
            logits = adapter.forward_logits(E, M, pos, extra, n_keep)
        return logits, store
    return adapter.forward_logits(E, M, pos, extra, n_keep), None


def _pad_left(rows: list, T: int, fill):
    out = rows[0].new_full((len(rows), T) + tuple(rows[0].shape[1:]), fill)
    for r, x in enumerate(rows):
        if len(x):
            out[r, T - len(x):] = x
    return out


def forward_shared_prefix(adapter, embeds: list, ids: list, vision: list, q_starts: list[int],
                          capture: bool = False, draws: int = 1):
    """Like :func:`forward_rows` for rows [full_b, vis_b x draws, lang_b x draws] per sample,
    but the full and visual-only rows of a sample share the key/value cache of their
    common prefix (all tokens before the question), computed once.

    Three forwards: the B prefixes (left-padded, ``use_cache=True``); the (1 + draws) B
    suffixes (question and after; each left-padded inside the suffix block, so padding may
    sit between prefix and suffix -- masked) on the cache repeated 1 + draws times; the
    draws x B language-only rows in full. Position ids come from the adapter on the whole
    (prefix + suffix) sequence and are sliced, so M-RoPE ids stay exact. Returns logits
    (R B, 1, V), R = 1 + 2 draws, and, with ``capture``, per-layer last-position states
    in the usual row order.
    """
    dev = adapter.device
    B, K = len(q_starts), int(draws)
    R, share = 1 + 2 * K, 1 + K
    full = [embeds[R * b] for b in range(B)]
    P = max(q_starts)
    S = max(len(full[b]) - q_starts[b] for b in range(B))
    pad = adapter.pad_token_id
    # whole-sequence ids / mask for the suffix rows (full_b, vis_b... interleaved per sample)
    pre_ids = _pad_left([ids[R * b][:q_starts[b]].cpu() for b in range(B)], P, pad)
    pre_m = _pad_left([torch.ones(q_starts[b], dtype=torch.long) for b in range(B)], P, 0)
    suf_ids = _pad_left([ids[R * b][q_starts[b]:].cpu() for b in range(B)], S, pad)
    suf_m = _pad_left([torch.ones(len(full[b]) - q_starts[b], dtype=torch.long) for b in range(B)], S, 0)
    all_ids = torch.cat([pre_ids, suf_ids], 1).to(dev)
    all_m = torch.cat([pre_m, suf_m], 1).to(dev)
    row_vis = [vision[R * b] for b in range(B)]
    pos = adapter.position_ids(all_ids, all_m, row_vis)
    pre_e = _pad_left([full[b][:q_starts[b]] for b in range(B)], P, 0)
    out = adapter.language_forward(inputs_embeds=pre_e, attention_mask=all_m[:, :P],
                                   position_ids=None if pos is None else pos[..., :P], use_cache=True,
                                   logits_to_keep=1)
    cache = out.past_key_values
    cache.batch_repeat_interleave(share)
    suf_e = []
    for b in range(B):
        suf_e += [embeds[R * b + r][q_starts[b]:] for r in range(share)]
    suf_e = _pad_left(suf_e, S, 0)
    if pos is None:
        pos2 = None
    elif pos.ndim == 2:                     # (B, T)
        pos2 = pos[:, P:].repeat_interleave(share, 0)
    else:                                   # (3, B, T) M-RoPE
        pos2 = pos[..., P:].repeat_interleave(share, 1)
    layers = adapter.decoder_layers() if capture else None
    with (capture_last_position(layers) if capture else nullcontext([])) as st_suf:
        lg_suf = adapter.language_forward(inputs_embeds=suf_e, attention_mask=all_m.repeat_interleave(share, 0),
                                          position_ids=pos2, past_key_values=cache, use_cache=True,
                                          logits_to_keep=1).logits[:, -1:]
    lang_rows = [R * b + share + k for b in range(B) for k in range(K)]
    lg_lang, st_lang = forward_rows(adapter, [embeds[r] for r in lang_rows], [ids[r] for r in lang_rows],
                                    [vision[r] for r in lang_rows], 1, capture=capture)
    order = []
    for b in range(B):
        order += [share * b + r for r in range(share)] + [share * B + K * b + k for k in range(K)]
    idx = torch.tensor(order, device=lg_suf.device)
    logits = torch.cat([lg_suf, lg_lang.to(lg_suf.dtype)], 0)[idx]
    captured = None
    if capture:
        captured = [torch.cat([a, c], 0)[idx] for a, c in zip(st_suf, st_lang)]
    return logits, captured


def _full_row(adapter, item: ProbeItem, feat_cache: dict | None = None):
    """(full-input embedding row, its vision inputs, x1, x2, image mask, question mask, features).

    ``feat_cache`` (valid within one call of :func:`probe_batch`, while the inputs are
    alive) reuses the image features of vision inputs made of the very same tensors.
    """
    dev, dt = adapter.device, adapter.dtype
    p = item.prepared
    key = tuple(sorted((k, id(v)) for k, v in p.vision_inputs.items()))
    if feat_cache is not None and key in feat_cache:
        feats = feat_cache[key]
    else:
        feats = adapter.image_features(p)
        if feat_cache is not None:
            feat_cache[key] = feats
    img = adapter.image_mask(p.input_ids).to(dev)
    n_img = int(img.sum())
    if adapter.image_in_sequence and n_img != feats.shape[0]:
        raise AdapterError(f"sample {item.index!r}: {n_img} image tokens in the prompt but "
                           f"{feats.shape[0]} image feature vectors")
    e = adapter.embed(p.input_ids)
    q = p.question_mask.to(dev)
    if bool((q & img).any()):
        raise AdapterError(f"sample {item.index!r}: question span overlaps image tokens")
    x1 = feats.float().mean(0).cpu()
    x2 = e[q].float().mean(0).cpu()
    full = e.clone()
    if adapter.image_in_sequence:
        full[img] = feats.to(dt)
        vision = p.vision_inputs
    else:  # cross-attention families: the image states travel with each row
        vision = dict(p.vision_inputs, image_states=feats)
    return full, vision, x1, x2, img, q, feats


@torch.no_grad()
def probe_rows(adapter, item: ProbeItem, noise: NoiseStats, *, seed: int = 0, dataset: str = "",
               draws: int = 1):
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
    full, full_vision, x1, x2, img, q, feats = _full_row(adapter, item)
    g = sample_generator(seed, dataset, item.index, device=adapter.device)
    noise = noise.on(adapter.device)
    vis_rows, lang_rows, vis_vision, lang_vision = [], [], [], []
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
    embeds, ids, vision, opts, per_item = [], [], [], [], []
    for b, it in enumerate(items):
        own = _option_ids(adapter, it, cache)
        if donor_items is None:
            rows, x1, x2, row_vision = probe_rows(adapter, it, noise, seed=seed, dataset=dataset, draws=K)
            embeds += list(rows)
            ids += [it.prepared.input_ids] * R
            vision += row_vision
            opts += [own] * R
        else:
            feat_cache: dict = {}
            full, v, x1, x2, *_ = _full_row(adapter, it, feat_cache)
            embeds.append(full)
            ids.append(it.prepared.input_ids)
            vision.append(v)
            opts.append(own)
            for d in list(donor_items[b][0]) + list(donor_items[b][1]):
                e_d, v_d, *_ = _full_row(adapter, d, feat_cache)
                embeds.append(e_d)
                ids.append(d.prepared.input_ids)
                vision.append(v_d)
                opts.append(_option_ids(adapter, d, cache))
        per_item.append((x1, x2, own))
    N = len(embeds)
    for o in opts:
        if len(o) > width:
            raise ValueError(f"{len(o)} options exceed the row width {width}")

    if share_prefix and donor_items is None and type(adapter).row_inputs is Adapter.row_inputs:
        q_starts = [int(it.prepared.question_mask.int().argmax()) for it in items]
        logits, captured = forward_shared_prefix(adapter, embeds, ids, vision, q_starts, capture=layers,
                                                 draws=K)
    else:
        logits, captured = forward_rows(adapter, embeds, ids, vision, 1, capture=layers)
    logp = torch.log_softmax(logits[:, -1].float(), -1)          # (N, V)
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
        lp = torch.log_softmax(lg.float(), -1)
        for row, (r, j) in enumerate(multi):
            c = opts[r][j]
            tok = lp[row, n_keep - len(c):, :].gather(-1, torch.tensor(c, device=lp.device)[:, None])
            scores[r, j] = tok.mean()

    p_all, mass_all = option_distribution(scores, tau, valid)   # (N, width), (N,)
    B = len(items)
    p3, m3 = _per_probe(p_all.view(B, R, width), mass_all.view(B, R), K)   # (B, 3, width), (B, 3)
    lens3 = None
    if layers:
        lens = torch.log_softmax(lens_logits(adapter, captured), -1)   # (L, N, V)
        L = lens.shape[0]
        lsc = lens.gather(-1, first.to(lens.device).expand(L, N, width))
        lp_, lm_ = option_distribution(lsc, tau, valid.to(lens.device).expand(L, N, width))
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


@torch.no_grad()
def compute_noise_stats(adapter, samples: Iterable, *, meta: dict | None = None,
                        progress: bool = True, on_error: str = "raise",
                        skipped: list | None = None) -> NoiseStats:
    """Stage 1: float64 streaming mean / population std of image and question tokens.

    Image tokens are the projected features entering the language model; text tokens are
    the question-body tokens' input embeddings (scaled as the model scales them).
    """
    from tqdm.auto import tqdm

    img, txt = RunningMoments(), RunningMoments()
    n = 0
    samples = list(samples)
    for s in tqdm(samples, desc="noise statistics", disable=not progress, unit="sample"):
        try:
            p = s if isinstance(s, Prepared) else adapter.prepare(s)
        except (ValueError, AdapterError) as e:
            if on_error != "skip":
                raise
            if skipped is not None:
                skipped.append((getattr(s, "index", None), str(e)))
            continue
        img.update(adapter.image_features(p))
        txt.update(adapter.embed(p.input_ids)[p.question_mask.to(adapter.device)])
        n += 1
    if n == 0:
        raise ValueError("no samples to compute noise statistics from")
    m = dict(meta or {})
    m.update(n_image_tokens=img.n, n_text_tokens=txt.n, n_samples=n)
    return NoiseStats(img.mean, img.std, txt.mean, txt.std, img.n, txt.n, n, m)


def donor_indices(keys: list[str], index: str, k: int, *, seed: int = 0, dataset: str = "") -> list[int]:
    """Positions in ``keys`` of the ``k`` donors of sample ``index`` (never itself).

    Drawn without replacement (with replacement when fewer than ``k`` others exist) from a
    generator keyed by ``(seed, dataset, "donors|" + index)``.
    """
    g = sample_generator(seed, dataset, f"donors|{index}")
    others = [i for i in torch.randperm(len(keys), generator=g).tolist() if keys[i] != str(index)]
    if not others:
        raise ValueError(f"sample {index!r}: no other sample to take donors from")
    if len(others) >= k:
        return others[:k]
    return [others[int(t)] for t in torch.randint(len(others), (k,), generator=g)]


def run_probes(adapter, dataset, split: str, store, *, batch_size: int = 8,
               tau: float = DEFAULT_TAU, seed: int = 0, layers: bool = False,
               noise_stats: NoiseStats, progress: bool = True, on_error: str = "raise",
               samples: list | None = None, share_prefix: bool = False, noise_draws: int = 1,
               donors: int = 0) -> dict:
    """Probe every sample of ``dataset`` (or ``samples``) not yet in ``store``.

    Parameters
    ----------
    adapter : pidlib.models.Adapter
    dataset : pidlib.data.MCDataset
        Its ``name`` keys the noise generator.
    split : str
        Split name (recorded; selecting the samples is the caller's job via ``samples``).
    store : pidlib.store.RunStore
        ``done()`` -> finished indices; ``append(rows)`` writes one batch atomically.
    batch_size : int
        Samples per forward (3 rows each).
    on_error : {"raise", "skip"}
        What to do with a sample whose image or prompt cannot be prepared.
    share_prefix : bool
        Full and visual-only rows share the prefix KV cache (:func:`forward_shared_prefix`).
    noise_draws : int
        Noise draws averaged per noised probe (default 1, as the paper); see
        :func:`probe_batch`.
    donors : int
        0 (default): the paper's noise probes. ``D > 0``: *donor probes* instead -- the
        visual-only probe of a sample pairs its image with the questions of D other samples
        of the same split, the language-only probe its question with their images
        (:func:`donor_indices` picks them, keyed by seed, dataset and index, so the choice
        does not depend on batching or resuming).

    Inputs of the next batch (image decoding, processor) are prepared in a worker thread
    while the model runs the current one. Each batch's rows are appended to the store
    before the next batch starts, so an interrupted run loses at most one batch.

    Returns
    -------
    dict
        Summary: ``n_done_before``, ``n_new``, ``skipped`` [(index, problem)], ``seconds``.
    """
    from tqdm.auto import tqdm

    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    if int(noise_draws) < 1:
        raise ValueError(f"noise_draws must be >= 1, got {noise_draws!r}")
    if int(donors) < 0 or (donors and int(noise_draws) != 1):
        raise ValueError(f"donors must be >= 0 and excludes noise_draws > 1 (got donors={donors!r}, "
                         f"noise_draws={noise_draws!r})")
    pool = list(dataset.samples if samples is None else samples)
    if donors and len(pool) < 2:
        raise ValueError("donor probes need at least 2 samples in the split")
    donor_pool = sorted(pool, key=lambda x: str(x.index)) if donors else []
    donor_keys = [str(x.index) for x in donor_pool]
    all_k = [len(s.options) for s in list(dataset.samples) + pool]
    width = max(K_MAX, max(all_k, default=0))   # same width for every split of the dataset
    done = set(map(str, store.done()))
    todo = [s for s in pool if str(s.index) not in done]
    skipped, cache, n_new, t0 = [], {}, 0, time.perf_counter()
    bar = tqdm(total=len(pool), initial=len(pool) - len(todo), desc=f"probes {split}",
               unit="sample", disable=not progress)

    prepared_lru: OrderedDict = OrderedDict()   # donor mode: prepared samples, by index

    def prep(s):
        key = str(s.index)
        if key in prepared_lru:
            prepared_lru.move_to_end(key)
            return prepared_lru[key]
        p = adapter.prepare(s)
        if donors:
            prepared_lru[key] = p
            if len(prepared_lru) > max(1024, 4 * batch_size * (int(donors) + 1)):
                prepared_lru.popitem(last=False)
        return p

    def crossed_item(q_sample, img_sample, index):
        """ProbeItem of (q_sample's question, img_sample's image): the prepared inputs
        crossed directly when exact (Adapter.cross_inputs), else through the processor."""
        p = adapter.cross_inputs(prep(q_sample), prep(img_sample))
        if p is None:
            p = adapter.prepare(replace(q_sample, image=img_sample.image, answer=None, index=index))
        c = ProbeItem(index, len(q_sample.options), None, p)
        c.option_ids = _option_ids(adapter, c, cache)
        return c

    def prepare(batch):  # runs in a worker thread, one batch ahead of the model
        out = []            # (the tokenizer is used only here: fast tokenizers are not thread-safe)
        for s in batch:
            try:
                it = ProbeItem(s.index, len(s.options), s.answer, prep(s))
                it.option_ids = _option_ids(adapter, it, cache)
                if donors:
                    js = donor_indices(donor_keys, str(s.index), int(donors), seed=seed, dataset=dataset.name)
                    vis = [crossed_item(donor_pool[j], s, f"{s.index}|question:{donor_pool[j].index}") for j in js]
                    lang = [crossed_item(s, donor_pool[j], f"{s.index}|image:{donor_pool[j].index}") for j in js]
                    it.donors = (vis, lang)
                out.append(it)
            except (ValueError, AdapterError) as e:  # DatasetError is a ValueError
                out.append(e if on_error != "skip" else (s.index, str(e)))
        return out

    batches = [todo[i:i + batch_size] for i in range(0, len(todo), batch_size)]
    with ThreadPoolExecutor(max_workers=1) as pool_ex:
        pending = pool_ex.submit(prepare, batches[0]) if batches else None
        for k, batch in enumerate(batches):
            prepared = pending.result()
            pending = pool_ex.submit(prepare, batches[k + 1]) if k + 1 < len(batches) else None
            items = []
            for x in prepared:
                if isinstance(x, Exception):
                    if pending is not None:
                        pending.cancel()
                    raise x
                if isinstance(x, tuple):
                    skipped.append(x)
                else:
                    items.append(x)
            if items:
                donor_items = [it.donors for it in items] if donors else None
                rows = probe_batch(adapter, items, noise_stats, seed=seed, dataset=dataset.name,
                                   tau=tau, layers=layers, width=width, share_prefix=share_prefix,
                                   noise_draws=noise_draws, donor_items=donor_items, _cache=cache)
                store.append(rows)
                n_new += len(rows)
            bar.update(len(batch))
    bar.close()
    return {"n_done_before": len(pool) - len(todo), "n_new": n_new, "skipped": skipped,
            "seconds": time.perf_counter() - t0}
