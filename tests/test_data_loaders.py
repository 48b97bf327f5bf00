"""Loaders for the native formats: fixtures written in tmp_path, one test per bad-row class."""
import base64
import csv
import io
import json

import pytest
from PIL import Image

from pidlib.data import DatasetError, MCDataset, MCSample, format_question
from pidlib.data.loaders import (
    DatasetBuilder,
    available_formats,
    load_dataset,
    parse_inline_options,
    register_format,
)


# ---------------------------------------------------------------------------------------
# fixture helpers
# ---------------------------------------------------------------------------------------
def img_bytes(color, fmt="PNG", size=(8, 6)):
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format=fmt)
    return buf.getvalue()


def b64(color, fmt="PNG"):
    return base64.b64encode(img_bytes(color, fmt)).decode()


BAD_B64 = base64.b64encode(b"GIF89a-but-not-really" * 8).decode()  # valid base64, not an image


def write_tsv(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f, delimiter="\t")
        w.writerow(header)
        w.writerows(rows)
    return path


def write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def write_jsonl(path, recs):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in recs))
    return path


def assert_bad(excinfo, path, row, fragment):
    msg = str(excinfo.value)
    assert path.name in msg, msg
    assert f"row {row}:" in msg or f"row {row} (header):" in msg, msg
    assert fragment in msg, msg


# ---------------------------------------------------------------------------------------
# mmbench
# ---------------------------------------------------------------------------------------
MM_HEADER = ["index", "question", "hint", "A", "B", "C", "D", "E", "answer", "category", "l2-category",
             "split", "image"]


def mm_rows():
    red = b64((200, 10, 10))
    return [
        ["1", "What color?", "A toy.", "red", "blue", "green", "pink", "", "A", "color", "attr", "dev", red],
        # circular duplicate of 1: image by reference (<= 64 characters)
        ["1000001", "What color?", "", "blue", "green", "pink", "red", "", "D", "color", "attr", "dev", "1"],
        # three options (D and E empty at the end), hint empty -> None
        ["2", "Which shape?", "nan", "square", "round", "None", "", "", "C", "shape", "attr", "dev",
         b64((0, 0, 250), "JPEG")],
        # five options
        ["3", "Count?", "", "1", "2", "3", "4", "5", "E", "count", "attr", "dev", b64((5, 5, 5))],
    ]


def test_mmbench_good(tmp_path):
    p = write_tsv(tmp_path / "mmb.tsv", MM_HEADER, mm_rows())
    ds = load_dataset(f"mmbench:{p}")
    assert isinstance(ds, MCDataset) and ds.name == "mmb" and ds.format == "mmbench" and not ds.skipped
    s = ds.by_index()
    assert [x.index for x in ds] == ["1", "1000001", "2", "3"]
    assert s["1"].options == ["red", "blue", "green", "pink"] and s["1"].answer == "A" and s["1"].hint == "A toy."
    assert s["1000001"].meta["circular_group"] == s["1"].meta["circular_group"] == 1
    assert s["1000001"].load_image().getpixel((0, 0)) == (200, 10, 10)
    assert s["2"].options == ["square", "round", "None"] and s["2"].hint is None
    assert s["2"].load_image().size == (8, 6)
    assert s["3"].letters == "ABCDE" and s["3"].answer == "E"
    assert s["1"].meta["category"] == "color" and s["1"].meta["l2_category"] == "attr"
    assert format_question(s["1"]).startswith("Hint: A toy.\nQuestion: What color?\nOptions:\nA. red\n")
    assert len(load_dataset(f"mmbench:{p}", limit=2)) == 2


def test_mmbench_test_split_without_answer(tmp_path):
    header = [h for h in MM_HEADER if h != "answer"]
    rows = [[c for h, c in zip(MM_HEADER, r) if h != "answer"] for r in mm_rows()]
    ds = load_dataset(f"mmbench:{write_tsv(tmp_path / 'test.tsv', header, rows)}")
    assert len(ds) == 4 and all(x.answer is None for x in ds)


