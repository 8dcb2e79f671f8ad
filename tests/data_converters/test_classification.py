"""Folder-per-class converters (UCM, NWPU-RESISC45, AID, WHU-RS19, SIRI-WHU) and fMoW-rgb."""

from __future__ import annotations

import pytest

from data_converters import LayoutError, convert, get_converter
from data_converters.base import stable_split
from data_converters.families.classification import folder_to_label
from tests.data_converters.helpers import corrupt, expected, fake_dir

CASES = [
    # (converter, fake folder, --src below it, number of classes)
    ("ucm", "ucm", ".", 21),
    ("nwpu-resisc45", "nwpu_resisc45", ".", 45),
    ("aid", "aid", "AID", 30),
    ("whu-rs19", "whu_rs19", "RSDataset", 19),
    ("siri-whu", "siri_whu", "12class_tif", 12),
]


@pytest.mark.parametrize("name,fake,sub,n_classes", CASES)
def test_all_images_become_cls_records(run_converter, name, fake, sub, n_classes):
    summary, records = run_converter(name, fake_dir(fake) / sub, split="all")
    want = expected(fake)
    assert summary.written == want["all"]
    assert dict(summary.per_task) == {"CLS": want["all"]}
    assert summary.total_skipped == 0
    by_path = {rec["images"][0]: rec for rec in records}
    for rel, label in want.get("labels", {}).items():
        rec = next(r for p, r in by_path.items() if p.endswith(rel))
        assert rec["targets"]["label"] == label
        assert rec["messages"][1]["content"] == label
    for rec in records:
        assert len(rec["targets"]["classes"]) == n_classes
        assert rec["messages"][0]["content"].startswith("<image>\n[CLS] ")


def test_ucm_split_lists_are_honoured(run_converter):
    want = expected("ucm")
    for split in ("train", "test"):
        _, records = run_converter("ucm", fake_dir("ucm"), split=split)
        assert [r["images"][0].rsplit("/", 1)[1] for r in records] == want[split]
        assert records[0]["targets"]["label"] == "agricultural"
        assert records[0]["source"] == f"ucm/{split}"


def test_hash_split_partitions_every_image(run_converter):
    src = fake_dir("whu_rs19") / "RSDataset"
    seen = []
    for split in ("train", "val", "test"):
        _, records = run_converter("whu-rs19", src, split=split)
        seen += [r["images"][0] for r in records]
    assert sorted(seen) == sorted(set(seen)) and len(seen) == expected("whu_rs19")["all"]
    assert stable_split("Airport/airport_01.jpg") == stable_split("Airport/airport_01.jpg")


def test_folder_to_label():
    assert folder_to_label("DenseResidential") == "dense residential"
    assert folder_to_label("railwayStation") == "railway station"
    assert folder_to_label("storage_tank") == "storage tank"


def test_corrupt_image_is_counted_not_fatal(run_converter, fake_copy):
    src = fake_copy("aid", "AID")
    corrupt(src / "Beach" / "beach_1.jpg")
    (src / "Beach" / "notes.txt").write_text("not an image, ignored")
    summary, records = run_converter("aid", src, split="all")
    assert summary.written == 29
    assert dict(summary.skipped) == {"corrupt image": 1}
    assert "beach_1.jpg" in summary.examples["corrupt image"][0]
    assert "corrupt image" in summary.format()


def test_missing_class_folder_is_reported(run_converter, fake_copy):
    src = fake_copy("siri_whu", "12class_tif")
    for p in (src / "water").iterdir():
        p.unlink()
    (src / "water").rmdir()
    (src / "idle_land").rename(src / "Idle_Land")  # re-packaged copies change the case: still found
    (src / "clouds").mkdir()
    summary, _ = run_converter("siri-whu", src, split="all")
    assert summary.written == 11
    assert dict(summary.skipped) == {"missing class folder": 1, "unknown class folder": 1}


def test_wrong_layout_names_the_missing_folder(tmp_path):
    with pytest.raises(LayoutError, match="UCMerced_LandUse/Images/"):
        convert(
            get_converter("ucm"), fake_dir("nwpu_resisc45"), tmp_path / "x.jsonl", split="all", progress=False
        )
    assert not (tmp_path / "x.jsonl").exists()


def test_fmow_crops_boxes_with_context(run_converter, tmp_path):
    from PIL import Image

    src = fake_dir("fmow_rgb")
    summary, records = run_converter("fmow-rgb", src, split="train", derived_dir=tmp_path / "crops")
    want = expected("fmow_rgb")["train"]
    assert summary.written == len(want) == 3
    for rec, exp in zip(records, want):
        assert rec["targets"]["label"] == exp["label"]
        assert rec["targets"]["crop"] == exp["crop"]
        x1, y1, x2, y2 = exp["crop"]
        with Image.open(src / rec["images"][0]) as im:
            assert im.size == (x2 - x1, y2 - y1)


def test_fmow_wrong_layout_and_corrupt_image(run_converter, fake_copy, tmp_path):
    with pytest.raises(LayoutError, match="folder 'val/'"):
        convert(
            get_converter("fmow-rgb"), fake_dir("fmow_rgb"), tmp_path / "v.jsonl", split="val", progress=False
        )
    src = fake_copy("fmow_rgb")
    corrupt(src / "train" / "airport" / "airport_0" / "airport_0_0_rgb.jpg")
    summary, _ = run_converter("fmow-rgb", src, split="train", derived_dir=tmp_path / "crops")
    assert summary.written == 2 and dict(summary.skipped) == {"corrupt image": 1}
