"""Noise statistics (stage 1) and reproducible per-sample noise (stage 2).

The visual-only probe replaces the question's text embeddings with i.i.d. draws from
N(mu_text, diag sigma_text^2); the language-only probe replaces the image embeddings with
draws from N(mu_image, diag sigma_image^2). ``mu``/``sigma`` are the per-dimension mean and
*population* standard deviation over all image tokens (projected features as they enter
the language model) and all question tokens (input embeddings as the model scales them)
of the fit split (and, for models with extra image-side inputs such as Qwen3-VL's DeepStack
features, over each of those: :attr:`NoiseStats.extra`), accumulated in float64 with Chan et al.'s parallel update (streaming,
numerically stable).

Noise is drawn in float32 from a ``torch.Generator`` seeded with
``sha256(seed, dataset, index)``, so a sample's noise does not depend on batch order,
batch size or where a run resumed. The generator lives on the model's device (drawing
576 x 4096 normals per sample on the CPU would cost more than the forward pass on a GPU);
CPU and CUDA generators produce different streams for the same seed, so the device type
is part of a run's configuration (``noise_device``) and runs on different device types are
never mixed.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Iterable

import torch

__all__ = ["RunningMoments", "NoiseStats", "sample_generator", "draw_noise", "compute_noise_stats"]


class RunningMoments:
    """Streaming float64 per-dimension mean and population variance."""

    def __init__(self, dim: int | None = None):
        self.n = 0
        self.mean = None if dim is None else torch.zeros(dim, dtype=torch.float64)
        self.m2 = None if dim is None else torch.zeros(dim, dtype=torch.float64)

    def update(self, x: torch.Tensor) -> None:
        """Add the rows of ``x`` (n, D)."""
        x = x.detach().to("cpu", torch.float64).reshape(-1, x.shape[-1])
        nb = x.shape[0]
        if nb == 0:
            return
        mb = x.mean(0)
        m2b = ((x - mb) ** 2).sum(0)
        if self.mean is None:
            self.mean = torch.zeros_like(mb)
            self.m2 = torch.zeros_like(mb)
        if self.mean.shape != mb.shape:
            raise ValueError(f"dimension changed: {tuple(self.mean.shape)} vs {tuple(mb.shape)}")
        n = self.n + nb
        delta = mb - self.mean
        self.mean = self.mean + delta * (nb / n)
        self.m2 = self.m2 + m2b + delta ** 2 * (self.n * nb / n)
        self.n = n

    @property
    def std(self) -> torch.Tensor:
        """Population standard deviation (divides by n)."""
        if not self.n:
            raise ValueError("no rows accumulated")
        return (self.m2 / self.n).clamp_min(0).sqrt()


@dataclass
class NoiseStats:
    """Per-dimension mean and population std of image and text token embeddings.

    Attributes
    ----------
    mu_image, sigma_image, mu_text, sigma_text : torch.Tensor
        float64 vectors of the language model's hidden size.
    n_image_tokens, n_text_tokens, n_samples : int
        How many tokens / samples the statistics were accumulated over.
    meta : dict
        Provenance (model, dataset, split, ...), stored with the tensors.
    """

    mu_image: torch.Tensor
    sigma_image: torch.Tensor
    mu_text: torch.Tensor
    sigma_text: torch.Tensor
    n_image_tokens: int = 0
    n_text_tokens: int = 0
    n_samples: int = 0
    meta: dict = field(default_factory=dict)
    #: extra image-side inputs (:meth:`pidlib.models.Adapter.vision_features`, e.g.
    #: ``"deepstack_0"``): name -> (mu, sigma) over the same image tokens
    extra: dict = field(default_factory=dict)

    _BASE = ("mu_image", "sigma_image", "mu_text", "sigma_text")

    def on(self, device) -> "NoiseStats":
        """float32 copies on ``device`` (cached), for drawing noise there."""
        key = str(device)
        cache = self.__dict__.setdefault("_on", {})
        if key not in cache:
            f = lambda t: t.to(device, torch.float32)  # noqa: E731
            cache[key] = NoiseStats(f(self.mu_image), f(self.sigma_image), f(self.mu_text), f(self.sigma_text),
                                    self.n_image_tokens, self.n_text_tokens, self.n_samples, self.meta,
                                    {k: (f(m), f(sd)) for k, (m, sd) in self.extra.items()})
        return cache[key]

    def tensors(self) -> dict[str, torch.Tensor]:
        out = {"mu_image": self.mu_image, "sigma_image": self.sigma_image,
               "mu_text": self.mu_text, "sigma_text": self.sigma_text}
        for k, (m, sd) in sorted(self.extra.items()):
            out[f"mu_{k}"], out[f"sigma_{k}"] = m, sd
        return out

    @classmethod
    def from_tensors(cls, t: dict, meta: dict | None = None) -> "NoiseStats":
        meta = dict(meta or {})
        names = sorted(k[3:] for k in t if k.startswith("mu_") and k not in cls._BASE)
        extra = {n: (t[f"mu_{n}"], t[f"sigma_{n}"]) for n in names if f"sigma_{n}" in t}
        return cls(t["mu_image"], t["sigma_image"], t["mu_text"], t["sigma_text"],
                   int(meta.get("n_image_tokens", 0)), int(meta.get("n_text_tokens", 0)),
                   int(meta.get("n_samples", 0)), meta, extra)


def sample_generator(seed: int, dataset: str, index: str, device="cpu") -> torch.Generator:
    """A generator on ``device`` keyed by ``sha256(f"{seed}|{dataset}|{index}")``."""
    digest = hashlib.sha256(f"{int(seed)}|{dataset}|{index}".encode()).digest()
    g = torch.Generator(device=device)
    g.manual_seed(int.from_bytes(digest[:8], "little") & ((1 << 63) - 1))
    return g


def draw_noise(mu: torch.Tensor, sigma: torch.Tensor, n: int, g: torch.Generator) -> torch.Tensor:
    """``n`` i.i.d. rows from N(mu, diag sigma^2), float32 on the generator's device."""
    z = torch.randn(n, mu.shape[-1], generator=g, dtype=torch.float32, device=g.device)
    return mu.to(g.device, torch.float32) + sigma.to(g.device, torch.float32) * z


