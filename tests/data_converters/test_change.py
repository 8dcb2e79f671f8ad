"""Change converters (LEVIR-MCI: change detection + captions, WHU-CD) on their fake native copies."""

from __future__ import annotations

import numpy as np
import pytest

from data_converters import LayoutError, convert, get_converter
from data_converters.families.captions import clean_sentence
from tests.data_converters.helpers import corrupt, expected, fake_dir
from univlm.codecs.masks import coco_rle_to_mask, decode_mask, downsample_mask

CHANGE_PROMPT = "[SEG] Please segment the {} area in the images that have changed in the second image."


def change_truth(item: dict, cls: str) -> np.ndarray:
    w, h = item["size"]
    binary = np.zeros((h, w), dtype=bool)
    for name, x1, y1, x2, y2 in item["rects"]:
        if name == cls:
            binary[y1:y2, x1:x2] = True
    return binary


def check_seg(rec: dict, item: dict, cls: str) -> None:
    assert rec["task"] == "SEG" and rec["granularity"] == "pixel" and len(rec["images"]) == 2
    assert rec["messages"][0]["content"] == "<image> <image>\n" + CHANGE_PROMPT.format(cls)  # RSUniVLM: both images on one line
    assert rec["targets"]["labels"] == ["others", cls] and rec["targets"]["image_size"] == item["size"]
    binary = change_truth(item, cls)
    decoded = decode_mask(rec["messages"][1]["content"], strict=True)
    assert np.array_equal(decoded.binary(), downsample_mask(binary, 24))
    assert np.array_equal(coco_rle_to_mask(rec["targets"]["mask_rle"]), binary)


@pytest.mark.parametrize(("split", "seg", "ccd"), [("train", 4, 4), ("val", 2, 1), ("test", 2, 1)])
def test_levir_mci_masks_and_captions(run_converter, split, seg, ccd):
    summary, records = run_converter("levir-mci", fake_dir("levir_mci"), split=split)
    assert dict(summary.per_task) == {"SEG": seg, "CCD": ccd} and summary.total_skipped == 0
    items = {k: v for k, v in expected("levir_mci").items() if v["split"] == split}
    for rec in records:
        stem = rec["id"].removeprefix(f"levir-mci-{split}-").split("-")[0]
        item = items[stem]
        assert rec["images"] == [f"images/{split}/A/{stem}.png", f"images/{split}/B/{stem}.png"]
        if rec["task"] == "SEG":
            check_seg(rec, item, rec["id"].rsplit("-cd-", 1)[1])
        else:
            refs = [clean_sentence(s) for s in item["sentences"]]
            assert rec["targets"]["references"] == refs
            assert rec["messages"][1]["content"] in refs
            assert rec["messages"][0]["content"].startswith("<image> <image>\n[CCD] ")
    if split != "train":  # evaluation: one caption record per pair, canonical prompt
        (cap,) = [r for r in records if r["task"] == "CCD"]
        assert cap["messages"][0]["content"].endswith("[CCD] Please briefly describe the changes in these two images.")


def test_levir_mci_unchanged_pair_answers_all_others(run_converter):
    _, records = run_converter("levir-mci", fake_dir("levir_mci"), split="train", tasks=["SEG"])
    unchanged = [r for r in records if "train_000002" in r["id"]]
    assert len(unchanged) == 2
    for rec in unchanged:
        assert decode_mask(rec["messages"][1]["content"]).binary().sum() == 0


@pytest.mark.parametrize(("split", "count"), [("train", 2), ("val", 1), ("test", 1)])
def test_whu_cd_masks_decode(run_converter, split, count):
    summary, records = run_converter("whu-cd", fake_dir("whu_cd"), split=split)
    assert dict(summary.per_task) == {"SEG": count} and summary.total_skipped == 0
    items = {k: v for k, v in expected("whu_cd").items() if v["split"] == split}
    assert {r["id"].split("-")[3] for r in records} == set(items)
    for rec in records:
        check_seg(rec, items[rec["id"].split("-")[3]], "building")


def test_corrupt_image_is_counted(run_converter, fake_copy):
    src = fake_copy("levir_mci")
    corrupt(src / "images" / "train" / "B" / "train_000001.png")
    (src / "images" / "train" / "label" / "train_000002.png").write_bytes(b"\x89PNG broken")
    summary, records = run_converter("levir-mci", src, split="train")
    assert records == []
    assert dict(summary.skipped) == {"corrupt image": 1, "corrupt label": 1}


def test_wrong_layout_names_missing_file(tmp_path, fake_copy):
    src = fake_copy("levir_mci")
    (src / "LevirCCcaptions.json").unlink()
    with pytest.raises(LayoutError, match="file 'LevirCCcaptions.json'"):
        convert(get_converter("levir-mci"), src, tmp_path / "o.jsonl", progress=False)
    src = fake_copy("whu_cd")
    (src / "list" / "val.txt").unlink()
    with pytest.raises(LayoutError, match="file 'list/val.txt'"):
        convert(get_converter("whu-cd"), src, tmp_path / "o.jsonl", split="val", progress=False)
