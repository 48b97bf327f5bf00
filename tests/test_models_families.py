"""Per-family checks of the adapter + probe pipeline on tiny random-init models (fp32, CPU).

For every supported family:
- the merged-embedding path (what the probes feed the model) reproduces the model's own
  logits computed from ``input_ids`` + pixel inputs;
- the visual-only row differs from the full row exactly on the question span, the
  language-only row exactly on the image span;
- a batch (left-padded, different lengths) gives the per-sample results;
- the logit lens at the last layer equals the model's logits.
Family traps: Qwen2/2.5-VL 3-D M-RoPE positions; Gemma3 token_type_ids and scaled embeddings.
"""
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

from pidlib.models import Adapter, Prepared, adapter_for  # noqa: E402
from pidlib.models import tiny  # noqa: E402
from pidlib.probes import compute_noise_stats, lens_logits  # noqa: E402
from pidlib.probes.lens import decoder_layers  # noqa: E402
from pidlib.probes.pipeline import ProbeItem, _option_ids, forward_rows, probe_batch, probe_rows  # noqa: E402

BODIES = [
    "Question: What color is the circle ?\nOptions:\nA. red\nB. green\nC. blue\n"
    "Answer with the option's letter from the given choices directly.",
    "Question: How many ?\nOptions:\nA. one\nB. two\nAnswer with the option's letter from the given choices directly.",
    "Hint: there is a red square on the left\nQuestion: What shape is on the left ?\nOptions:\n"
    "A. circle\nB. square\nC. triangle\nD. yes\nAnswer with the option's letter from the given choices directly.",
]
N_OPTS = [3, 2, 4]


class Case:
    """An adapter, probe items and the model's own last-position logits for each item."""

    def __init__(self, adapter, items, reference):
        self.adapter, self.items, self.reference = adapter, items, reference
        self.noise = compute_noise_stats(adapter, [it.prepared for it in items], progress=False)


def manual_item(tok, index, body, block, vision, n_opts):
    """Prepared built from ids directly: "USER:" + image block + body + " ASSISTANT:"."""
    pre = tok("USER:")["input_ids"] + list(block)
    b = tok(body, add_special_tokens=False)["input_ids"]
    post = tok(" ASSISTANT:", add_special_tokens=False)["input_ids"]
    ids = torch.tensor(pre + b + post)
    mask = torch.zeros(len(ids), dtype=torch.bool)
    mask[len(pre):len(pre) + len(b)] = True
    prompt = "USER: <image>\n" + body + " ASSISTANT:"
    return ProbeItem(str(index), n_opts, "A", Prepared(ids, mask, vision, prompt))


def build_llava():
    from PIL import Image

    from pidlib.data.schema import MCSample

    model, proc = tiny.tiny_llava()
    a = adapter_for(model, proc)
    rng = np.random.RandomState(0)
    items = []
    qs = [("What color is the circle ?", ["red", "green", "blue"], None),
          ("How many ?", ["one", "two"], None),
          ("What shape is on the left ?", ["circle", "square", "triangle", "yes"], "there is a red square")]
    for i, (q, opts, hint) in enumerate(qs):
        img = Image.fromarray((rng.rand(18 + i, 20, 3) * 255).astype("uint8"))
        s = MCSample(str(i), q, opts, "A", img, hint=hint)
        items.append(ProbeItem(s.index, len(opts), "A", a.prepare(s)))

    def reference(it):
        out = model(input_ids=it.prepared.input_ids[None], **it.prepared.vision_inputs)
        return out.logits[0, -1]
    return Case(a, items, reference)


def build_llava_next():
    """LLaVA-NeXT through its own processor (AnyRes: token counts follow the image shape)."""
    from PIL import Image

    from pidlib.data.schema import MCSample

    model, proc = tiny.tiny_llava_next()
    a = adapter_for(model, proc)
    rng = np.random.RandomState(5)
    items = []
    qs = [("What color is the circle ?", ["red", "green", "blue"], None, (16, 16)),
          ("How many ?", ["one", "two"], None, (18, 40)),
          ("What shape is on the left ?", ["circle", "square", "triangle", "yes"], "there is a red square",
           (30, 30))]
    for i, (q, opts, hint, shape) in enumerate(qs):
        img = Image.fromarray((rng.rand(*shape, 3) * 255).astype("uint8"))
        s = MCSample(str(i), q, opts, "A", img, hint=hint)
        items.append(ProbeItem(s.index, len(opts), "A", a.prepare(s)))

    def reference(it):
        return model(input_ids=it.prepared.input_ids[None], **it.prepared.vision_inputs).logits[0, -1]
    return Case(a, items, reference)


