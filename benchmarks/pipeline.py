"""Throughput of the three-probe pass: the paper's pattern vs pidlib's stacked forward.

Builds a random-init LLaVA-1.5-7B-shaped model from a config (no download): CLIP
ViT-L/14 at 336 px (576 image tokens) + a Llama-2-7B-shaped decoder, bf16 on CUDA, with
prompts of 636 tokens. ``--tiny`` (the default without a GPU) uses a tiny shape on CPU so
the script runs anywhere.

Patterns timed (same model, same samples, same run):

- ``paper``: per sample, batch 1, three ``generate(max_new_tokens=1, output_scores=True)``
  calls (full from ``input_ids`` + pixels; visual-only and language-only from
  ``inputs_embeds`` built with one more vision pass), as in the paper's code;
- ``ours``: :func:`pidlib.probes.pipeline.probe_batch`, B samples per forward stacked as
  3B rows, vision tower once per sample, ``logits_to_keep=1``;
- ``ours+prefix`` (``--prefix-sharing``): as ``ours`` but the full and visual-only rows
  share the key/value cache of their common prefix (everything before the question),
  computed once per sample.

Prints samples/s for each and the ratio to ``paper``; ``--json PATH`` writes them with
the shape, device and package versions.

Usage::

    python benchmarks/pipeline.py                          # 7B shape on CUDA, tiny on CPU
    python benchmarks/pipeline.py --shape llava-1.5-7b --prefix-sharing --json out.json   # GPU
    python benchmarks/pipeline.py --shape llava-1.5-7b --devices 2   # the model split over 2 GPUs
    python benchmarks/pipeline.py --tiny --n 8

``--shape llava-1.5-7b`` requires CUDA (it refuses to run the 7B shape on a CPU);
``--devices N`` (CUDA, N > 1) places the model's layers over N GPUs with accelerate
(``infer_auto_device_map`` on a balanced memory budget, then ``dispatch_model``), the
same placement ``pidlib run --device-map balanced`` makes.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import torch


def dispatch(model, n_devices: int):
    """Spread ``model`` over ``n_devices`` GPUs (accelerate's balanced placement)."""
    from accelerate import dispatch_model, infer_auto_device_map
    from accelerate.utils import get_balanced_memory

    no_split = list(getattr(model, "_no_split_modules", None) or [])
    mem = get_balanced_memory(model, max_memory={i: torch.cuda.get_device_properties(i).total_memory
                                                 for i in range(n_devices)}, no_split_module_classes=no_split)
    dm = infer_auto_device_map(model, max_memory=mem, no_split_module_classes=no_split)
    return dispatch_model(model, device_map=dm), dm


def build_model(tiny: bool, device: str, dtype: torch.dtype):
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

    if tiny:
        vis = CLIPVisionConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                               num_attention_heads=4, image_size=56, patch_size=14, projection_dim=64)
        txt = LlamaConfig(vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                          num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=1024)
        n_text = 60
    else:  # llava-hf/llava-1.5-7b-hf shapes
        vis = CLIPVisionConfig(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24,
                               num_attention_heads=16, image_size=336, patch_size=14, projection_dim=768,
                               hidden_act="quick_gelu")
        txt = LlamaConfig(vocab_size=32064, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                          num_attention_heads=32, num_key_value_heads=32, max_position_embeddings=4096,
                          rms_norm_eps=1e-5)
        n_text = 60
    cfg = LlavaConfig(vision_config=vis, text_config=txt, image_token_id=txt.vocab_size - 1,
                      vision_feature_select_strategy="default", vision_feature_layer=-2, pad_token_id=0)
    with torch.device(device):  # initialize directly on the GPU, in the target dtype
        torch.manual_seed(0)
        model = LlavaForConditionalGeneration._from_config(cfg, dtype=dtype)
    return model.eval(), n_text


def make_items(model, n: int, n_text: int, device: str):
    """Synthetic samples: [BOS, 3 words] + image tokens + question (n_text - 7) + [3 words]."""
    from pidlib.models.base import Prepared
    from pidlib.probes.pipeline import ProbeItem

    c = model.config
    side = c.vision_config.image_size // c.vision_config.patch_size
    n_img = side * side
    g = torch.Generator().manual_seed(0)
    items = []
    n_q = n_text - 7
    for i in range(n):
        pre = [1] + torch.randint(10, 400, (3,), generator=g).tolist()
        q = torch.randint(10, 400, (n_q,), generator=g).tolist()
        post = torch.randint(10, 400, (3,), generator=g).tolist()
        ids = torch.tensor(pre + [c.image_token_id] * n_img + q + post)
        mask = torch.zeros(len(ids), dtype=torch.bool)
        mask[len(pre) + n_img:len(pre) + n_img + n_q] = True
        pv = torch.randn(1, 3, c.vision_config.image_size, c.vision_config.image_size, generator=g)
        items.append(ProbeItem(str(i), 4, "A", Prepared(ids, mask, {"pixel_values": pv}, ""),
                               option_ids=[[29909], [29933], [29907], [29928]] if n_img > 100
                               else [[65], [66], [67], [68]]))
    return items


def noise_stats(model):
    from pidlib.probes.noise import NoiseStats

    d = model.config.text_config.hidden_size
    return NoiseStats(torch.zeros(d, dtype=torch.float64), torch.ones(d, dtype=torch.float64) * 0.02,
                      torch.zeros(d, dtype=torch.float64), torch.ones(d, dtype=torch.float64) * 0.02)


