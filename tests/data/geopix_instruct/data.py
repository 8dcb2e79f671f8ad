#!/usr/bin/env python3
"""Write a tiny fake GeoPixInstruct copy (COCO JSON with per-instance descriptions) next to this script.

``annotations/{train,val,test}.json`` (images, annotations with ``segmentation`` = compressed COCO RLE,
``bbox`` and ``description``, categories) and ``images/<name>.png`` (48x48). Train image 1 has four
instances (two records: 3 + 1), one of them sharing a description with another. One train instance is
1x1 px (invisible at 24x24, must be skipped). Run: ``python tests/data/geopix_instruct/data.py``.
"""

import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

HERE = Path(__file__).resolve().parent
SIZE = 48
CATEGORIES = [{"id": 1, "name": "ship"}, {"id": 2, "name": "vehicle"}, {"id": 3, "name": "storage tank"}]
IMAGES = {
    "train": {
        1: ("P0001_0_0.png", [
            (101, 1, "large ship at the top left", (0, 0, 20, 12)),
            (102, 2, "small vehicle in the center", (20, 20, 28, 28)),
            (103, 2, "small vehicle in the center", (36, 36, 46, 46)),
            (104, 3, "white storage tank on the right", (32, 2, 46, 16)),
        ]),
        2: ("P0002_0_0.png", [
            (201, 1, "ship | docked near the pier", (4, 30, 40, 44)),
            (202, 2, "tiny car", (10, 10, 11, 11)),
        ]),
    },
    "val": {3: ("P0003_0_0.png", [(301, 3, "storage tank at the bottom", (10, 30, 30, 48))])},
    "test": {4: ("P0004_0_0.png", [(401, 1, "ship in the middle", (8, 16, 40, 32))])},
}


def main() -> None:
    rng = np.random.default_rng(0)
    for sub in ("annotations", "images"):
        shutil.rmtree(HERE / sub, ignore_errors=True)
        (HERE / sub).mkdir()
    expected = {}
    for split, images in IMAGES.items():
        coco = {"images": [], "annotations": [], "categories": CATEGORIES}
        for image_id, (name, instances) in images.items():
            coco["images"].append({"id": image_id, "file_name": name, "width": SIZE, "height": SIZE})
            Image.fromarray(rng.integers(0, 256, size=(SIZE, SIZE, 3), dtype=np.uint8)).save(HERE / "images" / name)
            for ann_id, cat, desc, (x1, y1, x2, y2) in instances:
                binary = np.zeros((SIZE, SIZE), dtype=np.uint8)
                binary[y1:y2, x1:x2] = 1
                rle = mask_utils.encode(np.asfortranarray(binary))
                coco["annotations"].append({
                    "id": ann_id, "image_id": image_id, "category_id": cat, "iscrowd": 0,
                    "segmentation": {"size": rle["size"], "counts": rle["counts"].decode("ascii")},
                    "bbox": [x1, y1, x2 - x1, y2 - y1], "area": int(binary.sum()), "description": desc,
                })
                expected[str(ann_id)] = {"split": split, "image_id": image_id, "description": desc,
                                         "rect": [x1, y1, x2, y2]}
        (HERE / "annotations" / f"{split}.json").write_text(json.dumps(coco) + "\n")
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    main()
