"""Zoo configurations: families, scales, seeds, schedules.

Families (the analogue of the paper's fusion-centric vs language-centric LVLMs)
-------------------------------------------------------------------------------
Per (scale, seed) every family starts from the same pretrained language model, the same
pretrained vision tower and the same stage-1 projector (one ``aligned-SCALE-sSEED``
model); they differ in stage 2 (visual instruction tuning) only, each in one documented
training choice:

``fusion``
    LLaVA-1.5's recipe: stage 2 tunes the projector **and the language model** on the
    default task mixture. The LM can learn new circuits that combine image tokens with
    the question -- fusion.
``language``
    The frozen-LLM recipe (BLIP-2 / Flamingo style; LLaVA's stage 1): stage 2 tunes the
    **projector only**; the language model stays as it came out of text pretraining.
    Everything the model does with the picture must go through circuits the LM learned on
    text (it saw the picture's content only as a written caption hint), so the expected
    strategy leans on language.
``vision``
    The unfrozen-ViT recipe (Qwen-VL, LLaVA-OneVision, InternVL stage 2): stage 2 tunes
    the projector, the language model **and the vision tower**. The visual tokens can
    change to suit the questions (for instance make the place of an object explicit),
    so more of the work can move to the vision side.
``textheavy``
    The fusion recipe on a **stage-2 mixture that starves the synergy tasks**: the
    ``color`` and ``exist`` questions (which need picture and question together) get a
    quarter of their default share, the single-modality questions keep theirs -- like an
    instruction mixture dominated by captioning and knowledge questions. Same steps,
    same parameters trained as ``fusion``; only the data differ.

Scales: ``small`` / ``medium`` / ``large`` grow the LM and the vision tower in width and
depth (see :data:`SCALES`). Seeds: every seed is a complete, independent training run
(LM and vision pretraining, stage 1, stage 2) with its own data draws and initialisation.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace

from pidlib.zoo.model import Arch
from pidlib.zoo.train import Schedule

#: Bump when training code changes in a way that changes the weights.
ZOO_VERSION = "3"

#: Default stage-2 mixture (task family, weight): samples per family = ``n_train * weight``.
MIXTURE = (("color", 3), ("exist", 2), ("describe", 1), ("knowledge", 1), ("redundant", 1))
#: The ``textheavy`` family's mixture: the synergy families at a quarter of their weight.
STARVED = tuple((t, w / 4 if t in ("color", "exist") else w) for t, w in MIXTURE)


@dataclass(frozen=True)
class Family:
    """One training recipe for stage 2.

    Attributes
    ----------
    name : str
    tune_lm : bool
        Stage 2 tunes the language model (embeddings, decoder, head).
    description : str
    tune_vision : bool
        Stage 2 tunes the vision tower too.
    mixture : tuple of (task, weight) or None
        Stage-2 task mixture; ``None`` uses the schedule's ``stage2_weights``.
    """

    name: str
    tune_lm: bool
    description: str
    tune_vision: bool = False
    mixture: tuple | None = None


FAMILIES = {
    "fusion": Family("fusion", True, "stage 2 tunes projector + language model (LLaVA-1.5 recipe)"),
    "language": Family("language", False, "stage 2 tunes the projector only; language model frozen"),
    "vision": Family("vision", True, "stage 2 tunes projector + language model + vision tower (unfrozen ViT)",
                     tune_vision=True),
    "textheavy": Family("textheavy", True, "fusion recipe on a stage-2 mixture with the synergy tasks "
                        "(color, exist) at a quarter of their share", mixture=STARVED),
}

#: The vision tower's position embeddings start 20 x larger than CLIP's default
#: initialisation: at the default scale they are about 1/14 of an 8-px patch's content
#: embedding, the tower's output barely says where a patch is, and no model learned to
#: tell the grid cells apart (``color``); see :mod:`pidlib.world.tasks`.
POS = 20.0

SCALES = {
    "tiny": Arch(hidden=24, layers=1, heads=2, vision_hidden=24, vision_layers=1, vision_heads=2, patch_size=8,
                 vision_pos_scale=POS),
    "small": Arch(hidden=32, layers=2, heads=4, vision_hidden=32, vision_layers=2, vision_heads=2, patch_size=8,
                  vision_pos_scale=POS),
    "medium": Arch(hidden=48, layers=3, heads=4, vision_hidden=48, vision_layers=2, vision_heads=4, patch_size=8,
                   vision_pos_scale=POS),
    "large": Arch(hidden=64, layers=4, heads=4, vision_hidden=64, vision_layers=2, vision_heads=4, patch_size=8,
                  vision_pos_scale=POS),
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
    seeds : tuple of int
        Training seeds; every (family, scale, seed) is one member ``FAMILY-SCALE-sSEED``.
    schedule : Schedule
    emergence : tuple of (family, scale)
        Members whose training is checkpointed along stages 1 and 2, for every seed.
    stage1_checkpoints, stage2_checkpoints : tuple of float
        Fractions of the stage's steps at which those members are saved (0 = before the
        stage; the end of stage 1 is the ``aligned-SCALE-sSEED`` model, the end of stage 2
        the member).
    n_eval : int
        Eval-split samples per task family for the accuracy recorded in the provenance.
    """

    name: str
    scales: tuple = ("small",)
    families: tuple = ("fusion",)
    seeds: tuple = (0,)
    schedule: Schedule = field(default_factory=Schedule)
    emergence: tuple = ()
    stage1_checkpoints: tuple = (0.0, 0.5)
    stage2_checkpoints: tuple = (0.125, 0.25, 0.5)
    n_eval: int = 100

    def __post_init__(self):
        for what, keys, known in (("scale", self.scales, SCALES), ("family", self.families, FAMILIES)):
            bad = [k for k in keys if k not in known]
            if bad:
                raise ValueError(f"zoo config {self.name!r}: unknown {what} {bad}; known: {', '.join(known)}")
        for e in self.emergence:
            if len(e) != 2 or e[0] not in FAMILIES or e[1] not in SCALES:
                raise ValueError(f"zoo config {self.name!r}: emergence entries are (family, scale), got {e!r}")

    def schedule_for(self, family: str) -> Schedule:
        """The schedule of one family's stage 2 (its own mixture, if any)."""
        mix = FAMILIES[family].mixture
        return self.schedule if mix is None else replace(self.schedule, stage2_weights=tuple(mix))

    def base_params(self, scale: str, seed: int) -> dict:
        """Everything the ``aligned-SCALE-sSEED`` model depends on."""
        s = self.schedule.to_dict()
        pre = {k: v for k, v in s.items() if not k.startswith("stage2")}
        out = {"zoo_version": ZOO_VERSION, "scale": scale, "arch": SCALES[scale].to_dict(),
               "schedule": pre, "seed": int(seed)}
        if self.emergent_families(scale):
            out["stage1_checkpoints"] = list(self.stage1_checkpoints)
            out["emergence_families"] = list(self.emergent_families(scale))
        return out

    def member_params(self, family: str, scale: str, seed: int) -> dict:
        """Everything the ``FAMILY-SCALE-sSEED`` model depends on."""
        s2 = {k: v for k, v in self.schedule_for(family).to_dict().items() if k.startswith("stage2") or k == "n_train"}
        out = {"base": self.base_params(scale, seed), "family": asdict(FAMILIES[family]), "stage2": s2,
               "seed": int(seed)}
        if (family, scale) in self.emergence:
            out["stage2_checkpoints"] = list(self.stage2_checkpoints)
        return out

    def emergent_families(self, scale: str) -> tuple:
        """Families checkpointed at ``scale`` (in config order)."""
        return tuple(f for f in self.families if (f, scale) in self.emergence)

    def members(self) -> list[tuple[str, str, int]]:
        """Every (family, scale, seed) of the config."""
        return [(f, sc, sd) for sd in self.seeds for sc in self.scales for f in self.families]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["schedule"] = self.schedule.to_dict()
        return d


