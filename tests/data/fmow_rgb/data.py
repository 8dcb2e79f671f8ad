#!/usr/bin/env python3
"""Write a tiny fake fMoW-rgb copy (native layout) next to this script.

``train/<category>/<category>_<n>/<category>_<n>_<k>_rgb.jpg`` with a ``_rgb.json`` metadata file
whose ``bounding_boxes`` hold ``"box": [x, y, width, height]``. Two categories, two images, three
boxes (one image has two). ``expected.json`` lists the crops the converter must produce
(box grown by 20 % per side, clamped). Run: ``python tests/data/fmow_rgb/data.py``.
"""

import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
IMAGES = [
    ("airport", 0, 0, (64, 48), [[10, 8, 30, 20]]),
    ("wind_farm", 3, 1, (56, 56), [[0, 0, 20, 10], [40, 40, 16, 16]]),
]


def main() -> None:
    rng = np.random.default_rng(0)
    root = HERE / "train"
    shutil.rmtree(root, ignore_errors=True)
    crops = []
    for category, n, k, (w, h), boxes in IMAGES:
        folder = root / category / f"{category}_{n}"
        folder.mkdir(parents=True)
        stem = f"{category}_{n}_{k}_rgb"
        pixels = np.broadcast_to(rng.integers(0, 256, size=3), (h, w, 3)).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{stem}.jpg", quality=70)
        meta = {
            "img_width": w,
            "img_height": h,
            "gsd": 0.5,
            "bounding_boxes": [{"box": b, "category": category, "ID": 100 + i} for i, b in enumerate(boxes)],
        }
        (folder / f"{stem}.json").write_text(json.dumps(meta))
        for b in boxes:
            x, y, bw, bh = b
            crop = [max(0, int(x - 0.2 * bw)), max(0, int(y - 0.2 * bh))]
            crop += [min(w, int(x + bw + 0.2 * bw + 0.999)), min(h, int(y + bh + 0.2 * bh + 0.999))]
            crops.append({"label": category.replace("_", " "), "crop": crop})
    (HERE / "expected.json").write_text(json.dumps({"train": crops}, indent=1) + "\n")


if __name__ == "__main__":
    main()
