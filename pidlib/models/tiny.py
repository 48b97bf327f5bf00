"""Tiny random-init models and offline tokenizers/processors, built from configs.

Used by the tests and by ``benchmarks/pipeline.py --tiny``; nothing is downloaded. The
word-level tokenizer covers the words of :func:`pidlib.data.schema.format_question`
prompts (anything else maps to ``[UNK]``).
"""
from __future__ import annotations

import torch

__all__ = ["word_tokenizer", "tiny_llava", "tiny_qwen2_vl", "tiny_qwen3_vl", "tiny_gemma3", "tiny_llava_next",
           "CHAT_TEMPLATE", "IMAGE_TOKEN"]

IMAGE_TOKEN = "<image>"

#: A LLaVA-1.5-style template: "USER: <image>\n{body} ASSISTANT:"
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}USER: "
    "{% for c in message['content'] %}{% if c['type'] == 'image' %}<image>\n"
    "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %} "
    "{% else %}ASSISTANT: {% for c in message['content'] %}{{ c['text'] }}{% endfor %}</s>"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)

_WORDS = ("Hint Question Options Answer with the option ' s letter from given choices directly "
          "USER ASSISTANT What is in image color shape of object red green blue yellow circle "
          "square triangle yes no there a an on left right how many one two three four five "
          "A B C D E F G H : . , ? ! \n").split() + ["\n"]


def word_tokenizer(extra_words=(), specials=(IMAGE_TOKEN,), vocab_size: int | None = None):
    """A fast word-level tokenizer (whitespace + punctuation split), no download.

    Ids: 0 ``<pad>``, 1 ``<s>``, 2 ``</s>``, 3 ``[UNK]``, then words, then ``specials``.
    ``vocab_size`` pads the vocabulary with filler words so special ids land at the end.
    """
    from tokenizers import Regex, Tokenizer, pre_tokenizers, processors
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<s>": 1, "</s>": 2, "[UNK]": 3}
    for w in list(_WORDS) + list(extra_words):
        vocab.setdefault(w, len(vocab))
    if vocab_size is not None:
        i = 0
        while len(vocab) < vocab_size - len(specials):
            vocab.setdefault(f"w{i}", len(vocab))
            i += 1
    for s in specials:
        vocab.setdefault(s, len(vocab))
    tk = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    tk.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"[ \t]+"), behavior="removed"),
        pre_tokenizers.Split(Regex(r"\w+|[^\w\s]|\n"), behavior="isolated")])
    tk.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                      special_tokens=[("<s>", 1)])
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="<s>", eos_token="</s>",
                                  pad_token="<pad>", unk_token="[UNK]")
    tok.add_special_tokens({"additional_special_tokens": list(specials)})
    return tok


def _text(vocab, **kw):
    base = dict(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                initializer_range=0.2)
    base.update(kw)
    return base


def tiny_llava(seed: int = 0, image_size: int = 16, patch_size: int = 4, with_processor: bool = True,
               text_layers: int = 2, hidden: int = 32):
    """A tiny ``LlavaForConditionalGeneration`` + ``LlavaProcessor`` (chat template, word-level
    tokenizer): (image_size/patch_size)^2 image tokens per image."""
    from transformers import (CLIPVisionConfig, LlamaConfig, LlavaConfig,
                              LlavaForConditionalGeneration)

    tok = word_tokenizer()
    vocab = len(tok)
    cfg = LlavaConfig(
        vision_config=CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                       num_attention_heads=4, image_size=image_size,
                                       patch_size=patch_size, projection_dim=32),
        text_config=LlamaConfig(**_text(vocab, hidden_size=hidden, intermediate_size=2 * hidden,
                                        num_hidden_layers=text_layers)),
        image_token_id=tok.convert_tokens_to_ids(IMAGE_TOKEN),
        vision_feature_select_strategy="default", vision_feature_layer=-1,
        pad_token_id=0,
    )
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(cfg).eval()
    proc = None
    if with_processor:
        proc = llava_processor(tok, image_size, patch_size)
    return model, proc


