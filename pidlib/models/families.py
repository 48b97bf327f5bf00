"""Family-specific hooks. Each class overrides only what differs from :class:`Adapter`.

Tested on tiny random-init models (tests/test_models_*.py): Llava, Qwen2-VL, Qwen2.5-VL,
Gemma3, InternVL, LlavaOnevision, Idefics3, PaliGemma. Mllama, InstructBLIP and Fuyu are
recognized but refused with an explanation (see :data:`UNSUPPORTED`).
"""
from __future__ import annotations

import torch

from pidlib.models.base import Adapter, AdapterError


class LlavaAdapter(Adapter):
    """LLaVA-1.5 and every ``LlavaForConditionalGeneration`` (the classroom zoo too)."""

    family = "llava"


class LlavaOnevisionAdapter(Adapter):
    """LLaVA-OneVision: anyres tiles; the token count (incl. ``image_newline``) comes from
    the features, which the processor already expanded to."""

    family = "llava_onevision"
    vision_keys = ("pixel_values", "image_sizes", "batch_num_images")


class InternVLAdapter(Adapter):
    """InternVL ``-hf`` checkpoints (tiles stacked on dim 0)."""

    family = "internvl"


class Idefics3Adapter(Adapter):
    """Idefics3 / SmolVLM (pixel values [B, n_img, 3, H, W])."""

    family = "idefics3"
    vision_keys = ("pixel_values", "pixel_attention_mask")


class Qwen2VLAdapter(Adapter):
    """Qwen2-VL and Qwen2.5-VL: 3-D M-RoPE position ids.

    With ``inputs_embeds`` the model cannot infer M-RoPE positions itself (Qwen2-VL raises,
    Qwen2.5-VL silently falls back to 1-D, and ``rope_deltas`` is stateful across calls), so
    every forward gets ``get_rope_index(ids, mm_token_type_ids, image_grid_thw, mask)``.
    Noised rows keep the positions of the tokens they replace.
    """

    family = "qwen2_vl"
    vision_keys = ("pixel_values", "image_grid_thw")

    def position_ids(self, input_ids, attention_mask, row_vision):
        grids = [v["image_grid_thw"].reshape(-1, 3) for v in row_vision]
        grid = torch.cat(grids, 0).to(input_ids.device)
        mm = self.image_mask(input_ids).int()
        pos, _ = self.model.model.get_rope_index(input_ids, mm_token_type_ids=mm, image_grid_thw=grid,
                                                 attention_mask=attention_mask)
        return pos


class Gemma3Adapter(Adapter):
    """Gemma3: ``token_type_ids`` (1 on image tokens) give the image block bidirectional
    attention; embeddings are scaled by sqrt(d) inside ``get_input_embeddings()``."""

    family = "gemma3"

    def row_inputs(self, input_ids, attention_mask):
        return {"token_type_ids": (self.image_mask(input_ids) & attention_mask.bool()).long()}


class PaliGemmaAdapter(Adapter):
    """PaliGemma: 1-indexed positions; the prompt (image + text prefix) attends
    bidirectionally, signalled by ``token_type_ids == 0`` on the prefix."""

    family = "paligemma"
    position_offset = 1

    def build_prompt(self, body: str) -> str:
        # PaliGemma has no chat template; its processor prepends the image tokens and BOS
        # and appends "\n" to the prefix.
        return body + "\nAnswer:"

    def row_inputs(self, input_ids, attention_mask):
        return {"token_type_ids": torch.zeros_like(input_ids)}


#: config class name -> (adapter class, model class name in transformers)
FAMILIES = {
    "LlavaConfig": (LlavaAdapter, "LlavaForConditionalGeneration"),
    "LlavaOnevisionConfig": (LlavaOnevisionAdapter, "LlavaOnevisionForConditionalGeneration"),
    "Qwen2VLConfig": (Qwen2VLAdapter, "Qwen2VLForConditionalGeneration"),
    "Qwen2_5_VLConfig": (Qwen2VLAdapter, "Qwen2_5_VLForConditionalGeneration"),
    "InternVLConfig": (InternVLAdapter, "InternVLForConditionalGeneration"),
    "Gemma3Config": (Gemma3Adapter, "Gemma3ForConditionalGeneration"),
    "Idefics3Config": (Idefics3Adapter, "Idefics3ForConditionalGeneration"),
    "SmolVLMConfig": (Idefics3Adapter, "SmolVLMForConditionalGeneration"),
    "PaliGemmaConfig": (PaliGemmaAdapter, "PaliGemmaForConditionalGeneration"),
}

#: config class name -> why it is not supported (yet)
UNSUPPORTED = {
    "MllamaConfig": "Llama-3.2-Vision (Mllama) has no image tokens in the sequence (images enter "
                    "through cross-attention states); its probes are not implemented in this version.",
    "InstructBlipConfig": "InstructBLIP's Q-Former also reads the question; its probes are not "
                          "implemented in this version.",
    "FuyuConfig": "Fuyu (patch embeddings interleaved with |NEWLINE| tokens) is not implemented "
                  "in this version.",
    "Qwen3VLConfig": "Qwen3-VL adds DeepStack features inside the language model; not implemented.",
}

CAMBRIAN_MESSAGE = ("Cambrian is not part of transformers (it needs the authors' own code); "
                    "pidlib supports only model classes native to transformers.")


def adapter_class_for_config(config) -> type[Adapter]:
    name = type(config).__name__
    if name in FAMILIES:
        return FAMILIES[name][0]
    if name in UNSUPPORTED:
        raise AdapterError(UNSUPPORTED[name])
    mt = str(getattr(config, "model_type", "")).lower()
    if "cambrian" in mt or "cambrian" in name.lower():
        raise AdapterError(CAMBRIAN_MESSAGE)
    raise AdapterError(f"unsupported model family: config class {name} (model_type {mt!r}); "
                       f"supported: {', '.join(sorted(FAMILIES))}")
