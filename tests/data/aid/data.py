#!/usr/bin/env python3
"""Write a tiny fake AID copy (native layout: ``<Class>/<class>_<n>.jpg``) next to this script.

Run: ``python tests/data/aid/data.py``.
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # run from a checkout: tests.data._fake
from tests.data._fake import class_folders, write_expected  # noqa: E402

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
    files = class_folders(HERE / "AID", CLASSES, lambda cls: f"{cls.lower()}_1.jpg", 48, rng, quality=70)
    labels = {path: LABELS[cls] for cls, path in zip(CLASSES, files) if cls in LABELS}
    write_expected(HERE, {"all": len(CLASSES), "labels": labels})


if __name__ == "__main__":
    main()
