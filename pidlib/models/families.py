"""Family-specific hooks. Each class overrides only what differs from :class:`Adapter` and
registers itself for its config classes (:func:`~pidlib.models.registration.register_adapter`).

Tested on tiny random-init models (tests/test_models_*.py): Llava, LLaVA-NeXT, Qwen2-VL,
Qwen2.5-VL, Qwen3-VL, Gemma3, InternVL, LlavaOnevision, Idefics3, PaliGemma, Fuyu, Mllama,
InstructBLIP (decoder-only).

Adding a family: subclass :class:`Adapter`, override the hooks that differ, decorate it
with ``@register_adapter("<ConfigClass>", model_class="<ModelClass>")``, and add a tiny
builder to :mod:`pidlib.models.tiny` and a case to ``tests/test_models_families.py``.
"""
from __future__ import annotations

import torch

from pidlib.models.base import Adapter, AdapterError
from pidlib.models.registration import CAMBRIAN_MESSAGE, FAMILIES, UNSUPPORTED  # noqa: F401
from pidlib.models.registration import adapter_class_for_config, register_adapter  # noqa: F401


@register_adapter("LlavaConfig", model_class="LlavaForConditionalGeneration")
class LlavaAdapter(Adapter):
    """LLaVA-1.5 and every ``LlavaForConditionalGeneration`` (the classroom zoo too)."""

    family = "llava"
    batch_vision = True   # fixed resolution, one image per sample: one vision call per batch


@register_adapter("LlavaOnevisionConfig", model_class="LlavaOnevisionForConditionalGeneration")
class LlavaOnevisionAdapter(Adapter):
    """LLaVA-OneVision: anyres tiles; the token count (incl. ``image_newline``) comes from
    the features, which the processor already expanded to."""

    family = "llava_onevision"
    vision_keys = ("pixel_values", "image_sizes", "batch_num_images")


@register_adapter("InternVLConfig", model_class="InternVLForConditionalGeneration")
class InternVLAdapter(Adapter):
    """InternVL ``-hf`` checkpoints (tiles stacked on dim 0)."""

    family = "internvl"


@register_adapter("Idefics3Config", model_class="Idefics3ForConditionalGeneration")
@register_adapter("SmolVLMConfig", model_class="SmolVLMForConditionalGeneration")
class Idefics3Adapter(Adapter):
    """Idefics3 / SmolVLM (pixel values [B, n_img, 3, H, W])."""

    family = "idefics3"
    vision_keys = ("pixel_values", "pixel_attention_mask")


@register_adapter("Qwen2VLConfig", model_class="Qwen2VLForConditionalGeneration")
@register_adapter("Qwen2_5_VLConfig", model_class="Qwen2_5_VLForConditionalGeneration")
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


@register_adapter("Gemma3Config", model_class="Gemma3ForConditionalGeneration")
class Gemma3Adapter(Adapter):
    """Gemma3: ``token_type_ids`` (1 on image tokens) give the image block bidirectional
    attention; embeddings are scaled by sqrt(d) inside ``get_input_embeddings()``."""

    family = "gemma3"
    shares_prefix = False

    def row_inputs(self, input_ids, attention_mask, row_vision=None):
        return {"token_type_ids": (self.image_mask(input_ids) & attention_mask.bool()).long()}


@register_adapter("PaliGemmaConfig", model_class="PaliGemmaForConditionalGeneration")
class PaliGemmaAdapter(Adapter):
    """PaliGemma: 1-indexed positions; the prompt (image + text prefix) attends
    bidirectionally, signalled by ``token_type_ids == 0`` on the prefix."""

    family = "paligemma"
    shares_prefix = False
    position_offset = 1
    processor_suffix = "\n"

    def build_prompt(self, body: str) -> str:
        # PaliGemma has no chat template; its processor prepends the image tokens and BOS
        # and appends "\n" to the prefix.
        return body + "\nAnswer:"

    def row_inputs(self, input_ids, attention_mask, row_vision=None):
        return {"token_type_ids": torch.zeros_like(input_ids)}


@register_adapter("MllamaConfig", model_class="MllamaForConditionalGeneration")
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
    shares_prefix = False

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


@register_adapter("InstructBlipConfig", model_class="InstructBlipForConditionalGeneration")
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

    def __init__(self, model, processor=None, tokenizer=None, *, name=None, config=None):
        cfg = model.config if model is not None else config
        if not getattr(cfg, "use_decoder_only_language_model", True):
            raise AdapterError("InstructBLIP with an encoder-decoder language model (Flan-T5) is not "
                               "supported: the probes need a decoder-only language model")
        super().__init__(model, processor, tokenizer, name=name, config=config)

    def build_prompt(self, body: str) -> str:
        # the processor prepends the query-token placeholders itself
        return body + "\nAnswer:"

    def language_forward(self, **kwargs):
        return self.model.language_model(**kwargs)


