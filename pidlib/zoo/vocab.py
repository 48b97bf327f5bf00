"""The zoo's word-level tokenizer, built offline from the classroom world's own text.

The vocabulary is every word the world, :func:`pidlib.data.schema.format_question`, the
chat template and the training prompts can produce (after the ``Whitespace``
pre-tokenizer, which splits words from punctuation), so a world prompt never contains an
unknown token (checked by ``tests/test_zoo_tokenizer.py``).
"""
from __future__ import annotations

from itertools import product

from pidlib.world.scene import CELLS, COLOR_NAMES, SHAPES, SIZES
from pidlib.world.tasks import CREATURES, FOODS, HOMES, fact_sentences

PAD, UNK, BOS, EOS, IMAGE = "[PAD]", "[UNK]", "<s>", "</s>", "<image>"
SPECIAL = (PAD, UNK, BOS, EOS, IMAGE)
#: Words of the chat template (see :data:`pidlib.zoo.model.CHAT_TEMPLATE`).
TEMPLATE_TEXT = "USER: ASSISTANT:"
#: The stage-1 alignment instruction.
CAPTION_PROMPT = "Describe the picture."


def world_texts() -> list[str]:
    """Every sentence pattern of the world, with every value filled in."""
    from pidlib.data.schema import DEFAULT_INSTRUCTION, LETTERS

    out = [TEMPLATE_TEXT, CAPTION_PROMPT, DEFAULT_INSTRUCTION, "Hint: Question: Options:",
           " ".join(f"{c}." for c in LETTERS), "yes no", "Which option describes the picture?", "What color is the object at the?",
           "object"]
    out += fact_sentences()
    for c in CREATURES:
        out += [f"What do {c}s eat?", f"Where do {c}s live?"]
    out.append(" ".join(FOODS + HOMES))
    for k, col, z, w in product(SHAPES, COLOR_NAMES, SIZES, CELLS):
        out += [f"What color is the {k}?", f"Is there a {col} {k}?", f"Is there a {col} object at the {w}?",
                f"This {k} is {col}. What color is the {k}?",
                " and ".join(f"a {z} {col} {k} at the {w}" for w in CELLS) + "."]
    return out


def build_vocab() -> dict[str, int]:
    """Word -> id; special tokens first, then words in first-seen order (deterministic)."""
    from tokenizers.pre_tokenizers import Whitespace

    pre = Whitespace()
    words = list(SPECIAL)
    for text in world_texts():
        words += [w for w, _ in pre.pre_tokenize_str(text)]
    return {w: i for i, w in enumerate(dict.fromkeys(words))}


def build_tokenizer():
    """A ``PreTrainedTokenizerFast`` over :func:`build_vocab` (WordLevel + Whitespace)."""
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace
    from tokenizers.decoders import WordPiece
    from transformers import PreTrainedTokenizerFast

    vocab = build_vocab()
    tk = Tokenizer(WordLevel(vocab, unk_token=UNK))
    tk.pre_tokenizer = Whitespace()
    tk.decoder = WordPiece(prefix="##", cleanup=True)  # joins words with spaces, tidies punctuation
    return PreTrainedTokenizerFast(tokenizer_object=tk, pad_token=PAD, unk_token=UNK, bos_token=BOS,
                                   eos_token=EOS, extra_special_tokens={"image_token": IMAGE},
                                   padding_side="left", model_max_length=512)
