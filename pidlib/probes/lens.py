"""Logit lens, family-agnostic: every piece is a function of the model (as tuned-lens does).

- :func:`decoder_layers` -- the decoder layer list (``get_decoder().layers``);
- :func:`final_norm` -- the model's own final norm module (``norm``, ``final_layernorm`` or
  ``ln_f`` of the decoder: RMSNorm, Gemma's ``(1 + w)`` RMSNorm, Fuyu/Persimmon's LayerNorm);
- :func:`output_head` -- ``get_output_embeddings()`` (tied or not);
- :func:`softcap` -- ``final_logit_softcapping`` of the text config (Gemma-2/4; Gemma-3 and
  most others have none);
- :func:`unembed` -- ``head(norm(h))`` then ``tanh`` softcapping when set.

Forward hooks on every decoder layer keep the output at the *last position only*
(:func:`capture_last_position`; not ``output_hidden_states`` for the whole sequence). The
hooks see pre-norm layer outputs, so every layer, the last included, is normalized exactly
once; in transformers 5.x ``hidden_states[-1]`` is already normalized and is not used here.
At the last layer the lens reproduces the model's logits (tested for every family).

Models split over devices (``device_map``, :func:`pidlib.models.load_adapter`): each hook
moves its captured vector to one place (the output head's execution device), and the
norm and head modules are called as modules, so accelerate's hooks load offloaded weights
and move inputs themselves.

For Mllama the layer list includes the cross-attention layers; they are lensed like the
others.
"""
from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn

__all__ = ["capture_last_position", "lens_logits", "decoder", "decoder_layers", "final_norm", "output_head",
           "softcap", "unembed", "execution_device"]


def _model(m):
    """Accept an adapter (anything with ``.model``) or a model."""
    return m.model if not isinstance(m, nn.Module) and hasattr(m, "model") else m


def execution_device(module: nn.Module) -> torch.device:
    """Where ``module`` computes: accelerate's execution device when it is dispatched
    (weights may sit on ``meta``/disk), else the device of its first parameter or buffer
    (``cpu`` for a module without any)."""
    hook = getattr(module, "_hf_hook", None)
    dev = getattr(hook, "execution_device", None)
    if dev is not None:
        return torch.device(dev if not isinstance(dev, int) else f"cuda:{dev}")
    for it in (module.parameters(recurse=True), module.buffers(recurse=True)):
        t = next(it, None)
        if t is not None and t.device.type != "meta":
            return t.device
    return torch.device("cpu")


def decoder(model) -> nn.Module:
    """The language model's decoder (``get_decoder()``)."""
    return _model(model).get_decoder()


def decoder_layers(model) -> nn.ModuleList:
    """The decoder layers (the lens reads each one's output)."""
    dec = decoder(model)
    layers = getattr(dec, "layers", None)
    if layers is None:
        raise RuntimeError(f"cannot find decoder layers on {type(dec).__name__}")
    return layers


def final_norm(model) -> nn.Module:
    """The decoder's final norm module."""
    dec = decoder(model)
    for name in ("norm", "final_layernorm", "ln_f"):
        mod = getattr(dec, name, None)
        if isinstance(mod, nn.Module):
            return mod
    raise RuntimeError(f"cannot find the final norm on {type(dec).__name__}")


def output_head(model) -> nn.Module:
    """The output head (``get_output_embeddings()``)."""
    head = _model(model).get_output_embeddings()
    if head is None:
        raise RuntimeError(f"{type(_model(model)).__name__} has no output head")
    return head


def softcap(model) -> float | None:
    """The final-logit softcap of the text config, or None."""
    cap = getattr(_model(model).config.get_text_config(), "final_logit_softcapping", None)
    return float(cap) if cap else None


def unembed(model, hidden: torch.Tensor) -> torch.Tensor:
    """Pre-norm hidden states (..., D) -> logits with the model's own norm, head, softcap."""
    logits = output_head(model)(final_norm(model)(hidden))
    cap = softcap(model)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    return logits


@contextmanager
def capture_last_position(layers, device=None):
    """Context manager: ``with capture_last_position(layers) as store: model(...)``.

    ``store`` is a list (one entry per layer, filled during the forward) of (R, D)
    tensors: each layer's output at the last sequence position, moved to ``device`` when
    given (layers of a model split over devices are gathered in one place).
    """
    store: list = [None] * len(layers)

    def make(i):
        def hook(module, args, output):
            h = output[0] if isinstance(output, (tuple, list)) else output
            h = h[:, -1].detach()
            store[i] = h if device is None else h.to(device)
        return hook

    handles = [layer.register_forward_hook(make(i)) for i, layer in enumerate(layers)]
    try:
        yield store
    finally:
        for h in handles:
            h.remove()


@torch.no_grad()
def lens_logits(model, captured: list) -> torch.Tensor:
    """Per-layer logits (L, R, V) in float32 from the captured last-position states
    (``model``: the model or its adapter)."""
    if any(c is None for c in captured):
        raise RuntimeError("a decoder layer did not run (hook captured nothing)")
    dev = execution_device(final_norm(model))
    h = torch.stack([c.to(dev) for c in captured], 0)
    return unembed(model, h).float()
