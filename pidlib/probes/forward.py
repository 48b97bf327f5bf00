"""One stacked forward over many probe rows: left padding, position ids, the logit lens
capture, and the shared-prefix variant (full and visual-only rows reuse the key/value
cache of everything before the question).

Rows are input-embedding sequences (T_r, D) made by :mod:`pidlib.probes.rows`; this module
knows nothing of samples or probes, only of rows and the adapter's hooks.
"""
from __future__ import annotations

from contextlib import nullcontext

import torch

from pidlib.probes.lens import capture_last_position, decoder_layers, execution_device, final_norm

__all__ = ["forward_rows", "forward_shared_prefix"]


def _lens_device(adapter):
    """Where captured layer states are gathered: the final norm's execution device (one
    place even when the layers sit on several devices)."""
    return execution_device(final_norm(adapter.model))


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
        with capture_last_position(decoder_layers(adapter.model), _lens_device(adapter)) as store:
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
    layers = decoder_layers(adapter.model) if capture else None
    with (capture_last_position(layers, _lens_device(adapter)) if capture else nullcontext([])) as st_suf:
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
    logits = torch.cat([lg_suf, lg_lang.to(lg_suf.device, lg_suf.dtype)], 0)[idx]
    captured = None
    if capture:
        captured = [torch.cat([a, c], 0)[idx] for a, c in zip(st_suf, st_lang)]
    return logits, captured


