"""Tiny LLaVA-architecture models: real ``transformers`` classes, built from configs.

* vision tower: ``CLIPVisionModel`` (``CLIPVisionConfig``, 32-px images);
* projector: LLaVA's two-layer MLP (``LlavaMultiModalProjector``);
* language model: ``LlamaModel`` + ``lm_head`` (``LlamaConfig``);
* processor: ``LlavaProcessor`` = ``CLIPImageProcessorPil`` + the word-level tokenizer of
  :mod:`pidlib.zoo.vocab` + :data:`CHAT_TEMPLATE`.

Prompt construction (the contract with :mod:`pidlib.models`)
------------------------------------------------------------
A multiple-choice sample is shown to a zoo model exactly as the probe adapter builds it
(:meth:`pidlib.models.base.Adapter.build_prompt`): the processor's chat template applied to
one user turn ``[{"type": "image"}, {"type": "text", "text": format_question(sample)}]``
with ``add_generation_prompt=True``, i.e.::

    USER: <image>
    Question: What color is the square?
    Options:
    A. green
    ...
    Answer with the option's letter from the given choices directly. ASSISTANT:

and the answer letter is the next token. The processor expands ``<image>`` to one token per
patch (``(32 / patch_size)**2``; the CLS feature is dropped, strategy ``"default"``).
Training in stage 2 uses the logits at the last prompt position, which is where the
probes read their option scores.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from pidlib.world.scene import IMAGE_SIZE
from pidlib.zoo.vocab import IMAGE, build_tokenizer

#: LLaVA-1.5-style chat template (Vicuna "USER: ... ASSISTANT:").
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}USER: "
    "{% for c in message['content'] %}{% if c['type'] == 'image' %}<image>\n"
    "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %} "
    "{% else %}ASSISTANT: {% for c in message['content'] %}{% if c['type'] == 'text' %}"
    "{{ c['text'] }}{% endif %}{% endfor %}</s>"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)

#: CLIP's normalisation constants (the processor's defaults, spelled out for provenance).
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


@dataclass(frozen=True)
class Arch:
    """Architecture of one zoo model.

    Attributes
    ----------
    hidden : int
        Language-model width (``hidden_size``); the MLP is ``2 * hidden`` wide.
    layers : int
        Decoder layers of the language model.
    heads : int
        Attention heads of the language model.
    vision_hidden, vision_layers, vision_heads : int
        Vision tower (CLIP ViT) width, depth, heads.
    patch_size : int
        ViT patch size in pixels; the visual token budget is ``(32 / patch_size)**2``.
    vision_pos_scale : float
        Multiplier on the initial scale of the vision tower's learned position embeddings
        (CLIP's own initialisation when 1).
    """

    hidden: int = 32
    layers: int = 2
    heads: int = 4
    vision_hidden: int = 32
    vision_layers: int = 1
    vision_heads: int = 2
    patch_size: int = 4
    vision_pos_scale: float = 1.0

    @property
    def n_image_tokens(self) -> int:
        return (IMAGE_SIZE // self.patch_size) ** 2

    def to_dict(self) -> dict:
        return asdict(self)


def make_processor(patch_size: int = 4):
    """The ``LlavaProcessor`` of the zoo (tokenizer, 32-px CLIP image processor, chat template)."""
    from transformers import CLIPImageProcessorPil, LlavaProcessor

    ip = CLIPImageProcessorPil(size={"shortest_edge": IMAGE_SIZE},
                               crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
                               do_center_crop=True, do_resize=True, image_mean=CLIP_MEAN,
                               image_std=CLIP_STD)
    return LlavaProcessor(image_processor=ip, tokenizer=build_tokenizer(), patch_size=patch_size,
                          vision_feature_select_strategy="default", chat_template=CHAT_TEMPLATE,
                          num_additional_image_tokens=1, image_token=IMAGE)


def make_model(arch: Arch, tokenizer, *, seed: int = 0):
    """A randomly initialised ``LlavaForConditionalGeneration`` (float32) for ``arch``."""
    import torch
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

    vocab = len(tokenizer)
    vc = CLIPVisionConfig(hidden_size=arch.vision_hidden, intermediate_size=2 * arch.vision_hidden,
                          num_hidden_layers=arch.vision_layers, num_attention_heads=arch.vision_heads,
                          image_size=IMAGE_SIZE, patch_size=arch.patch_size, projection_dim=arch.vision_hidden)
    tc = LlamaConfig(vocab_size=vocab, hidden_size=arch.hidden, intermediate_size=2 * arch.hidden,
                     num_hidden_layers=arch.layers, num_attention_heads=arch.heads,
                     num_key_value_heads=arch.heads, max_position_embeddings=256,
                     pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                     eos_token_id=tokenizer.eos_token_id, tie_word_embeddings=False)
    cfg = LlavaConfig(vision_config=vc, text_config=tc,
                      image_token_id=tokenizer.convert_tokens_to_ids(IMAGE),
                      vision_feature_layer=-1, vision_feature_select_strategy="default",
                      projector_hidden_act="gelu", tie_word_embeddings=False)
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(cfg).float()
    if arch.vision_pos_scale != 1.0:
        with torch.no_grad():
            model.model.vision_tower.embeddings.position_embedding.weight.mul_(arch.vision_pos_scale)
    return model


def user_prompt(processor, body: str) -> str:
    """The chat prompt for one user turn (image + ``body``), generation prompt added.

    Identical to :meth:`pidlib.models.base.Adapter.build_prompt` for a processor with a
    chat template (checked by ``tests/test_zoo_model.py``).
    """
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": body}]}]
    return processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


def text_prompt(processor, body: str) -> str:
    """The same chat prompt without an image (language-model pretraining)."""
    messages = [{"role": "user", "content": [{"type": "text", "text": body}]}]
    return processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
