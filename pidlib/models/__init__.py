"""One adapter interface over Hugging Face vision-language model families.

``load_adapter(model_id_or_path, device=..., dtype=..., trust_remote_code=False)`` resolves
the family from the config class (``AutoConfig``) and loads model + processor with
``from_pretrained``; ``adapter_for(model, processor)`` wraps an already loaded model.

Supported config classes (each tested on a tiny random-init model, see
``tests/test_models_families.py``): ``LlavaConfig`` (LLaVA-1.5, the classroom zoo),
``LlavaNextConfig`` (llava-v1.6, AnyRes), ``LlavaOnevisionConfig``, ``Qwen2VLConfig``,
``Qwen2_5_VLConfig``, ``Qwen3VLConfig`` (DeepStack), ``InternVLConfig`` (``-hf``
checkpoints), ``Gemma3Config``, ``Idefics3Config`` / ``SmolVLMConfig``, ``PaliGemmaConfig``,
``FuyuConfig``, ``MllamaConfig`` (Llama-3.2-Vision), ``InstructBlipConfig`` (decoder-only
language models). Refused with a reason: Cambrian (not part of transformers). Each adapter
class registers itself (:func:`register_adapter`); ``load_adapter(..., device_map="auto")``
loads a model larger than one GPU with accelerate.
"""
from pidlib.models.base import Adapter, AdapterError, NonFiniteError, Prepared  # noqa: F401
from pidlib.models.registration import (  # noqa: F401
    FAMILIES, UNSUPPORTED, CAMBRIAN_MESSAGE, register_adapter, refuse, adapter_class_for_config,
)
import pidlib.models.families  # noqa: F401,E402  (the built-in families register themselves)
from pidlib.models.registry import adapter_for, load_adapter, resolve_dtype  # noqa: F401
