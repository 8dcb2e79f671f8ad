#!/usr/bin/env python3
"""Write a tiny fake SIRI-WHU copy (native layout: ``12class_tif/<class>/<nnnn>.tif``) next to this script.

Run: ``python tests/data/siri_whu/data.py``.
"""

import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
CLASSES = [
    "agriculture", "commercial", "harbor", "idle_land", "industrial", "meadow", "overpass", "park",
    "pond", "residential", "river", "water",
]  # fmt: skip


def main() -> None:
    rng = np.random.default_rng(0)
    root = HERE / "12class_tif"
    shutil.rmtree(root, ignore_errors=True)
    for cls in CLASSES:
        (root / cls).mkdir(parents=True)
        pixels = np.broadcast_to(rng.integers(0, 256, size=3), (32, 32, 3)).astype(np.uint8)
        Image.fromarray(pixels).save(root / cls / "0001.tif", compression="tiff_deflate")
    labels = {"idle_land/0001.tif": "idle land", "water/0001.tif": "water"}
    (HERE / "expected.json").write_text(json.dumps({"all": len(CLASSES), "labels": labels}, indent=1) + "\n")


if __name__ == "__main__":
    main()