@pytest.mark.parametrize("row_no,edit,fragment", [
    (2, {"C": ""}, "missing option C"),                       # gap A,B,_,D
    (3, {"image": BAD_B64}, "undecodable base64 image"),
    (3, {"image": "%%%" * 30}, "not valid base64"),
    (3, {"answer": "D"}, "answer 'D' is not among the options A/B/C"),
    (2, {"image": "77"}, "refers to index '77'"),
    (4, {"question": ""}, "empty question"),
    (3, {"index": "1"}, "duplicate index '1'"),
    (1, {"B": "", "C": "", "D": ""}, "only 1 option"),
])
def test_mmbench_bad_rows(tmp_path, row_no, edit, fragment):
    rows = mm_rows()
    for col, val in edit.items():
        rows[row_no - 1][MM_HEADER.index(col)] = val
    if row_no == 1 and "B" in edit:  # the referencing row stays valid without the circular copy
        rows[1][MM_HEADER.index("image")] = b64((1, 1, 1))
    p = write_tsv(tmp_path / "bad.tsv", MM_HEADER, rows)
    with pytest.raises(DatasetError) as ei:
        load_dataset(f"mmbench:{p}")
    assert_bad(ei, p, row_no, fragment)
    ds = load_dataset(f"mmbench:{p}", on_error="skip")
    assert len(ds) == 3 and len(ds.skipped) == 1
    sk = ds.skipped[0]
    assert sk.row == row_no and fragment in sk.problem and sk.file == str(p)
    assert fragment in ds.summary()


def test_mmbench_bad_referenced_image_names_both_rows(tmp_path):
    rows = mm_rows()
    rows[0][MM_HEADER.index("image")] = BAD_B64
    p = write_tsv(tmp_path / "ref.tsv", MM_HEADER, rows)
    ds = load_dataset(f"mmbench:{p}", on_error="skip")
    assert [s.row for s in ds.skipped] == [1, 2]
    assert "via index 1" in ds.skipped[1].problem


def test_mmbench_missing_required_column(tmp_path):
    header = [h for h in MM_HEADER if h != "question"]
    rows = [[c for h, c in zip(MM_HEADER, r) if h != "question"] for r in mm_rows()]
    p = write_tsv(tmp_path / "nocol.tsv", header, rows)
    for mode in ("raise", "skip"):  # a missing column cannot be skipped row by row
        with pytest.raises(DatasetError) as ei:
            load_dataset(f"mmbench:{p}", on_error=mode)
        assert_bad(ei, p, 0, "missing required column 'question'")


# ---------------------------------------------------------------------------------------
# pope
# ---------------------------------------------------------------------------------------
def pope_fixture(tmp_path):
    imgs = tmp_path / "val2014"
    imgs.mkdir()
    (imgs / "COCO_val2014_000000000001.jpg").write_bytes(img_bytes((10, 20, 30), "JPEG"))
    (imgs / "COCO_val2014_000000000002.jpg").write_bytes(img_bytes((30, 20, 10), "JPEG"))
    recs = [
        {"question_id": 1, "image": "COCO_val2014_000000000001.jpg", "text": "Is there a dog in the image?",
         "label": "yes"},
        {"question_id": 2, "image": "COCO_val2014_000000000002.jpg", "text": "Is there a cat in the image?",
         "label": "no"},
    ]
    return imgs, recs


def test_pope_good_both_field_spellings(tmp_path):
    imgs, recs = pope_fixture(tmp_path)
    p = write_jsonl(tmp_path / "coco_pope_random.json", recs)
    ds = load_dataset(f"pope:{p}", images=imgs)
    assert [(s.index, s.options, s.answer) for s in ds] == [("1", ["yes", "no"], "A"), ("2", ["yes", "no"], "B")]
    assert ds[0].load_image().size == (8, 6)
    lmms = [{"question_id": "1", "question": "Is there a dog?", "answer": "Yes", "category": "adversarial",
             "image_source": "COCO_val2014_000000000001"},
            {"question_id": "1", "question": "Is there a dog?", "answer": "no", "category": "random",
             "image_source": "COCO_val2014_000000000002"}]
    ds = load_dataset(f"pope:{write_jsonl(tmp_path / 'lmms.jsonl', lmms)}", images=imgs)
    assert [s.index for s in ds] == ["adversarial/1", "random/1"] and [s.answer for s in ds] == ["A", "B"]


