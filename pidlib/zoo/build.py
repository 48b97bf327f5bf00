"""Build the zoo: train every configured model, save it with ``save_pretrained``.

Layout of ``OUT`` (``data/zoo`` for the full zoo, ``data/zoo/smoke`` for the smoke one)::

    aligned-SCALE/              after LM + vision pretraining and stage 1 (shared by families)
    FAMILY-SCALE/               the zoo members (after stage 2)
    emergence/FAMILY-SCALE/     checkpoints along stages 1 and 2 of one member:
        init/                   random initialisation (nothing trained)
        stage1-stepN/           during stage 1 (N = 0: pretrained towers, random projector)
        stage2-stepN/           during stage 2
    manifest.json               every model above: path, family, scale, stage, step, hash

Each model directory is a normal Hugging Face directory (``config.json``,
``model.safetensors``, tokenizer and processor files) plus ``provenance.json`` (command,
parameters, config hash, package versions, date, timings, losses, eval accuracy).
A directory is written under a temporary name and renamed when complete, so an
interrupted build never leaves a half-written model; a rerun skips every model whose
``provenance.json`` carries the same config hash.
"""
from __future__ import annotations

import copy
import json
import os
import platform
import shutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from pidlib.zoo.config import CONFIGS, FAMILIES, SCALES, ZooConfig, config_hash


def package_versions() -> dict:
    import importlib.metadata as md
    out = {"python": platform.python_version()}
    for p in ("torch", "transformers", "tokenizers", "numpy", "pillow", "safetensors"):
        try:
            out[p] = md.version(p)
        except md.PackageNotFoundError:
            out[p] = None
    return out


def is_built(path: Path, h: str) -> bool:
    """True when ``path`` holds a finished model built with config hash ``h``."""
    prov = path / "provenance.json"
    if not (prov.is_file() and (path / "model.safetensors").is_file()):
        return False
    try:
        return json.loads(prov.read_text()).get("config_hash") == h
    except json.JSONDecodeError:
        return False