@register_adapter("FuyuConfig", model_class="FuyuForCausalLM")
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


    def prepare(self, sample):
        """As :meth:`Adapter.prepare`, but first checks the tokenizer against a fault of
        transformers' ``FuyuProcessor`` (5.x): it tokenizes the image placeholder
        (``|SPEAKER|`` x patches, ``|NEWLINE|`` per row, ``<s>``) and unconditionally drops
        the first token, assuming the tokenizer puts a ``"▁"`` piece before it. A tokenizer
        that does not (a word-level or BPE tokenizer built by the user, and every
        ``tokenizers`` tokenizer whose image tokens are special tokens) loses one image
        token, and the processor then stops with "Mismatch in `image` token count". The
        adapter cannot repair the processor's output (the patch tensor and the ids no longer
        agree), so it refuses with this reason instead of letting the processor fail."""
        proc, tok = self.processor, self.tokenizer
        if proc is not None and tok is not None and getattr(proc, "image_token", None):
            probe = tok(proc.image_token * 2 + "<s>", add_special_tokens=False)["input_ids"]
            if probe and probe[0] == getattr(proc, "image_token_id", None):
                raise AdapterError(
                    "Fuyu: transformers' FuyuProcessor drops the first token of the tokenized image placeholder, "
                    "expecting the '▁' piece that adept/fuyu-8b's tokenizer puts there; this tokenizer puts the "
                    f"image token {proc.image_token!r} first, so one image token would be lost (the processor "
                    "raises 'Mismatch in `image` token count'). This is a fault of the processor, not of the model "
                    "or pidlib: use the checkpoint's own tokenizer, whose first piece is '▁'.")
        return super().prepare(sample)


@register_adapter("Qwen3VLConfig", model_class="Qwen3VLForConditionalGeneration")
class Qwen3VLAdapter(Qwen2VLAdapter):
    """Qwen3-VL: M-RoPE positions as Qwen2-VL, plus **DeepStack**: features from
    intermediate vision layers are *added* to the hidden states of the first decoder
    layers at the image positions (one feature set per injected layer).

    The DeepStack features are extra image-side inputs (:meth:`vision_features`):

    - full and visual-only rows (image kept) receive the image's DeepStack features;
    - the language-only row (image replaced by calibrated noise) receives calibrated noise
      in place of each DeepStack level too (per-level noise statistics over the fit rows),
      so no image information reaches the language model through them.

    The forward calls the text model with ``visual_pos_masks`` and
    ``deepstack_visual_embeds`` (the top-level forward recomputes them only from pixel
    values) and then the head on the last positions. No prefix sharing (the DeepStack
    inputs are per row).
    """

    family = "qwen3_vl"
    shares_prefix = False

    @torch.no_grad()
    def vision_features(self, prepared):
        kw = {k: (v.to(self.device) if torch.is_tensor(v) else v) for k, v in prepared.vision_inputs.items()}
        out = self.model.model.get_image_features(kw["pixel_values"], kw["image_grid_thw"])
        feats = torch.cat([f.reshape(-1, f.shape[-1]) for f in out.pooler_output], 0).to(self.device)
        extras = {f"deepstack_{i}": torch.cat([f.reshape(-1, f.shape[-1]) for f in level], 0).to(self.device)
                  for i, level in enumerate(out.deepstack_features)}
        return feats, extras

    def image_features(self, prepared):
        return self.vision_features(prepared)[0]

    def row_inputs(self, input_ids, attention_mask, row_vision=None):
        mask = self.image_mask(input_ids) & attention_mask.bool()
        levels = sorted((row_vision[0].get("extras") or {}), key=lambda k: int(k.rsplit("_", 1)[1]))
        if not levels:
            return {}
        embeds = []
        for name in levels:
            parts = []
            for r, v in enumerate(row_vision):
                x = (v.get("extras") or {}).get(name)
                if x is None or x.shape[0] != int(mask[r].sum()):
                    raise AdapterError(f"Qwen3-VL: row {r} has no {name} features for its image tokens")
                parts.append(x)
            embeds.append(torch.cat(parts, 0).to(self.device, self.dtype))
        return {"visual_pos_masks": mask, "deepstack_visual_embeds": embeds}

    def language_forward(self, *, inputs_embeds, attention_mask=None, position_ids=None, logits_to_keep=1,
                         use_cache=False, past_key_values=None, visual_pos_masks=None,
                         deepstack_visual_embeds=None, **kw):
        from transformers.modeling_outputs import CausalLMOutputWithPast

        out = self.model.model.language_model(inputs_embeds=inputs_embeds, attention_mask=attention_mask,
                                              position_ids=position_ids, past_key_values=past_key_values,
                                              use_cache=use_cache, visual_pos_masks=visual_pos_masks,
                                              deepstack_visual_embeds=deepstack_visual_embeds, **kw)
        h = out.last_hidden_state
        keep = int(logits_to_keep) if logits_to_keep else h.shape[1]
        return CausalLMOutputWithPast(logits=self.model.lm_head(h[:, -keep:]), past_key_values=out.past_key_values)


@register_adapter("LlavaNextConfig", model_class="LlavaNextForConditionalGeneration")
class LlavaNextAdapter(Adapter):
    """LLaVA-NeXT (llava-v1.6): AnyRes -- the image is resized to the best grid pinpoint and
    cut into tiles plus a base view; the packed features (unpadded, with ``image_newline``
    vectors at the end of each row) are what the processor expanded the ``<image>`` token
    to. ``get_image_features(pixel_values, image_sizes)`` returns them per image."""

    family = "llava_next"
    vision_keys = ("pixel_values", "image_sizes")
