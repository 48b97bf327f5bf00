"""Logit lens, family-agnostic.

Forward hooks on every decoder layer keep the output at the *last position only* (not
``output_hidden_states`` for the whole sequence). Each captured vector is read out with
the model's own final norm and output head, plus ``tanh`` softcapping when the text
config sets ``final_logit_softcapping`` (Gemma-2/4; Gemma-3 has none). The hooks see
pre-norm layer outputs, so every layer, the last included, is normalized exactly once; in
transformers 5.x ``hidden_states[-1]`` is already normalized and is not used here. At the
last layer the lens reproduces the model's logits (tested).

For Mllama the layer list includes the cross-attention layers; they are lensed like the
others.
"""
from __future__ import annotations

from contextlib import contextmanager

import torch

__all__ = ["capture_last_position", "lens_logits"]


@contextmanager
def capture_last_position(layers):
    """Context manager: ``with capture_last_position(layers) as store: model(...)``.

    ``store`` is a list (one entry per layer, filled during the forward) of (R, D)
    tensors: each layer's output at the last sequence position.
    """
    store: list = [None] * len(layers)

    def make(i):
        def hook(module, args, output):
            h = output[0] if isinstance(output, (tuple, list)) else output
            store[i] = h[:, -1].detach()
        return hook

    handles = [layer.register_forward_hook(make(i)) for i, layer in enumerate(layers)]
    try:
        yield store
    finally:
        for h in handles:
            h.remove()


@torch.no_grad()
def lens_logits(adapter, captured: list) -> torch.Tensor:
    """Per-layer logits (L, R, V) in float32 from the captured last-position states."""
    if any(c is None for c in captured):
        raise RuntimeError("a decoder layer did not run (hook captured nothing)")
    h = torch.stack(captured, 0)
    return adapter.unembed(h).float()