def build_qwen(kind):
    if kind == "qwen3_vl":
        model, tok = tiny.tiny_qwen3_vl()
    else:
        model, tok = tiny.tiny_qwen2_vl(kind)
    a = adapter_for(model, None, tok)
    c = model.config
    grids = [(1, 4, 4), (1, 4, 8), (1, 8, 4)]
    items = []
    g = torch.Generator().manual_seed(1)
    for i, (body, k, grid) in enumerate(zip(BODIES, N_OPTS, grids)):
        t, h, w = grid
        n_tok = t * h * w // 4
        pv = torch.randn(t * h * w, 3 * 2 * 4 * 4, generator=g)
        block = [c.vision_start_token_id] + [c.image_token_id] * n_tok + [c.vision_end_token_id]
        vis = {"pixel_values": pv, "image_grid_thw": torch.tensor([grid])}
        items.append(manual_item(tok, i, body, block, vis, k))

    def reference(it):
        ids = it.prepared.input_ids[None]
        out = model(input_ids=ids, mm_token_type_ids=(ids == c.image_token_id).int(),
                    **it.prepared.vision_inputs)
        return out.logits[0, -1]
    return Case(a, items, reference)


def build_gemma3():
    model, tok = tiny.tiny_gemma3()
    a = adapter_for(model, None, tok)
    c = model.config
    g = torch.Generator().manual_seed(2)
    items = []
    for i, (body, k) in enumerate(zip(BODIES, N_OPTS)):
        block = [c.boi_token_id] + [c.image_token_id] * c.mm_tokens_per_image + [c.eoi_token_id]
        vis = {"pixel_values": torch.randn(1, 3, 16, 16, generator=g)}
        items.append(manual_item(tok, i, body, block, vis, k))

    def reference(it):
        ids = it.prepared.input_ids[None]
        out = model(input_ids=ids, token_type_ids=(ids == c.image_token_id).long(),
                    **it.prepared.vision_inputs)
        return out.logits[0, -1]
    return Case(a, items, reference)


def build_generic(family):
    """InternVL, Idefics3, PaliGemma, LLaVA-OneVision: placeholder count from the features."""
    model, tok = tiny.tiny_family(family)
    a = adapter_for(model, None, tok)
    img = a.image_token_id
    g = torch.Generator().manual_seed(3)
    shapes = {"internvl": (1, 3, 16, 16), "idefics3": (1, 1, 3, 16, 16), "paligemma": (1, 3, 16, 16),
              "llava_onevision": (1, 3, 3, 16, 16), "fuyu": (1, 6, 48), "instructblip": (1, 3, 16, 16)}
    items = []
    for i, (body, k) in enumerate(zip(BODIES, N_OPTS)):
        vis = {"pixel_values": torch.randn(*shapes[family], generator=g)}
        if family == "llava_onevision":
            vis["image_sizes"] = torch.tensor([[16, 32]])
        if family == "instructblip":  # the Q-Former's own tokens of the prompt
            vis["qformer_input_ids"] = torch.randint(1, 100, (1, 5 + i), generator=g)
            vis["qformer_attention_mask"] = torch.ones(1, 5 + i, dtype=torch.long)
        n = a.image_features(Prepared(torch.tensor([img]), torch.tensor([True]), vis)).shape[0]
        block = [img] * n
        if family == "fuyu":  # rows of 3 patches, each row ended by a newline token (text)
            nl = tok.convert_tokens_to_ids("\n")
            block = [img] * 3 + [nl] + [img] * 3 + [nl]
        items.append(manual_item(tok, i, body, block, vis, k))

    def reference(it):
        ids = it.prepared.input_ids[None]
        extra = {"token_type_ids": torch.zeros_like(ids)} if family == "paligemma" else {}
        return model(input_ids=ids, **it.prepared.vision_inputs, **extra).logits[0, -1]
    return Case(a, items, reference)


