"""Referring-segmentation converters (RRSIS-D, GeoPixInstruct) on their fake native copies."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from data_converters import LayoutError, convert, get_converter
from data_converters.families.referring_seg import clean_label, drop_article, load_refs
from tests.data_converters.helpers import corrupt, expected, fake_dir
from univlm.codecs.masks import coco_rle_to_mask, decode_mask, downsample_mask


@pytest.mark.parametrize(("split", "count"), [("train", 5), ("val", 1), ("test", 1)])
def test_rrsis_d_one_record_per_sentence(run_converter, split, count):
    summary, records = run_converter("rrsis-d", fake_dir("rrsis_d"), split=split)
    assert dict(summary.per_task) == {"SEG": count} and summary.total_skipped == 0
    refs = {k: v for k, v in expected("rrsis_d").items() if v["split"] == split}
    seen = []
    for rec in records:
        ref_id, sent = rec["id"].removeprefix(f"rrsis-d-{split}-").split("-")[:2]
        ref = refs[ref_id]
        seen.append((ref_id, int(sent)))
        binary = np.array([[c == "1" for c in row] for row in ref["mask_rows"]])
        assert rec["targets"]["labels"] == ["others", ref["category"]]
        assert np.array_equal(coco_rle_to_mask(rec["targets"]["mask_rle"]), binary)
        decoded = decode_mask(rec["messages"][1]["content"], strict=True)
        assert np.array_equal(decoded.binary(), downsample_mask(binary, 24))
        assert f"{drop_article(ref['sentences'][int(sent)])} in this image" in rec["messages"][0]["content"]
        if split != "train":
            want = f"<image>\n[SEG] Can you segment the {drop_article(ref['sentences'][0])} in this image?"
            assert rec["messages"][0]["content"] == want
    assert sorted(seen) == sorted((k, i) for k, v in refs.items() for i in range(len(v["sentences"])))


def test_drop_article_and_clean_label():
    assert drop_article("The plane") == "plane" and drop_article("theatre") == "theatre" and drop_article("the") == "the"
    assert clean_label(" ship | docked\n<near> *pier ") == "ship docked near pier"


def test_refs_pickle_is_read_as_data_only(tmp_path):
    refs = load_refs(fake_dir("rrsis_d") / "rrsisd" / "refs(unc).p")
    assert len(refs) == 4 and refs[0]["sentences"][0]["raw"] == "the airplane on the upper left"
    evil = tmp_path / "refs(unc).p"
    evil.write_bytes(pickle.dumps([{"ref_id": 0, "path": Path("x")}], protocol=2))
    with pytest.raises(ValueError, match="refusing to load"):
        load_refs(evil)


def rect_mask(rect: list[int], size: int = 48) -> np.ndarray:
    x1, y1, x2, y2 = rect
    out = np.zeros((size, size), dtype=bool)
    out[y1:y2, x1:x2] = True
    return out


@pytest.mark.parametrize(("split", "count", "skips"), [
    ("train", 3, {"instance not visible at 24x24": 1}), ("val", 1, {}), ("test", 1, {}),
])
def test_geopix_multi_referring_instances(run_converter, split, count, skips):
    summary, records = run_converter("geopix-instruct", fake_dir("geopix_instruct"), split=split)
    assert dict(summary.per_task) == {"SEG": count} and dict(summary.skipped) == skips
    anns = {k: v for k, v in expected("geopix_instruct").items() if v["split"] == split}
    by_desc = {}
    for ann in anns.values():
        by_desc.setdefault(drop_article(clean_label(ann["description"])), []).append(ann)
    for rec in records:
        targets = rec["targets"]
        descs = [i["description"] for i in targets["instances"]]
        assert targets["labels"] == ["others", *descs] and len(set(descs)) == len(descs) <= 3
        index = np.zeros((48, 48), dtype=np.int64)
        for k, inst in enumerate(targets["instances"], start=1):
            binary = coco_rle_to_mask(inst["rle"])
            (match,) = [a for a in by_desc[inst["description"]] if np.array_equal(binary, rect_mask(a["rect"]))]
            index[rect_mask(match["rect"])] = k
        decoded = decode_mask(rec["messages"][1]["content"], strict=True)
        want = np.asarray(targets["labels"], dtype=object)[downsample_mask(index, 24)]
        assert (np.asarray(decoded.names(), dtype=object) == want).all()
        assert "|" not in rec["messages"][0]["content"]
    if split == "train":
        described = sorted(d for r in records for d in (i["description"] for i in r["targets"]["instances"]))
        assert described.count("small vehicle in the center") == 2  # split across two records


def test_corrupt_image_is_counted(run_converter, fake_copy):
    src = fake_copy("rrsis_d")
    corrupt(src / "images" / "rrsisd" / "JPEGImages" / "00001.jpg")
    summary, records = run_converter("rrsis-d", src, split="train")
    assert records == [] and dict(summary.skipped) == {"corrupt image": 2}
    src = fake_copy("geopix_instruct")
    corrupt(src / "images" / "P0003_0_0.png")
    summary, records = run_converter("geopix-instruct", src, split="val")
    assert records == [] and dict(summary.skipped) == {"corrupt image": 1}


def test_wrong_layout_names_missing_file(tmp_path, fake_copy):
    src = fake_copy("rrsis_d")
    (src / "rrsisd" / "refs(unc).p").unlink()
    with pytest.raises(LayoutError, match=r"file 'rrsisd/refs\(unc\).json' or file 'rrsisd/refs\(unc\).p'"):
        convert(get_converter("rrsis-d"), src, tmp_path / "o.jsonl", progress=False)
    with pytest.raises(LayoutError, match="file 'annotations/test.json'"):
        convert(get_converter("geopix-instruct"), fake_dir("rrsis_d"), tmp_path / "o.jsonl", split="test", progress=False)
