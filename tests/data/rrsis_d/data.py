#!/usr/bin/env python3
"""Write a tiny fake RRSIS-D copy (native layout) next to this script.

``rrsisd/instances.json`` (COCO: segmentation as a list holding one compressed RLE, or polygons),
``rrsisd/refs(unc).p`` (RefCOCO-style refs pickled as plain dicts/lists, protocol 2) and
``images/rrsisd/JPEGImages/<id>.jpg`` (40x40). Four refs: train 2 (5 sentences), val 1, test 1.
Run: ``python tests/data/rrsis_d/data.py``.
"""

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

HERE = Path(__file__).resolve().parent
SIZE = 40
CATEGORIES = [{"id": 1, "name": "airplane", "supercategory": "airplane"},
              {"id": 2, "name": "storagetank", "supercategory": "storagetank"}]
# (image id, ann id, category, rect or polygon, split, sentences)
REFS = [
    ("00001", 11, 1, ("rect", 4, 6, 20, 18), "train", ["the airplane on the upper left", "a white plane at the top"]),
    ("00001", 12, 2, ("poly", [24, 24, 36, 24, 36, 36, 24, 36]), "train",
     ["the storage tank at the bottom right", "a round tank", "tank on the right"]),
    ("00002", 21, 2, ("rect", 10, 10, 30, 30), "val", ["the storage tank in the middle"]),
    ("00003", 31, 1, ("rect", 0, 0, 40, 12), "test", ["the airplane at the top"]),
]


def main() -> None:
    rng = np.random.default_rng(0)
    for sub in ("rrsisd", "images"):
        shutil.rmtree(HERE / sub, ignore_errors=True)
    (HERE / "rrsisd").mkdir()
    (HERE / "images" / "rrsisd" / "JPEGImages").mkdir(parents=True)
    images, anns, refs, expected = {}, [], [], {}
    for ref_id, (image_id, ann_id, cat, shape, split, sentences) in enumerate(REFS):
        numeric = int(image_id)
        if numeric not in images:
            images[numeric] = {"id": numeric, "file_name": f"{image_id}.jpg", "width": SIZE, "height": SIZE}
            Image.fromarray(rng.integers(0, 256, size=(SIZE, SIZE, 3), dtype=np.uint8)).save(
                HERE / "images" / "rrsisd" / "JPEGImages" / f"{image_id}.jpg", quality=80
            )
        binary = np.zeros((SIZE, SIZE), dtype=np.uint8)
        if shape[0] == "rect":
            _, x1, y1, x2, y2 = shape
            binary[y1:y2, x1:x2] = 1
            rle = mask_utils.encode(np.asfortranarray(binary))
            segmentation = [{"size": rle["size"], "counts": rle["counts"].decode("ascii")}]
        else:
            segmentation = [shape[1]]
            binary = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(segmentation, SIZE, SIZE)))
        ys, xs = np.nonzero(binary)
        bbox = [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)]
        anns.append({"id": ann_id, "image_id": numeric, "category_id": cat, "segmentation": segmentation,
                     "bbox": bbox, "area": int(binary.sum()), "iscrowd": 0})
        refs.append({
            "ref_id": ref_id, "ann_id": ann_id, "image_id": numeric, "split": split, "category_id": cat,
            "file_name": f"{image_id}.jpg", "sent_ids": list(range(len(sentences))),
            "sentences": [{"raw": s, "sent": s.lower(), "tokens": s.split(), "sent_id": i} for i, s in enumerate(sentences)],
        })
        expected[str(ref_id)] = {"split": split, "category": CATEGORIES[cat - 1]["name"], "sentences": sentences,
                                 "mask_rows": ["".join(str(v) for v in row) for row in binary]}
    instances = {"images": list(images.values()), "annotations": anns, "categories": CATEGORIES}
    (HERE / "rrsisd" / "instances.json").write_text(json.dumps(instances) + "\n")
    with open(HERE / "rrsisd" / "refs(unc).p", "wb") as fh:
        pickle.dump(refs, fh, protocol=2)
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    main()