@pytest.mark.parametrize("row_no,edit,fragment", [
    (2, {"image": "COCO_val2014_000000000099.jpg"}, "image file missing"),
    (1, {"label": "maybe"}, "answer label 'maybe' is not among the options yes/no"),
    (2, {"text": None}, "missing field 'text'"),
    (2, {"question_id": 1}, "duplicate index '1'"),
    (2, "{not json", "invalid JSON"),
])
def test_pope_bad_rows(tmp_path, row_no, edit, fragment):
    imgs, recs = pope_fixture(tmp_path)
    recs.append({"question_id": 3, "image": "COCO_val2014_000000000001.jpg", "text": "Is there a car?",
                 "label": "no"})
    if isinstance(edit, str):
        recs[row_no - 1] = edit
    else:
        recs[row_no - 1].update(edit)
    p = write_jsonl(tmp_path / "pope.jsonl", recs)
    with pytest.raises(DatasetError) as ei:
        load_dataset(f"pope:{p}", images=imgs)
    assert_bad(ei, p, row_no, fragment)
    ds = load_dataset(f"pope:{p}", images=imgs, on_error="skip")
    assert len(ds) == 2 and [s.row for s in ds.skipped] == [row_no]


def test_pope_undecodable_image_file(tmp_path):
    imgs, recs = pope_fixture(tmp_path)
    (imgs / "COCO_val2014_000000000002.jpg").write_bytes(b"not a jpeg")
    p = write_jsonl(tmp_path / "pope.jsonl", recs)
    with pytest.raises(DatasetError) as ei:
        load_dataset(f"pope:{p}", images=imgs)
    assert_bad(ei, p, 2, "undecodable image file")


# ---------------------------------------------------------------------------------------
# pmcvqa
# ---------------------------------------------------------------------------------------
PMC_HEADER = ["Figure_path", "Question", "Anwser", "Choice A", "Choice B", "Choice C", "Choice D",
              "Answer_label"]


def pmc_fixture(tmp_path):
    imgs = tmp_path / "figures"
    imgs.mkdir()
    (imgs / "PMC1_f1.jpg").write_bytes(img_bytes((1, 2, 3), "JPEG"))
    (imgs / "PMC2_f2.png").write_bytes(img_bytes((4, 5, 6)))
    rows = [
        ["PMC1_f1.jpg", "What modality is shown?", "CT scan", "A:MRI", " B: CT scan ", " C:X-ray", "D:Ultrasound",
         "B"],
        ["PMC2_f2.png", "Which organ?", "Liver", "A: Liver", "B:Kidney", "C:Heart", "", "A"],
        ["PMC1_f1.jpg", "Which side?", "left", "A:left", "B:right", "C:both", "D:neither", "A"],
    ]
    return imgs, rows


def test_pmcvqa_good_both_spellings(tmp_path):
    imgs, rows = pmc_fixture(tmp_path)
    p = write_csv(tmp_path / "test_clean.csv", PMC_HEADER, rows)
    ds = load_dataset(f"pmcvqa:{p}", images=imgs)
    assert ds[0].options == ["MRI", "CT scan", "X-ray", "Ultrasound"] and ds[0].answer == "B"
    assert ds[1].options == ["Liver", "Kidney", "Heart"] and ds[1].answer == "A"
    assert [s.index for s in ds] == ["1", "2", "3"] and ds[1].load_image().getpixel((0, 0)) == (4, 5, 6)
    # the v2 spelling "Answer", and no Answer_label: the letter is found from the answer text
    header = ["Figure_path", "Question", "Answer", "Choice A", "Choice B", "Choice C", "Choice D"]
    p2 = write_csv(tmp_path / "train_2.csv", header, [r[:7] for r in rows])
    assert [s.answer for s in load_dataset(f"pmcvqa:{p2}", images=imgs)] == ["B", "A", "A"]


