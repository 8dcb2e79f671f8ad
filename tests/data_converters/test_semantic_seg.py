"""Semantic-segmentation converters (LoveDA, Potsdam, Vaihingen, UAVid, OpenEarthMap, LandCover.ai, UDD5,
VDD, COCO-Stuff) on their fake native copies."""

from __future__ import annotations

import importlib
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from data_converters import DatasetCard, LayoutError, convert, get_converter
from data_converters.families.semantic_seg import semantic_segmentation, tile_windows
from tests.data_converters.helpers import corrupt, expected, fake_dir
from univlm.codecs import coco_rle_to_mask, decode_mask, downsample_mask

# (registry name, fake folder, split, records, {skip reason: count})
CASES = [
    ("loveda", "loveda", "train", 6, {}),
    ("loveda", "loveda", "val", 2, {"missing domain folder": 1}),
    ("potsdam", "potsdam", "train", 5, {"missing image": 23}),
    ("potsdam", "potsdam", "val", 3, {"missing image": 13}),
    ("vaihingen", "vaihingen", "train", 4, {"missing image": 15}),
    ("vaihingen", "vaihingen", "val", 3, {"missing image": 16}),
    ("uavid", "uavid", "train", 7, {}),
    ("uavid", "uavid", "val", 3, {}),
    ("openearthmap", "openearthmap", "train", 7, {"missing image": 1}),
    ("openearthmap", "openearthmap", "val", 3, {}),
    ("landcover-ai", "landcover_ai", "train", 6, {}),
    ("landcover-ai", "landcover_ai", "test", 2, {}),
    ("udd5", "udd5", "train", 6, {}),
    ("udd5", "udd5", "val", 2, {}),
    ("vdd", "vdd", "train", 4, {}),
    ("vdd", "vdd", "test", 2, {}),
    ("coco-stuff", "coco_stuff", "train", 5, {}),
    ("coco-stuff", "coco_stuff", "val", 3, {}),
]


# Fake-data names that the dataset's mmseg (or official) config ignores (written as 255).
IGNORED = {"no-data", "unknown", "unlabeled", "boundary"}


def truth(item: dict, labels: list[str]) -> np.ndarray:
    """The fake item's class-index mask rebuilt from its rectangles (ignored names -> 255, unknown -> others)."""
    w, h = item["size"]
    index = np.zeros((h, w), dtype=np.int64)
    for name, x1, y1, x2, y2 in [(item.get("fill", "others"), 0, 0, w, h), *item["rects"]]:
        index[y1:y2, x1:x2] = 255 if name in IGNORED else (labels.index(name) if name in labels else 0)
    return index


def key_of(rec: dict, name: str, split: str) -> tuple[str, str]:
    body = rec["id"].removeprefix(f"{name}-{split}-")
    key, kind = body.rsplit("-seg-", 1)
    return key, kind


def check_records(records: list[dict], name: str, split: str, items: dict, labels: list[str], root) -> set[str]:
    """Every answer decodes to the downsampled fake truth; the kept ground truth equals it at full size."""
    seen, kinds = set(), {}
    for rec in records:
        assert rec["task"] == "SEG" and rec["granularity"] == "pixel" and rec["source"] == f"{name}/{split}"
        key, kind = key_of(rec, name, split)
        seen.add(key)
        kinds.setdefault(key, []).append(kind)
        index = truth(items[key], labels)
        answer_index = np.where(index == 255, 0, index)  # the text says "others" on ignored pixels
        decoded = decode_mask(rec["messages"][1]["content"], strict=True)
        assert decoded.grid_size == 24
        got = np.asarray(decoded.names(), dtype=object)
        if kind == "all":
            assert rec["targets"]["labels"] == labels and rec["targets"]["ignore_index"] == 255
            want = np.asarray(labels, dtype=object)[downsample_mask(answer_index, 24)]
            assert (got == want).all()
            stored = np.asarray(Image.open(root / rec["targets"]["mask"]))
            assert np.array_equal(stored, index)
            present = [k for k in np.unique(index) if k not in (0, 255)] or range(1, len(labels))
            named = [f"the {labels[k]}" for k in present]
            listed = named[0] if len(named) == 1 else ", ".join(named[:-1]) + " and " + named[-1]
            assert rec["messages"][0]["content"] == f"<image>\n[SEG] Please segment {listed} in this image."
        else:
            cls = rec["targets"]["labels"][1]
            assert cls.replace(" ", "_") == kind and f" {cls} " in rec["messages"][0]["content"]
            binary = index == labels.index(cls)
            want = np.where(downsample_mask(binary, 24), cls, "others")
            assert (got == want).all()
            assert np.array_equal(coco_rle_to_mask(rec["targets"]["mask_rle"]), binary)
            if (index == 255).any():
                assert np.array_equal(coco_rle_to_mask(rec["targets"]["ignore_rle"]), index == 255)
            else:
                assert "ignore_rle" not in rec["targets"]
        assert rec["targets"]["image_size"] == items[key]["size"]
    for key, got_kinds in kinds.items():
        # One all-classes record per image (every image is scorable), plus one per visible class.
        grid = downsample_mask(truth(items[key], labels), 24)
        visible = [labels[k].replace(" ", "_") for k in np.unique(grid) if k not in (0, 255)]
        assert sorted(got_kinds) == sorted([*visible, "all"])
    return seen


