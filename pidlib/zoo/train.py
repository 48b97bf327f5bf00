"""Training stages of the zoo, mirroring LLaVA-1.5 on the classroom world.

=========  ==========================  ====================================  ===============
stage      data                        trained                               loss
=========  ==========================  ====================================  ===============
``lm``     text only: facts, captions,  language model (embeddings, decoder,  next token, all
           text-only QA (hint=caption)  head)                                 tokens + answer
``vision`` image-caption pairs in hard- vision tower (+ a throw-away GRU      contrastive
           negative pairs (other        caption encoder)                      (InfoNCE)
           shapes / other places)
``stage1`` image-caption pairs          projector + vision tower              caption tokens
``stage2`` multiple-choice world tasks  projector (+ language model and/or    answer letter
           (the family's mixture,       vision tower, as the family says)     (next token)
           train split)
=========  ==========================  ====================================  ===============

After stage 1 the vision tower stays frozen, as in LLaVA-1.5, except in the families that
tune it in stage 2 (at ``stage2_vision_lr_scale`` times the learning rate). Every stage is
deterministic for its seed on CPU (single thread, fixed data order, no DataLoader
workers). Multiple-choice prompts are built exactly as :mod:`pidlib.zoo.model` documents.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pidlib.zoo.model import user_prompt, text_prompt
from pidlib.zoo.vocab import CAPTION_PROMPT


@dataclass(frozen=True)
class Schedule:
    """Steps, batch sizes, learning rates and data sizes of the four stages."""

    lm_steps: int = 300
    lm_batch: int = 32
    lm_lr: float = 3e-3
    vision_steps: int = 200
    vision_batch: int = 64
    vision_lr: float = 2e-3
    stage1_steps: int = 150
    stage1_batch: int = 32
    stage1_lr: float = 3e-3
    stage1_tune_vision: bool = True
    vision_place_negatives: bool = False
    stage2_vision_lr_scale: float = 0.2   # tower learning rate / stage2_lr when stage 2 tunes the tower
    stage2_steps: int = 400
    stage2_batch: int = 32
    stage2_lr: float = 1.5e-3
    n_text: int = 3000        # text-only QA samples for LM pretraining
    n_captions: int = 3000    # image-caption pairs (vision pretraining and stage 1)
    n_train: int = 1500       # stage-2 samples per task family (times its weight)
    stage2_weights: tuple = (("color", 2), ("exist", 2), ("describe", 1), ("knowledge", 1), ("redundant", 1))

    def to_dict(self) -> dict:
        return asdict(self)


# ---------------------------------------------------------------------------- encoding
def _left_pad(seqs: list[list[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    T = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), T), pad, dtype=torch.long)
    mask = torch.zeros((len(seqs), T), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, T - len(s):] = torch.tensor(s, dtype=torch.long)
        mask[i, T - len(s):] = 1
    return ids, mask


def encode_texts(tokenizer, texts: list[str]) -> list[list[int]]:
    return [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]


def encode_multimodal(processor, prompts: list[str], images: list, chunk: int = 256):
    """Processor over (prompt, image) pairs -> (list of id lists, pixel tensor)."""
    ids, pix = [], []
    for a in range(0, len(prompts), chunk):
        enc = processor(text=prompts[a:a + chunk], images=[im.convert("RGB") for im in images[a:a + chunk]],
                        return_tensors="pt", padding=True)
        for row, m in zip(enc["input_ids"], enc["attention_mask"]):
            ids.append(row[m.bool()].tolist())
        pix.append(enc["pixel_values"].float())
    return ids, torch.cat(pix, 0)


def mc_prompts(processor, samples) -> list[str]:
    """Stage-2 prompts (the adapter's prompt) for a list of MCSamples."""
    from pidlib.data.schema import format_question
    return [user_prompt(processor, format_question(s)) for s in samples]


def positions(mask: torch.Tensor) -> torch.Tensor:
    """Position ids for a left-padded batch (as the probe adapter computes them)."""
    return (mask.cumsum(-1) - 1).clamp_min(0)


# ---------------------------------------------------------------------------- data sets
def text_corpus(processor, schedule: Schedule, seed: int):
    """LM pretraining sequences: (ids list, answer position list or -1)."""
    from pidlib.data.schema import format_question
    from pidlib.world import FAMILIES, fact_sentences, make_sample

    tok = processor.tokenizer
    rng = np.random.default_rng([seed, 11])
    texts, answers = [], []
    facts = fact_sentences()
    for i in range(schedule.n_text):
        fam = FAMILIES[i % len(FAMILIES)]
        s = make_sample(fam, i // len(FAMILIES), seed=seed + 1000, split="train")
        kind = i % 3
        if kind == 0:  # plain text: a fact and a caption
            texts.append(f"{facts[int(rng.integers(len(facts)))]} {s.meta['caption']}")
            answers.append(None)
        else:  # text-only QA; the picture is given as a caption hint
            if fam in ("color", "exist", "describe"):
                s.hint = s.meta["caption"]
            texts.append(text_prompt(processor, format_question(s)) + " " + s.answer)
            answers.append(s.answer)
    ids = encode_texts(tok, texts)
    return ids, [len(x) - 1 if a is not None else -1 for x, a in zip(ids, answers)]


def shape_variant(rng, scene):
    """The same scene with the shape kinds changed (colours, sizes, positions kept)."""
    from dataclasses import replace
    from pidlib.world.scene import SHAPES

    kinds = [sh.kind for sh in scene]
    while True:
        new = [SHAPES[int(j)] for j in rng.permutation(len(SHAPES))[:len(scene)]]
        if new != kinds:
            return [replace(sh, kind=k) for sh, k in zip(scene, new)]


def cell_variant(rng, scene):
    """The same objects moved to other grid cells (kinds, colours, sizes and the offsets
    inside the cell kept), so that the caption changes only in the places it names.
    Single free-standing objects have no place in the caption: they get a shape variant."""
    from dataclasses import replace
    from pidlib.world.scene import IMAGE_SIZE

    if len(scene) < 2:
        return shape_variant(rng, scene)
    g = IMAGE_SIZE // 2
    cells = [sh.cell for sh in scene]
    while True:
        new = [int(c) for c in rng.permutation(4)[:len(scene)]]
        if new != cells:
            break
    out = []
    for sh, c in zip(scene, new):
        dx, dy = sh.cx - (sh.cell % 2) * g, sh.cy - (sh.cell // 2) * g
        out.append(replace(sh, cell=c, cx=(c % 2) * g + dx, cy=(c // 2) * g + dy))
    return out


def caption_pairs(processor, n: int, seed: int, with_prompt: bool, place_negatives: bool = False):
    """Image-caption pairs from fresh world scenes (1 to 4 objects).

    Without the prompt (vision pretraining) the scenes come in hard-negative pairs: item
    ``2i + 1`` is item ``2i`` with the shape kinds changed, so that colour and position
    alone cannot tell a caption from its partner; with ``place_negatives`` every other
    pair instead moves the objects to other cells (:func:`cell_variant`), so that colour
    and shape alone cannot either -- the tower has to bind what is where.
    """
    from pidlib.world.scene import caption, render, sample_scene

    rng = np.random.default_rng([seed, 23])
    if with_prompt:
        scenes = [sample_scene(rng, int(rng.integers(1, 5))) for _ in range(n)]
    else:
        scenes = []
        for i in range(n // 2):
            sc = sample_scene(rng, int(rng.integers(1, 5)))
            variant = cell_variant if place_negatives and i % 2 else shape_variant
            scenes += [sc, variant(rng, sc)]
    caps = [caption(s) for s in scenes]
    images = [render(s) for s in scenes]
    if not with_prompt:
        pix = processor.image_processor(images, return_tensors="pt")["pixel_values"].float()
        return encode_texts(processor.tokenizer, caps), pix
    prompts = [user_prompt(processor, CAPTION_PROMPT) + " " + c for c in caps]
    ids, pix = encode_multimodal(processor, prompts, images)
    n_cap = [len(x) for x in encode_texts(processor.tokenizer, caps)]
    return ids, pix, n_cap


def mc_train_set(processor, schedule: Schedule, seed: int, cache: dict | None = None):
    """Stage-2 training set, ``train`` split: ``int(n_train * weight)`` samples of each
    family of ``schedule.stage2_weights``.

    The synergy families get the larger weights by default: they are the slowest to learn
    (fusion circuits), the text-answerable ones are learned within a few hundred steps.
    ``cache`` (a dict) keeps each family's encoded samples for other calls with the same
    processor and seed; world samples are prefix-stable, so a smaller share of a family
    is the first rows of a larger one.
    """
    from pidlib.world import make_samples

    tok = processor.tokenizer
    ids, pix, target = [], [], []
    for fam, w in schedule.stage2_weights:
        n = int(schedule.n_train * w)
        key = ("train", fam, int(seed), processor.patch_size)
        if cache is None or key not in cache or len(cache[key][0]) < n:
            samples = make_samples(fam, n, seed=seed, split="train")
            i_, p_ = encode_multimodal(processor, mc_prompts(processor, samples), [s.image for s in samples])
            t_ = torch.tensor([tok.convert_tokens_to_ids(s.answer) for s in samples], dtype=torch.long)
            if cache is not None:
                cache[key] = (i_, p_, t_)
        else:
            i_, p_, t_ = cache[key]
        ids += i_[:n]
        pix.append(p_[:n])
        target.append(t_[:n])
    return ids, torch.cat(pix, 0), torch.cat(target, 0)


# ---------------------------------------------------------------------------- loop
def _optimizer(params, lr: float, steps: int):
    """AdamW with linear warm-up and cosine decay to 10 %; ``params`` is a list of tensors
    or of parameter groups (dicts whose ``lr`` overrides ``lr``)."""
    opt = torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.98), weight_decay=0.01)
    warm = max(1, steps // 20)

    def f(step):
        if step < warm:
            return (step + 1) / warm
        t = (step - warm) / max(1, steps - warm)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t))

    return opt, torch.optim.lr_scheduler.LambdaLR(opt, f)


def _batches(n: int, batch: int, steps: int, seed: int):
    rng = np.random.default_rng([seed, 31])
    order = np.array([], dtype=np.int64)
    for _ in range(steps):
        if len(order) < batch:
            order = np.concatenate([order, rng.permutation(n)])
        idx, order = order[:batch], order[batch:]
        yield torch.from_numpy(np.sort(idx))


def _loop(name: str, params: list, lr: float, steps: int, batch: int, n: int, seed: int,
          loss_fn: Callable, progress: bool, callback: Callable | None = None) -> list[float]:
    from tqdm.auto import tqdm

    torch.manual_seed(seed)
    opt, sched = _optimizer(params, lr, steps)
    flat = [p for g in params for p in (g["params"] if isinstance(g, dict) else [g])]
    losses = []
    bar = tqdm(total=steps, desc=name, disable=not progress, mininterval=2.0, leave=False)
    for step, idx in enumerate(_batches(n, batch, steps, seed)):
        loss = loss_fn(idx)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(flat, 1.0)
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        bar.update(1)
        if step % 20 == 0:
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
        if callback is not None:
            callback(step + 1)
    bar.close()
    return losses


def _set_trainable(model, modules: list[nn.Module]) -> list[nn.Parameter]:
    for p in model.parameters():
        p.requires_grad_(False)
    params = []
    for m in modules:
        for p in m.parameters():
            p.requires_grad_(True)
            params.append(p)
    return params


def _lm_modules(model):
    return [model.model.language_model, model.lm_head]


def _seq_loss(model, ids, mask, target_mask, pixel_values=None):
    out = model(input_ids=ids, attention_mask=mask, position_ids=positions(mask),
                pixel_values=pixel_values, use_cache=False)
    logits = out.logits[:, :-1].float()
    tgt = ids[:, 1:]
    tm = target_mask[:, 1:].bool()
    return F.cross_entropy(logits[tm], tgt[tm])


def train_lm(model, processor, s: Schedule, seed: int, progress: bool = True) -> list[float]:
    """Language-model pretraining on text (facts, captions, text-only QA)."""
    model.train()
    seqs, ans = text_corpus(processor, s, seed)
    pad = processor.tokenizer.pad_token_id
    params = _set_trainable(model, _lm_modules(model))

    def loss_fn(idx):
        ids, mask = _left_pad([seqs[i] for i in idx], pad)
        out = model(input_ids=ids, attention_mask=mask, position_ids=positions(mask), use_cache=False)
        logits, tgt = out.logits[:, :-1].float(), ids[:, 1:]
        tm = mask[:, 1:].bool()
        loss = F.cross_entropy(logits[tm], tgt[tm])
        # extra weight on the answer letters (the last token of a QA sequence) so QA is
        # learned, not only the template; same forward pass
        qa = torch.tensor([ans[i] >= 0 for i in idx.tolist()])
        if qa.any():
            loss = loss + F.cross_entropy(logits[qa, -1], tgt[qa, -1])
        return loss

    return _loop("lm", params, s.lm_lr, s.lm_steps, s.lm_batch, len(seqs), seed, loss_fn, progress)


class _CaptionEncoder(nn.Module):
    """Throw-away caption encoder for contrastive vision pretraining (GRU over words)."""

    def __init__(self, vocab: int, dim: int, pad: int):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim, padding_idx=pad)
        self.gru = nn.GRU(dim, dim, batch_first=True)
        self.out = nn.Linear(dim, dim)

    def forward(self, ids, mask):
        h, _ = self.gru(self.emb(ids))  # left padded: the last position is the last word
        return self.out(h[:, -1])


def train_vision(model, processor, s: Schedule, seed: int, progress: bool = True) -> list[float]:
    """Contrastive (CLIP-style InfoNCE) pretraining of the vision tower on image-caption pairs.

    The image embedding is the mean of the last-layer patch features (what the projector
    reads), through a linear head; the caption embedding comes from a small GRU. Both
    heads are discarded afterwards. Batches hold hard-negative pairs (the same scene with
    other shapes): without them the loss is solved by colour and position alone and the
    tower learns no shape features (measured with a linear probe: shape accuracy fell
    below that of the random tower). With ``s.vision_place_negatives`` every other pair
    moves the objects to other cells instead: then colour and shape alone do not solve it
    either, and the tower learns features that bind colour to place, which the ``color``
    task needs (see :mod:`pidlib.world.tasks`).
    """
    model.train()
    caps, pix = caption_pairs(processor, s.n_captions, seed, with_prompt=False,
                              place_negatives=s.vision_place_negatives)
    tok = processor.tokenizer
    dim = model.config.vision_config.hidden_size
    torch.manual_seed(seed)
    txt = _CaptionEncoder(len(tok), dim, tok.pad_token_id)
    head = nn.Linear(dim, dim)
    scale = nn.Parameter(torch.tensor(math.log(10.0)))
    vt = model.model.vision_tower
    params = _set_trainable(model, [vt]) + list(txt.parameters()) + list(head.parameters()) + [scale]

    def loss_fn(pairs):
        idx = torch.stack([2 * pairs, 2 * pairs + 1], 1).reshape(-1)  # keep hard negatives together
        ids, mask = _left_pad([caps[i] for i in idx], tok.pad_token_id)
        feats = vt(pixel_values=pix[idx]).last_hidden_state[:, 1:].mean(1)
        a = F.normalize(head(feats), dim=-1)
        b = F.normalize(txt(ids, mask), dim=-1)
        logits = scale.exp().clamp(max=100) * a @ b.T
        # identical captions in a batch are positives of each other
        same = torch.tensor([[caps[i] == caps[j] for j in idx.tolist()] for i in idx.tolist()])
        t = same.float() / same.float().sum(1, keepdim=True)
        return 0.5 * (F.cross_entropy(logits, t) + F.cross_entropy(logits.T, t.T))

    return _loop("vision", params, s.vision_lr, s.vision_steps, s.vision_batch // 2, len(caps) // 2, seed,
                 loss_fn, progress)


def train_stage1(model, processor, s: Schedule, seed: int, progress: bool = True,
                 callback: Callable | None = None) -> list[float]:
    """Stage 1 (feature alignment): captioning; trains the projector (and the vision tower
    when ``stage1_tune_vision``, the default: contrastive pretraining alone leaves the tiny
    tower nearly blind to shape, see :func:`train_vision`)."""
    model.train()
    seqs, pix, n_cap = caption_pairs(processor, s.n_captions, seed + 1, with_prompt=True)
    pad = processor.tokenizer.pad_token_id
    mods = [model.model.multi_modal_projector] + ([model.model.vision_tower] if s.stage1_tune_vision else [])
    params = _set_trainable(model, mods)

    def loss_fn(idx):
        ids, mask = _left_pad([seqs[i] for i in idx], pad)
        T = ids.shape[1]
        tmask = torch.zeros_like(mask)
        for r, i in enumerate(idx.tolist()):
            tmask[r, T - n_cap[i]:] = 1
        return _seq_loss(model, ids, mask, tmask, pixel_values=pix[idx])

    return _loop("stage1", params, s.stage1_lr, s.stage1_steps, s.stage1_batch, len(seqs), seed,
                 loss_fn, progress, callback)


def train_stage2(model, processor, s: Schedule, seed: int, tune_lm: bool, progress: bool = True,
                 callback: Callable | None = None, tune_vision: bool = False, data=None) -> list[float]:
    """Stage 2 (visual instruction tuning) on the multiple-choice tasks of every family.

    Trains the projector, the language model too when ``tune_lm`` and the vision tower
    when ``tune_vision``; loss is the cross-entropy of the answer letter at the last
    prompt position (full vocabulary). ``data`` is ``mc_train_set(processor, s, seed)``
    when already at hand.
    """
    model.train()
    seqs, pix, target = data if data is not None else mc_train_set(processor, s, seed)
    pad = processor.tokenizer.pad_token_id
    mods = [model.model.multi_modal_projector] + (_lm_modules(model) if tune_lm else [])
    params = _set_trainable(model, mods)
    if tune_vision:  # the tower at a smaller learning rate, as unfrozen-ViT recipes do
        vt = model.model.vision_tower
        for p in vt.parameters():
            p.requires_grad_(True)
        params = [{"params": params},
                  {"params": list(vt.parameters()), "lr": s.stage2_lr * s.stage2_vision_lr_scale}]

    def loss_fn(idx):
        ids, mask = _left_pad([seqs[i] for i in idx], pad)
        out = model(input_ids=ids, attention_mask=mask, position_ids=positions(mask),
                    pixel_values=pix[idx], logits_to_keep=1, use_cache=False)
        return F.cross_entropy(out.logits[:, -1].float(), target[idx])

    return _loop("stage2", params, s.stage2_lr, s.stage2_steps, s.stage2_batch, len(seqs), seed,
                 loss_fn, progress, callback)


@torch.no_grad()
def mc_accuracy(model, processor, samples, batch: int = 64, encoded=None) -> dict[str, float]:
    """Argmax-over-option-letters accuracy per task family (a quick check, not the probes).

    ``encoded`` is ``encode_multimodal`` of the samples' prompts when already at hand.
    """
    was_training = model.training
    model.eval()
    ids, pix = encoded if encoded is not None else \
        encode_multimodal(processor, mc_prompts(processor, samples), [x.image for x in samples])
    tok = processor.tokenizer
    hits: dict[str, list[int]] = {}
    for a in range(0, len(samples), batch):
        sl = list(range(a, min(a + batch, len(samples))))
        i_, m_ = _left_pad([ids[i] for i in sl], tok.pad_token_id)
        logits = model(input_ids=i_, attention_mask=m_, position_ids=positions(m_),
                       pixel_values=pix[sl], logits_to_keep=1, use_cache=False).logits[:, -1]
        for r, i in enumerate(sl):
            smp = samples[i]
            letter_ids = tok.convert_tokens_to_ids(list(smp.letters))
            pred = smp.letters[int(torch.argmax(logits[r, letter_ids]))]
            hits.setdefault(smp.meta["task"], []).append(int(pred == smp.answer))
    model.train(was_training)
    return {k: float(np.mean(v)) for k, v in sorted(hits.items())}