@pytest.mark.parametrize("row_no,col,val,fragment", [
    (1, "Choice C", "", "missing option C"),
    (3, "Answer_label", "E", "answer 'E' is not among the options A/B/C/D"),
    (2, "Answer_label", "D", "answer 'D' is not among the options A/B/C"),
    (2, "Figure_path", "missing.jpg", "image file missing"),
    (1, "Choice B", "C: CT scan", "starts with 'C:' instead of 'B:'"),
    (3, "Anwser", "right", "disagrees with Anwser text 'right' (option B)"),
])
def test_pmcvqa_bad_rows(tmp_path, row_no, col, val, fragment):
    imgs, rows = pmc_fixture(tmp_path)
    rows[row_no - 1][PMC_HEADER.index(col)] = val
    p = write_csv(tmp_path / "test.csv", PMC_HEADER, rows)
    with pytest.raises(DatasetError) as ei:
        load_dataset(f"pmcvqa:{p}", images=imgs)
    assert_bad(ei, p, row_no, fragment)
    ds = load_dataset(f"pmcvqa:{p}", images=imgs, on_error="skip")
    assert len(ds) == 2 and ds.skipped[0].row == row_no


def test_pmcvqa_missing_answer_columns(tmp_path):
    imgs, rows = pmc_fixture(tmp_path)
    p = write_csv(tmp_path / "x.csv", PMC_HEADER[:2] + PMC_HEADER[3:7], [r[:2] + r[3:7] for r in rows])
    with pytest.raises(DatasetError) as ei:
        load_dataset(f"pmcvqa:{p}", images=imgs)
    assert_bad(ei, p, 0, "missing required column 'Answer_label'")


# ---------------------------------------------------------------------------------------
# reefknot
# ---------------------------------------------------------------------------------------
def reef_fixture(tmp_path):
    imgs = tmp_path / "VG_100K"
    imgs.mkdir()
    (imgs / "2344270.jpg").write_bytes(img_bytes((9, 9, 9), "JPEG"))
    recs = [
        {"image_id": "2344270", "query_prompt": "What is the relation between the man and the hat? "
         "A. gathering B. wearing C. handling D. eating, please choose.", "label": "B", "type": "Multi-choice",
         "mllm_name": "", "response": ""},
        {"image_id": 2344270, "query_prompt": "Is the man wearing the hat? Please answer yes or no.",
         "label": "yes", "type": "YESNO", "relation_type": "perception"},
        {"image_id": "2344270", "query_prompt": "What does the (A) sign say?\n(A) stop\n(B) go\n(C) wait",
         "label": "C.", "type": "Multi-choice"},
    ]
    return imgs, recs


def test_reefknot_good(tmp_path):
    imgs, recs = reef_fixture(tmp_path)
    ds = load_dataset(f"reefknot:{write_jsonl(tmp_path / 'multichoice.jsonl', recs)}", images=imgs)
    assert ds[0].question == "What is the relation between the man and the hat?"
    assert ds[0].options == ["gathering", "wearing", "handling", "eating"] and ds[0].answer == "B"
    assert ds[1].options == ["yes", "no"] and ds[1].answer == "A" and ds[1].meta["relation_type"] == "perception"
    assert ds[2].question == "What does the (A) sign say?" and ds[2].options == ["stop", "go", "wait"]
    assert ds[2].answer == "C" and ds[0].load_image().size == (8, 6)


@pytest.mark.parametrize("row_no,edit,fragment", [
    (1, {"query_prompt": "What is the relation between the man and the hat?"}, "no inline options"),
    (1, {"label": "E"}, "answer 'E' is not among the options A/B/C/D"),
    (3, {"image_id": "999"}, "image file missing"),
    (2, {"label": None}, "missing field 'label'"),
])
def test_reefknot_bad_rows(tmp_path, row_no, edit, fragment):
    imgs, recs = reef_fixture(tmp_path)
    recs[row_no - 1].update(edit)
    p = write_jsonl(tmp_path / "reef.jsonl", recs)
    with pytest.raises(DatasetError) as ei:
        load_dataset(f"reefknot:{p}", images=imgs)
    assert_bad(ei, p, row_no, fragment)
    assert len(load_dataset(f"reefknot:{p}", images=imgs, on_error="skip")) == 2


def test_parse_inline_options_robust():
    assert parse_inline_options("Q? A. x B. y C. z, please choose.") == ("Q?", ["x", "y", "z"])
    # an "A." inside the question and inside an option does not confuse the parser
    q, o = parse_inline_options("In panel A. what is it? A. a cat B. plan A. b C. dog")
    assert q == "In panel A. what is it?" and o == ["a cat", "plan A. b", "dog"]
    assert parse_inline_options("A. only one") is None
    assert parse_inline_options("no options here") is None