@pytest.mark.parametrize(("name", "folder", "split", "count", "skips"), CASES)
def test_converter_on_fake_copy(run_converter, tmp_path, name, folder, split, count, skips):
    summary, records = run_converter(name, fake_dir(folder), split=split)
    assert summary.written == count and dict(summary.per_task) == {"SEG": count}
    assert dict(summary.skipped) == skips
    items = {k: v for k, v in expected(folder).items() if v["split"] == split}
    labels = get_labels(name)
    seen = check_records(records, name, split, items, labels, fake_dir(folder))
    assert seen == set(items)  # every fake image produced records
    if split == "train":
        # Training prompts vary (seeded); evaluation splits use the canonical first variant.
        assert all(r["messages"][0]["content"].startswith("<image>\n[SEG] ") for r in records)
    else:
        per_class = [r for r in records if not r["id"].endswith("-seg-all")]
        assert all(r["messages"][0]["content"].startswith("<image>\n[SEG] Can you segment the ") for r in per_class)


def get_labels(name: str) -> list[str]:
    module = importlib.import_module(f"data_converters.datasets.{name.replace('-', '_')}")
    return module.FORMAT.labels


def test_tile_windows_cover_image_and_align_last_crop():
    assert tile_windows(40, 30, None) == [(0, 0, 40, 30)]
    assert tile_windows(512, 400, 512) == [(0, 0, 512, 400)]
    assert tile_windows(1100, 512, 512) == [(0, 0, 512, 512), (512, 0, 512, 512), (588, 0, 512, 512)]
    assert tile_windows(1024, 300, 512, stride=256) == [(0, 0, 512, 300), (256, 0, 512, 300), (512, 0, 512, 300)]
    covered = np.zeros((1300, 700), dtype=bool)
    for x, y, w, h in tile_windows(700, 1300, 512):
        assert x + w <= 700 and y + h <= 1300
        covered[y : y + h, x : x + w] = True
    assert covered.all()


def test_large_tiles_are_cut_into_crops(tmp_path):
    from data_converters.datasets import potsdam
    from univlm.data.validate import validate_record

    conv = semantic_segmentation(
        DatasetCard(name="potsdam-crop", title="Potsdam cropped", url="-", citation="-", layout="-"),
        splits=("train",), required=("2_Ortho_RGB/",), fmt=potsdam.FORMAT, items=potsdam.items, crop=32,
    )  # fmt: skip
    out = tmp_path / "crop.jsonl"
    summary = convert(conv, fake_dir("potsdam"), out, split="train", images_root=tmp_path, progress=False)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert summary.written == len(records) > 0
    item = expected("potsdam")["top_potsdam_2_10"]
    full = truth(item, potsdam.FORMAT.labels)  # (48, 64)
    windows = {(0, 0), (32, 0), (0, 16), (32, 16)}  # 64x48 -> x 0, 32; y 0, 16 (last row aligned)
    seen = set()
    for rec in records:
        assert validate_record(rec, root=tmp_path, allow_outside_root=True) == []
        key = rec["id"].removeprefix("potsdam-crop-train-").rsplit("-seg-", 1)[0]
        x, y = (int(v) for v in key.rsplit("_", 2)[1:])
        seen.add((x, y))
        assert Image.open(tmp_path / rec["images"][0]).size == (32, 32)
        assert rec["targets"]["image_size"] == [32, 32]
        crop = full[y : y + 32, x : x + 32]
        if rec["id"].endswith("-seg-all"):
            assert np.array_equal(np.asarray(Image.open(tmp_path / rec["targets"]["mask"])), crop)
        else:
            k = potsdam.FORMAT.labels.index(rec["targets"]["labels"][1])
            assert np.array_equal(coco_rle_to_mask(rec["targets"]["mask_rle"]), crop == k)
    assert seen == windows


def test_corrupt_image_and_label_are_counted(run_converter, fake_copy):
    src = fake_copy("loveda")
    corrupt(src / "Train" / "Urban" / "images_png" / "1366.png")
    (src / "Train" / "Rural" / "masks_png" / "0.png").write_bytes(b"not a png")
    summary, records = run_converter("loveda", src, split="train")
    assert records == []
    assert dict(summary.skipped) == {"corrupt image": 1, "corrupt label": 1}


def test_missing_label_and_size_mismatch_are_counted(run_converter, fake_copy):
    src = fake_copy("udd5")
    (src / "train" / "gt" / "DJI_0001.png").unlink()
    Image.fromarray(np.zeros((10, 10), dtype=np.uint8), mode="L").save(src / "train" / "gt" / "DJI_0002.png")
    summary, records = run_converter("udd5", src, split="train")
    assert records == []
    assert dict(summary.skipped) == {"missing label": 1, "label size differs from image": 1}


def test_wrong_layout_names_missing_folder(tmp_path, fake_copy):
    src = fake_copy("potsdam")
    shutil.rmtree(src / "5_Labels_all")
    with pytest.raises(LayoutError, match="5_Labels_all/' or folder '5_Labels_all_noBoundary/'"):
        convert(get_converter("potsdam"), src, tmp_path / "o.jsonl", progress=False)
    with pytest.raises(LayoutError, match="folder 'Val/'"):
        convert(get_converter("loveda"), fake_dir("uavid"), tmp_path / "o.jsonl", split="val", progress=False)
    assert not (tmp_path / "o.jsonl").exists()


def test_cli_converts_and_validates(tmp_path, capsys):
    from univlm.cli.convert_data import main as convert_main
    from univlm.cli.data import main as data_main

    out = tmp_path / "vdd.jsonl"
    code = convert_main(["vdd", "--src", str(fake_dir("vdd")), "--out", str(out), "--split", "val", "--no-progress"])
    assert code == 0 and "SEG" in capsys.readouterr().out
    assert data_main(["validate", str(out), "--root", str(tmp_path), "--allow-outside-root"]) == 0
