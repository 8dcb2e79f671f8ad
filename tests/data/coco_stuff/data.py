#!/usr/bin/env python3
"""Write a tiny fake COCO-Stuff 164k copy (mmsegmentation layout of the native files) next to this script.

``images/{train2017,val2017}/<id>.jpg`` and ``annotations/{...}/<id>.png`` (stuffthingmaps: value
``v`` = class id ``v + 1`` of labels.txt, 255 unlabelled, which also fills what no rectangle covers: ``expected.json``
names it as each item's ``fill``). Run: ``python tests/data/coco_stuff/data.py``.
"""

import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
IDS = {"unlabeled": 255, "person": 0, "car": 2, "grass": 123, "sky-other": 156, "road": 148, "tree": 168}
IMAGES = {
    ("train2017", "000000000009", 40, 30): [("sky-other", 0, 0, 40, 10), ("tree", 0, 10, 12, 30),
                                           ("road", 12, 20, 40, 30), ("car", 20, 14, 30, 22), ("unlabeled", 12, 10, 20, 20)],
    ("val2017", "000000000139", 32, 32): [("grass", 0, 0, 32, 32), ("person", 10, 4, 18, 28)],
}


def main() -> None:
    rng = np.random.default_rng(0)
    for sub in ("images", "annotations"):
        shutil.rmtree(HERE / sub, ignore_errors=True)
    expected = {}
    for (folder, stem, w, h), rects in IMAGES.items():
        (HERE / "images" / folder).mkdir(parents=True, exist_ok=True)
        (HERE / "annotations" / folder).mkdir(parents=True, exist_ok=True)
        index = np.full((h, w), 255, dtype=np.uint8)
        for cls, x1, y1, x2, y2 in rects:
            index[y1:y2, x1:x2] = IDS[cls]
        Image.fromarray(rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)).save(
            HERE / "images" / folder / f"{stem}.jpg", quality=80
        )
        Image.fromarray(index, mode="L").save(HERE / "annotations" / folder / f"{stem}.png")
        expected[stem] = {"split": folder.removesuffix("2017"), "size": [w, h], "fill": "unlabeled", "rects": rects}
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    main()
