"""MCSample / MCDataset / format_question / DatasetError."""
import base64
import io

import pytest
from PIL import Image

from pidlib.data.schema import (
    DEFAULT_INSTRUCTION,
    K_MAX,
    DatasetError,
    ImageRef,
    MCDataset,
    MCSample,
    SkippedRow,
    format_question,
)


def _png_bytes(color=(255, 0, 0), mode="RGB", size=(6, 4)):
    buf = io.BytesIO()
    Image.new(mode, size, color).save(buf, format="PNG")
    return buf.getvalue()


def test_format_question_exact_text_with_hint():
    s = MCSample("7", " What color is the ball? ", ["red", " blue ", "green"], "B", None, hint="A ball.")
    assert format_question(s) == (
        "Hint: A ball.\n"
        "Question: What color is the ball?\n"
        "Options:\n"
        "A. red\n"
        "B. blue\n"
        "C. green\n"
        "Answer with the option's letter from the given choices directly."
    )


def test_format_question_without_hint_and_instruction():
    s = MCSample("1", "Is it a cat?", ["yes", "no"], "A", None, hint="   ")
    assert format_question(s, instruction=None) == "Question: Is it a cat?\nOptions:\nA. yes\nB. no"
    assert format_question(s).endswith("\n" + DEFAULT_INSTRUCTION)
    assert format_question(s) == format_question(s)  # deterministic


def test_letters_and_answer_validation():
    s = MCSample(3, "q", ["a", "b", "c", "d", "e"], "E", None)
    assert s.index == "3" and s.letters == "ABCDE" and s.answer_index == 4
    assert K_MAX == 4  # five-option samples are allowed; probes pad to max(K_MAX, k)
    with pytest.raises(ValueError, match="not among the option letters"):
        MCSample("1", "q", ["a", "b"], "C", None)
    with pytest.raises(ValueError, match="at least 2 options"):
        MCSample("1", "q", ["a"], None, None)
    assert MCSample("1", "q", ["a", "b"], None, None).answer_index is None


def test_dataset_error_message():
    e = DatasetError("/x/data.tsv", 3, "missing option C")
    assert str(e) == "/x/data.tsv, row 3: missing option C"
    assert isinstance(e, ValueError) and e.row == 3 and e.problem == "missing option C"
    assert "row 0 (header)" in str(DatasetError("f.csv", 0, "missing required column 'A'"))
    assert str(SkippedRow("f.jsonl", 2, "bad")) == "f.jsonl, row 2: bad"


def test_load_image_variants(tmp_path):
    rgba = Image.new("RGBA", (5, 5), (0, 255, 0, 128))
    assert MCSample("1", "q", ["a", "b"], None, rgba).load_image().mode == "RGB"
    png = _png_bytes((1, 2, 3))
    b64 = base64.b64encode(png).decode()
    p = tmp_path / "im.png"
    p.write_bytes(png)
    for img in (ImageRef("base64", b64, "d.tsv", 2), ImageRef("path", p, "d.tsv", 2), b64, str(p), p, png,
                ImageRef("base64", "data:image/png;base64," + b64)):
        im = MCSample("1", "q", ["a", "b"], None, img).load_image()
        assert im.mode == "RGB" and im.size == (6, 4) and im.getpixel((0, 0)) == (1, 2, 3)
    assert MCSample("1", "q", ["a", "b"], None, None).load_image() is None


def test_load_image_errors_name_file_and_row(tmp_path):
    bad = base64.b64encode(b"this is not an image at all").decode()
    s = MCSample("1", "q", ["a", "b"], None, ImageRef("base64", bad, "mm.tsv", 5))
    with pytest.raises(DatasetError, match=r"mm\.tsv, row 5: undecodable"):
        s.load_image()
    s = MCSample("1", "q", ["a", "b"], None, ImageRef("path", tmp_path / "nope.jpg", "pope.jsonl", 9))
    with pytest.raises(DatasetError, match=r"pope\.jsonl, row 9: image file missing"):
        s.load_image()
    s = MCSample("1", "q", ["a", "b"], None, ImageRef("base64", "@@not base64@@", "c.json", 1))
    with pytest.raises(DatasetError, match=r"c\.json, row 1: image is not valid base64"):
        s.load_image()
    # a truncated file passes the cheap header check but fails in load_image
    trunc = tmp_path / "trunc.png"
    trunc.write_bytes(_png_bytes(size=(64, 64))[:60])
    ref = ImageRef("path", trunc, "d.csv", 4)
    with pytest.raises(DatasetError, match=r"d\.csv, row 4: undecodable image file"):
        MCSample("1", "q", ["a", "b"], None, ref).load_image()


def test_dataset_container():
    ds = MCDataset("toy", "toy.tsv", [MCSample(str(i), "q", ["a", "b", "c"][: 2 + i % 2], None, None)
                                      for i in range(4)], [SkippedRow("toy.tsv", 9, "bad")], "mmbench")
    assert len(ds) == 4 and ds[1].index == "1" and ds.max_options == 3
    assert list(ds.by_index()) == ["0", "1", "2", "3"]
    assert "4 samples, 1 skipped" in ds.summary() and "toy.tsv, row 9: bad" in ds.summary()
