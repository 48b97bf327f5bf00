"""Option scoring: letter token ids, length-normalized option scores, the tau threshold.

Letter ids
    An option letter ``L`` is tokenized as the *continuation* of the prompt: the tokens of
    ``encode(prompt + L)`` from the first position where it differs from
    ``encode(prompt)``. This handles SentencePiece (``"▁A"``) and byte-level BPE (``"A"``)
    alike. The letters' first tokens must be distinct (asserted).

Multi-token options
    When a letter's continuation has more than one token, its score is the mean
    log-probability per token (length normalization by token count; lm-eval's
    ``acc_norm`` normalizes by characters instead). Single-token options score
    ``log p(token)``, so the two agree there.

Distribution and threshold
    All arithmetic in float32. ``mass = sum_j exp(score_j)`` over the valid options is the
    raw full-vocabulary probability mass of the options (exact for single-token options).
    If ``mass < tau`` (default 0.3) the model is not answering the question in the
    expected format and the distribution falls back to uniform over the valid options;
    otherwise the option probabilities are renormalized over the valid options.
"""
from __future__ import annotations

import torch

__all__ = ["letter_token_ids", "option_distribution", "pad_options", "DEFAULT_TAU"]

DEFAULT_TAU = 0.3


def letter_token_ids(tokenizer, prompt: str, letters: str) -> list[list[int]]:
    """Token ids of each letter as the continuation of ``prompt``.

    Raises
    ------
    ValueError
        When a letter merges with the prompt's last token (then the next-token logits at
        the end of the prompt do not score it), adds nothing, or when two letters share
        their first token.
    """
    base = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    out = []
    for letter in letters:
        ext = tokenizer(prompt + letter, add_special_tokens=False)["input_ids"]
        i = 0
        while i < min(len(base), len(ext)) and base[i] == ext[i]:
            i += 1
        if i != len(base):
            raise ValueError(f"option letter {letter!r} merges with the prompt's last token "
                             f"({base[i:]!r} -> {ext[i:]!r}); end the prompt differently")
        if len(ext) == i:
            raise ValueError(f"option letter {letter!r} adds no token to the prompt")
        out.append(ext[i:])
    firsts = [c[0] for c in out]
    if len(set(firsts)) != len(firsts):
        raise ValueError(f"option letters {letters!r} share first tokens {firsts!r}")
    return out


def option_distribution(scores: torch.Tensor, tau: float = DEFAULT_TAU, valid: torch.Tensor | None = None):
    """Option distribution and raw mass from per-option log-scores.

    Parameters
    ----------
    scores : torch.Tensor
        (..., k) length-normalized log-probabilities of the k valid options.
    tau : float
        Confidence threshold on the raw mass.
    valid : torch.Tensor, optional
        (..., k) bool: which entries are options, for rows padded to a common k (padding
        gets probability 0 and the uniform fallback is over the valid entries only).

    Returns
    -------
    p : torch.Tensor
        (..., k) float32, rows sum to 1.
    mass : torch.Tensor
        (...,) float32 raw mass ``sum exp(scores)``.
    """
    s = scores.float()
    if valid is None:
        uniform = torch.full_like(s, 1.0 / s.shape[-1])
    else:
        s = s.masked_fill(~valid, float("-inf"))
        uniform = valid.float() / valid.float().sum(-1, keepdim=True)
    mass = s.exp().sum(-1)
    p = torch.softmax(s, -1)
    p = torch.where((mass < tau).unsqueeze(-1), uniform, p)
    return p, mass


def pad_options(p: torch.Tensor, width: int) -> torch.Tensor:
    """Zero-pad the last axis to ``width``."""
    k = p.shape[-1]
    if k > width:
        raise ValueError(f"{k} options exceed the row width {width}")
    if k == width:
        return p
    return torch.cat([p, p.new_zeros(*p.shape[:-1], width - k)], -1)
