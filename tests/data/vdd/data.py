#!/usr/bin/env python3
"""Write a tiny fake VDD copy (native layout) next to this script.

``{train,val,test}/src/<name>.JPG`` and ``{split}/gt/<name>.png`` (index PNG: 0 other, 1 wall, 2 road,
3 vegetation, 4 vehicle, 5 roof, 6 water). Run: ``python tests/data/vdd/data.py``.
"""

import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
VALUES = {"other": 0, "wall": 1, "road": 2, "vegetation": 3, "vehicle": 4, "roof": 5, "water": 6}
W, H = 40, 30
IMAGES = {
    ("train", "DJI_0100"): [("roof", 0, 0, 20, 15), ("wall", 0, 15, 20, 18), ("vegetation", 20, 0, 40, 30)],
    ("val", "DJI_0200"): [("water", 0, 0, 40, 12), ("road", 0, 20, 40, 26)],
    ("test", "DJI_0300"): [("vehicle", 12, 12, 24, 20)],
}


def main() -> None:
    rng = np.random.default_rng(0)
    expected = {}
    for (split, name), rects in IMAGES.items():
        shutil.rmtree(HERE / split, ignore_errors=True)
        (HERE / split / "src").mkdir(parents=True)
        (HERE / split / "gt").mkdir(parents=True)
        index = np.zeros((H, W), dtype=np.uint8)
        for cls, x1, y1, x2, y2 in rects:
            index[y1:y2, x1:x2] = VALUES[cls]
        Image.fromarray(rng.integers(0, 256, size=(H, W, 3), dtype=np.uint8)).save(
            HERE / split / "src" / f"{name}.JPG", format="JPEG", quality=80
        )
        Image.fromarray(index, mode="L").save(HERE / split / "gt" / f"{name}.png")
        expected[name] = {"split": split, "size": [W, H], "rects": rects}
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    main()