def build_mllama():
    """Mllama: one <|image|> token; image states enter through cross-attention."""
    model, tok = tiny.tiny_family("mllama")
    a = adapter_for(model, None, tok)
    img = a.config.image_token_id
    g = torch.Generator().manual_seed(4)
    items = []
    for i, (body, k) in enumerate(zip(BODIES, N_OPTS)):
        vis = {"pixel_values": torch.randn(1, 1, 2, 3, 16, 16, generator=g),
               "aspect_ratio_ids": torch.tensor([[2]]), "aspect_ratio_mask": torch.tensor([[[1, 1]]])}
        it = manual_item(tok, i, body, [img], vis, k)
        ids = it.prepared.input_ids
        cam = torch.zeros(1, len(ids), 1, 2, dtype=torch.long)
        cam[:, int((ids == img).nonzero()[0, 0]):] = 1
        vis["cross_attention_mask"] = cam
        items.append(it)

    def reference(it):
        return model(input_ids=it.prepared.input_ids[None], **it.prepared.vision_inputs).logits[0, -1]
    return Case(a, items, reference)


BUILDERS = {
    "mllama": build_mllama,
    "internvl": lambda: build_generic("internvl"),
    "idefics3": lambda: build_generic("idefics3"),
    "paligemma": lambda: build_generic("paligemma"),
    "llava_onevision": lambda: build_generic("llava_onevision"),
    "fuyu": lambda: build_generic("fuyu"),
    "instructblip": lambda: build_generic("instructblip"),
    "llava": build_llava,
    "qwen2_vl": lambda: build_qwen("qwen2_vl"),
    "qwen2_5_vl": lambda: build_qwen("qwen2_5_vl"),
    "qwen3_vl": lambda: build_qwen("qwen3_vl"),
    "llava_next": build_llava_next,
    "gemma3": build_gemma3,
}


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def case(request):
    torch.manual_seed(0)
    with torch.no_grad():
        yield BUILDERS[request.param]()


def _full_logits(case, it, adapter=None):
    adapter = adapter or case.adapter
    pr = probe_rows(adapter, it, case.noise, seed=0, dataset="t")
    logits, _ = forward_rows(adapter, [pr.rows[0]], [it.prepared.input_ids], [pr.vision[0]])
    return logits[0, -1]


@torch.no_grad()
def test_merged_path_reproduces_model_logits(case):
    for it in case.items:
        ref = case.reference(it)
        got = _full_logits(case, it)
        assert torch.allclose(got, ref, atol=1e-5, rtol=1e-4), (got - ref).abs().max()


@torch.no_grad()
def test_noise_replaces_only_the_intended_span(case):
    a = case.adapter
    for it in case.items:
        (full, vis, lang), x1, x2, rv = probe_rows(a, it, case.noise, seed=0, dataset="t")
        q = it.prepared.question_mask
        img = a.image_mask(it.prepared.input_ids)
        assert q.sum() > 0
        d_vis = (vis != full).any(-1)
        d_lang = (lang != full).any(-1)
        assert torch.equal(d_vis, q)
        assert torch.equal(d_lang, img)
        assert torch.allclose(x2, full[q].float().mean(0), atol=1e-6)
        if a.image_in_sequence:
            assert img.sum() > 0
            assert torch.allclose(x1, full[img].float().mean(0), atol=1e-6)
        else:  # Mllama: the language-only row carries noise image states, the others the features
            states = [v["image_states"] for v in rv]
            assert torch.equal(states[0], states[1]) and bool((states[2] != states[0]).all())
            assert torch.allclose(x1, states[0].float().mean(0), atol=1e-6)
        # noise is keyed by (seed, dataset, index): same key, same rows; other seed differs
        (_, vis2, lang2), _, _, _ = probe_rows(a, it, case.noise, seed=0, dataset="t")
        assert torch.equal(vis, vis2) and torch.equal(lang, lang2)
        (_, vis3, _), _, _, _ = probe_rows(a, it, case.noise, seed=1, dataset="t")
        assert not torch.equal(vis, vis3)