# ---------------------------------------------------------------------------------------
# conv (the paper's JSON)
# ---------------------------------------------------------------------------------------
def conv_fixture(tmp_path):
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "a.png").write_bytes(img_bytes((7, 7, 7)))
    return [
        {"id": "q1", "image": "a.png", "num_options": 3, "conversations": [
            {"from": "human", "value": "<image>\nHint: Look closely.\nQuestion: What animal?\nOptions:\n"
                                       "A. cat\nB. dog\nC. bird\nAnswer with the option's letter from the given "
                                       "choices directly."},
            {"from": "gpt", "value": "B"}]},
        {"image": b64((1, 100, 1)), "num_options": 2, "conversations": [
            {"from": "human", "value": "Is it green? A. yes B. no<image>"},
            {"from": "gpt", "value": "A"}]},
        {"image": "a.png", "num_options": 2, "conversations": [
            {"from": "human", "value": "<image>\nIs there a dog in the image?"},
            {"from": "gpt", "value": "no"}]},
    ]


def test_conv_good(tmp_path):
    recs = conv_fixture(tmp_path)
    p = tmp_path / "paper.json"
    p.write_text(json.dumps(recs))
    ds = load_dataset(f"conv:{p}", images=tmp_path / "imgs")
    assert ds[0].index == "q1" and ds[0].hint == "Look closely." and ds[0].question == "What animal?"
    assert ds[0].options == ["cat", "dog", "bird"] and ds[0].answer == "B"
    assert ds[1].index == "2" and ds[1].question == "Is it green?" and ds[1].options == ["yes", "no"]
    assert ds[1].load_image().getpixel((0, 0)) == (1, 100, 1)
    assert ds[2].options == ["yes", "no"] and ds[2].answer == "B"
    assert ds[2].question == "Is there a dog in the image?"


@pytest.mark.parametrize("row_no,path,val,fragment", [
    (1, ("num_options",), 4, "num_options is 4 but the human turn lists 3 options"),
    (1, ("conversations", 1, "value"), "D", "answer 'D' is not among the options A/B/C"),
    (2, ("image",), BAD_B64, "undecodable base64 image"),
    (1, ("image",), "b.png", "image file missing"),
    (1, ("conversations", 0, "value"), "<image> What animal?", "no options"),
])
def test_conv_bad_rows(tmp_path, row_no, path, val, fragment):
    recs = conv_fixture(tmp_path)
    obj = recs[row_no - 1]
    for k in path[:-1]:
        obj = obj[k]
    obj[path[-1]] = val
    p = tmp_path / "paper.json"
    p.write_text(json.dumps(recs))
    with pytest.raises(DatasetError) as ei:
        load_dataset(f"conv:{p}", images=tmp_path / "imgs")
    assert_bad(ei, p, row_no, fragment)
    ds = load_dataset(f"conv:{p}", images=tmp_path / "imgs", on_error="skip")
    assert len(ds) == 2 and ds.skipped[0].row == row_no


# ---------------------------------------------------------------------------------------
# registry and spec handling
# ---------------------------------------------------------------------------------------
def test_registry_and_spec_errors(tmp_path):
    assert {"mmbench", "pope", "pmcvqa", "reefknot", "conv", "world"} <= set(available_formats())
    with pytest.raises(ValueError, match="FORMAT:PATH"):
        load_dataset("no-colon")
    with pytest.raises(ValueError, match="unknown dataset format 'nope'"):
        load_dataset("nope:x")
    with pytest.raises(FileNotFoundError):
        load_dataset(f"mmbench:{tmp_path / 'missing.tsv'}")
    with pytest.raises(ValueError, match="on_error"):
        load_dataset(f"mmbench:{tmp_path}", on_error="ignore")

    def toy(path, *, images=None, on_error="raise", limit=None):
        b = DatasetBuilder(path, "toytest", on_error, limit)
        for row, line in enumerate(path.read_text().splitlines(), 1):
            if b.full:
                break
            try:
                q, a = line.split("|")
                if a not in "AB":
                    raise DatasetError(path, row, f"answer {a!r} is not among the options A/B")
                b.add(MCSample(str(row), q, ["yes", "no"], a, None), row)
            except DatasetError as e:
                b.reject(e)
        return b.finish()

    register_format("toytest", toy)
    register_format("toytest", toy)  # same function: fine
    with pytest.raises(ValueError, match="already registered"):
        register_format("toytest", lambda *a, **k: None)
    f = tmp_path / "t.txt"
    f.write_text("q1|A\nq2|C\nq3|B\n")
    ds = load_dataset(f"toytest:{f}", on_error="skip")
    assert [s.index for s in ds] == ["1", "3"] and ds.skipped[0].row == 2
    assert len(load_dataset(f"toytest:{f}", on_error="skip", limit=1)) == 1


