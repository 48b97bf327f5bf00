"""Where the zoo's training time goes, and what the fixes bought (same process, same data).

Measured, per scale of :data:`pidlib.zoo.config.SCALES` (untrained models of that shape,
batch sizes of the ``full`` schedule, one torch thread unless ``--threads``):

- data: rendering + prompt formatting + processor for the stage-2 samples of one
  (scale, seed) unit (``n_train`` per unit weight), once per unit (what the builder
  does now: one encoding shared by the four families) vs once per family (before);
- LM pretraining: ms per step with one forward per batch (now) vs the former two
  forwards (a second one for the answer-letter loss);
- stage 2: ms per step for the three kinds of family (projector + LM tuned; projector
  only, LM frozen; projector + LM + vision tower), and the split of one step into
  forward, backward and optimizer;
- threads: ms per stage-2 step with 1 and with 2 torch threads (the build runs two
  one-thread processes instead).

Prints a table and the ratios. Usage::

    python benchmarks/zoo_train.py                       # small, medium, large
    python benchmarks/zoo_train.py --scales small --steps 5 --smoke
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from dataclasses import replace


def _timed(fn, reps: int) -> float:
    """Seconds per call of ``fn`` (one warm-up call first)."""
    fn()
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t) / reps


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scales", default="small,medium,large")
    ap.add_argument("--steps", type=int, default=10, help="timed steps per measurement")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--smoke", action="store_true", help="tiny data sizes (a quick end-to-end check)")
    args = ap.parse_args(argv)

    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(args.threads)
    from transformers.utils import logging as hf_logging
    hf_logging.disable_progress_bar()

    from pidlib.zoo import train as T
    from pidlib.zoo.config import CONFIGS, FAMILIES, SCALES
    from pidlib.zoo.model import make_model, make_processor

    sched = CONFIGS["full"].schedule
    if args.smoke:
        sched = replace(sched, n_train=8, n_text=64)
    print(f"machine: {platform.machine()} {os.cpu_count()} cpus, python {platform.python_version()}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} torch thread(s), load {os.getloadavg()[0]:.1f}")
    n_fams = len(FAMILIES)

    # ---- data: once per unit vs once per family
    proc = make_processor(8)
    t = time.perf_counter()
    cache: dict = {}
    T.mc_train_set(proc, sched, 0, cache=cache)
    once = time.perf_counter() - t
    t = time.perf_counter()
    for fam in FAMILIES:
        T.mc_train_set(proc, sched, 0, cache=cache)   # the builder's later families: cache hits
    hits = time.perf_counter() - t
    n_samples = sum(int(sched.n_train * w) for _, w in sched.stage2_weights)
    print(f"\nstage-2 data of one unit ({n_samples} samples): encode {once:.1f} s; "
          f"{n_fams} families re-encoding: {n_fams * once:.1f} s, sharing one encoding: {once + hits:.1f} s "
          f"-> {n_fams * once / (once + hits):.1f}x")

    rows = []
    for scale in [s.strip() for s in args.scales.split(",") if s.strip()]:
        arch = SCALES[scale]
        model = make_model(arch, proc.tokenizer, seed=0)
        pad = proc.tokenizer.pad_token_id
        # ---- LM pretraining: one forward (now) vs two (before)
        seqs, ans = T.text_corpus(proc, replace(sched, n_text=max(64, sched.lm_batch * 2)), 0)
        idx = list(range(sched.lm_batch))
        ids, mask = T._left_pad([seqs[i] for i in idx], pad)
        params = T._set_trainable(model, T._lm_modules(model))
        opt = torch.optim.AdamW(params, lr=1e-4)

        def lm_now():
            out = model(input_ids=ids, attention_mask=mask, position_ids=T.positions(mask), use_cache=False)
            lg, tgt, tm = out.logits[:, :-1], ids[:, 1:], mask[:, 1:].bool()
            qa = torch.tensor([ans[i] >= 0 for i in idx])
            loss = F.cross_entropy(lg[tm], tgt[tm]) + F.cross_entropy(lg[qa, -1], tgt[qa, -1])
            opt.zero_grad(); loss.backward(); opt.step()

        def lm_before():
            amask = torch.zeros_like(mask)
            for r, i in enumerate(idx):
                if ans[i] >= 0:
                    amask[r, -1] = 1
            loss = T._seq_loss(model, ids, mask, mask) + T._seq_loss(model, ids, mask, amask)
            opt.zero_grad(); loss.backward(); opt.step()

        lm_a, lm_b = _timed(lm_now, args.steps), _timed(lm_before, args.steps)
        # ---- stage 2 per family kind
        data = T.mc_train_set(proc, sched, 0, cache=cache)
        seqs2, pix, target = data
        b = torch.arange(sched.stage2_batch)
        ids2, mask2 = T._left_pad([seqs2[i] for i in b], pad)
        times = {}
        for kind, tune_lm, tune_vis in (("LM tuned", True, False), ("LM frozen", False, False),
                                        ("LM+tower tuned", True, True)):
            mods = [model.model.multi_modal_projector] + (T._lm_modules(model) if tune_lm else []) \
                + ([model.model.vision_tower] if tune_vis else [])
            ps = T._set_trainable(model, mods)
            o = torch.optim.AdamW(ps, lr=1e-4)
            split = {"forward": 0.0, "backward": 0.0, "optimizer": 0.0}

            def step():
                t0 = time.perf_counter()
                out = model(input_ids=ids2, attention_mask=mask2, position_ids=T.positions(mask2),
                            pixel_values=pix[b], logits_to_keep=1, use_cache=False)
                loss = F.cross_entropy(out.logits[:, -1], target[b])
                t1 = time.perf_counter()
                o.zero_grad(); loss.backward()
                t2 = time.perf_counter()
                torch.nn.utils.clip_grad_norm_(ps, 1.0); o.step()
                t3 = time.perf_counter()
                split["forward"] += t1 - t0; split["backward"] += t2 - t1; split["optimizer"] += t3 - t2

            times[kind] = _timed(step, args.steps)
            if kind == "LM tuned":
                tot = sum(split.values())
                times["split"] = {k: v / tot for k, v in split.items()}
        # ---- threads
        ps = T._set_trainable(model, [model.model.multi_modal_projector] + T._lm_modules(model))
        o = torch.optim.AdamW(ps, lr=1e-4)

        def step1():
            out = model(input_ids=ids2, attention_mask=mask2, position_ids=T.positions(mask2),
                        pixel_values=pix[b], logits_to_keep=1, use_cache=False)
            loss = F.cross_entropy(out.logits[:, -1], target[b])
            o.zero_grad(); loss.backward(); o.step()

        th = {}
        for n in (1, 2):
            torch.set_num_threads(n)
            th[n] = _timed(step1, args.steps)
        torch.set_num_threads(args.threads)
        rows.append((scale, sum(p.numel() for p in model.parameters()), lm_a, lm_b, times, th))

    print(f"\n{'scale':8s} {'params':>8s} {'LM step':>9s} {'LM before':>10s} {'ratio':>6s} "
          f"{'S2 LM tuned':>12s} {'S2 frozen':>10s} {'S2 +tower':>10s} {'fwd/bwd/opt':>14s} {'2 thr':>7s} {'ratio':>6s}")
    for scale, n, a, bb, tm, th in rows:
        sp = tm["split"]
        print(f"{scale:8s} {n:8d} {1e3 * a:7.1f}ms {1e3 * bb:8.1f}ms {bb / a:5.2f}x "
              f"{1e3 * tm['LM tuned']:10.1f}ms {1e3 * tm['LM frozen']:8.1f}ms {1e3 * tm['LM+tower tuned']:8.1f}ms "
              f"{sp['forward']:.0%}/{sp['backward']:.0%}/{sp['optimizer']:.0%}".ljust(14)
              + f" {1e3 * th[2]:5.1f}ms {th[1] / th[2]:5.2f}x")
    print("\nratio columns: LM pretraining step before/now (one forward instead of two); "
          "stage-2 step with 1 thread / with 2 threads")
    return 0


if __name__ == "__main__":
    sys.exit(main())
