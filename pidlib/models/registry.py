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

__all__ = ["load_adapter", "adapter_for", "resolve_dtype", "parse_device_map", "parse_max_memory",
           "TORCHVISION_FAMILIES", "torchvision_message", "DEVICE_MAP_STRATEGIES"]

#: accelerate's named placement strategies (``device_map="auto"`` etc.)
DEVICE_MAP_STRATEGIES = ("auto", "balanced", "balanced_low_0", "sequential")

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


def parse_device_map(value):
    """A ``device_map`` from the CLI or the library: ``None``, a strategy name
    (:data:`DEVICE_MAP_STRATEGIES`), a dict ``{module name: device}``, or its JSON text
    (``'{"model.language_model.layers.0": 0, "lm_head": "cpu"}'``).

    Raises
    ------
    ValueError
        Naming the problem (unknown strategy, bad JSON, a value that is not a device).
    """
    import json

    if value is None or value == "":
        return None
    if isinstance(value, str):
        v = value.strip()
        if v in DEVICE_MAP_STRATEGIES:
            return v
        if not v.startswith("{"):
            raise ValueError(f"device map {value!r}: use one of {', '.join(DEVICE_MAP_STRATEGIES)} or a JSON object "
                             "mapping module names to devices")
        try:
            value = json.loads(v)
        except json.JSONDecodeError as e:
            raise ValueError(f"device map: invalid JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(value, dict) or not value:
        raise ValueError(f"device map must be a strategy name or a non-empty mapping, got {value!r}")
    out = {}
    for k, d in value.items():
        if isinstance(d, bool) or not isinstance(d, (int, str)):
            raise ValueError(f"device map: module {k!r} -> {d!r} is not a device (an integer GPU index, 'cpu', "
                             "'disk', 'cuda:1', ...)")
        if isinstance(d, str) and d not in ("cpu", "disk", "meta"):
            try:
                torch.device(d)
            except (RuntimeError, TypeError):
                raise ValueError(f"device map: module {k!r} -> {d!r} is not a device") from None
        out[str(k)] = d
    return out


def parse_max_memory(value):
    """``max_memory`` for accelerate: ``None``, a dict, its JSON text, or
    ``"0=70GiB,1=70GiB,cpu=200GiB"``. GPU indices become integers."""
    import json

    if value is None or value == "":
        return None
    if isinstance(value, str):
        v = value.strip()
        if v.startswith("{"):
            try:
                value = json.loads(v)
            except json.JSONDecodeError as e:
                raise ValueError(f"max memory: invalid JSON ({e.msg} at column {e.colno})") from None
        else:
            value = {}
            for part in v.split(","):
                dev, sep, amount = part.partition("=")
                if not sep or not dev.strip() or not amount.strip():
                    raise ValueError(f"max memory {v!r}: expected DEVICE=AMOUNT[,DEVICE=AMOUNT...], e.g. "
                                     "0=70GiB,1=70GiB,cpu=200GiB")
                value[dev.strip()] = amount.strip()
    if not isinstance(value, dict) or not value:
        raise ValueError(f"max memory must be a mapping of devices to amounts, got {value!r}")
    out = {}
    for k, amount in value.items():
        key = int(k) if isinstance(k, int) or str(k).isdigit() else str(k)
        if isinstance(key, str) and key not in ("cpu", "disk", "mps") and not key.startswith(("cuda", "xpu", "npu")):
            raise ValueError(f"max memory: {k!r} is not a device (a GPU index, 'cpu', ...)")
        out[key] = amount
    return out


def adapter_for(model, processor=None, tokenizer=None, *, name: str | None = None) -> Adapter:
    """Wrap an already loaded model (and processor) in the adapter of its family."""
    cls = adapter_class_for_config(model.config)
    return cls(model, processor, tokenizer, name=name)


def load_adapter(model_id_or_path: str, device: str = "cpu", dtype="auto",
                 trust_remote_code: bool = False, *, device_map=None, max_memory=None,
                 offload_folder=None) -> Adapter:
    """Load model + processor with ``from_pretrained`` and return its adapter.

    Parameters
    ----------
    model_id_or_path : str
        Hugging Face hub id or a local directory.
    device : str
        ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ... (the whole model goes there). With a
        ``device_map``, the device type the map is expected to put the input embedding on.
    dtype : str or torch.dtype
        ``"auto"`` (bf16 on CUDA, fp32 on CPU), ``"bf16"``, ``"fp16"``, ``"fp32"``.
    trust_remote_code : bool
        Forwarded to transformers; off unless the user passes it.
    device_map : str or dict, optional
        Big-model inference with accelerate: ``"auto"``, ``"balanced"``,
        ``"balanced_low_0"``, ``"sequential"`` or ``{module name: device}`` (devices: GPU
        index, ``"cpu"``, ``"disk"``); see :func:`parse_device_map`. Default ``None``: the
        whole model on ``device``. Layers may then sit on different devices (or be
        offloaded); inputs go to the input embedding's device and accelerate's hooks move
        activations, so the numbers are those of the single-device model.
    max_memory : dict or str, optional
        Per-device memory budget for the placement strategies (``{0: "70GiB", "cpu":
        "200GiB"}`` or ``"0=70GiB,cpu=200GiB"``).
    offload_folder : str, optional
        Where weights mapped to ``"disk"`` are offloaded (default: a temporary folder).

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
    model_cls = getattr(transformers, model_class_name(config))
    kw = {}
    try:
        dm = parse_device_map(device_map)
        mm = parse_max_memory(max_memory)
    except ValueError as e:
        raise AdapterError(str(e)) from None
    if dm is not None:
        try:
            import accelerate  # noqa: F401
        except ImportError:
            raise AdapterError("a device map needs accelerate (pip install accelerate)") from None
        kw["device_map"] = dm
        if mm is not None:
            kw["max_memory"] = mm
        if offload_folder is None and (isinstance(dm, str) or "disk" in dm.values()):
            import tempfile

            offload_folder = tempfile.mkdtemp(prefix="pidlib-offload-")
        if offload_folder is not None:
            kw["offload_folder"] = str(offload_folder)
    elif mm is not None:
        raise AdapterError("max_memory needs a device map (e.g. device_map='auto')")
    try:
        model = model_cls.from_pretrained(model_id_or_path, dtype=resolve_dtype(dtype, device),
                                          trust_remote_code=trust_remote_code, **kw)
    except (OSError, ValueError, KeyError) as e:
        raise AdapterError(f"model {model_id_or_path!r}: cannot load its weights ({type(e).__name__}: "
                           f"{str(e).splitlines()[0][:300]})") from None
    if dm is None:
        model.to(device)
    try:
        processor = AutoProcessor.from_pretrained(model_id_or_path, trust_remote_code=trust_remote_code)
    except Exception as e:  # noqa: BLE001 - say which part failed
        if "torchvision" in str(e).lower() or (type(config).__name__ in _TORCHVISION_CONFIGS
                                               and not _torchvision_ok()):
            raise AdapterError(torchvision_message(model_id_or_path, e)) from None
        raise AdapterError(f"could not load the processor of {model_id_or_path}: {e}") from e
    return cls(model, processor, name=str(model_id_or_path))