@torch.no_grad()
def compute_noise_stats(adapter, samples: Iterable, *, meta: dict | None = None,
                        progress: bool = True, on_error: str = "raise",
                        skipped: list | None = None, chunk: int = 32,
                        prepared_out: dict | None = None) -> NoiseStats:
    """Stage 1: float64 streaming mean / population std of image and question tokens.

    Image tokens are the projected features entering the language model; text tokens are
    the question-body tokens' input embeddings (scaled as the model scales them). Samples
    go through the vision tower ``chunk`` at a time (:meth:`Adapter.vision_features_many`);
    ``prepared_out`` (a :class:`pidlib.models.base.PreparedCache`), when given, receives
    the samples' prepared inputs by index, so the probes need not prepare them again.
    """
    from tqdm.auto import tqdm

    from pidlib.models.base import AdapterError, NonFiniteError, Prepared

    img, txt = RunningMoments(), RunningMoments()
    extra: dict[str, RunningMoments] = {}
    n = 0
    samples = list(samples)
    bar = tqdm(total=len(samples), desc="noise statistics", disable=not progress, unit="sample")
    for c0 in range(0, len(samples), chunk):
        batch = []
        raw = [s for s in samples[c0:c0 + chunk] if not isinstance(s, Prepared)]
        together = {}
        if len(raw) > 1:
            try:   # one processor call for the chunk; on a failure, one sample at a time below
                together = {id(s): p for s, p in zip(raw, adapter.prepare_many(raw))}
            except (ValueError, AdapterError):
                together = {}
        for s in samples[c0:c0 + chunk]:
            try:
                p = s if isinstance(s, Prepared) else together.get(id(s))
                if p is None:
                    p = adapter.prepare(s)
            except (ValueError, AdapterError) as e:
                if on_error != "skip":
                    raise
                if skipped is not None:
                    skipped.append((getattr(s, "index", None), str(e)))
                continue
            if prepared_out is not None and not isinstance(s, Prepared):
                prepared_out.put(str(s.index), p)
            batch.append((s, p))
        for (s, p), (feats, extras) in zip(batch, adapter.vision_features_many([p for _, p in batch])):
            emb = adapter.embed(p.input_ids)[p.question_mask.to(adapter.device)]
            for what, x in (("image features", feats), ("question embeddings", emb), *extras.items()):
                if not bool(torch.isfinite(x).all()):
                    raise NonFiniteError(f"model {getattr(adapter, 'name', '?')}: non-finite {what} for sample "
                                         f"{getattr(s, 'index', n)!r}, probe noise statistics; check the weights "
                                         "(NaN/inf) and the dtype")
            img.update(feats)
            txt.update(emb)
            for k, x in extras.items():
                extra.setdefault(k, RunningMoments()).update(x)
            n += 1
        bar.update(len(samples[c0:c0 + chunk]))
    bar.close()
    if n == 0:
        raise ValueError("no samples to compute noise statistics from")
    ex = {k: (r.mean, r.std) for k, r in sorted(extra.items())}
    for name, t in (("mu_image", img.mean), ("sigma_image", img.std), ("mu_text", txt.mean),
                    ("sigma_text", txt.std), *((f"mu/sigma_{k}", torch.cat(v)) for k, v in ex.items())):
        if not bool(torch.isfinite(t).all()):
            raise NonFiniteError(f"model {getattr(adapter, 'name', '?')}: noise statistics {name} are not finite "
                                 f"(float64 overflow over {n} samples), probe noise statistics")
    m = dict(meta or {})
    m.update(n_image_tokens=img.n, n_text_tokens=txt.n, n_samples=n)
    return NoiseStats(img.mean, img.std, txt.mean, txt.std, img.n, txt.n, n, m, ex)