@torch.no_grad()
def test_batched_equals_per_sample_with_left_padding(case):
    a = case.adapter
    lengths = {len(it.prepared.input_ids) for it in case.items}
    assert len(lengths) == len(case.items)  # padding really happens
    batched = probe_batch(a, case.items, case.noise, seed=3, dataset="t", tau=0.0, layers=True)
    single = [probe_batch(a, [it], case.noise, seed=3, dataset="t", tau=0.0, layers=True)[0]
              for it in case.items]
    for rb, rs in zip(batched, single):
        assert rb["index"] == rs["index"] and rb["pred"] == rs["pred"]
        for col in ("x1", "x2", "p_full", "p_vis", "p_lang", "lens_full", "lens_vis", "lens_lang"):
            np.testing.assert_allclose(rb[col], rs[col], atol=2e-5, rtol=1e-4, err_msg=col)
        for col in ("mass_full", "mass_vis", "mass_lang"):
            assert rb[col] == pytest.approx(rs[col], rel=1e-4, abs=1e-7)
        assert len(rb["p_full"]) == 4 and len(rb["lens_full"]) == 4 * len(decoder_layers(a.model))
        assert abs(float(np.sum(rb["p_full"])) - 1) < 1e-5


@torch.no_grad()
def test_logit_lens_last_layer_equals_model_logits(case):
    a = case.adapter
    it = case.items[0]
    pr = probe_rows(a, it, case.noise, seed=0, dataset="t")
    logits, captured = forward_rows(a, list(pr.rows), [it.prepared.input_ids] * 3, pr.vision,
                                    capture=True)
    lens = lens_logits(a, captured)
    assert lens.shape[0] == len(decoder_layers(a.model))
    assert torch.allclose(lens[-1], logits[:, -1].float(), atol=1e-5, rtol=1e-4)
    assert not torch.allclose(lens[0], lens[-1], atol=1e-3)  # earlier layers read differently


def test_qwen_needs_3d_rope_positions():
    """With 1-D positions (the paper's fallback in its noised probes) logits differ."""
    for kind in ("qwen2_vl", "qwen2_5_vl", "qwen3_vl"):
        case = build_qwen(kind)
        flat = adapter_for(case.adapter.model, None, case.adapter.tokenizer)
        flat.position_ids = lambda ids, am, vis: Adapter.position_ids(flat, ids, am, vis)
        diffs = []
        with torch.no_grad():
            for it in case.items:
                ref = case.reference(it)
                assert torch.allclose(_full_logits(case, it), ref, atol=1e-5, rtol=1e-4)
                diffs.append(float((_full_logits(case, it, flat) - ref).abs().max()))
        assert max(diffs) > 1e-4, (kind, diffs)


@torch.no_grad()
def test_gemma3_token_type_ids_and_scaled_embeddings():
    case = build_gemma3()
    a = case.adapter
    it = case.items[0]
    ids = it.prepared.input_ids
    # embeddings are scaled by sqrt(hidden) inside get_input_embeddings()
    w = a.model.get_input_embeddings().weight
    d = a.text_config.hidden_size
    assert torch.allclose(a.embed(ids), w[ids] * torch.tensor(d ** 0.5, dtype=w.dtype), atol=1e-5)
    # without token_type_ids (no bidirectional image block) the logits differ
    ref = case.reference(it)
    plain = adapter_for(a.model, None, a.tokenizer)
    plain.row_inputs = lambda ids, am, vis=None: {}
    got = _full_logits(case, it, plain)
    assert float((got - ref).abs().max()) > 1e-4


@torch.no_grad()
def test_multi_token_option_is_length_normalized():
    case = BUILDERS["llava"]()
    a, it = case.adapter, case.items[1]
    tok = a.tokenizer
    A, B, C = (tok.convert_tokens_to_ids(x) for x in "ABC")
    item = ProbeItem(it.index, 2, "A", it.prepared, option_ids=[[A], [B, C]])
    row = probe_batch(a, [item], case.noise, seed=0, dataset="t", tau=0.0)[0]
    ids = it.prepared.input_ids
    lp = torch.log_softmax(a.model(input_ids=torch.cat([ids, torch.tensor([B])])[None],
                                   **it.prepared.vision_inputs).logits[0, -2:].float(), -1)
    sA, sBC = lp[0, A], (lp[0, B] + lp[1, C]) / 2
    want = torch.softmax(torch.stack([sA, sBC]), 0)
    np.testing.assert_allclose(row["p_full"][:2], want.numpy(), atol=1e-5)
    assert row["mass_full"] == pytest.approx(float(sA.exp() + sBC.exp()), rel=1e-4)


