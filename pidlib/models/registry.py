"""Resolve a model id or local path to an :class:`~pidlib.models.base.Adapter`.

The family is chosen by the *config class* (``AutoConfig.from_pretrained``), so any
checkpoint of a supported family -- a hub id, or a directory written by
``save_pretrained`` (model + processor), like the classroom zoo's -- works without code.
``trust_remote_code`` is passed to transformers only when the caller asks for it.
"""
from __future__ import annotations

import torch

from pidlib.models.base import Adapter, AdapterError
from pidlib.models.families import FAMILIES, adapter_class_for_config

__all__ = ["load_adapter", "adapter_for", "resolve_dtype"]

_DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16,
           "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}


def resolve_dtype(dtype, device: str) -> torch.dtype:
    """``"auto"`` -> bfloat16 on CUDA, float32 elsewhere; names or torch dtypes accepted."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype in (None, "auto"):
        return torch.bfloat16 if str(device).startswith("cuda") else torch.float32
    try:
        return _DTYPES[str(dtype).lower()]
    except KeyError:
        raise ValueError(f"unknown dtype {dtype!r}; use one of {sorted(_DTYPES)} or 'auto'") from None


def adapter_for(model, processor=None, tokenizer=None, *, name: str | None = None) -> Adapter:
    """Wrap an already loaded model (and processor) in the adapter of its family."""
    cls = adapter_class_for_config(model.config)
    return cls(model, processor, tokenizer, name=name)


def load_adapter(model_id_or_path: str, device: str = "cpu", dtype="auto",
                 trust_remote_code: bool = False) -> Adapter:
    """Load model + processor with ``from_pretrained`` and return its adapter.

    Parameters
    ----------
    model_id_or_path : str
        Hugging Face hub id or a local directory.
    device : str
        ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...
    dtype : str or torch.dtype
        ``"auto"`` (bf16 on CUDA, fp32 on CPU), ``"bf16"``, ``"fp16"``, ``"fp32"``.
    trust_remote_code : bool
        Forwarded to transformers; off unless the user passes it.

    Raises
    ------
    AdapterError
        For an unsupported family (Cambrian: not in transformers), with the reason.
    """
    import transformers
    from transformers import AutoConfig, AutoProcessor

    config = AutoConfig.from_pretrained(model_id_or_path, trust_remote_code=trust_remote_code)
    cls = adapter_class_for_config(config)
    model_cls = getattr(transformers, FAMILIES[type(config).__name__][1])
    model = model_cls.from_pretrained(model_id_or_path, dtype=resolve_dtype(dtype, device),
                                      trust_remote_code=trust_remote_code)
    model.to(device)
    try:
        processor = AutoProcessor.from_pretrained(model_id_or_path, trust_remote_code=trust_remote_code)
    except Exception as e:  # noqa: BLE001 - say which part failed
        raise AdapterError(f"could not load the processor of {model_id_or_path}: {e}") from e
    return cls(model, processor, name=str(model_id_or_path))