@torch.inference_mode()
def run_paper(adapter, items, stats):
    """Batch 1, three generate(max_new_tokens=1) calls per sample."""
    from pidlib.probes.pipeline import probe_rows

    model, dev = adapter.model, adapter.device
    for it in items:
        p = it.prepared
        ids = p.input_ids[None].to(dev)
        am = torch.ones_like(ids)
        pv = p.vision_inputs["pixel_values"].to(dev, adapter.dtype)
        model.generate(input_ids=ids, attention_mask=am, pixel_values=pv, max_new_tokens=1, do_sample=False,
                       output_scores=True, return_dict_in_generate=True, pad_token_id=0)
        full, vis, lang = probe_rows(adapter, it, stats, seed=0, dataset="bench").rows
        for e in (vis, lang):
            model.generate(inputs_embeds=e[None], attention_mask=am, max_new_tokens=1, do_sample=False,
                           output_scores=True, return_dict_in_generate=True, pad_token_id=0)


@torch.inference_mode()
def run_ours(adapter, items, stats, batch_size: int, prefix: bool):
    from pidlib.probes.pipeline import probe_batch

    for s in range(0, len(items), batch_size):
        probe_batch(adapter, items[s:s + batch_size], stats, seed=0, dataset="bench", tau=0.3,
                    share_prefix=prefix)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        for i in range(torch.cuda.device_count()):
            torch.cuda.synchronize(i)


def timed(fn, n: int, device: str) -> float:
    _sync(device)
    t = time.perf_counter()
    fn()
    _sync(device)
    return n / (time.perf_counter() - t)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tiny", action="store_true", help="tiny shape on CPU (default without CUDA)")
    ap.add_argument("--shape", choices=("auto", "tiny", "llava-1.5-7b"), default="auto",
                    help="model shape: llava-1.5-7b (needs CUDA), tiny, or auto (7B on CUDA, tiny otherwise)")
    ap.add_argument("--devices", type=int, default=1, help="GPUs to split the model over (CUDA; default 1)")
    ap.add_argument("--n", type=int, default=None, help="samples per pattern (64 on GPU, 6 tiny)")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--prefix-sharing", action="store_true", help="also time ours+prefix")
    ap.add_argument("--repeats", type=int, default=2, help="timed repetitions (best kept)")
    ap.add_argument("--json", default=None, help="write the results here")
    args = ap.parse_args(argv)

    if args.shape == "llava-1.5-7b" and not torch.cuda.is_available():
        ap.error("--shape llava-1.5-7b needs CUDA (use --tiny on a CPU)")
    if args.devices < 1 or (args.devices > 1 and torch.cuda.device_count() < args.devices):
        ap.error(f"--devices {args.devices}: {torch.cuda.device_count()} CUDA device(s) here")
    cuda = torch.cuda.is_available() and not args.tiny and args.shape != "tiny"
    device = "cuda" if cuda else "cpu"
    dtype = torch.bfloat16 if cuda else torch.float32
    if not cuda:
        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    from pidlib.models import adapter_for

    device_map = None
    if args.devices > 1:
        model, n_text = build_model(not cuda, "cpu", dtype)
        model, device_map = dispatch(model, args.devices)
    else:
        model, n_text = build_model(not cuda, device, dtype)
    adapter = adapter_for(model, None, None, name="random-init llava-1.5-7b shape" if cuda else "tiny llava")
    n = args.n or (64 if cuda else 6)
    items = make_items(model, n, n_text, device)
    stats = noise_stats(model)
    seq = len(items[0].prepared.input_ids)
    print(f"device {device} ({torch.cuda.get_device_name() if cuda else 'cpu'}), dtype {dtype}, "
          f"sequence {seq} tokens ({int(adapter.image_mask(items[0].prepared.input_ids).sum())} image), "
          f"n {n}, batch {args.batch_size}" + (f", model over {args.devices} GPUs" if device_map else ""))

    patterns = {"paper": lambda: run_paper(adapter, items, stats),
                "ours": lambda: run_ours(adapter, items, stats, args.batch_size, False)}
    if args.prefix_sharing:
        patterns["ours+prefix"] = lambda: run_ours(adapter, items, stats, args.batch_size, True)
    warm = items[: min(len(items), args.batch_size)]
    run_paper(adapter, warm[:1], stats)
    run_ours(adapter, warm, stats, args.batch_size, False)
    if args.prefix_sharing:
        run_ours(adapter, warm, stats, args.batch_size, True)
    res = {}
    for name, fn in patterns.items():
        res[name] = max(timed(fn, n, device) for _ in range(args.repeats))
    for name, v in res.items():
        print(f"{name:<12} {v:8.2f} samples/s   x{v / res['paper']:.2f} vs paper")
    if args.json:
        import transformers

        out = {"samples_per_s": res, "ratio_vs_paper": {k: v / res["paper"] for k, v in res.items()},
               "device": torch.cuda.get_device_name() if cuda else "cpu", "dtype": str(dtype),
               "sequence_tokens": seq, "n": n, "batch_size": args.batch_size, "tiny": not cuda,
               "devices": args.devices, "device_map": {k: str(v) for k, v in (device_map or {}).items()},
               "torch": torch.__version__, "transformers": transformers.__version__,
               "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "command": " ".join(sys.argv)}
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