@torch.no_grad()
def test_prefix_sharing_equals_stacked_forward(case):
    """Full and visual-only rows sharing the prefix KV cache give the same numbers."""
    a = case.adapter
    plain = probe_batch(a, case.items, case.noise, seed=4, dataset="t", tau=0.0, layers=True)
    shared = probe_batch(a, case.items, case.noise, seed=4, dataset="t", tau=0.0, layers=True,
                         share_prefix=True)
    for rp, rs in zip(plain, shared):
        for col in ("p_full", "p_vis", "p_lang", "lens_full", "lens_vis", "lens_lang"):
            np.testing.assert_allclose(rp[col], rs[col], atol=2e-5, rtol=1e-4, err_msg=col)
        assert rp["mass_full"] == pytest.approx(rs["mass_full"], rel=1e-4, abs=1e-7)


@torch.no_grad()
def test_noise_draws_average_independent_draws(case):
    """noise_draws=K: K independent noise rows per noised probe, distributions averaged;
    the first draw is the single-draw row; prefix sharing gives the same numbers."""
    from pidlib.probes.scoring import option_distribution

    a, K = case.adapter, 3
    it = case.items[0]
    one = probe_rows(a, it, case.noise, seed=5, dataset="t")
    many = probe_rows(a, it, case.noise, seed=5, dataset="t", draws=K)
    assert len(many.rows) == 1 + 2 * K and len(many.vision) == 1 + 2 * K
    assert torch.equal(many.rows[1], one.rows[1])                  # first visual-only draw
    vis_draws = many.rows[1:1 + K]
    assert not torch.equal(vis_draws[0], vis_draws[1])            # draws are independent
    if a.image_in_sequence:
        assert torch.equal(many.rows[1 + K], one.rows[2])          # first language-only draw
        assert not torch.equal(many.rows[1 + K], many.rows[2 + K])
    first = _option_ids(a, it, {})
    f = [c[0] for c in first]
    logits, _ = forward_rows(a, list(many.rows), [it.prepared.input_ids] * (1 + 2 * K), many.vision)
    p, mass = option_distribution(torch.log_softmax(logits[:, -1].float(), -1)[:, f], 0.0)
    row = probe_batch(a, [it], case.noise, seed=5, dataset="t", tau=0.0, noise_draws=K)[0]
    k = it.n_options
    np.testing.assert_allclose(row["p_full"][:k], p[0].numpy(), atol=2e-5)
    np.testing.assert_allclose(row["p_vis"][:k], p[1:1 + K].mean(0).numpy(), atol=2e-5)
    np.testing.assert_allclose(row["p_lang"][:k], p[1 + K:].mean(0).numpy(), atol=2e-5)
    assert row["mass_vis"] == pytest.approx(float(mass[1:1 + K].mean()), rel=1e-4)
    draws_v = row["p_vis_draws"].reshape(K, -1)            # every draw is kept, [draw][option]
    draws_l = row["p_lang_draws"].reshape(K, -1)
    np.testing.assert_allclose(draws_v[:, :k], p[1:1 + K].numpy(), atol=2e-5)
    np.testing.assert_allclose(draws_l[:, :k], p[1 + K:].numpy(), atol=2e-5)
    np.testing.assert_allclose(draws_v.mean(0), row["p_vis"], atol=1e-6)
    assert "p_vis_draws" not in probe_batch(a, [it], case.noise, seed=5, dataset="t", tau=0.0)[0]
    plain = probe_batch(a, case.items, case.noise, seed=5, dataset="t", tau=0.0, layers=True, noise_draws=K)
    shared = probe_batch(a, case.items, case.noise, seed=5, dataset="t", tau=0.0, layers=True,
                         noise_draws=K, share_prefix=True)
    for rp, rs in zip(plain, shared):
        for col in ("p_full", "p_vis", "p_lang", "lens_full", "lens_vis", "lens_lang"):
            np.testing.assert_allclose(rp[col], rs[col], atol=2e-5, rtol=1e-4, err_msg=col)
    with pytest.raises(ValueError, match="draws"):
        probe_rows(a, it, case.noise, seed=5, dataset="t", draws=0)


