"""One adapter interface over Hugging Face vision-language model families.

``load_adapter(model_id_or_path, device=..., dtype=..., trust_remote_code=False)`` resolves
the family by config class; ``adapter_for(model, processor)`` wraps a loaded model.
"""
from pidlib.models.base import Adapter, AdapterError, Prepared  # noqa: F401
from pidlib.models.families import FAMILIES, UNSUPPORTED, CAMBRIAN_MESSAGE  # noqa: F401
from pidlib.models.registry import adapter_for, load_adapter, resolve_dtype  # noqa: F401
