#!/usr/bin/env python3
"""Write a tiny fake AID copy (native layout: ``<Class>/<class>_<n>.jpg``) next to this script.

Run: ``python tests/data/aid/data.py``.
"""

import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
CLASSES = [
    "Airport", "BareLand", "BaseballField", "Beach", "Bridge", "Center", "Church", "Commercial",
    "DenseResidential", "Desert", "Farmland", "Forest", "Industrial", "Meadow", "MediumResidential",
    "Mountain", "Park", "Parking", "Playground", "Pond", "Port", "RailwayStation", "Resort", "River",
    "School", "SparseResidential", "Square", "Stadium", "StorageTanks", "Viaduct",
]  # fmt: skip
LABELS = {"BareLand": "bare land", "DenseResidential": "dense residential", "StorageTanks": "storage tanks"}


def main() -> None:
    rng = np.random.default_rng(0)
    root = HERE / "AID"
    shutil.rmtree(root, ignore_errors=True)
    labels = {}
    for cls in CLASSES:
        (root / cls).mkdir(parents=True)
        pixels = np.broadcast_to(rng.integers(0, 256, size=3), (48, 48, 3)).astype(np.uint8)
        name = f"{cls.lower()}_1.jpg"
        Image.fromarray(pixels).save(root / cls / name, quality=70)
        if cls in LABELS:
            labels[f"{cls}/{name}"] = LABELS[cls]
    (HERE / "expected.json").write_text(json.dumps({"all": len(CLASSES), "labels": labels}, indent=1) + "\n")


if __name__ == "__main__":
    main()