def test_cross_inputs_only_when_exact(case):
    """Crossing prepared inputs (one prompt, another sample's image inputs) is refused for
    families whose vision inputs follow the text, and otherwise keeps the prompt intact."""
    a = case.adapter
    t, i = case.items[0].prepared, case.items[1].prepared
    c = a.cross_inputs(t, i)
    if a.family in ("mllama", "instructblip"):
        assert c is None
        return
    if c is not None:
        assert torch.equal(c.input_ids, t.input_ids) and torch.equal(c.question_mask, t.question_mask)
        assert set(c.vision_inputs) == set(i.vision_inputs)
        assert all(c.vision_inputs[k] is i.vision_inputs[k] for k in i.vision_inputs)
    bad = type(t)(t.input_ids, t.question_mask, {k: v[..., :1] if torch.is_tensor(v) else v
                                                  for k, v in i.vision_inputs.items()}, t.prompt)
    if i.vision_inputs and any(torch.is_tensor(v) and v.shape[-1] > 1 for v in i.vision_inputs.values()):
        assert a.cross_inputs(t, bad) is None


@torch.no_grad()
def test_gemma3_through_its_processor():
    """prepare() with a real Gemma3Processor (image block expansion, chat template)."""
    from PIL import Image

    from pidlib.data.schema import MCSample

    model, tok = tiny.tiny_gemma3()
    proc = tiny.gemma3_processor(tok)
    a = adapter_for(model, proc)
    img = Image.fromarray((np.random.RandomState(1).rand(20, 24, 3) * 255).astype("uint8"))
    s = MCSample("7", "What color is the circle ?", ["red", "green", "blue"], "B", img)
    p = a.prepare(s)
    toks = proc.tokenizer.convert_ids_to_tokens(p.input_ids[p.question_mask])
    assert toks[0] == "Question" and toks[-1] == "." and "ASSISTANT" not in toks
    enc = proc(text=[p.prompt], images=[img], return_tensors="pt")
    assert torch.equal(enc["input_ids"][0], p.input_ids)
    ref = model(**enc).logits[0, -1]
    it = ProbeItem("7", 3, "B", p)
    case = type("C", (), {"adapter": a, "noise": compute_noise_stats(a, [p], progress=False)})()
    assert torch.allclose(_full_logits(case, it), ref, atol=1e-5, rtol=1e-4)


@torch.no_grad()
def test_classroom_zoo_processor_works_with_the_llava_adapter():
    """The zoo's LlavaProcessor (word-level tokenizer, chat template) through prepare()."""
    import pidlib.zoo.model as zoo
    from pidlib.world import make_samples

    proc = zoo.make_processor()
    model = zoo.make_model(zoo.Arch(), proc.tokenizer)
    a = adapter_for(model, proc)
    assert a.family == "llava"
    samples = make_samples("color", 3)
    items = [ProbeItem(s.index, len(s.options), s.answer, a.prepare(s)) for s in samples]
    toks = proc.tokenizer.convert_ids_to_tokens(items[0].prepared.input_ids[items[0].prepared.question_mask])
    assert toks[:2] == ["Question", ":"] and "ASSISTANT" not in toks
    stats = compute_noise_stats(a, [it.prepared for it in items], progress=False)
    rows = probe_batch(a, items, stats, tau=0.0)
    for it, r in zip(items, rows):
        ref = model(input_ids=it.prepared.input_ids[None], **it.prepared.vision_inputs).logits[0, -1]
        letters = [a.tokenizer.convert_tokens_to_ids(x) for x in "ABCD"[:it.n_options]]
        want = torch.softmax(ref.float()[letters], 0).numpy()
        np.testing.assert_allclose(r["p_full"][:it.n_options], want, atol=1e-5)