def test_non_file_format_and_loader_without_limit(tmp_path):
    def gen(spec, images=None, on_error="raise"):  # no limit parameter: load_dataset truncates
        n = int(spec)
        return MCDataset("gen", f"gen:{spec}", [MCSample(str(i), "q", ["a", "b"], "A", None) for i in range(n)],
                         format="gentest")

    register_format("gentest", gen, needs_file=False)
    assert len(load_dataset("gentest:5")) == 5
    assert len(load_dataset("gentest:5", limit=2)) == 2


def test_world_format_through_load_dataset():
    import pidlib.world  # noqa: F401  (a failure to import is a failure, not a skip)
    ds = load_dataset("world:all?n=3&seed=0&split=eval")
    assert len(ds) == 3 and all(isinstance(s, MCSample) for s in ds)
    assert ds[0].load_image().mode == "RGB" and format_question(ds[0]).startswith("Question: ")


def test_mmbench_image_path_variant(tmp_path):
    (tmp_path / "im").mkdir()
    (tmp_path / "im" / "1.png").write_bytes(img_bytes((3, 3, 3)))
    header = ["index", "question", "A", "B", "answer", "image_path"]
    p = write_tsv(tmp_path / "v.tsv", header, [["1", "q?", "x", "y", "B", "1.png"],
                                                ["2", "q?", "x", "y", "A", "2.png"]])
    ds = load_dataset(f"mmbench:{p}", images=tmp_path / "im", on_error="skip")
    assert len(ds) == 1 and ds[0].load_image().getpixel((0, 0)) == (3, 3, 3)
    assert ds.skipped[0].row == 2 and "image file missing" in ds.skipped[0].problem


# ---------------------------------------------------------------------------------------
# issue 12: read or reject by name, never truncate or merge
# ---------------------------------------------------------------------------------------
def test_mmbench_options_beyond_e_are_read_and_a_ninth_is_rejected(tmp_path):
    header = ["index", "question", "A", "B", "C", "D", "E", "F", "G", "answer", "split", "image"]
    rows = [["1", "Which?", "a", "b", "c", "d", "e", "f", "g", "G", "dev", b64((1, 2, 3))],
            ["2", "Which?", "a", "b", "", "", "", "", "", "B", "dev", b64((3, 2, 1))]]
    ds = load_dataset(f"mmbench:{write_tsv(tmp_path / 'seven.tsv', header, rows)}")
    s = ds.by_index()
    assert s["1"].options == list("abcdefg") and s["1"].answer == "G" and len(s["2"].options) == 2
    header9 = header[:9] + ["H", "I"] + header[9:]
    rows9 = [r[:9] + ["h", "i"] + r[9:] for r in rows[:1]]
    p = write_tsv(tmp_path / "nine.tsv", header9, rows9)
    with pytest.raises(DatasetError) as e:
        load_dataset(f"mmbench:{p}")
    assert_bad(e, p, 1, "option I is present: at most 8 options")


