"""Build the zoo: train every configured model, save it with ``save_pretrained``.

Layout of ``OUT`` (``data/zoo`` for the full zoo, ``data/zoo/CONFIG`` for the others)::

    aligned-SCALE-sSEED/        after LM + vision pretraining and stage 1 (shared by families)
    FAMILY-SCALE-sSEED/         the zoo members (after stage 2)
    emergence/FAMILY-SCALE-sSEED/   checkpoints along stages 1 and 2 of one member:
        stage1-stepN/           during stage 1 (N = 0: pretrained towers, random projector);
                                the same weights for every family of that (scale, seed)
        stage2-stepN/           during stage 2
    manifest.json               every model above: path, family, scale, seed, stage, step, ...

Each model directory is a normal Hugging Face directory (``config.json``,
``model.safetensors``, tokenizer and processor files) plus ``provenance.json`` (command,
parameters, config hash, package versions, date, timings, losses, eval accuracy).
A directory is written under a temporary name and renamed when complete, so an
interrupted build never leaves a half-written model; a rerun skips every model whose
``provenance.json`` carries the same config hash.

The unit of work is one (scale, seed): its ``aligned`` model, then every family's stage
2 on top of it. ``jobs > 1`` trains units in that many worker processes (one torch thread
each, largest units first); the weights do not depend on the number of jobs or the order.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from pidlib.cpu import capability
from pidlib.zoo.config import (CONFIGS, FAMILIES, SCALES, ZooConfig, aligned_name, config_hash,
                               member_name)


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
        tqdm bars per stage.
    command : str, optional
        Recorded in the provenance (defaults to ``sys.argv``).
    log : callable or False, optional
        Where the per-model lines (stage timings, accuracy) and the build's timing summary
        go: ``print`` by default, nowhere with ``False``.
    """

    def __init__(self, config: ZooConfig, out, *, progress: bool = True, command: str | None = None,
                 log=None):
        self.config = config
        self.out = Path(out)
        self.progress = progress
        self.command = command or " ".join([Path(sys.executable).name, "-m", "pidlib.zoo"] + sys.argv[1:])
        self._verbose = log is not False
        self.log = (lambda *a, **k: None) if log is False else (log or print)
        self._cache: dict = {}
        from transformers.utils import logging as hf_logging
        hf_logging.disable_progress_bar()   # no "Loading weights" / "Writing model shards" bars

    # -------------------------------------------------------------- helpers
    def _prov(self, kind: str, name: str, params: dict, **extra) -> dict:
        return {"kind": kind, "name": name, "config": self.config.name, "config_hash": config_hash(params),
                "parameters": params, "command": self.command, "versions": package_versions(),
                "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "torch_threads": __import__("torch").get_num_threads(), "cpu_capability": capability(), **extra}

    def _eval(self, model, processor) -> dict:
        """Accuracy per task family on ``n_eval`` eval-split samples each (encoded once)."""
        from pidlib.world import make_samples
        from pidlib.zoo.train import encode_multimodal, mc_accuracy, mc_prompts
        key = ("eval", processor.patch_size)
        if key not in self._cache:
            ev = make_samples("all", self.config.n_eval * 5, seed=0, split="eval")
            self._cache[key] = (ev, encode_multimodal(processor, mc_prompts(processor, ev), [s.image for s in ev]))
        ev, enc = self._cache[key]
        return mc_accuracy(model, processor, ev, encoded=enc)

    @staticmethod
    def _seed(seed: int, scale: str, stage2: bool = False) -> int:
        return int(seed) * 1000 + (100 if stage2 else 0) + list(SCALES).index(scale)

    # -------------------------------------------------------------- stages
    def build_aligned(self, scale: str, seed: int = 0):
        """LM pretraining, vision pretraining, stage 1 -> ``aligned-SCALE-sSEED``."""
        from pidlib.zoo.model import make_model, make_processor
        from pidlib.zoo.train import train_lm, train_stage1, train_vision

        cfg, s = self.config, self.config.schedule
        params = cfg.base_params(scale, seed)
        h = config_hash(params)
        name = aligned_name(scale, seed)
        path = self.out / name
        if is_built(path, h):
            self.log(f"[zoo] {name}: up to date ({h})")
            return path
        arch = SCALES[scale]
        tseed = self._seed(seed, scale)
        processor = make_processor(arch.patch_size)
        model = make_model(arch, processor.tokenizer, seed=tseed)
        em_fams = cfg.emergent_families(scale)
        times, losses = {}, {}
        t = time.time()
        losses["lm"] = train_lm(model, processor, s, tseed, self.progress)
        times["lm"] = time.time() - t
        t = time.time()
        losses["vision"] = train_vision(model, processor, s, tseed, self.progress)
        times["vision"] = time.time() - t
        want = {int(round(f * s.stage1_steps)) for f in cfg.stage1_checkpoints} if em_fams else set()

        def ckpt(step):
            if step in want:
                acc = self._eval(model, processor)
                for fam in em_fams:
                    save_model(model, processor,
                               self.out / "emergence" / member_name(fam, scale, seed) / f"stage1-step{step}",
                               self._prov("checkpoint", f"stage1-step{step}", params, stage="stage1", step=step,
                                          family=fam, scale=scale, seed=int(seed), accuracy=acc,
                                          n_params=sum(p.numel() for p in model.parameters())))
        ckpt(0)
        t = time.time()
        losses["stage1"] = train_stage1(model, processor, s, tseed, self.progress, callback=ckpt)
        times["stage1"] = time.time() - t
        model.eval()
        t = time.time()
        acc = self._eval(model, processor)
        times["eval"] = time.time() - t
        save_model(model, processor, path, self._prov(
            "aligned", name, params, scale=scale, seed=int(seed), stage="stage1", step=s.stage1_steps,
            seconds=times, final_loss={k: float(np.mean(v[-20:])) for k, v in losses.items()},
            n_params=sum(p.numel() for p in model.parameters()), accuracy=acc))
        self.log(f"[zoo] {name}: {sum(times.values()):.0f}s ("
                 + ", ".join(f"{k} {v:.0f}s" for k, v in times.items()) + ") " + _fmt_acc(acc))
        return path

    def build_member(self, family: str, scale: str, seed: int = 0):
        """Stage 2 on top of ``aligned-SCALE-sSEED`` -> ``FAMILY-SCALE-sSEED``."""
        from pidlib.zoo.train import mc_train_set, train_stage2

        cfg = self.config
        s = cfg.schedule_for(family)
        fam = FAMILIES[family]
        params = cfg.member_params(family, scale, seed)
        h = config_hash(params)
        name = member_name(family, scale, seed)
        path = self.out / name
        if is_built(path, h):
            self.log(f"[zoo] {name}: up to date ({h})")
            return path
        base = self.build_aligned(scale, seed)
        model, processor = load_model(base)
        tseed = self._seed(seed, scale, stage2=True)
        em_dir = self.out / "emergence" / name
        want = {int(round(f * s.stage2_steps)) for f in cfg.stage2_checkpoints} \
            if (family, scale) in cfg.emergence else set()

        def ckpt(step):
            if step in want:
                save_model(model, processor, em_dir / f"stage2-step{step}",
                           self._prov("checkpoint", f"stage2-step{step}", params, stage="stage2", step=step,
                                      family=family, scale=scale, seed=int(seed),
                                      accuracy=self._eval(model, processor),
                                      n_params=sum(p.numel() for p in model.parameters())))
        t = time.time()
        data = mc_train_set(processor, s, tseed, cache=self._cache)
        t_data = time.time() - t
        t = time.time()
        losses = train_stage2(model, processor, s, tseed, fam.tune_lm, self.progress, callback=ckpt,
                              tune_vision=fam.tune_vision, data=data)
        secs = time.time() - t
        model.eval()
        t = time.time()
        acc = self._eval(model, processor)
        t_eval = time.time() - t
        base_prov = json.loads((base / "provenance.json").read_text())
        seconds = {**{k: v for k, v in base_prov.get("seconds", {}).items() if k != "eval"},
                   "stage2_data": t_data, "stage2": secs, "eval": t_eval}
        save_model(model, processor, path, self._prov(
            "member", name, params, family=family, scale=scale, seed=int(seed), stage="stage2",
            step=s.stage2_steps, seconds=seconds,
            final_loss={**base_prov.get("final_loss", {}), "stage2": float(np.mean(losses[-20:]))},
            n_params=sum(p.numel() for p in model.parameters()), accuracy=acc))
        self.log(f"[zoo] {name}: stage2 {secs:.0f}s (data {t_data:.0f}s, eval {t_eval:.0f}s) " + _fmt_acc(acc))
        return path

    def build_unit(self, scale: str, seed: int) -> dict:
        """The aligned model of (scale, seed) and every family's member on top of it;
        returns ``{"scale", "seed", "seconds"}``."""
        t = time.time()
        for family in self.config.families:
            self.build_member(family, scale, seed)
        return {"scale": scale, "seed": int(seed), "seconds": time.time() - t}

    def units(self) -> list[tuple[str, int]]:
        """(scale, seed) units, the most expensive first (larger scales train longer)."""
        order = {s: i for i, s in enumerate(SCALES)}
        return sorted([(sc, sd) for sd in self.config.seeds for sc in self.config.scales],
                      key=lambda u: (-order[u[0]], u[1]))

    def build(self, jobs: int = 1) -> Path:
        """Build every member (and what it needs), then write ``manifest.json``.

        Prints the wall time of each unit and of the whole build.
        """
        self.out.mkdir(parents=True, exist_ok=True)
        t0 = time.time()
        units = self.units()
        if jobs <= 1 or len(units) <= 1:
            done = [self.build_unit(sc, sd) for sc, sd in units]
        else:
            done = _build_parallel(self, units, jobs)
        wall = time.time() - t0
        for d in done:
            self.log(f"[zoo] unit {d['scale']}-s{d['seed']}: {d['seconds']:.0f}s")
        self.log(f"[zoo] {self.config.name}: {len(units)} units, {wall:.0f}s wall with {max(1, jobs)} job(s)")
        return self.write_manifest(build_seconds=wall, jobs=max(1, jobs))

    # -------------------------------------------------------------- outputs
    def expected_paths(self) -> list[str]:
        """Every model directory (relative to ``out``) the config produces."""
        cfg = self.config
        out = []
        for sd in cfg.seeds:
            for sc in cfg.scales:
                out.append(aligned_name(sc, sd))
                for fam in cfg.families:
                    out.append(member_name(fam, sc, sd))
                    if (fam, sc) in cfg.emergence:
                        em = f"emergence/{member_name(fam, sc, sd)}"
                        s1, s2 = cfg.schedule.stage1_steps, cfg.schedule_for(fam).stage2_steps
                        out += [f"{em}/stage1-step{int(round(f * s1))}" for f in cfg.stage1_checkpoints]
                        out += [f"{em}/stage2-step{int(round(f * s2))}" for f in cfg.stage2_checkpoints]
        return sorted(dict.fromkeys(out))

    def write_manifest(self, **extra) -> Path:
        """``manifest.json``: one entry per model of the config (atomic write). A build that
        found every model already built leaves an existing manifest as it is, so its date,
        command and ``build_seconds`` stay those of the build that trained the models."""
        rows = []
        for rel in self.expected_paths():
            prov = self.out / rel / "provenance.json"
            if not prov.is_file():
                continue
            p = json.loads(prov.read_text())
            rows.append({"path": rel, "name": p["name"], "kind": p["kind"], "family": p.get("family"),
                         "scale": p.get("scale"), "seed": p.get("seed"), "n_params": p.get("n_params"),
                         "stage": p.get("stage"), "step": p.get("step"), "config_hash": p["config_hash"],
                         "accuracy": p.get("accuracy"), "seconds": p.get("seconds")})
        man = {"config": self.config.to_dict(), "families": {k: v.description for k, v in FAMILIES.items()
                                                             if k in self.config.families},
               "models": rows, "command": self.command, "versions": package_versions(),
               "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), **extra}
        path = self.out / "manifest.json"
        if path.is_file():  # nothing was (re)built: keep the manifest of the build that made the models
            try:
                old = json.loads(path.read_text())
            except (OSError, ValueError):
                old = {}
            same = json.loads(json.dumps({"models": rows, "config": man["config"]}, sort_keys=True))
            if old.get("models") == same["models"] and old.get("config") == same["config"]:
                return path
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(man, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, path)
        return path

    def stale_paths(self) -> list[Path]:
        """Model directories under ``out`` that the config does not produce (other zoos
        nested under ``out``, i.e. folders with their own ``manifest.json``, are left alone)."""
        keep = set(self.expected_paths())
        nested = [m.parent for m in self.out.rglob("manifest.json") if m.parent != self.out]
        out = []
        for prov in sorted(self.out.rglob("provenance.json")):
            d = prov.parent
            if any(n == d or n in d.parents for n in nested):
                continue
            rel = d.relative_to(self.out).as_posix()
            if rel not in keep:
                out.append(d)
        return out

    def prune(self) -> list[Path]:
        """Delete :meth:`stale_paths` (and folders left empty); returns what was deleted."""
        gone = self.stale_paths()
        for d in gone:
            shutil.rmtree(d)
            self.log(f"[zoo] removed {d}")
        for d in sorted((p for p in self.out.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
            if not any(d.iterdir()):
                d.rmdir()
        return gone


def _fmt_acc(acc: dict) -> str:
    return "acc " + " ".join(f"{k}={v:.2f}" for k, v in acc.items())


def _unit_worker(args):
    """Worker process: build one unit with a single torch thread."""
    cfg, out, command, scale, seed, verbose = args
    import torch
    torch.set_num_threads(1)
    b = Builder(cfg, out, progress=False, command=command,
                log=(lambda *a, **k: print(*a, **k, flush=True)) if verbose else False)
    return b.build_unit(scale, seed)


def _build_parallel(builder: Builder, units: list, jobs: int) -> list[dict]:
    from pidlib.workers import map_processes

    verbose = builder._verbose
    args = [(builder.config, builder.out, builder.command, sc, sd, verbose) for sc, sd in units]
    return map_processes(_unit_worker, args, jobs)


def default_out(config: str) -> Path:
    return Path("data/zoo") if config == "full" else Path("data/zoo") / config


def build(config: str | ZooConfig = "smoke", out=None, *, progress: bool = True, jobs: int = 1,
          log=None) -> Path:
    """Build a zoo configuration; returns the path of its ``manifest.json``."""
    cfg = CONFIGS[config] if isinstance(config, str) else config
    return Builder(cfg, out if out is not None else default_out(cfg.name), progress=progress,
                   log=log).build(jobs=jobs)