@torch.no_grad()
def test_qwen3_vl_deepstack_rows_and_no_image_leak_into_language_only():
    """Qwen3-VL: full and visual-only rows carry the image's DeepStack features; the
    language-only row carries calibrated noise at every DeepStack level, so two samples that
    differ only in their image get the same language-only distribution (and different
    full ones). Dropping DeepStack from the full row changes the logits (it matters)."""
    case = build_qwen("qwen3_vl")
    a, it = case.adapter, case.items[0]
    assert set(case.noise.extra) == {"deepstack_0", "deepstack_1"}
    pr = probe_rows(a, it, case.noise, seed=0, dataset="t")
    full_v, vis_v, lang_v = pr.vision
    for k in ("deepstack_0", "deepstack_1"):
        assert torch.equal(full_v["extras"][k], vis_v["extras"][k])
        assert not torch.isclose(full_v["extras"][k], lang_v["extras"][k]).any()
    # the same sample with another image (same grid, so the same positions and noise key)
    g = torch.Generator().manual_seed(9)
    other_vis = dict(it.prepared.vision_inputs, pixel_values=torch.randn(it.prepared.vision_inputs["pixel_values"].shape,
                                                                         generator=g))
    other = ProbeItem(it.index, it.n_options, it.answer,
                      Prepared(it.prepared.input_ids, it.prepared.question_mask, other_vis, it.prepared.prompt))
    r1 = probe_batch(a, [it], case.noise, seed=0, dataset="t", tau=0.0, layers=True)[0]
    r2 = probe_batch(a, [other], case.noise, seed=0, dataset="t", tau=0.0, layers=True)[0]
    assert np.abs(r1["p_full"] - r2["p_full"]).max() > 1e-4
    np.testing.assert_allclose(r1["p_lang"], r2["p_lang"], atol=1e-6)
    np.testing.assert_allclose(r1["lens_lang"], r2["lens_lang"], atol=1e-6)
    # DeepStack matters: the full row without it gives other logits
    ref = case.reference(it)
    no_ds = dict(full_v)
    no_ds.pop("extras")
    lg, _ = forward_rows(a, [pr.rows[0]], [it.prepared.input_ids], [no_ds])
    assert float((lg[0, -1] - ref).abs().max()) > 1e-4


def test_fuyu_processor_fault_is_refused_with_the_reason(monkeypatch):
    """transformers 5.x FuyuProcessor drops the first token of the tokenized image
    placeholder; with a user-built tokenizer that is an image token ("Mismatch in `image`
    token count"). The adapter names the cause before calling the processor."""
    from PIL import Image
    from transformers import FuyuProcessor
    from transformers.models.fuyu.image_processing_pil_fuyu import FuyuImageProcessorPil

    from pidlib.data.schema import MCSample
    from pidlib.models.base import AdapterError

    model, _ = tiny.tiny_family("fuyu")
    tok = tiny.word_tokenizer(specials=("|SPEAKER|", "|NEWLINE|"))
    ip = FuyuImageProcessorPil(size={"height": 16, "width": 16}, patch_size={"height": 4, "width": 4})
    proc = FuyuProcessor(image_processor=ip, tokenizer=tok)
    img = Image.fromarray((np.random.RandomState(0).rand(16, 16, 3) * 255).astype("uint8"))
    # the processor's own fault, reproduced (its PIL image processor also needs numpy arrays)
    orig = FuyuImageProcessorPil.patchify_image
    monkeypatch.setattr(FuyuImageProcessorPil, "patchify_image",
                        lambda self, image, patch_size=None: torch.as_tensor(orig(self, image.numpy(), patch_size)))
    with pytest.raises(ValueError, match="Mismatch in `image` token count"):
        proc(text=["What color ?\nAnswer:"], images=[img], return_tensors="pt")
    a = adapter_for(model, proc)
    with pytest.raises(AdapterError, match="FuyuProcessor drops the first token"):
        a.prepare(MCSample("0", "What color ?", ["red", "green"], "A", img))


def test_a_prompt_only_adapter_needs_no_weights(case):
    """pidlib run --dry-run builds each family's adapter from the config alone."""
    a = case.adapter
    b = type(a)(None, a.processor, a.tokenizer, config=a.config, name="m")
    ids = case.items[0].prepared.input_ids
    assert b.model is None and b.config is a.config and b.family == a.family
    assert torch.equal(b.image_mask(ids), a.image_mask(ids))
    with pytest.raises(ValueError, match="needs a model"):
        type(a)(None, a.processor, a.tokenizer)