def test_reefknot_ninth_inline_option_is_rejected_not_merged(tmp_path):
    imgs, recs = reef_fixture(tmp_path)
    opts = " ".join(f"{L}. w{i}" for i, L in enumerate("ABCDEFGHI"))
    recs[0]["query_prompt"] = f"Which relation? {opts}, please choose."
    p = write_jsonl(tmp_path / "nine.jsonl", recs)
    with pytest.raises(DatasetError) as e:
        load_dataset(f"reefknot:{p}", images=imgs)
    assert_bad(e, p, 1, "more than 8 inline options")
    recs[0]["query_prompt"] = "Which relation? " + " ".join(f"{L}. w{i}" for i, L in enumerate("ABCDEFGH"))
    recs[0]["label"] = "H"
    ds = load_dataset(f"reefknot:{write_jsonl(tmp_path / 'eight.jsonl', recs)}", images=imgs)
    assert ds.samples[0].options[-1] == "w7" and ds.samples[0].answer == "H"
    with pytest.raises(ValueError, match="more than 8"):
        parse_inline_options("Q? " + opts)


@pytest.mark.parametrize("value, fragment", [
    ("<image>\nQ?\nA. x\nB. y\nsome text\nC. z", "option line 'C. z' after the option block A-B"),
    ("<image>\nQ?\nA. x\nB. y\nD. z", "option line 'D. z' after the option block A-B"),
    ("<image>\nQ?\n" + "\n".join(f"{L}. w" for L in "ABCDEFGHI"), "more than 8 option lines"),
])
def test_conv_option_lines_after_a_gap_are_rejected(tmp_path, value, fragment):
    recs = conv_fixture(tmp_path)
    recs[0]["conversations"][0]["value"] = value
    recs[0].pop("num_options")
    p = tmp_path / "gap.json"
    p.write_text(json.dumps(recs))
    with pytest.raises(DatasetError) as e:
        load_dataset(f"conv:{p}", images=tmp_path / "imgs")
    assert_bad(e, p, 1, fragment)


def test_conv_blank_lines_and_trailing_instruction(tmp_path):
    recs = conv_fixture(tmp_path)[:1]
    recs[0]["conversations"][0]["value"] = "<image>\nQ?\nA. x\n\nB. y\n\nC. z\nAnswer with the letter."
    p = tmp_path / "blank.json"
    p.write_text(json.dumps(recs))
    (s,) = load_dataset(f"conv:{p}", images=tmp_path / "imgs").samples
    assert s.options == ["x", "y", "z"] and s.meta["trailing_text"] == "Answer with the letter."


def test_one_record_jsonl_and_non_utf8_files(tmp_path):
    imgs, recs = pope_fixture(tmp_path)
    one = write_jsonl(tmp_path / "one.jsonl", recs[:1])
    ds = load_dataset(f"pope:{one}", images=imgs)
    assert [s.index for s in ds.samples] == ["1"]
    pretty = tmp_path / "one.json"
    pretty.write_text(json.dumps(recs[1], indent=2))
    assert [s.index for s in load_dataset(f"pope:{pretty}", images=imgs).samples] == ["2"]
    latin = tmp_path / "latin1.json"
    latin.write_bytes(json.dumps([{**recs[0], "text": "Is there a caf\u00e9?"}], ensure_ascii=False)
                      .encode("latin-1"))
    with pytest.raises(DatasetError, match=r"latin1.json: not UTF-8 text: byte 0xe9"):
        load_dataset(f"pope:{latin}", images=imgs)
    utf16 = tmp_path / "u16.jsonl"
    utf16.write_bytes(json.dumps(recs[0]).encode("utf-16"))
    with pytest.raises(DatasetError, match="UTF-16"):
        load_dataset(f"pope:{utf16}", images=imgs)


def test_image_folder_in_the_spec_and_directory_paths(tmp_path):
    from pidlib.data.loaders import parse_spec

    imgs, recs = pope_fixture(tmp_path)
    p = write_jsonl(tmp_path / "pope.jsonl", recs)
    ds = load_dataset(f"pope:{p}@{imgs}")
    assert len(ds) == 2 and ds.samples[0].load_image().size == (8, 6)
    assert parse_spec(f"pope:{p}@{imgs}") == ("pope", str(p), imgs)
    with pytest.raises(ValueError, match="use one of them"):
        load_dataset(f"pope:{p}@{imgs}", images=imgs)
    with pytest.raises(DatasetError, match="is a directory; give the pope annotation file"):
        load_dataset(f"pope:{imgs}")
    at = tmp_path / "user@host.jsonl"          # an '@' inside an existing file name is not split
    at.write_text(p.read_text())
    assert len(load_dataset(f"pope:{at}", images=imgs)) == 2
