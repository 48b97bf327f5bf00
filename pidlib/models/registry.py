"""Resolve a model id or local path to an :class:`~pidlib.models.base.Adapter`.

The family is chosen by the *config class* (``AutoConfig.from_pretrained``), so any
checkpoint of a supported family -- a hub id, or a directory written by
``save_pretrained`` (model + processor), like the classroom zoo's -- works without code.
``trust_remote_code`` is passed to transformers only when the caller asks for it.
"""
from __future__ import annotations

import torch

import pidlib.models.families  # noqa: F401  (registers the built-in families)
from pidlib.models.base import Adapter, AdapterError
from pidlib.models.registration import adapter_class_for_config, model_class_name

__all__ = ["load_adapter", "adapter_for", "resolve_dtype", "TORCHVISION_FAMILIES", "torchvision_message"]

#: Families whose transformers processors (image / video processors) need torchvision.
TORCHVISION_FAMILIES = ("Qwen2-VL", "Qwen2.5-VL", "LLaVA-OneVision", "InternVL", "SmolVLM")
_TORCHVISION_CONFIGS = ("Qwen2VLConfig", "Qwen2_5_VLConfig", "LlavaOnevisionConfig", "InternVLConfig",
                        "SmolVLMConfig", "Idefics3Config")


def _torchvision_ok() -> bool:
    try:
        import torchvision  # noqa: F401
    except Exception:  # noqa: BLE001 - ImportError, or a CUDA build that fails with the CPU torch
        return False
    return True


def torchvision_message(model: str, err: Exception | None = None) -> str:
    """The error text for a processor that needs torchvision (all five families named)."""
    import torch as _torch

    why = f" ({type(err).__name__}: {str(err).splitlines()[0][:200]})" if err is not None else ""
    return (f"could not load the processor of {model}: it needs torchvision{why}. The processors of "
            f"{', '.join(TORCHVISION_FAMILIES[:-1])} and {TORCHVISION_FAMILIES[-1]} need torchvision; install "
            f"the torchvision build that matches your torch {_torch.__version__.split('+')[0]} (CPU or CUDA, "
            "from the same package index as torch). A torchvision built for another torch or for CUDA does not "
            "import with a CPU-only torch ('operator torchvision::nms does not exist').")

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

    try:
        config = AutoConfig.from_pretrained(model_id_or_path, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as e:
        raise AdapterError(f"model {model_id_or_path!r}: cannot read its config ({type(e).__name__}: "
                           f"{str(e).splitlines()[0][:300]})") from None
    cls = adapter_class_for_config(config)
    model_cls = getattr(transformers, FAMILIES[type(config).__name__][1])
    try:
        model = model_cls.from_pretrained(model_id_or_path, dtype=resolve_dtype(dtype, device),
                                          trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as e:
        raise AdapterError(f"model {model_id_or_path!r}: cannot load its weights ({type(e).__name__}: "
                           f"{str(e).splitlines()[0][:300]})") from None
    model.to(device)
    try:
        processor = AutoProcessor.from_pretrained(model_id_or_path, trust_remote_code=trust_remote_code)
    except Exception as e:  # noqa: BLE001 - say which part failed
        if "torchvision" in str(e).lower() or (type(config).__name__ in _TORCHVISION_CONFIGS
                                               and not _torchvision_ok()):
            raise AdapterError(torchvision_message(model_id_or_path, e)) from None
        raise AdapterError(f"could not load the processor of {model_id_or_path}: {e}") from e
    return cls(model, processor, name=str(model_id_or_path))
