#!/usr/bin/env python3
"""Write a tiny fake UDD5 copy (native layout) next to this script.

``{train,val}/src/<name>.JPG`` and ``{train,val}/gt/<name>.png`` (index PNG: 0 vegetation,
1 building, 2 road, 3 vehicle, 4 other). Run: ``python tests/data/udd5/data.py``.
"""

import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
VALUES = {"vegetation": 0, "building": 1, "road": 2, "vehicle": 3, "other": 4}
W, H = 48, 36
IMAGES = {
    ("train", "DJI_0001"): [("other", 0, 0, 48, 36), ("building", 0, 0, 20, 20), ("road", 24, 0, 32, 36)],
    ("train", "DJI_0002"): [("vegetation", 0, 0, 48, 36), ("vehicle", 10, 10, 18, 16)],
    ("val", "DJI_0100"): [("other", 0, 0, 48, 36), ("road", 0, 12, 48, 24)],
}


def main() -> None:
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        shutil.rmtree(HERE / split, ignore_errors=True)
        (HERE / split / "src").mkdir(parents=True)
        (HERE / split / "gt").mkdir(parents=True)
    expected = {}
    for (split, name), rects in IMAGES.items():
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
