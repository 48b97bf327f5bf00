"""Hugging Face hub parquet layouts (lmms-lab/MMBench, lmms-lab/POPE), written here with pyarrow
in the datasets' schema (images as parquet structs {bytes, path}): same samples and error
rules as the TSV / JSONL loaders."""
from __future__ import annotations

import base64
import csv
import io
import json
import os
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import pytest  # noqa: E402

from pidlib.data import DatasetError, load_dataset  # noqa: E402

IMAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])


def png(seed: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray((np.random.RandomState(seed).rand(12, 14, 3) * 255).astype("uint8")).save(buf, format="PNG")
    return buf.getvalue()


def mmbench_rows(n=6, start=0, split="dev"):
    rows = []
    for i in range(start, start + n):
        k = 4 if i % 2 == 0 else 3
        rows.append({"index": str(i if i % 3 else i + 1_000_000), "question": f"What is shown in picture {i} ?",
                     "hint": "A toy scene." if i % 2 == 0 else None, "answer": "ABCD"[i % k],
                     "A": "red", "B": "green", "C": "blue", "D": "yellow" if k == 4 else None,
                     "category": "attribute_recognition" if i % 2 else "image_scene",
                     "image": {"bytes": png(i), "path": f"{i}.png"}, "source": "toy",
                     "L2-category": "finegrained_perception (instance-level)", "comment": None, "split": split})
    return rows


MM_SCHEMA = pa.schema([("index", pa.string()), ("question", pa.string()), ("hint", pa.string()),
                       ("answer", pa.string()), ("A", pa.string()), ("B", pa.string()), ("C", pa.string()),
                       ("D", pa.string()), ("category", pa.string()), ("image", IMAGE), ("source", pa.string()),
                       ("L2-category", pa.string()), ("comment", pa.string()), ("split", pa.string())])


def write(path: Path, rows, schema) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    return path


def write_tsv(path: Path, rows) -> Path:
    cols = ["index", "question", "hint", "A", "B", "C", "D", "answer", "category", "l2-category", "split", "image"]
    with open(path, "w", newline="") as f:
        w = csv.writer(f, delimiter="\t")
        w.writerow(cols)
        for r in rows:
            w.writerow([r["index"], r["question"], r["hint"] or "", r["A"], r["B"], r["C"], r["D"] or "", r["answer"],
                        r["category"], r["L2-category"], r["split"], base64.b64encode(r["image"]["bytes"]).decode()])
    return path


def test_mmbench_hub_layout_reads_like_the_tsv(tmp_path):
    rows = mmbench_rows(6)
    repo = tmp_path / "MMBench"
    write(repo / "en" / "dev-00000-of-00001.parquet", rows, MM_SCHEMA)
    hub = load_dataset(f"mmbench-hf:{repo / 'en'}")
    tsv = load_dataset(f"mmbench:{write_tsv(tmp_path / 'dev.tsv', rows)}")
    assert hub.name == "MMBench-en" and hub.format == "mmbench-hf" and len(hub) == 6
    for a, b in zip(hub.samples, tsv.samples):
        assert (a.index, a.question, a.options, a.answer, a.hint) == (b.index, b.question, b.options, b.answer, b.hint)
        for key in ("category", "l2_category", "split", "circular_group"):
            assert a.meta[key] == b.meta[key], key
        assert a.load_image().tobytes() == b.load_image().tobytes()
    assert hub.samples[0].meta["circular_group"] == 0 and hub.samples[0].index == "1000000"
    # the repository root with one configuration folder resolves to it; an int64 index (cn) reads too
    assert [s.index for s in load_dataset(f"mmbench-hf:{repo}").samples] == [s.index for s in hub.samples]
    cn = [dict(r, index=int(r["index"])) for r in rows]
    write(repo / "cn" / "dev-00000-of-00001.parquet", cn, MM_SCHEMA.set(0, pa.field("index", pa.int64())))
    assert [s.index for s in load_dataset(f"mmbench-hf:{repo / 'cn'}").samples] == [s.index for s in hub.samples]
    with pytest.raises(DatasetError, match=r"several configurations \(cn, en\); name one"):
        load_dataset(f"mmbench-hf:{repo}")


def test_mmbench_hub_errors_name_file_and_row(tmp_path):
    rows = mmbench_rows(4)
    rows[2]["answer"] = "F"
    f = write(tmp_path / "m" / "dev-00000-of-00001.parquet", rows, MM_SCHEMA)
    with pytest.raises(DatasetError, match=rf"{f.name}, row 3: answer 'F' is not among the options A/B/C/D"):
        load_dataset(f"mmbench-hf:{tmp_path / 'm'}")
    ds = load_dataset(f"mmbench-hf:{tmp_path / 'm'}", on_error="skip")
    assert len(ds) == 3 and ds.skipped[0].row == 3 and ds.skipped[0].file.endswith(f.name)
    # a missing image struct, a ninth option, a missing column
    rows = mmbench_rows(3)
    rows[1]["image"] = {"bytes": None, "path": None}
    write(tmp_path / "i" / "dev-00000-of-00001.parquet", rows, MM_SCHEMA)
    with pytest.raises(DatasetError, match="row 2: empty image"):
        load_dataset(f"mmbench-hf:{tmp_path / 'i'}")
    wide = pa.schema(list(MM_SCHEMA) + [pa.field(c, pa.string()) for c in "EFGHI"])
    rows = [dict(r, E="e", F="f", G="g", H="h", I=None) for r in mmbench_rows(2)]
    rows[1]["I"] = "nine"
    write(tmp_path / "w" / "dev-00000-of-00001.parquet", rows, wide)
    with pytest.raises(DatasetError, match="row 2: option I is present"):
        load_dataset(f"mmbench-hf:{tmp_path / 'w'}")
    narrow = pa.schema([x for x in MM_SCHEMA if x.name != "question"])
    write(tmp_path / "q" / "dev-00000-of-00001.parquet", [{k: v for k, v in r.items() if k != "question"}
                                                           for r in mmbench_rows(2)], narrow)
    with pytest.raises(DatasetError, match=r"row 0 \(header\): missing required column 'question'"):
        load_dataset(f"mmbench-hf:{tmp_path / 'q'}")
    (tmp_path / "e").mkdir()
    with pytest.raises(DatasetError, match="no .parquet files"):
        load_dataset(f"mmbench-hf:{tmp_path / 'e'}")


def test_mmbench_hub_dev_and_test_shards_and_duplicates(tmp_path):
    d = tmp_path / "en"
    write(d / "dev-00000-of-00002.parquet", mmbench_rows(3, 0), MM_SCHEMA)
    write(d / "dev-00001-of-00002.parquet", mmbench_rows(3, 3), MM_SCHEMA)
    test = [dict(r, answer=None, split=None) for r in mmbench_rows(2, 10)]
    write(d / "test-00000-of-00001.parquet", test, MM_SCHEMA)
    ds = load_dataset(f"mmbench-hf:{d}")
    assert [s.meta["split"] for s in ds.samples] == ["dev"] * 6 + ["test"] * 2   # column, else file name
    assert ds.samples[-1].answer is None and ds.samples[3].meta["row"] == 1
    write(d / "test-00000-of-00001.parquet", mmbench_rows(1, 4), MM_SCHEMA)
    with pytest.raises(DatasetError, match=r"test-00000-of-00001.parquet, row 1: duplicate index '4' "
                                           r"\(first seen in dev-00001-of-00002.parquet, row 2\)"):
        load_dataset(f"mmbench-hf:{d}")
    one = load_dataset(f"mmbench-hf:{d / 'dev-00001-of-00002.parquet'}")
    assert [s.index for s in one.samples] == ["1000003", "4", "5"] and one.name == "dev-00001-of-00002"


POPE_SCHEMA = pa.schema([("id", pa.string()), ("question_id", pa.string()), ("question", pa.string()),
                         ("answer", pa.string()), ("image_source", pa.string()), ("image", IMAGE),
                         ("category", pa.string())])


def pope_rows(n, category="adversarial", start=0):
    return [{"id": str(i), "question_id": str(i + 1), "question": f"Is there a cat in the image {i}?",
             "answer": "yes" if i % 2 else "no", "image_source": f"COCO_val2014_{i:012d}",
             "image": {"bytes": png(100 + i), "path": None}, "category": category} for i in range(start, start + n)]


def test_pope_hub_layout_reads_like_the_jsonl(tmp_path):
    repo = tmp_path / "POPE"
    write(repo / "data" / "test-00000-of-00002.parquet", pope_rows(3, "adversarial"), POPE_SCHEMA)
    write(repo / "data" / "test-00001-of-00002.parquet", pope_rows(3, "popular"), POPE_SCHEMA)
    ds = load_dataset(f"pope-hf:{repo / 'data'}")
    assert ds.name == "POPE-data" and len(ds) == 6
    assert [s.index for s in ds.samples[:4]] == ["adversarial/1", "adversarial/2", "adversarial/3", "popular/1"]
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    with open(tmp_path / "pope.jsonl", "w") as f:
        for i, r in enumerate(pope_rows(3, "adversarial")):
            (imgs / f"{r['image_source']}.png").write_bytes(r["image"]["bytes"])
            f.write(json.dumps({k: v for k, v in r.items() if k != "image"}) + "\n")
    js = load_dataset(f"pope:{tmp_path / 'pope.jsonl'}@{imgs}")
    for a, b in zip(ds.samples, js.samples):
        assert (a.index, a.question, a.options, a.answer) == (b.index, b.question, b.options, b.answer)
        assert a.meta["category"] == b.meta["category"] and a.load_image().tobytes() == b.load_image().tobytes()
    # the Full configuration: one file per category, no category column needed
    full_schema = pa.schema([x for x in POPE_SCHEMA if x.name != "category"])
    for cat in ("adversarial", "random"):
        write(repo / "Full" / f"{cat}-00000-of-00001.parquet",
              [{k: v for k, v in r.items() if k != "category"} for r in pope_rows(2)], full_schema)
    full = load_dataset(f"pope-hf:{repo / 'Full'}")
    assert [s.index for s in full.samples] == ["adversarial/1", "adversarial/2", "random/1", "random/2"]
    with pytest.raises(DatasetError, match=r"several configurations \(Full, data\)"):
        load_dataset(f"pope-hf:{repo}")
    bad = pope_rows(2)
    bad[1]["answer"] = "maybe"
    write(tmp_path / "b" / "test-00000-of-00001.parquet", bad, POPE_SCHEMA)
    with pytest.raises(DatasetError, match=r"test-00000-of-00001.parquet, row 2: answer label 'maybe'"):
        load_dataset(f"pope-hf:{tmp_path / 'b'}")
    # a struct with only a path is resolved against the image folder
    rows = [dict(r, image={"bytes": None, "path": f"{r['image_source']}.png"}) for r in pope_rows(3)]
    write(tmp_path / "p" / "test-00000-of-00001.parquet", rows, POPE_SCHEMA)
    byp = load_dataset(f"pope-hf:{tmp_path / 'p'}@{imgs}")
    assert byp.samples[0].load_image().tobytes() == js.samples[0].load_image().tobytes()


def test_a_run_over_a_hub_folder_records_its_files(tmp_path, monkeypatch):
    import torch

    import sys

    import pidlib

    sys.path.insert(0, str(Path(__file__).parent))
    from test_run_trust import save_tiny_llava

    torch.set_num_threads(1)
    monkeypatch.setenv("PIDLIB_CACHE_DIR", str(tmp_path / "cache"))
    save_tiny_llava(tmp_path / "model")
    f = write(tmp_path / "MMBench" / "en" / "dev-00000-of-00001.parquet", mmbench_rows(4), MM_SCHEMA)
    r = pidlib.run(str(tmp_path / "model"), f"mmbench-hf:{tmp_path / 'MMBench' / 'en'}", tmp_path / "runs",
                   progress=False, verbose=False)
    assert r.n_rows == 4 and r.meta["dataset"] == "MMBench-en"
    files = r.meta["data"]["sources"][0]["files"]
    assert [Path(x["path"]).name for x in files] == [f.name] and len(files[0]["digest"]) > 10