def llava_processor(tok, image_size: int = 16, patch_size: int = 4):
    from transformers import CLIPImageProcessorPil as CLIPImageProcessor
    from transformers import LlavaProcessor

    ip = CLIPImageProcessor(size={"shortest_edge": image_size},
                            crop_size={"height": image_size, "width": image_size})
    return LlavaProcessor(image_processor=ip, tokenizer=tok, patch_size=patch_size,
                          vision_feature_select_strategy="default", chat_template=CHAT_TEMPLATE,
                          num_additional_image_tokens=1)


def tiny_qwen2_vl(kind: str = "qwen2_vl", seed: int = 0):
    """A tiny Qwen2-VL (``kind="qwen2_vl"``) or Qwen2.5-VL (``"qwen2_5_vl"``) and a word
    tokenizer with ``<|vision_start|> <|image_pad|> <|vision_end|>`` specials."""
    import transformers as T

    specials = ("<|vision_start|>", "<|image_pad|>", "<|vision_end|>", "<|video_pad|>")
    tok = word_tokenizer(specials=specials)
    ids = {s: tok.convert_tokens_to_ids(s) for s in specials}
    text = _text(len(tok), rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                                            "mrope_section": [2, 1, 1]})
    if kind == "qwen2_vl":
        vis = dict(depth=1, embed_dim=32, hidden_size=32, num_heads=4, patch_size=4,
                   spatial_merge_size=2, temporal_patch_size=2, mlp_ratio=2, in_channels=3)
        cfg = T.Qwen2VLConfig(text_config=text, vision_config=vis)
        cls = T.Qwen2VLForConditionalGeneration
    elif kind == "qwen2_5_vl":
        vis = dict(depth=1, hidden_size=32, out_hidden_size=32, intermediate_size=64, num_heads=4,
                   patch_size=4, spatial_merge_size=2, temporal_patch_size=2, window_size=16,
                   fullatt_block_indexes=[0], in_channels=3)
        cfg = T.Qwen2_5_VLConfig(text_config=text, vision_config=vis)
        cls = T.Qwen2_5_VLForConditionalGeneration
    else:
        raise ValueError(kind)
    cfg.image_token_id = ids["<|image_pad|>"]
    cfg.video_token_id = ids["<|video_pad|>"]
    cfg.vision_start_token_id = ids["<|vision_start|>"]
    cfg.vision_end_token_id = ids["<|vision_end|>"]
    torch.manual_seed(seed)
    return cls(cfg).eval(), tok


def tiny_qwen3_vl(seed: int = 0, deepstack_layers=(0, 1)):
    """A tiny Qwen3-VL (DeepStack: the vision layers ``deepstack_layers`` feed the first
    decoder layers; 3 decoder layers, 3 vision layers) and a word tokenizer with
    ``<|vision_start|> <|image_pad|> <|vision_end|>`` specials."""
    import transformers as T

    specials = ("<|vision_start|>", "<|image_pad|>", "<|vision_end|>", "<|video_pad|>")
    tok = word_tokenizer(specials=specials)
    ids = {s: tok.convert_tokens_to_ids(s) for s in specials}
    text = _text(len(tok), head_dim=8, num_hidden_layers=3,
                 rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 1, 1],
                                  "mrope_interleaved": True})
    vis = dict(depth=3, hidden_size=32, out_hidden_size=32, intermediate_size=64, num_heads=4, patch_size=4,
               spatial_merge_size=2, temporal_patch_size=2, num_position_embeddings=16,
               deepstack_visual_indexes=list(deepstack_layers), in_channels=3)
    cfg = T.Qwen3VLConfig(text_config=text, vision_config=vis, image_token_id=ids["<|image_pad|>"],
                          video_token_id=ids["<|video_pad|>"], vision_start_token_id=ids["<|vision_start|>"],
                          vision_end_token_id=ids["<|vision_end|>"])
    torch.manual_seed(seed)
    return T.Qwen3VLForConditionalGeneration(cfg).eval(), tok


