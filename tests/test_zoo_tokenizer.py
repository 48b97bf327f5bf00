"""The zoo's word-level tokenizer and processor cover everything the world says."""
import pytest

pytest.importorskip("transformers")

from pidlib.data.schema import LETTERS, format_question
from pidlib.world import FAMILIES, make_samples
from pidlib.world.scene import caption, sample_scene
from pidlib.zoo.model import make_processor, text_prompt, user_prompt
from pidlib.zoo.vocab import CAPTION_PROMPT, IMAGE, UNK, build_vocab


@pytest.fixture(scope="module")
def processor():
    return make_processor(patch_size=8)


def test_vocab_is_deterministic_and_small():
    v1, v2 = build_vocab(), build_vocab()
    assert v1 == v2
    assert len(v1) < 200
    assert sorted(v1.values()) == list(range(len(v1)))


def test_no_unknown_tokens_in_world_prompts(processor):
    tok = processor.tokenizer
    unk = tok.convert_tokens_to_ids(UNK)
    texts = [CAPTION_PROMPT]
    for shuffle in (False, True):
        for s in make_samples("all", 400, seed=11, split="train", shuffle=shuffle):
            body = format_question(s)
            texts += [user_prompt(processor, body), text_prompt(processor, body), s.meta["caption"]]
            s.hint = s.meta["caption"]
            texts.append(format_question(s))
    import numpy as np
    rng = np.random.default_rng(0)
    texts += [caption(sample_scene(rng, int(rng.integers(1, 5)))) for _ in range(200)]
    for t in texts:
        ids = tok(t, add_special_tokens=False)["input_ids"]
        assert unk not in ids, f"unknown token in {t!r}: {tok.convert_ids_to_tokens(ids)}"


def test_letters_and_image_token(processor):
    tok = processor.tokenizer
    ids = tok.convert_tokens_to_ids(list(LETTERS[:4]))
    assert len(set(ids)) == 4 and tok.unk_token_id not in ids
    # the letter is one token and is the first token after the prompt (how probes find it)
    s = make_samples("color", 1)[0]
    p = user_prompt(processor, format_question(s))
    a = tok(p, add_special_tokens=False)["input_ids"]
    for L in "ABCD":
        b = tok(p + " " + L, add_special_tokens=False)["input_ids"]
        assert b[:len(a)] == a and b[len(a):] == [tok.convert_tokens_to_ids(L)]
        assert tok(p + L, add_special_tokens=False)["input_ids"][len(a):] == [tok.convert_tokens_to_ids(L)]
    assert tok(IMAGE, add_special_tokens=False)["input_ids"] == [tok.convert_tokens_to_ids(IMAGE)]


def test_processor_expands_image(processor):
    s = make_samples("describe", 1)[0]
    enc = processor(text=[user_prompt(processor, format_question(s))], images=[s.image], return_tensors="pt")
    n_img = int((enc["input_ids"] == processor.tokenizer.convert_tokens_to_ids(IMAGE)).sum())
    assert n_img == (32 // 8) ** 2
    assert tuple(enc["pixel_values"].shape) == (1, 3, 32, 32)
