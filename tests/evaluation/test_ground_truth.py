"""Ground truth: SEG record kinds, ignored pixels and the order-independent class list of semantic protocols."""

import json
import random
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from data_converters import convert, get_converter
from tests.data_converters.helpers import fake_dir
from tests.evaluation import minidata
from univlm.codecs import decode_mask, mask_to_coco_rle
from univlm.evaluation.ground_truth import (
    ClassListError,
    load_label_mask,
    seg_kind,
    semantic_class_list,
)
from univlm.evaluation.registry import get_task
from univlm.evaluation.runner import score

# mmseg's LoveDA classes (mmseg/datasets/loveda.py) in univlm's record names; "others" = background.
LOVEDA_MMSEG = ("others", "building", "road", "water", "barren", "forest", "agriculture")


@pytest.fixture(scope="module")
def loveda(tmp_path_factory):
    """The fake LoveDA train split converted with its converter: (records, root)."""
    tmp = tmp_path_factory.mktemp("loveda")
    src = fake_dir("loveda")
    out = tmp / "loveda.jsonl"
    convert(get_converter("loveda"), src, out, split="train", images_root=src, progress=False)
    return [json.loads(line) for line in out.read_text().splitlines()], src


def test_seg_kinds(tmp_path):
    _, records = minidata.build(tmp_path)
    kinds = {r["id"]: seg_kind(r) for r in records if r["task"] == "SEG"}
    assert kinds == {
        "ref-1": "referring",
        "sem-1": "semantic",
        "multi-1": "multi_referring",
        "cd-1": "change",
    }


def test_binary_targets_fold_their_ignored_pixels_back_in():
    mask = np.zeros((6, 8), bool)
    mask[:3] = True
    ignored = np.zeros((6, 8), bool)
    ignored[5, :] = True
    rec = {
        "targets": {
            "mask_rle": mask_to_coco_rle(mask),
            "ignore_rle": mask_to_coco_rle(ignored),
            "ignore_index": 255,
        }
    }
    got = load_label_mask(rec, None)
    assert (got[:3] == 1).all() and (got[5] == 255).all() and (got[3:5] == 0).all()


def _mmseg_reference(records, root):
    """mIoU computed the way mmseg does it, independently of univlm's scorer.

    Ground truth: the raw LoveDA mask with ``reduce_zero_label`` (0 -> 255, v -> v - 1). Prediction: the
    answer grid brought to full size as Text4Seg's decoder does (``F.interpolate(mode="nearest")``:
    source index ``floor(dst * in / out)``). Per-class areas summed over the dataset, IoU nanmean.
    """
    inter, union = np.zeros(7), np.zeros(7)
    for rec in records:
        stem = rec["id"].split("-")[2]  # loveda-train-<domain>_<stem>-seg-all
        domain, name = stem.split("_", 1)
        raw = np.asarray(
            Image.open(root / "Train" / domain.capitalize() / "masks_png" / f"{name}.png")
        ).astype(int)
        gt = np.where(raw == 0, 255, raw - 1)
        decoded = decode_mask(rec["messages"][1]["content"])
        grid = np.array([[LOVEDA_MMSEG.index(n) for n in row] for row in decoded.names()], dtype=np.uint8)
        rows = (np.arange(gt.shape[0]) * np.float32(24 / gt.shape[0])).astype(int)
        cols = (np.arange(gt.shape[1]) * np.float32(24 / gt.shape[1])).astype(int)
        pred = grid[rows][:, cols].astype(int)
        keep = gt != 255
        p, g = pred[keep], gt[keep]
        i = np.bincount(p[p == g], minlength=7)
        inter += i
        union += np.bincount(p, minlength=7) + np.bincount(g, minlength=7) - i
    with np.errstate(invalid="ignore"):
        return float(np.nanmean(inter / union))


def test_loveda_is_scored_as_mmseg_scores_it(loveda):
    records, root = loveda
    semantic = [r for r in records if r["id"].endswith("-seg-all")]
    assert len(semantic) == 2  # every image has its all-classes record
    answers = {r["id"]: r["messages"][1]["content"] for r in semantic}
    res = score("semseg_mmseg_single", answers, records, root)
    assert res["details"]["classes"] == list(LOVEDA_MMSEG)  # from the dataset card, not from records
    assert res["counts"]["scored"] == 2
    assert res["scores"]["mIoU"] == pytest.approx(_mmseg_reference(semantic, root))
    # The no-data strip (raw 0) is ignored: answering anything there changes nothing.
    other = {rid: text.replace("others", "building") for rid, text in answers.items()}
    assert (
        score("semseg_mmseg_single", other, records, root)["details"]["per_class"]["others"]["IoU"]
        is not None
    )


def test_record_order_never_changes_the_score(loveda):
    records, root = loveda
    answers = {r["id"]: r["messages"][1]["content"] for r in records}
    first = score("semseg_mmseg_single", answers, records, root)
    shuffled = list(records)
    random.Random(0).shuffle(shuffled)
    assert score("semseg_mmseg_single", answers, shuffled, root)["scores"] == first["scores"]
    # A record whose own label list is a subset still scores under the card's list.
    short = [dict(r, targets={**r["targets"], "labels": r["targets"]["labels"][:4]}) for r in records[:1]]
    assert semantic_class_list(get_task("semseg_mmseg_single"), short) == list(LOVEDA_MMSEG)


def test_class_list_from_options_records_or_an_error(tmp_path):
    _, records = minidata.build(tmp_path)
    sem = next(r for r in records if r["id"] == "sem-1")
    spec = get_task("semseg_mmseg_single")
    assert semantic_class_list(spec, [sem]) == [
        "others",
        "building",
        "water",
    ]  # no card: the one declared list
    assert semantic_class_list(replace(spec, options={"classes": ["water"]}), [sem]) == ["water"]
    other = dict(sem, id="sem-2", targets={**sem["targets"], "labels": ["others", "road", "water"]})
    with pytest.raises(ClassListError, match="2 different class lists"):
        semantic_class_list(spec, [sem, other])
    with pytest.raises(ClassListError, match="2 different class lists"):
        semantic_class_list(spec, [other, sem])
    loveda_rec = dict(sem, source="loveda/val")
    with pytest.raises(ClassListError):
        semantic_class_list(spec, [sem, loveda_rec])


def test_ignored_ground_truth_is_never_scored(tmp_path):
    _, records = minidata.build(tmp_path)
    sem = next(r for r in records if r["id"] == "sem-1")
    mask = np.asarray(Image.open(tmp_path / sem["targets"]["mask"])).copy()
    mask[:, :24] = 255  # the whole "others" half ignored
    Image.fromarray(mask).save(tmp_path / "masks/sem_ignored.png")
    rec = dict(sem, targets={**sem["targets"], "mask": "masks/sem_ignored.png", "ignore_index": 255})
    wrong_left = sem["messages"][1]["content"]  # right everywhere it is scored
    res = score("semseg_mmseg_single", {"sem-1": wrong_left}, [rec], tmp_path)
    assert res["scores"]["aAcc"] == 1.0 and res["details"]["per_class"]["others"]["IoU"] is None