def tiny_llava_next(seed: int = 0, with_processor: bool = True):
    """A tiny ``LlavaNextForConditionalGeneration`` (AnyRes: 16x16 tiles, grid pinpoints
    16x16, 16x32, 32x16, 32x32; a CLIP tower with 4x4 patches) and, with
    ``with_processor``, a ``LlavaNextProcessor`` built offline (PIL image processor, word
    tokenizer, LLaVA chat template). The number of image tokens depends on the image's
    size and aspect ratio (base view + tiles, unpadded, one ``image_newline`` per row)."""
    import transformers as T
    from transformers.models.llava_next.image_processing_pil_llava_next import LlavaNextImageProcessorPil

    tok = word_tokenizer()
    pinpoints = [[16, 16], [16, 32], [32, 16], [32, 32]]
    cfg = T.LlavaNextConfig(
        vision_config=T.CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                         num_attention_heads=4, image_size=16, patch_size=4, projection_dim=32),
        text_config=T.LlamaConfig(**_text(len(tok))), image_token_id=tok.convert_tokens_to_ids(IMAGE_TOKEN),
        image_grid_pinpoints=pinpoints, vision_feature_select_strategy="default", vision_feature_layer=-1,
        pad_token_id=0)
    torch.manual_seed(seed)
    model = T.LlavaNextForConditionalGeneration(cfg).eval()
    with torch.no_grad():   # image_newline initializes to a constant scale; make it non-trivial
        model.model.image_newline.normal_(0.0, 0.2)
    proc = None
    if with_processor:
        ip = LlavaNextImageProcessorPil(size={"shortest_edge": 16}, crop_size={"height": 16, "width": 16},
                                        image_grid_pinpoints=pinpoints)
        proc = T.LlavaNextProcessor(image_processor=ip, tokenizer=tok, patch_size=4,
                                    vision_feature_select_strategy="default", chat_template=CHAT_TEMPLATE,
                                    num_additional_image_tokens=1)
    return model, proc


def tiny_gemma3(seed: int = 0, mm_tokens: int = 4, image_size: int = 16, patch_size: int = 4):
    """A tiny Gemma3 (scaled embeddings, bidirectional image block) and a word tokenizer
    with ``<start_of_image> <image_soft_token> <end_of_image>``."""
    import transformers as T

    specials = ("<start_of_image>", "<image_soft_token>", "<end_of_image>")
    tok = word_tokenizer(specials=specials)
    ids = {s: tok.convert_tokens_to_ids(s) for s in specials}
    text = T.Gemma3TextConfig(**_text(len(tok), head_dim=8, sliding_window=64,
                                      layer_types=["sliding_attention", "full_attention"]))
    vis = T.SiglipVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                               num_attention_heads=4, image_size=image_size, patch_size=patch_size)
    cfg = T.Gemma3Config(text_config=text, vision_config=vis, mm_tokens_per_image=mm_tokens,
                         image_token_id=ids["<image_soft_token>"], boi_token_id=ids["<start_of_image>"],
                         eoi_token_id=ids["<end_of_image>"])
    torch.manual_seed(seed)
    model = T.Gemma3ForConditionalGeneration(cfg).eval()
    with torch.no_grad():  # the projector initializes to zeros: make image features non-trivial
        for p in model.model.multi_modal_projector.parameters():
            p.normal_(0.0, 0.2)
    return model, tok


def _vision(**kw):
    base = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=64,
                image_size=16, patch_size=4)
    base.update(kw)
    return base


