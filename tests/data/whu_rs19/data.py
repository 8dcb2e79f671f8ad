#!/usr/bin/env python3
"""Write a tiny fake WHU-RS19 copy (native layout: ``<Class>/<class>_<nn>.jpg``) next to this script.

Run: ``python tests/data/whu_rs19/data.py``.
"""

import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
CLASSES = [
    "Airport", "Beach", "Bridge", "Commercial", "Desert", "Farmland", "footballField", "Forest",
    "Industrial", "Meadow", "Mountain", "Park", "Parking", "Pond", "Port", "railwayStation",
    "Residential", "River", "Viaduct",
]  # fmt: skip


def main() -> None:
    rng = np.random.default_rng(0)
    root = HERE / "RSDataset"
    shutil.rmtree(root, ignore_errors=True)
    for cls in CLASSES:
        (root / cls).mkdir(parents=True)
        pixels = np.broadcast_to(rng.integers(0, 256, size=3), (32, 32, 3)).astype(np.uint8)
        Image.fromarray(pixels).save(root / cls / f"{cls.lower()}_01.jpg", quality=70)
    labels = {
        "footballField/footballfield_01.jpg": "football field",
        "railwayStation/railwaystation_01.jpg": "railway station",
    }
    (HERE / "expected.json").write_text(json.dumps({"all": len(CLASSES), "labels": labels}, indent=1) + "\n")


if __name__ == "__main__":
    main()
