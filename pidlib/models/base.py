"""One adapter interface over Hugging Face vision-language models.

An :class:`Adapter` wraps a loaded model and its processor and builds the model's
inputs: how to turn a sample into token ids and vision inputs (:meth:`Adapter.prepare`),
how to get the projected image features as they enter the language model
(:meth:`Adapter.image_features`), where the image tokens sit, and which extra per-row
inputs a forward needs (position ids, token type ids, DeepStack features). Its class
attributes declare what the shared pipeline may do with it (:attr:`Adapter.shares_prefix`,
:attr:`Adapter.image_in_sequence`, :attr:`Adapter.vision_inputs_text_free`).

Family-specific code is limited to small overrides of these hooks (see
:mod:`pidlib.models.families`, where each class registers itself for its config classes
with :func:`pidlib.models.registration.register_adapter`). Everything else -- pooling
X1/X2, noise, stacking the three probes, padding, option scoring -- is shared code in
:mod:`pidlib.probes`; the logit lens (decoder layers, final norm, head, softcap) is a set
of functions of the model in :mod:`pidlib.probes.lens`.

Models split over devices (``device_map``): inputs go to the input embedding's execution
device (:attr:`Adapter.device`); accelerate's hooks move activations between layers.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

DEFAULT_TEMPLATE = "<image>\n{body}\nAnswer:"


@dataclass
class Prepared:
    """One sample turned into model inputs (before any forward pass).

    Attributes
    ----------
    input_ids : torch.LongTensor
        (T,) token ids of the full prompt, image placeholders already expanded to one
        token per image feature vector.
    question_mask : torch.BoolTensor
        (T,) True on the tokens of the question body (``format_question(sample)``):
        the span that X2 pools and the visual-only probe replaces with noise.
    vision_inputs : dict
        Keyword arguments for :meth:`Adapter.image_features` (pixel values, grids, ...).
    prompt : str
        The rendered prompt text; option letters are tokenized as its continuation.
    """

    input_ids: torch.Tensor
    question_mask: torch.Tensor
    vision_inputs: dict = field(default_factory=dict)
    prompt: str = ""

    def __post_init__(self):
        if self.input_ids.ndim != 1 or self.question_mask.shape != self.input_ids.shape:
            raise ValueError("Prepared: input_ids and question_mask must both be 1-D of equal length, "
                             f"got {tuple(self.input_ids.shape)} and {tuple(self.question_mask.shape)}")
        if not bool(self.question_mask.any()):
            raise ValueError("Prepared: the question span is empty")


class AdapterError(RuntimeError):
    """A model cannot be used the way the probes need (unsupported family, bad prompt)."""


class NonFiniteError(AdapterError):
    """A model produced NaN or infinite numbers (logits, features, masses, noise statistics)."""


class PreparedCache:
    """Prepared inputs by sample index, up to ``max_bytes`` of tensors: the noise-statistics
    pass fills it and the probes take from it, so a sample goes through the processor once."""

    def __init__(self, max_bytes: int = 512 << 20):
        self.max_bytes = int(max_bytes)
        self.nbytes = 0
        self._d: dict[str, Prepared] = {}

    @staticmethod
    def size(p: Prepared) -> int:
        ts = [p.input_ids, p.question_mask, *(v for v in p.vision_inputs.values() if torch.is_tensor(v))]
        return sum(t.numel() * t.element_size() for t in ts)

    def put(self, index: str, p: Prepared) -> None:
        b = self.size(p)
        if self.nbytes + b <= self.max_bytes and index not in self._d:
            self._d[index] = p
            self.nbytes += b

    def pop(self, index: str) -> Prepared | None:
        p = self._d.pop(index, None)
        if p is not None:
            self.nbytes -= self.size(p)
        return p

    def __len__(self) -> int:
        return len(self._d)

    def __contains__(self, index: str) -> bool:
        return index in self._d


class Adapter:
    """Shared behaviour of every family; override the hooks that differ.

    Parameters
    ----------
    model : transformers.PreTrainedModel
        An image-text-to-text model (``...ForConditionalGeneration``) in eval mode.
    processor : transformers.ProcessorMixin, optional
        Its processor; needed for :meth:`prepare` (not for the lower-level hooks).
    tokenizer : transformers.PreTrainedTokenizerBase, optional
        Defaults to ``processor.tokenizer``.
    name : str, optional
        Model id or path, recorded in run metadata.
    """

    family = "generic"
    #: keys of the processor output passed to :meth:`image_features`
    vision_keys: tuple[str, ...] = ("pixel_values",)
    #: False for families whose image features enter through cross-attention (Mllama):
    #: then the language-only probe noises the per-row image states given to
    #: :meth:`row_inputs` instead of a span of the sequence.
    image_in_sequence: bool = True
    #: text the processor appends after the prompt (PaliGemma: "\n"); option letters are
    #: tokenized as the continuation of ``prompt + processor_suffix``
    processor_suffix: str = ""
    #: True when :attr:`Prepared.vision_inputs` do not depend on the prompt text, so that
    #: :meth:`cross_inputs` may pair one sample's prompt with another's image inputs
    #: (False for Mllama: its cross-attention mask follows the prompt; InstructBLIP: the
    #: Q-Former reads the question).
    vision_inputs_text_free: bool = True
    #: True when the full and visual-only rows of a sample may share the key/value cache of
    #: their common prefix (:func:`pidlib.probes.forward.forward_shared_prefix`): the forward
    #: needs no per-row extra inputs beyond position ids. A family that overrides
    #: :meth:`row_inputs` must declare it in its class body (checked when the class is made).
    shares_prefix: bool = True

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        if "row_inputs" in cls.__dict__ and "shares_prefix" not in cls.__dict__:
            raise TypeError(f"{cls.__name__} overrides row_inputs() and must declare shares_prefix "
                            "(False unless its extra inputs are exact on a shared prefix cache)")

    def __init__(self, model: nn.Module | None, processor: Any = None, tokenizer: Any = None, *,
                 name: str | None = None, config: Any = None):
        if model is None and config is None:
            raise ValueError("an adapter needs a model (or, to build prompts only, a config)")
        self.model = model.eval() if model is not None else None
        self._config = config
        self.processor = processor
        self.tokenizer = tokenizer if tokenizer is not None else getattr(processor, "tokenizer", None)
        cfg = self.config
        self.name = name or getattr(cfg, "_name_or_path", "") or type(model or cfg).__name__

    # ------------------------------------------------------------------ basics
    @property
    def config(self):
        return self.model.config if self.model is not None else self._config

    @property
    def text_config(self):
        return self.config.get_text_config()

    @property
    def device(self) -> torch.device:
        """Where inputs go: the input embedding's (execution) device."""
        from pidlib.probes.lens import execution_device

        return execution_device(self.input_embeddings)

    @property
    def dtype(self) -> torch.dtype:
        return self.input_embeddings.weight.dtype

    @property
    def input_embeddings(self) -> nn.Module:
        """``model.get_input_embeddings()``, looked up once per model and embedding weight
        (the lookup walks the wrapper modules and is on the probes' per-row path)."""
        m = self.model
        c = self.__dict__.get("_input_embeddings")
        if c is None or c[0] is not m or getattr(c[1], "weight", None) is not c[2]:
            emb = m.get_input_embeddings()
            c = (m, emb, getattr(emb, "weight", None))
            self._input_embeddings = c
        return c[1]

    @property
    def image_token_id(self) -> int:
        tid = getattr(self.config, "image_token_id", None)
        if tid is None:
            tid = getattr(self.config, "image_token_index", None)
        if tid is None:
            raise AdapterError(f"{type(self.config).__name__} has no image_token_id")
        return int(tid)

    @property
    def pad_token_id(self) -> int:
        tok = self.tokenizer
        pid = getattr(tok, "pad_token_id", None) if tok is not None else None
        if pid is None:
            pid = getattr(self.text_config, "pad_token_id", None)
        return int(pid) if pid is not None else 0

    # ------------------------------------------------------------------ prompt
    def build_prompt(self, body: str) -> str:
        """The full prompt text with the image placeholder(s) around ``body``.

        Uses the processor's chat template when it has one (one user turn: the image,
        then the question body; generation prompt added), else ``"<image>\\n{body}\\nAnswer:"``
        with the tokenizer's image token.
        """
        proc = self.processor
        template = getattr(proc, "chat_template", None) if proc is not None else None
        if template:
            messages = [{"role": "user", "content": [{"type": "image"},
                                                     {"type": "text", "text": body}]}]
            return proc.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        image_token = getattr(proc, "image_token", None) or "<image>"
        return DEFAULT_TEMPLATE.replace("<image>", image_token).format(body=body)

    def prepare(self, sample) -> Prepared:
        """Turn an :class:`~pidlib.data.schema.MCSample` into model inputs.

        The processor expands the image placeholders (family-specific counts); the question
        span is found by tokenizing the rendered prompt with offsets and locating the tokens
        that overlap the question body in the processor's ids (searched from the end).
        """
        return self._prepare_batch([sample])[0]

    #: Samples per processor call in :meth:`prepare_many` (families with :attr:`batch_vision`).
    prepare_chunk: int = 64

    def prepare_many(self, samples) -> list[Prepared]:
        """:meth:`prepare` of several samples, in order.

        For fixed-resolution families (:attr:`batch_vision`) whose vision inputs are
        ``pixel_values`` only, the processor and the tokenizer run once per
        :attr:`prepare_chunk` samples (padded; each row's ids are its unpadded ones, the
        same as a call of its own, which ``tests/test_models_prepare.py`` checks); other
        families, and adapters that override :meth:`prepare`, prepare one sample at a time.
        A sample that fails raises as :meth:`prepare` would, naming it.
        """
        samples = list(samples)
        if (not self.batch_vision or tuple(self.vision_keys) != ("pixel_values",) or len(samples) < 2
                or type(self).prepare is not Adapter.prepare or type(self)._prepare_batch is not Adapter._prepare_batch):
            return [self.prepare(s) for s in samples]
        out: list[Prepared] = []
        for a in range(0, len(samples), self.prepare_chunk):
            chunk = samples[a:a + self.prepare_chunk]
            try:
                out += self._prepare_batch(chunk)
            except (ValueError, AdapterError):
                out += [self.prepare(s) for s in chunk]   # the failing sample raises with its own message
        return out

    def _prepare_batch(self, samples: list) -> list[Prepared]:
        from pidlib.data.schema import format_question

        if self.processor is None or self.tokenizer is None:
            raise AdapterError("prepare() needs a processor; build inputs with Prepared directly")
        prompts, bodies, starts, images = [], [], [], []
        for sample in samples:
            image = sample.load_image() if hasattr(sample, "load_image") else sample.image
            if image is None:
                raise AdapterError(f"sample {sample.index!r} has no image")
            body = format_question(sample)
            prompt = self.build_prompt(body)
            start = prompt.rfind(body)
            if start < 0:
                raise AdapterError("the chat template changed the question text; cannot locate it "
                                   f"in the prompt for sample {sample.index!r}")
            prompts.append(prompt)
            bodies.append(body)
            starts.append(start)
            images.append(image.convert("RGB"))
        if len(samples) == 1:
            enc = self.processor(text=prompts, images=images, return_tensors="pt")
            rows = [enc["input_ids"][0]]
        else:
            enc = self.processor(text=prompts, images=images, return_tensors="pt", padding=True)
            rows = [r[m.bool()] for r, m in zip(enc["input_ids"], enc["attention_mask"])]
        spans = self.tokenizer(prompts, add_special_tokens=False, return_offsets_mapping=True)
        tails = self.tokenizer([p + self.processor_suffix for p in prompts], add_special_tokens=False)["input_ids"]
        out = []
        for i, sample in enumerate(samples):
            ids, start, end = rows[i], starts[i], starts[i] + len(bodies[i])
            q_ids = [t for t, (a, b) in zip(spans["input_ids"][i], spans["offset_mapping"][i])
                     if b > start and a < end and b > a]
            if not q_ids:
                raise AdapterError(f"the question body of sample {sample.index!r} tokenizes to nothing")
            mask = _locate(ids, q_ids)
            if mask is None:
                raise AdapterError(f"could not locate the question tokens of sample {sample.index!r} "
                                   "in the processor's input ids")
            if len(samples) == 1:
                vision = {k: enc[k] for k in self.vision_keys if k in enc}
            else:
                vision = {"pixel_values": enc["pixel_values"][i:i + 1]}
            tail = tails[i][-2:]
            if ids[-len(tail):].tolist() != tail:
                raise AdapterError(f"the processor's input ids for sample {sample.index!r} do not end like "
                                   f"the prompt ({ids[-2:].tolist()} vs {tail}); option letters would be "
                                   "scored in the wrong context")
            out.append(Prepared(ids, mask, vision, prompts[i] + self.processor_suffix))
        return out

    # ------------------------------------------------------------------ hooks
    @torch.no_grad()
    def cross_inputs(self, text: Prepared, image: Prepared) -> Prepared | None:
        """``text``'s prompt with ``image``'s vision inputs, when that is exactly what
        :meth:`prepare` would give for the crossed sample; ``None`` otherwise.

        Exact when the vision inputs do not depend on the text
        (:attr:`vision_inputs_text_free`) and both prompts lay out the image identically:
        the same number of image tokens, the same vision-input keys and tensor shapes, and
        equal non-floating tensors (grids, aspect ratios). Dynamic-resolution families
        with images of different sizes fail the check, and the caller prepares the crossed
        sample with the processor instead.
        """
        if not self.vision_inputs_text_free:
            return None
        if int(self.image_mask(text.input_ids).sum()) != int(self.image_mask(image.input_ids).sum()):
            return None
        a, b = text.vision_inputs, image.vision_inputs
        if set(a) != set(b):
            return None
        for k in a:
            x, y = a[k], b[k]
            if torch.is_tensor(x) != torch.is_tensor(y):
                return None
            if torch.is_tensor(x):
                if x.shape != y.shape or (not x.is_floating_point() and not torch.equal(x, y)):
                    return None
            elif x != y:
                return None
        return Prepared(text.input_ids, text.question_mask, dict(b), text.prompt)

    def image_features(self, prepared: Prepared) -> torch.Tensor:
        """Projected image features as they enter the language model, shape (n_img_tokens, D)."""
        kw = {k: (v.to(self.device) if torch.is_tensor(v) else v)
              for k, v in prepared.vision_inputs.items()}
        if "pixel_values" in kw and kw["pixel_values"].is_floating_point():
            kw["pixel_values"] = kw["pixel_values"].to(self.dtype)
        out = self.model.get_image_features(**kw)
        return _flatten_features(getattr(out, "pooler_output", out), self.device)

    def vision_features(self, prepared: Prepared) -> tuple[torch.Tensor, dict]:
        """The image features and any *extra image-side inputs* aligned with the image tokens.

        Returns ``(features, extras)``: ``features`` as :meth:`image_features`; ``extras``
        maps a name to an (n_img_tokens, D) tensor that the language model also receives
        at the image positions (Qwen3-VL's DeepStack features, one per injected layer).
        The probes treat extras like the image itself: they get noise statistics of their
        own, the language-only probe replaces them with calibrated noise, and every other
        row keeps them. Default: no extras.
        """
        return self.image_features(prepared), {}

    #: True when one vision-tower call on stacked ``pixel_values`` gives each sample the same
    #: features as its own call and every sample has the same number of image tokens (fixed
    #: resolution, one image per sample): :meth:`vision_features_many` then batches.
    batch_vision: bool = False

    @torch.no_grad()
    def vision_features_many(self, prepared: list[Prepared]) -> list[tuple[torch.Tensor, dict]]:
        """:meth:`vision_features` of several samples: one stacked vision-tower call when the
        family allows it (:attr:`batch_vision`) and every sample has the same single
        ``pixel_values`` tensor shape, else one call per sample."""
        keys = {tuple(sorted(p.vision_inputs)) for p in prepared}
        if (self.batch_vision and len(prepared) > 1 and keys == {("pixel_values",)}
                and len({tuple(p.vision_inputs["pixel_values"].shape) for p in prepared}) == 1):
            pv = torch.cat([p.vision_inputs["pixel_values"] for p in prepared], 0)
            feats = self.image_features(Prepared(prepared[0].input_ids, prepared[0].question_mask,
                                                 {"pixel_values": pv}, prepared[0].prompt))
            if feats.shape[0] % len(prepared) == 0:
                return [(f, {}) for f in feats.chunk(len(prepared), 0)]
        return [self.vision_features(p) for p in prepared]

    def image_mask(self, input_ids: torch.Tensor) -> torch.Tensor:
        """True where image features go (same shape as ``input_ids``)."""
        return input_ids == self.image_token_id

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Input embeddings as the model scales them (e.g. Gemma's sqrt(d))."""
        return self.input_embeddings(input_ids.to(self.device))

    def row_inputs(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                   row_vision: list[dict] | None = None) -> dict:
        """Extra forward inputs for a left-padded batch (R, T): default none.

        ``row_vision[r]`` is the vision-input dict of row r (for ``image_in_sequence=False``
        families it also holds that row's ``"image_states"``, possibly noise).
        """
        return {}

    def position_ids(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                     row_vision: list[dict]) -> torch.Tensor | None:
        """Position ids for a left-padded batch; default ``cumsum(mask) - 1`` (+ offset)."""
        pos = attention_mask.long().cumsum(-1) - 1 + self.position_offset
        return pos.clamp_min(0)

    position_offset = 0

    def language_forward(self, **kwargs):
        """Run the language model on ``inputs_embeds`` (+ mask, positions, cache, extras);
        returns the model output (with ``.logits`` and ``.past_key_values``)."""
        return self.model(**kwargs)

    def forward_logits(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor,
                       position_ids: torch.Tensor | None, extra: dict, n_keep: int = 1) -> torch.Tensor:
        """Logits of the last ``n_keep`` positions, shape (R, n_keep, V)."""
        out = self.language_forward(inputs_embeds=inputs_embeds, attention_mask=attention_mask,
                                    position_ids=position_ids, logits_to_keep=n_keep, use_cache=False,
                                    **extra)
        return out.logits[:, -n_keep:]

    def describe(self) -> dict:
        """Small JSON-able description for run metadata."""
        from pidlib.probes.lens import decoder_layers

        out = {"family": self.family, "model": self.name, "config_class": type(self.config).__name__,
               "dtype": str(self.dtype).replace("torch.", ""), "n_layers": len(decoder_layers(self.model))}
        dm = getattr(self.model, "hf_device_map", None)
        if dm:
            out["device_map"] = {str(k): str(v) for k, v in dm.items()}
        return out


def _flatten_features(feats, device=None) -> torch.Tensor:
    """(n_tokens, D) features from a tensor or a list of per-image tensors, on ``device``
    (the input embedding's: a vision tower may sit on another device)."""
    if isinstance(feats, (list, tuple)):
        feats = torch.cat([f.reshape(-1, f.shape[-1]).to(device or f.device) for f in feats], 0)
    feats = feats.reshape(-1, feats.shape[-1])
    return feats if device is None else feats.to(device)


def _locate(ids: torch.Tensor, sub: list[int]) -> torch.Tensor | None:
    """Mask of the last occurrence of ``sub`` in ``ids`` (1-D), or None."""
    n, m = len(ids), len(sub)
    seq = ids.tolist()
    for s in range(n - m, -1, -1):
        if seq[s:s + m] == sub:
            mask = torch.zeros(n, dtype=torch.bool)
            mask[s:s + m] = True
            return mask
    return None