def member_name(family: str, scale: str, seed: int) -> str:
    return f"{family}-{scale}-s{seed}"


def aligned_name(scale: str, seed: int) -> str:
    return f"aligned-{scale}-s{seed}"


def config_hash(params: dict) -> str:
    """Short sha256 of the canonical JSON of ``params``."""
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]


_FULL_SCHEDULE = Schedule(lm_steps=200, vision_steps=400, stage1_steps=150, stage2_steps=1000,
                          n_text=2400, n_captions=2000, n_train=1200, stage2_lr=3e-3,
                          vision_place_negatives=True, stage2_weights=MIXTURE)

CONFIGS = {
    # used by tests and quick checks: one small fusion model, about 1.5 minutes on 2 cores
    "smoke": ZooConfig(
        name="smoke", scales=("small",), families=("fusion",), seeds=(0,),
        schedule=Schedule(lm_steps=150, vision_steps=200, stage1_steps=100, stage2_steps=1200,
                          n_text=1200, n_captions=1000, n_train=600, stage2_lr=3e-3,
                          vision_place_negatives=True, stage2_weights=MIXTURE),
        n_eval=100),
    # a classroom: the four families at one scale, one seed, short stage 2 (a few minutes)
    "class": ZooConfig(
        name="class", scales=("small",), families=tuple(FAMILIES), seeds=(0, 1),
        schedule=replace(_FULL_SCHEDULE, lm_steps=150, vision_steps=200, stage1_steps=100, stage2_steps=500,
                         n_text=1200, n_captions=1000, n_train=600),
        n_eval=100),
    # the book's zoo: 4 families x 3 scales x 2 seeds, emergence checkpoints for two families
    "full": ZooConfig(
        name="full", scales=("small", "medium", "large"), families=tuple(FAMILIES), seeds=(0, 1),
        schedule=_FULL_SCHEDULE, emergence=(("fusion", "medium"), ("language", "medium")), n_eval=500),
}
