#!/usr/bin/env python3
"""Write a tiny fake VRSBench copy (released layout) next to this script.

val (benchmark): ``VRSBench_EVAL_{Cap,referring,vqa}.json`` lists with ``image_id``, ``question``,
``ground_truth`` (referring: ``{<x1><y1><x2><y2>}`` on the 0..100 grid) and ``Images_val/*.png``.
train: ``Annotations_train/<image>.json`` with ``caption``, ``objects`` (normalised ``obj_corner``)
and ``qa_pairs``, and ``Images_train/*.png``. Images are 64x48 (VRSBench's are 512x512).
Run: ``python tests/data/vrsbench/data.py``.
"""

import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
W, H = 64, 48


def image(rng: np.random.Generator, path: Path) -> None:
    pixels = np.broadcast_to(rng.integers(0, 256, size=3), (H, W, 3)).astype(np.uint8)
    Image.fromarray(pixels).save(path)


def main() -> None:
    rng = np.random.default_rng(0)
    for sub in ("Images_val", "Images_train", "Annotations_train"):
        shutil.rmtree(HERE / sub, ignore_errors=True)
        (HERE / sub).mkdir()
    for name in ("P0003_0004.png", "11760.png"):
        image(rng, HERE / "Images_val" / name)
    cap = [
        {"image_id": "P0003_0004.png", "ground_truth": "The image shows a harbor with two ships.",
         "question": "Describe the image in detail", "dataset": "RSBench", "question_id": 0, "type": "caption"},
        {"image_id": "11760.png", "ground_truth": "A parking lot full of cars next to a road.",
         "question": "Describe the image in detail", "dataset": "RSBench", "question_id": 1, "type": "caption"},
    ]  # fmt: skip
    ref = [
        {"image_id": "P0003_0004.png", "question": "The larger ship docked on the left.", "ground_truth": "{<10><20><40><75>}",
         "dataset": "RSBench", "question_id": 0, "type": "ref", "unique": True, "obj_cls": "ship",
         "obj_ids": [0], "size_group": "large"},
        {"image_id": "11760.png", "question": "The car at the bottom right.", "ground_truth": "{<80><85><95><100>}",
         "dataset": "RSBench", "question_id": 1, "type": "ref", "unique": False, "obj_cls": "vehicle",
         "obj_ids": [0], "size_group": "small"},
    ]  # fmt: skip
    vqa = [
        {"image_id": "P0003_0004.png", "question": "How many ships are there?", "ground_truth": "2",
         "dataset": "RSBench", "question_id": 0, "type": "object quantity"},
        {"image_id": "P0003_0004.png", "question": "Is there a harbor?", "ground_truth": "Yes",
         "dataset": "RSBench", "question_id": 1, "type": "object existence"},
        {"image_id": "11760.png", "question": "What color is the road?", "ground_truth": "Gray",
         "dataset": "RSBench", "question_id": 2, "type": "object color"},
    ]  # fmt: skip
    for kind, items in (("Cap", cap), ("referring", ref), ("vqa", vqa)):
        (HERE / f"VRSBench_EVAL_{kind}.json").write_text(json.dumps(items, indent=1) + "\n")
    image(rng, HERE / "Images_train" / "00001_0000.png")
    train = {
        "image": "00001_0000.png",
        "caption": "An airport apron with one airplane.",
        "objects": [
            {"obj_id": 0, "obj_cls": "airplane", "obj_corner": [0.25, 0.5, 0.75, 0.5, 0.75, 1.05, 0.25, 1.05],
             "referring_sentence": "The only airplane in the image.", "is_unique": True, "obj_size": "large"},
        ],
        "qa_pairs": [{"question": "Is there an airplane?", "answer": "Yes", "type": "object existence"}],
    }  # fmt: skip
    (HERE / "Annotations_train" / "00001_0000.json").write_text(json.dumps(train, indent=1) + "\n")
    expected = {
        "image_size": [W, H],
        "val": {"cap": 2, "vqa": [["2", "count"], ["Yes", "presence"], ["Gray", "other"]],
                "ref": [[10, 20, 40, 75], [80, 85, 95, 100]]},
        "train": {"cap": 1, "vqa": [["Yes", "presence"]], "ref_px": [[16.0, 24.0, 48.0, 48.0]]},
    }  # fmt: skip
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    main()