def save_model(model, processor, path: Path, provenance: dict) -> None:
    """``save_pretrained`` model + processor + provenance.json into ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".tmp-{path.name}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    model.save_pretrained(tmp, safe_serialization=True)
    processor.save_pretrained(tmp)
    (tmp / "provenance.json").write_text(json.dumps(provenance, indent=2, sort_keys=True) + "\n")
    if path.exists():
        shutil.rmtree(path)
    os.replace(tmp, path)


def load_model(path: Path):
    """Load a zoo model and its processor by path (``from_pretrained``)."""
    from transformers import AutoProcessor, LlavaForConditionalGeneration
    model = LlavaForConditionalGeneration.from_pretrained(path)
    return model, AutoProcessor.from_pretrained(path)


class Builder:
    """Trains the models of one :class:`ZooConfig` into ``out``.

    Parameters
    ----------
    config : ZooConfig
    out : path
    progress : bool
        tqdm bars per stage and a line per model.
    command : str, optional
        Recorded in the provenance (defaults to ``sys.argv``).
    """

    def __init__(self, config: ZooConfig, out, *, progress: bool = True, command: str | None = None):
        self.config = config
        self.out = Path(out)
        self.progress = progress
        self.command = command or " ".join([Path(sys.executable).name, "-m", "pidlib.zoo"] + sys.argv[1:])
        self.log = print if progress else (lambda *a, **k: None)

    # -------------------------------------------------------------- helpers
    def _prov(self, kind: str, name: str, params: dict, **extra) -> dict:
        return {"kind": kind, "name": name, "config": self.config.name, "config_hash": config_hash(params),
                "parameters": params, "command": self.command, "versions": package_versions(),
                "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "torch_threads": __import__("torch").get_num_threads(), **extra}

    def _eval(self, model, processor) -> dict:
        from pidlib.world import make_samples
        from pidlib.zoo.train import mc_accuracy
        ev = make_samples("all", self.config.n_eval * 5, seed=self.config.seed, split="eval")
        return mc_accuracy(model, processor, ev)

    # -------------------------------------------------------------- stages
    def build_aligned(self, scale: str):
        """LM pretraining, vision pretraining, stage 1 -> ``aligned-SCALE``."""
        import torch
        from pidlib.zoo.model import make_model, make_processor
        from pidlib.zoo.train import train_lm, train_stage1, train_vision

        cfg, s = self.config, self.config.schedule
        params = cfg.base_params(scale)
        h = config_hash(params)
        path = self.out / f"aligned-{scale}"
        if is_built(path, h):
            self.log(f"[zoo] aligned-{scale}: up to date ({h})")
            return path
        arch = SCALES[scale]
        seed = cfg.seed * 1000 + list(SCALES).index(scale)
        processor = make_processor(arch.patch_size)
        model = make_model(arch, processor.tokenizer, seed=seed)
        emerge = cfg.emergence is not None and cfg.emergence[1] == scale
        em_dir = self.out / "emergence" / f"{cfg.emergence[0]}-{scale}" if emerge else None
        times, losses = {}, {}
        if emerge:
            save_model(model, processor, em_dir / "init",
                       self._prov("checkpoint", "init", params, stage="init", step=0,
                                  accuracy=self._eval(model, processor)))
        t = time.time()
        losses["lm"] = train_lm(model, processor, s, seed, self.progress)
        times["lm"] = time.time() - t
        t = time.time()
        losses["vision"] = train_vision(model, processor, s, seed, self.progress)
        times["vision"] = time.time() - t
        want = {int(round(f * s.stage1_steps)) for f in cfg.stage1_checkpoints} if emerge else set()

        def ckpt(step):
            if step in want:
                save_model(model, processor, em_dir / f"stage1-step{step}",
                           self._prov("checkpoint", f"stage1-step{step}", params, stage="stage1", step=step,
                                      accuracy=self._eval(model, processor)))
        ckpt(0)
        t = time.time()
        losses["stage1"] = train_stage1(model, processor, s, seed, self.progress, callback=ckpt)
        times["stage1"] = time.time() - t
        model.eval()
        acc = self._eval(model, processor)
        save_model(model, processor, path, self._prov(
            "aligned", f"aligned-{scale}", params, scale=scale, stage="stage1", step=s.stage1_steps,
            seconds=times, final_loss={k: float(np.mean(v[-20:])) for k, v in losses.items()},
            n_params=sum(p.numel() for p in model.parameters()), accuracy=acc))
        self.log(f"[zoo] aligned-{scale}: {sum(times.values()):.0f}s {times} acc {acc}")
        return path

    def build_member(self, family: str, scale: str):
        """Stage 2 on top of ``aligned-SCALE`` -> ``FAMILY-SCALE``."""
        import torch
        from pidlib.zoo.train import train_stage2

        cfg, s = self.config, self.config.schedule
        params = cfg.member_params(family, scale)
        h = config_hash(params)
        path = self.out / f"{family}-{scale}"
        if is_built(path, h):
            self.log(f"[zoo] {family}-{scale}: up to date ({h})")
            return path
        base = self.build_aligned(scale)
        model, processor = load_model(base)
        seed = cfg.seed * 1000 + 100 + list(SCALES).index(scale)
        emerge = cfg.emergence == (family, scale)
        em_dir = self.out / "emergence" / f"{family}-{scale}"
        want = {int(round(f * s.stage2_steps)) for f in cfg.stage2_checkpoints} if emerge else set()

        def ckpt(step):
            if step in want:
                save_model(model, processor, em_dir / f"stage2-step{step}",
                           self._prov("checkpoint", f"stage2-step{step}", params, stage="stage2", step=step,
                                      family=family, scale=scale, accuracy=self._eval(model, processor)))
        t = time.time()
        losses = train_stage2(model, processor, s, seed, FAMILIES[family].tune_lm, self.progress, callback=ckpt)
        secs = time.time() - t
        model.eval()
        acc = self._eval(model, processor)
        base_prov = json.loads((base / "provenance.json").read_text())
        save_model(model, processor, path, self._prov(
            "member", f"{family}-{scale}", params, family=family, scale=scale, stage="stage2",
            step=s.stage2_steps, seconds={**base_prov.get("seconds", {}), "stage2": secs},
            final_loss={**base_prov.get("final_loss", {}), "stage2": float(np.mean(losses[-20:]))},
            n_params=sum(p.numel() for p in model.parameters()), accuracy=acc))
        self.log(f"[zoo] {family}-{scale}: stage2 {secs:.0f}s acc {acc}")
        return path

    def build(self) -> Path:
        """Build every member (and what it needs), then write ``manifest.json``."""
        self.out.mkdir(parents=True, exist_ok=True)
        for scale in self.config.scales:
            for family in self.config.families:
                self.build_member(family, scale)
        return self.write_manifest()

    def write_manifest(self) -> Path:
        """``manifest.json``: one entry per model directory under ``out`` (atomic write)."""
        rows = []
        for prov in sorted(self.out.rglob("provenance.json")):
            if any(part.startswith(".tmp-") for part in prov.parts):
                continue
            p = json.loads(prov.read_text())
            d = prov.parent
            rows.append({"path": str(d.relative_to(self.out)), "name": p["name"], "kind": p["kind"],
                         "family": p.get("family", p["parameters"].get("family", {}).get("name")
                                     if isinstance(p["parameters"].get("family"), dict) else None),
                         "scale": p.get("scale", p["parameters"].get("scale")
                                    or p["parameters"].get("base", {}).get("scale")),
                         "stage": p.get("stage"), "step": p.get("step"), "config_hash": p["config_hash"],
                         "accuracy": p.get("accuracy"), "seconds": p.get("seconds")})
        man = {"config": self.config.to_dict(), "families": {k: v.description for k, v in FAMILIES.items()},
               "models": rows, "command": self.command, "versions": package_versions(),
               "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        path = self.out / "manifest.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(man, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, path)
        return path


def default_out(config: str) -> Path:
    return Path("data/zoo") if config == "full" else Path("data/zoo") / config


def build(config: str | ZooConfig = "smoke", out=None, *, progress: bool = True) -> Path:
    """Build a zoo configuration; returns the path of its ``manifest.json``."""
    cfg = CONFIGS[config] if isinstance(config, str) else config
    return Builder(cfg, out if out is not None else default_out(cfg.name), progress=progress).build()
