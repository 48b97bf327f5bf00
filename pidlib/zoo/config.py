"""Zoo configurations: families, scales, schedules.

Families (the analogue of the paper's fusion-centric vs language-centric LVLMs)
-------------------------------------------------------------------------------
Both families share, per scale, the same pretrained language model, the same pretrained
vision tower and the same stage-1 projector (one ``aligned-SCALE`` model); they differ in
one documented training choice only, in stage 2 (visual instruction tuning):

``fusion``
    LLaVA-1.5's recipe: stage 2 tunes the projector **and the language model**. The LM can
    learn new circuits that combine image tokens with the question -- fusion.
``language``
    The frozen-LLM recipe (BLIP-2 / Flamingo style; LLaVA's stage 1): stage 2 tunes the
    **projector only** and the language model stays as it came out of text pretraining.
    Everything the model does with the picture must go through circuits the LM learned on
    text (it saw the picture's content only as a written caption hint), so the expected
    strategy leans on language.

Scales: ``small`` / ``medium`` / ``large`` grow the LM and the vision tower in width and
depth (see :data:`SCALES`).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

from pidlib.zoo.model import Arch
from pidlib.zoo.train import Schedule

#: Bump when training code changes in a way that changes the weights.
ZOO_VERSION = "2"


@dataclass(frozen=True)
class Family:
    name: str
    tune_lm: bool
    description: str


FAMILIES = {
    "fusion": Family("fusion", True, "stage 2 tunes projector + language model (LLaVA-1.5 recipe)"),
    "language": Family("language", False, "stage 2 tunes the projector only; language model frozen"),
}

SCALES = {
    "tiny": Arch(hidden=24, layers=1, heads=2, vision_hidden=24, vision_layers=1, vision_heads=2, patch_size=8),
    "small": Arch(hidden=32, layers=2, heads=4, vision_hidden=32, vision_layers=1, vision_heads=2, patch_size=8),
    "medium": Arch(hidden=48, layers=3, heads=4, vision_hidden=48, vision_layers=1, vision_heads=4, patch_size=8),
    "large": Arch(hidden=64, layers=4, heads=4, vision_hidden=64, vision_layers=2, vision_heads=4, patch_size=8),
}


@dataclass(frozen=True)
class ZooConfig:
    """What ``python -m pidlib.zoo build --config NAME`` trains.

    Attributes
    ----------
    name : str
    scales : tuple of str
        Keys of :data:`SCALES`.
    families : tuple of str
        Keys of :data:`FAMILIES`.
    schedule : Schedule
    seed : int
    emergence : tuple (family, scale) or None
        The member whose training is checkpointed along stages 1 and 2.
    stage1_checkpoints, stage2_checkpoints : tuple of float
        Fractions of the stage's steps at which that member is saved (0 = before the stage;
        the end of stage 1 is the ``aligned-SCALE`` model, the end of stage 2 the member).
    n_eval : int
        Eval-split samples per family for the accuracy recorded in the provenance.
    """

    name: str
    scales: tuple = ("small",)
    families: tuple = ("fusion",)
    schedule: Schedule = field(default_factory=Schedule)
    seed: int = 0
    emergence: tuple | None = None
    stage1_checkpoints: tuple = (0.0, 0.5)
    stage2_checkpoints: tuple = (0.125, 0.25, 0.5)
    n_eval: int = 100

    def base_params(self, scale: str) -> dict:
        """Everything the ``aligned-SCALE`` model depends on."""
        s = self.schedule.to_dict()
        pre = {k: v for k, v in s.items() if not k.startswith("stage2")}
        out = {"zoo_version": ZOO_VERSION, "scale": scale, "arch": SCALES[scale].to_dict(),
               "schedule": pre, "seed": self.seed}
        if self.emergence and self.emergence[1] == scale:
            out["stage1_checkpoints"] = list(self.stage1_checkpoints)
        return out

    def member_params(self, family: str, scale: str) -> dict:
        """Everything the ``FAMILY-SCALE`` model depends on."""
        out = {"base": self.base_params(scale), "family": asdict(FAMILIES[family]),
               "stage2": {k: v for k, v in self.schedule.to_dict().items() if k.startswith("stage2") or k == "n_train"},
               "seed": self.seed}
        if self.emergence == (family, scale):
            out["stage2_checkpoints"] = list(self.stage2_checkpoints)
        return out

    def to_dict(self) -> dict:
        d = asdict(self)
        d["schedule"] = self.schedule.to_dict()
        return d


def config_hash(params: dict) -> str:
    """Short sha256 of the canonical JSON of ``params``."""
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]


CONFIGS = {
    # used by tests and quick checks: one small fusion model, <= 2 minutes on 2 cores
    "smoke": ZooConfig(
        name="smoke", scales=("small",), families=("fusion",),
        schedule=Schedule(lm_steps=150, vision_steps=60, stage1_steps=100, stage2_steps=1200,
                          n_text=1200, n_captions=1000, n_train=600, stage2_lr=3e-3),
        n_eval=100),
    # the book's zoo: 2 families x 3 scales, emergence checkpoints for fusion-medium
    "full": ZooConfig(
        name="full", scales=("small", "medium", "large"), families=("fusion", "language"),
        schedule=Schedule(lm_steps=200, vision_steps=100, stage1_steps=150, stage2_steps=1500,
                          n_text=2400, n_captions=2000, n_train=1200, stage2_lr=3e-3),
        emergence=("fusion", "medium"), n_eval=100),
}
