#!/usr/bin/env python3
"""Write a tiny fake LoveDA copy (native layout) next to this script.

``{Train,Val}/{Urban,Rural}/images_png/<id>.png`` (RGB) and ``masks_png/<id>.png`` (index PNG:
0 no-data, 1 background, 2 building, 3 road, 4 water, 5 barren, 6 forest, 7 agriculture).
Train: one urban + one rural 32x32 image; Val: one urban image. ``expected.json`` lists each image's
rectangles (later ones paint over earlier ones) so tests can rebuild the ground truth.
Run: ``python tests/data/loveda/data.py``.
"""

import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
VALUES = {"no-data": 0, "background": 1, "building": 2, "road": 3, "water": 4, "barren": 5, "forest": 6,
          "agriculture": 7}
ITEMS = {
    ("Train", "Urban", "1366"): [("background", 0, 0, 32, 32), ("building", 2, 2, 14, 12), ("road", 0, 16, 32, 22)],
    ("Train", "Rural", "0"): [("agriculture", 0, 0, 32, 32), ("forest", 16, 0, 32, 16), ("no-data", 0, 28, 32, 32)],
    ("Val", "Urban", "3514"): [("background", 0, 0, 32, 32), ("water", 8, 8, 24, 24)],
}
SIZE = 32


def main() -> None:
    rng = np.random.default_rng(0)
    for split in ("Train", "Val"):
        shutil.rmtree(HERE / split, ignore_errors=True)
    expected = {}
    for (split, domain, stem), rects in ITEMS.items():
        index = np.zeros((SIZE, SIZE), dtype=np.uint8)
        for name, x1, y1, x2, y2 in rects:
            index[y1:y2, x1:x2] = VALUES[name]
        for sub in ("images_png", "masks_png"):
            (HERE / split / domain / sub).mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, size=(SIZE, SIZE, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(HERE / split / domain / "images_png" / f"{stem}.png")
        Image.fromarray(index, mode="L").save(HERE / split / domain / "masks_png" / f"{stem}.png")
        expected[f"{domain.lower()}_{stem}"] = {"split": split.lower(), "size": [SIZE, SIZE], "rects": rects}
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    main()
