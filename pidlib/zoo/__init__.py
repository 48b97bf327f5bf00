"""The classroom zoo: tiny LLaVA-architecture models trained here, offline, on the
classroom world (:mod:`pidlib.world`).

Every zoo model is a real ``transformers.LlavaForConditionalGeneration`` (CLIP vision
tower, LLaVA MLP projector, Llama language model) with a ``LlavaProcessor`` (word-level
tokenizer built offline, ``CLIPImageProcessorPil``, LLaVA-1.5-style chat template), saved
with ``save_pretrained`` (safetensors). The probe pipeline loads it by path like any
Hugging Face model (``pidlib run --model data/zoo/fusion-small-s0 ...``); there is no
zoo-specific path.

Build::

    python -m pidlib.zoo build --config smoke           # one small model, data/zoo/smoke
    python -m pidlib.zoo build --config class --jobs 2  # 8 small models, data/zoo/class
    python -m pidlib.zoo build --config full --jobs 2   # the book's zoo (24 members), data/zoo
    python -m pidlib.zoo list --out data/zoo

Modules: :mod:`~pidlib.zoo.vocab` (tokenizer), :mod:`~pidlib.zoo.model` (configs,
processor, the prompt contract), :mod:`~pidlib.zoo.train` (the four stages),
:mod:`~pidlib.zoo.config` (families, scales, seeds, schedules), :mod:`~pidlib.zoo.build`
(resumable, parallel builder, provenance, manifest).

Prompt contract with the adapter: see :mod:`pidlib.zoo.model` -- stage 2 trains on
``processor.apply_chat_template`` of one user turn ``[image, format_question(sample)]``
with the generation prompt, the answer letter being the next token; this is
:meth:`pidlib.models.base.Adapter.build_prompt`.
"""
from pidlib.zoo.config import CONFIGS, FAMILIES, SCALES, ZooConfig  # noqa: F401
from pidlib.zoo.model import Arch, make_model, make_processor, user_prompt  # noqa: F401
from pidlib.zoo.train import Schedule  # noqa: F401