def tiny_family(family: str, seed: int = 0):
    """A tiny random-init model of ``family`` with an ``<image>`` word tokenizer.

    Families: ``"internvl"`` (4 image tokens per 16x16 image), ``"idefics3"`` (4 per
    image, pixel values [B, n_img, 3, 16, 16]), ``"paligemma"`` (16), ``"llava_onevision"``
    (anyres; the count comes from the features), ``"fuyu"`` (one token per 4x4 patch,
    pixel values [B, n_patches, 48]), ``"mllama"`` (one ``<|image|>`` token; 2 tiles of 17
    patches through one cross-attention layer), ``"instructblip"`` (4 query tokens; Q-Former
    vocabulary of 100). Returns ``(model, tokenizer)``.
    """
    import transformers as T

    tok = word_tokenizer()
    V, img = len(tok), tok.convert_tokens_to_ids(IMAGE_TOKEN)
    if family == "internvl":
        cfg = T.InternVLConfig(vision_config=_vision(), text_config=T.Qwen2Config(**_text(V)),
                               image_token_id=img)
        cls = T.InternVLForConditionalGeneration
    elif family == "idefics3":
        cfg = T.Idefics3Config(vision_config=_vision(), text_config=T.LlamaConfig(**_text(V)),
                               image_token_id=img, scale_factor=2)
        cls = T.Idefics3ForConditionalGeneration
    elif family == "paligemma":
        cfg = T.PaliGemmaConfig(vision_config=_vision(projection_dim=32),
                                text_config=T.GemmaConfig(**_text(V, head_dim=8)),
                                image_token_id=img, projection_dim=32)
        cls = T.PaliGemmaForConditionalGeneration
    elif family == "llava_onevision":
        cfg = T.LlavaOnevisionConfig(vision_config=_vision(model_type="siglip_vision_model"),
                                     text_config=T.Qwen2Config(**_text(V)), image_token_id=img,
                                     image_grid_pinpoints=[[16, 16], [16, 32]], vision_feature_layer=-1,
                                     vision_feature_select_strategy="full")
        cls = T.LlavaOnevisionForConditionalGeneration
    elif family == "mllama":
        tok = word_tokenizer(specials=("<|image|>",))
        V, img = len(tok), tok.convert_tokens_to_ids("<|image|>")
        tc = T.MllamaTextConfig(**_text(V, num_hidden_layers=3, cross_attention_layers=[1], pad_token_id=0,
                                        bos_token_id=1, eos_token_id=2))
        vc = T.MllamaVisionConfig(hidden_size=32, num_hidden_layers=1, num_global_layers=1, attention_heads=4,
                                  intermediate_size=64, image_size=16, patch_size=4, max_num_tiles=2,
                                  intermediate_layers_indices=[0], vision_output_dim=64,
                                  supported_aspect_ratios=[[1, 1], [1, 2], [2, 1]])
        cfg = T.MllamaConfig(vision_config=vc, text_config=tc, image_token_id=img)
        cls = T.MllamaForConditionalGeneration
    elif family == "instructblip":
        cfg = T.InstructBlipConfig(
            vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4,
                               image_size=16, patch_size=4),
            qformer_config=dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=64,
                                encoder_hidden_size=32, vocab_size=100, max_position_embeddings=64),
            text_config=T.LlamaConfig(**_text(V)).to_dict(), num_query_tokens=4, image_token_index=img)
        cls = T.InstructBlipForConditionalGeneration
    elif family == "fuyu":
        text = T.PersimmonConfig(**_text(V, num_key_value_heads=4))
        cfg = T.FuyuConfig(text_config=text.to_dict(), image_size=16, patch_size=4, num_channels=3,
                           image_token_id=img, hidden_size=32, vocab_size=V)
        cls = T.FuyuForCausalLM
    else:
        raise ValueError(f"no tiny builder for {family!r}")
    torch.manual_seed(seed)
    return cls(cfg).eval(), tok


def gemma3_processor(tok, image_size: int = 16, mm_tokens: int = 4):
    """A ``Gemma3Processor`` over the word tokenizer of :func:`tiny_gemma3` (offline)."""
    from transformers import Gemma3Processor, PreTrainedTokenizerFast
    from transformers.models.gemma3.image_processing_pil_gemma3 import Gemma3ImageProcessorPil

    tok2 = PreTrainedTokenizerFast(
        tokenizer_object=tok._tokenizer, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
        unk_token="[UNK]", extra_special_tokens={"boi_token": "<start_of_image>",
                                                 "image_token": "<image_soft_token>",
                                                 "eoi_token": "<end_of_image>"})
    template = ("{% for m in messages %}USER: {% for c in m['content'] %}{% if c['type'] == 'image' %}"
                "<start_of_image>{% else %}{{ c['text'] }}{% endif %}{% endfor %}{% endfor %} ASSISTANT:")
    return Gemma3Processor(image_processor=Gemma3ImageProcessorPil(size={"height": image_size, "width": image_size}),
                           tokenizer=tok2, chat_template=template, image_seq_length=mm_tokens)
