"""Synthetic dataset: determinism, every task, every record valid, atomic/idempotent generation."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from univlm.codecs import coco_rle_to_mask, decode_mask
from univlm.data.schema import read_records
from univlm.data.synth import (
    MANIFEST,
    SPLITS,
    ensure_synthetic,
    generate_synthetic,
    split_sizes,
    uncompressed_rle,
    unique_expressions,
)
from univlm.data.synth_scene import Instance
from univlm.data.validate import validate_file
from univlm.tasks import TASKS


def _files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def easy(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth") / "easy"
    generate_synthetic(root, n=16, size=64, seed=0)
    return root


def test_same_seed_is_byte_identical_other_seed_differs(easy, tmp_path):
    again = tmp_path / "again"
    generate_synthetic(again, n=16, size=64, seed=0)
    assert _files(again) == _files(easy)  # every file, the manifest included (issue #14 §7)
    assert "seconds" not in json.loads((easy / MANIFEST).read_text())
    other = tmp_path / "other"
    generate_synthetic(other, n=16, size=64, seed=1)
    assert (other / "images/train/000000.png").read_bytes() != (easy / "images/train/000000.png").read_bytes()


def test_scenes_do_not_depend_on_n(easy, tmp_path):
    small = tmp_path / "small"
    generate_synthetic(small, n=8, size=64, seed=0)
    a = read_records(easy / "train.jsonl")
    b = read_records(small / "train.jsonl")
    assert b == a[: len(b)]
    assert (small / "images/train/000003_b.png").read_bytes() == (easy / "images/train/000003_b.png").read_bytes()


def test_every_task_and_split_present(easy):
    manifest = json.loads((easy / MANIFEST).read_text())
    assert set(manifest["splits"]) == set(SPLITS)
    records = [r for s in SPLITS for r in read_records(easy / f"{s}.jsonl")]
    assert {r["task"] for r in records} == set(TASKS)
    suffixes = {r["id"].rsplit("-", 1)[1] for r in records}
    assert suffixes == {"cls", "vqa", "cap", "vg", "ref", "seg", "mref", "ccd", "cd"}
    assert len({r["id"] for r in records}) == len(records)
    assert all(r["source"] == "synthetic/" + r["id"].split("-")[1] for r in records)
    assert sum(manifest["splits"][s]["records"] for s in SPLITS) == len(records)


@pytest.mark.parametrize("difficulty", ["easy", "medium", "hard"])
def test_every_record_validates(easy, tmp_path, difficulty):
    root = easy
    if difficulty != "easy":
        root = tmp_path / difficulty
        generate_synthetic(root, n=20, size=96, seed=7, difficulty=difficulty)
    for split in SPLITS:
        report = validate_file(root / f"{split}.jsonl")
        assert report.records > 0
        assert report.problems == [], [p.format() for p in report.problems[:5]]


def test_masks_and_instances_match_answers(easy):
    records = read_records(easy / "train.jsonl")
    mref = next(r for r in records if r["id"].endswith("-mref"))
    inst = mref["targets"]["instances"]
    assert len(inst) >= 1 and all(coco_rle_to_mask(i["rle"]).any() for i in inst)
    decoded = decode_mask(mref["messages"][1]["content"], strict=True)
    assert set(decoded.labels[1:]) <= {i["description"] for i in inst}
    cd = next(r for r in records if r["id"].endswith("-cd"))
    mask = np.asarray(Image.open(easy / cd["targets"]["mask"]))
    assert mask.shape == (64, 64) and set(np.unique(mask)) <= {0, 1} and mask.any()
    assert len(cd["images"]) == 2 and cd["messages"][0]["content"].count("<image>") == 2


def test_uncompressed_rle_matches_pycocotools():
    rng = np.random.default_rng(0)
    for shape in ((5, 7), (16, 16)):
        binary = rng.random(shape) > 0.6
        binary[0, 0] = True
        rle = uncompressed_rle(binary)
        assert sum(rle["counts"]) == binary.size and rle["counts"][0] == 0
        assert np.array_equal(coco_rle_to_mask(rle), binary)


def test_unique_expressions_are_unique():
    a = Instance(0, "building", "red", (0, 0, 10, 10), 100)
    b = Instance(1, "building", "white", (20, 0, 40, 20), 400)
    c = Instance(2, "vehicle", None, (50, 50, 54, 52), 8)
    assert unique_expressions(c, [a, b, c], 64, False) == ["the vehicle"]
    assert unique_expressions(a, [a, b, c], 64, False) == ["the building with the red roof", "the building on the left"]
    assert "the largest building" in unique_expressions(b, [a, b, c], 64, False)
    twin = Instance(3, "building", "red", (0, 30, 10, 40), 100)
    assert "the building with the red roof" not in unique_expressions(a, [a, twin], 64, False)


def test_ensure_synthetic_is_idempotent_and_strict(tmp_path):
    root = tmp_path / "d"
    assert ensure_synthetic(root, n=5, size=48) == root
    stamp = (root / "train.jsonl").stat().st_mtime_ns
    ensure_synthetic(root, n=5, size=48)
    assert (root / "train.jsonl").stat().st_mtime_ns == stamp
    with pytest.raises(ValueError, match="other parameters"):
        ensure_synthetic(root, n=6, size=48)
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "x.txt").write_text("x")
    with pytest.raises(ValueError, match="not a complete synthetic dataset"):
        ensure_synthetic(junk, n=5, size=48)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp dirs left behind


def test_generate_refuses_then_overwrites(tmp_path):
    root = tmp_path / "d"
    generate_synthetic(root, n=5, size=48)
    with pytest.raises(ValueError, match="not empty"):
        generate_synthetic(root, n=5, size=48, seed=1)
    manifest = generate_synthetic(root, n=5, size=48, seed=1, overwrite=True)
    assert manifest["seed"] == 1 and json.loads((root / MANIFEST).read_text())["seed"] == 1


def test_split_sizes():
    assert split_sizes(100, 0.1, 0.1) == {"train": 80, "val": 10, "test": 10}
    assert split_sizes(3, 0.0, 0.0) == {"train": 3, "val": 0, "test": 0}
    with pytest.raises(ValueError, match="no training scene"):
        split_sizes(2, 0.5, 0.5)
    with pytest.raises(ValueError, match="val_frac"):
        split_sizes(10, 1.5, 0.0)


def test_scene_without_room_or_buildings_skips_its_change_pair(tmp_path, monkeypatch):
    import dataclasses

    from univlm.data import synth_records
    from univlm.data.synth_scene import DIFFICULTIES, change_scene, make_scene

    easy = DIFFICULTIES["easy"]
    gen = np.random.default_rng(0)
    scene = make_scene(gen, 64, easy)
    scene = dataclasses.replace(scene, objects=[o for o in scene.objects if o.cls != "building"])
    scene.occupied[:] = True  # no free spot for a new building, and none to remove
    assert change_scene(gen, scene, easy) is None
    monkeypatch.setattr(synth_records, "change_scene", lambda *args: None)
    for split in ("images/train", "masks/train"):
        (tmp_path / split).mkdir(parents=True)
    records, skipped = synth_records.scene_records(tmp_path, "train", 0, 64, 0, easy)
    assert {"ccd", "cd"} <= set(skipped)
    assert len(records) + len(skipped) == 9
    assert not any(r["id"].endswith(("-ccd", "-cd")) for r in records)


def test_lattice_boxes_and_masks_lie_on_the_grid(tmp_path):
    root = tmp_path / "lat"
    manifest = generate_synthetic(root, n=24, size=64, seed=1, lattice=4)
    assert manifest["lattice"] == 4
    cell = 64 // 4
    records = read_records(root / "train.jsonl") + read_records(root / "val.jsonl")
    vg = [r for r in records if r["task"] == "VG"]
    assert vg
    for r in vg:
        assert "vehicle" not in r["messages"][0]["content"]  # smaller than a cell: never a target
        box = r["targets"]["boxes"][0]
        assert all(v % cell == 0 for v in box), (r["id"], box)
    for r in records:
        # Vehicles are free-placed and drawn over roads, so road masks may have vehicle holes.
        if r["id"].endswith("-seg") and r["targets"]["labels"][1] not in ("vehicle", "road"):
            mask = np.asarray(Image.open(root / r["targets"]["mask"]))
            blocks = mask.reshape(4, cell, 4, cell)  # (cell row, y, cell col, x)
            assert (blocks.min(axis=(1, 3)) == blocks.max(axis=(1, 3))).all(), r["id"]
    report = validate_file(root / "train.jsonl")
    assert report.records > 0 and report.problems == [], [p.format() for p in report.problems[:5]]
    # The manifest keeps the parameter: a different lattice is a different dataset.
    assert ensure_synthetic(root, n=24, size=64, seed=1, lattice=4) == root
    with pytest.raises(ValueError, match="other parameters"):
        ensure_synthetic(root, n=24, size=64, seed=1)
    for bad in (5, 2, -4):
        with pytest.raises(ValueError, match="divisor"):
            generate_synthetic(tmp_path / "bad", n=4, size=64, lattice=bad)
