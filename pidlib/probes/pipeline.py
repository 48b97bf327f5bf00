"""The three probes in one forward pass, and the resumable run over a dataset split.

For each sample the vision tower runs once; its projected features are scattered into the
input embeddings to give the *full* row, from which two more rows are made by replacing a
span with calibrated noise (:mod:`pidlib.probes.noise`):

- *visual-only*: the question's text embeddings -> N(mu_text, sigma_text^2) noise;
- *language-only*: the image embeddings -> N(mu_image, sigma_image^2) noise.

The three rows of a sample have the same length. B samples give 3B rows, left-padded to a
common length, with position ids from the adapter (``cumsum(mask) - 1`` by default,
3-D M-RoPE ids for Qwen2/2.5-VL, ...), and one ``forward`` with ``logits_to_keep=1``
scores them all. No ``generate``: no generation-config logits processors (e.g. the
Qwen checkpoints' ``repetition_penalty``) touch the scores, and all three probes are scored
the same way. X1 is the mean projected image feature, X2 the mean question-token input
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
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Iterable, NamedTuple

import torch

from pidlib.models.base import Adapter, AdapterError, Prepared
from pidlib.probes.lens import capture_last_position, lens_logits
from pidlib.probes.noise import NoiseStats, RunningMoments, draw_noise, sample_generator
from pidlib.probes.scoring import DEFAULT_TAU, letter_token_ids, option_distribution, pad_options

__all__ = ["ProbeItem", "ProbeRows", "probe_rows", "forward_rows", "forward_shared_prefix", "probe_batch",
           "compute_noise_stats", "run_probes", "PROBES"]

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
                          capture: bool = False):
    """Like :func:`forward_rows` for rows [full_b, vis_b, lang_b]*B, but the full and
    visual-only rows of a sample share the key/value cache of their common prefix (all
    tokens before the question), computed once.

    Three forwards: the B prefixes (left-padded, ``use_cache=True``); the 2B suffixes
    (question and after; each left-padded inside the suffix block, so padding may sit
    between prefix and suffix -- masked) on the cache repeated twice; the B language-only
    rows in full. Position ids come from the adapter on the whole (prefix + suffix)
    sequence and are sliced, so M-RoPE ids stay exact. Returns logits (3B, 1, V) and, with
    ``capture``, per-layer last-position states in the usual row order.
    """
    dev = adapter.device
    B = len(q_starts)
    full = [embeds[3 * b] for b in range(B)]
    vis = [embeds[3 * b + 1] for b in range(B)]
    P = max(q_starts)
    S = max(len(full[b]) - q_starts[b] for b in range(B))
    pad = adapter.pad_token_id
    # whole-sequence ids / mask for the 2B suffix rows (full_b, vis_b interleaved)
    pre_ids = _pad_left([ids[3 * b][:q_starts[b]].cpu() for b in range(B)], P, pad)
    pre_m = _pad_left([torch.ones(q_starts[b], dtype=torch.long) for b in range(B)], P, 0)
    suf_ids = _pad_left([ids[3 * b][q_starts[b]:].cpu() for b in range(B)], S, pad)
    suf_m = _pad_left([torch.ones(len(full[b]) - q_starts[b], dtype=torch.long) for b in range(B)], S, 0)
    all_ids = torch.cat([pre_ids, suf_ids], 1).to(dev)
    all_m = torch.cat([pre_m, suf_m], 1).to(dev)
    row_vis = [vision[3 * b] for b in range(B)]
    pos = adapter.position_ids(all_ids, all_m, row_vis)
    pre_e = _pad_left([full[b][:q_starts[b]] for b in range(B)], P, 0)
    out = adapter.language_forward(inputs_embeds=pre_e, attention_mask=all_m[:, :P],
                                   position_ids=None if pos is None else pos[..., :P], use_cache=True,
                                   logits_to_keep=1)
    cache = out.past_key_values
    cache.batch_repeat_interleave(2)
    suf_e = []
    for b in range(B):
        suf_e += [full[b][q_starts[b]:], vis[b][q_starts[b]:]]
    suf_e = _pad_left(suf_e, S, 0)
    if pos is None:
        pos2 = None
    elif pos.ndim == 2:                     # (B, T)
        pos2 = pos[:, P:].repeat_interleave(2, 0)
    else:                                   # (3, B, T) M-RoPE
        pos2 = pos[..., P:].repeat_interleave(2, 1)
    layers = adapter.decoder_layers() if capture else None
    with (capture_last_position(layers) if capture else nullcontext([])) as st_suf:
        lg_suf = adapter.language_forward(inputs_embeds=suf_e, attention_mask=all_m.repeat_interleave(2, 0),
                                          position_ids=pos2, past_key_values=cache, use_cache=True,
                                          logits_to_keep=1).logits[:, -1:]
    lang = [embeds[3 * b + 2] for b in range(B)]
    lg_lang, st_lang = forward_rows(adapter, lang, [ids[3 * b + 2] for b in range(B)],
                                    [vision[3 * b + 2] for b in range(B)], 1, capture=capture)
    order = []
    for b in range(B):
        order += [2 * b, 2 * b + 1, 2 * B + b]
    idx = torch.tensor(order, device=lg_suf.device)
    logits = torch.cat([lg_suf, lg_lang.to(lg_suf.dtype)], 0)[idx]
    captured = None
    if capture:
        captured = [torch.cat([a, c], 0)[idx] for a, c in zip(st_suf, st_lang)]
    return logits, captured


@torch.no_grad()
def probe_rows(adapter, item: ProbeItem, noise: NoiseStats, *, seed: int = 0, dataset: str = ""):
    """The three input-embedding rows of one sample and its X1, X2.

    Returns
    -------
    ProbeRows
        ``rows``: (full, visual-only, language-only), each (T, D) in the model's dtype;
        ``x1``, ``x2``: float32 (D,) mean image feature and mean question-token
        embedding; ``vision``: the three rows' vision-input dicts.
    """
    dev, dt = adapter.device, adapter.dtype
    p = item.prepared
    feats = adapter.image_features(p)
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
    g = sample_generator(seed, dataset, item.index, device=dev)
    noise = noise.on(dev)
    vis = full.clone()
    vis[q] = draw_noise(noise.mu_text, noise.sigma_text, int(q.sum()), g).to(dt)
    img_noise = draw_noise(noise.mu_image, noise.sigma_image, feats.shape[0], g).to(dt)
    if adapter.image_in_sequence:
        full[img] = feats.to(dt)
        vis[img] = feats.to(dt)
        lang = full.clone()
        lang[img] = img_noise
        row_vision = [p.vision_inputs] * 3
    else:  # cross-attention families: the image states travel with each row
        lang = full.clone()
        row_vision = [dict(p.vision_inputs, image_states=s) for s in (feats, feats, img_noise)]
    return ProbeRows((full, vis, lang), x1, x2, row_vision)


@torch.no_grad()
def probe_batch(adapter, items: list[ProbeItem], noise: NoiseStats, *, seed: int = 0,
                dataset: str = "", tau: float = DEFAULT_TAU, layers: bool = False,
                width: int = K_MAX, share_prefix: bool = False,
                _cache: dict | None = None) -> list[dict]:
    """Probe a batch of samples with one stacked forward (3 rows per sample).

    With ``share_prefix`` the full and visual-only rows reuse the key/value cache of their
    common prefix (:func:`forward_shared_prefix`); same numbers within float tolerance.
    Families with extra per-token inputs (Gemma3, PaliGemma token types) always use the
    plain stacked forward.

    Returns one row dict per item with the columns of "Probe run rows" (ARCHITECTURE.md).
    """
    cache = {} if _cache is None else _cache
    embeds, ids, vision, per_item = [], [], [], []
    for it in items:
        rows, x1, x2, row_vision = probe_rows(adapter, it, noise, seed=seed, dataset=dataset)
        embeds += list(rows)
        ids += [it.prepared.input_ids] * 3
        vision += row_vision
        per_item.append((x1, x2, _option_ids(adapter, it, cache)))

    if share_prefix and type(adapter).row_inputs is Adapter.row_inputs:
        q_starts = [int(it.prepared.question_mask.int().argmax()) for it in items]
        logits, captured = forward_shared_prefix(adapter, embeds, ids, vision, q_starts, capture=layers)
    else:
        logits, captured = forward_rows(adapter, embeds, ids, vision, 1, capture=layers)
    logp = torch.log_softmax(logits[:, -1].float(), -1)          # (3B, V)
    first = [[c[0] for c in conts] for _, _, conts in per_item]
    scores = [logp[3 * b:3 * b + 3][:, f] for b, f in enumerate(first)]  # each (3, k)

    # multi-token options: one more forward with the continuations appended
    multi = [(b, j) for b, (_, _, conts) in enumerate(per_item)
             for j, c in enumerate(conts) if len(c) > 1]
    if multi:
        ext_e, ext_i, ext_v, where = [], [], [], []
        for b, j in multi:
            c = per_item[b][2][j]
            ce = adapter.embed(torch.tensor(c[:-1]))
            for r in range(3):
                ext_e.append(torch.cat([embeds[3 * b + r], ce], 0))
                ext_i.append(torch.cat([ids[3 * b + r].cpu(), torch.tensor(c[:-1])]))
                ext_v.append(vision[3 * b + r])
                where.append((b, j, r, c))
        n_keep = max(len(w[3]) for w in where)
        lg, _ = forward_rows(adapter, ext_e, ext_i, ext_v, n_keep)
        lp = torch.log_softmax(lg.float(), -1)
        for row, (b, j, r, c) in enumerate(where):
            m = len(c)
            tok = lp[row, n_keep - m:, :].gather(-1, torch.tensor(c, device=lp.device)[:, None])
            scores[b][r, j] = tok.mean()

    lens = None
    if layers:
        lens = torch.log_softmax(lens_logits(adapter, captured), -1)   # (L, 3B, V)

    out = []
    for b, (it, (x1, x2, conts)) in enumerate(zip(items, per_item)):
        k = it.n_options
        p, mass = option_distribution(scores[b], tau)
        row = {"index": str(it.index), "answer": it.answer, "n_options": k,
               "pred": _LETTERS[int(scores[b][0].argmax())],
               "x1": x1.numpy(), "x2": x2.numpy()}
        for r, name in enumerate(PROBES):
            row[f"p_{name}"] = pad_options(p[r], width).cpu().numpy()
            row[f"mass_{name}"] = float(mass[r])
        if lens is not None:
            f = torch.tensor(first[b], device=lens.device)
            lp_, _ = option_distribution(lens[:, 3 * b:3 * b + 3][..., f], tau)  # (L, 3, k)
            lp_ = pad_options(lp_, width)
            for r, name in enumerate(PROBES):
                row[f"lens_{name}"] = lp_[:, r].reshape(-1).cpu().numpy()
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


def run_probes(adapter, dataset, split: str, store, *, batch_size: int = 8,
               tau: float = DEFAULT_TAU, seed: int = 0, layers: bool = False,
               noise_stats: NoiseStats, progress: bool = True, on_error: str = "raise",
               samples: list | None = None, share_prefix: bool = False) -> dict:
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
    pool = list(dataset.samples if samples is None else samples)
    all_k = [len(s.options) for s in list(dataset.samples) + pool]
    width = max(K_MAX, max(all_k, default=0))   # same width for every split of the dataset
    done = set(map(str, store.done()))
    todo = [s for s in pool if str(s.index) not in done]
    skipped, cache, n_new, t0 = [], {}, 0, time.perf_counter()
    bar = tqdm(total=len(pool), initial=len(pool) - len(todo), desc=f"probes {split}",
               unit="sample", disable=not progress)

    def prepare(batch):  # runs in a worker thread, one batch ahead of the model
        out = []            # (the tokenizer is used only here: fast tokenizers are not thread-safe)
        for s in batch:
            try:
                it = ProbeItem(s.index, len(s.options), s.answer, adapter.prepare(s))
                it.option_ids = _option_ids(adapter, it, cache)
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
                rows = probe_batch(adapter, items, noise_stats, seed=seed, dataset=dataset.name,
                                   tau=tau, layers=layers, width=width, share_prefix=share_prefix,
                                   _cache=cache)
                store.append(rows)
                n_new += len(rows)
            bar.update(len(batch))
    bar.close()
    return {"n_done_before": len(pool) - len(todo), "n_new": n_new, "skipped": skipped,
            "seconds": time.perf_counter() - t0}
