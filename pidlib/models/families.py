"""Family-specific hooks. Each class overrides only what differs from :class:`Adapter`.

Tested on tiny random-init models (tests/test_models_*.py): Llava, Qwen2-VL, Qwen2.5-VL,
Gemma3, InternVL, LlavaOnevision, Idefics3, PaliGemma, Fuyu, Mllama, InstructBLIP
(decoder-only). Qwen3-VL is recognized but refused with an explanation (see
:data:`UNSUPPORTED`).
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

    def row_inputs(self, input_ids, attention_mask, row_vision=None):
        return {"token_type_ids": (self.image_mask(input_ids) & attention_mask.bool()).long()}


class PaliGemmaAdapter(Adapter):
    """PaliGemma: 1-indexed positions; the prompt (image + text prefix) attends
    bidirectionally, signalled by ``token_type_ids == 0`` on the prefix."""

    family = "paligemma"
    position_offset = 1
    processor_suffix = "\n"

    def build_prompt(self, body: str) -> str:
        # PaliGemma has no chat template; its processor prepends the image tokens and BOS
        # and appends "\n" to the prefix.
        return body + "\nAnswer:"

    def row_inputs(self, input_ids, attention_mask, row_vision=None):
        return {"token_type_ids": torch.zeros_like(input_ids)}


class MllamaAdapter(Adapter):
    """Llama-3.2-Vision (Mllama): the image enters through cross-attention layers, not as
    tokens. The image features are the projected ``cross_attention_states`` (all tiles x
    patches, padded tiles included, as in the paper's code); X1 is their mean and the
    language-only probe replaces them with noise. The ``<|image|>`` token keeps its text
    embedding; ``cross_attention_mask`` is left-padded with the rows."""

    family = "mllama"
    vision_keys = ("pixel_values", "aspect_ratio_ids", "aspect_ratio_mask", "cross_attention_mask")
    image_in_sequence = False
    vision_inputs_text_free = False

    def image_mask(self, input_ids):
        return torch.zeros_like(input_ids, dtype=torch.bool)

    @torch.no_grad()
    def image_features(self, prepared):
        v = prepared.vision_inputs
        mm = self.model.model
        vo = mm.vision_model(pixel_values=v["pixel_values"].to(self.device, self.dtype),
                             aspect_ratio_ids=v["aspect_ratio_ids"].to(self.device),
                             aspect_ratio_mask=v["aspect_ratio_mask"].to(self.device))
        cs = mm.multi_modal_projector(vo.last_hidden_state)
        return cs.reshape(-1, cs.shape[-1])

    def row_inputs(self, input_ids, attention_mask, row_vision=None):
        R, T = input_ids.shape
        n_patch = self.model.model.vision_model.num_patches
        states = [v["image_states"].reshape(-1, n_patch, v["image_states"].shape[-1]) for v in row_vision]
        masks = [v["cross_attention_mask"].reshape(-1, *v["cross_attention_mask"].shape[-3:])[0]
                 for v in row_vision]
        shapes = {m.shape[1:] for m in masks}
        if len(shapes) != 1 or len({s.shape[0] for s in states}) != 1:
            raise AdapterError("Mllama: samples in one batch must have the same number of images "
                               "and tiles; use --batch-size 1 for mixed inputs")
        cam = torch.zeros((R, T) + tuple(masks[0].shape[1:]), dtype=masks[0].dtype)
        for r, m in enumerate(masks):
            cam[r, T - m.shape[0]:] = m
        return {"cross_attention_states": torch.cat(states, 0).to(self.device, self.dtype),
                "cross_attention_mask": cam.to(self.device)}


class InstructBlipAdapter(Adapter):
    """InstructBLIP (decoder-only language models: Vicuna). The Q-Former reads the image
    *and* the prompt (``qformer_input_ids``), so its query tokens -- the image tokens of the
    language model, X1 -- depend on the question. The probes therefore mean: visual-only =
    the language model's question tokens replaced by noise while the query tokens still
    carry what the Q-Former took from the question; language-only = the query tokens
    replaced by noise (image *and* the Q-Former's reading of the question removed). The
    forward calls ``model.language_model`` with ``inputs_embeds`` (the top-level forward
    requires pixel values)."""

    family = "instructblip"
    vision_keys = ("pixel_values", "qformer_input_ids", "qformer_attention_mask")
    vision_inputs_text_free = False

    def __init__(self, model, processor=None, tokenizer=None, *, name=None):
        if not getattr(model.config, "use_decoder_only_language_model", True):
            raise AdapterError("InstructBLIP with an encoder-decoder language model (Flan-T5) is not "
                               "supported: the probes need a decoder-only language model")
        super().__init__(model, processor, tokenizer, name=name)

    def build_prompt(self, body: str) -> str:
        # the processor prepends the query-token placeholders itself
        return body + "\nAnswer:"

    def language_forward(self, **kwargs):
        return self.model.language_model(**kwargs)


class FuyuAdapter(Adapter):
    """Fuyu: raw patch embeddings (a linear layer) are the image tokens; ``|NEWLINE|``
    tokens between patch rows keep their text embeddings (not part of the image span).
    The processor puts the image before the text; no chat template."""

    family = "fuyu"
    vision_keys = ("pixel_values", "image_patches")

    def build_prompt(self, body: str) -> str:
        return body + "\nAnswer:"

    @torch.no_grad()
    def image_features(self, prepared):
        v = dict(prepared.vision_inputs)
        pv = v.get("pixel_values", v.get("image_patches"))
        if isinstance(pv, (list, tuple)):
            pv = torch.cat([torch.as_tensor(x).reshape(-1, x.shape[-1]) for x in pv], 0)
        pv = pv.to(self.device, self.dtype)
        out = self.model.model.get_image_features(pv)
        return out.last_hidden_state.reshape(-1, out.last_hidden_state.shape[-1])


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
    "FuyuConfig": (FuyuAdapter, "FuyuForCausalLM"),
    "MllamaConfig": (MllamaAdapter, "MllamaForConditionalGeneration"),
    "InstructBlipConfig": (InstructBlipAdapter, "InstructBlipForConditionalGeneration"),
}

#: config class name -> why it is not supported (yet)
UNSUPPORTED = {
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
