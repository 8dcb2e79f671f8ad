#!/usr/bin/env python3
"""Write a tiny fake WHU-RS19 copy (native layout: ``<Class>/<class>_<nn>.jpg``) next to this script.

Run: ``python tests/data/whu_rs19/data.py``.
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # run from a checkout: tests.data._fake
from tests.data._fake import class_folders, write_expected  # noqa: E402

HERE = Path(__file__).resolve().parent
CLASSES = [
    "Airport", "Beach", "Bridge", "Commercial", "Desert", "Farmland", "footballField", "Forest",
    "Industrial", "Meadow", "Mountain", "Park", "Parking", "Pond", "Port", "railwayStation",
    "Residential", "River", "Viaduct",
]  # fmt: skip


def main() -> None:
    rng = np.random.default_rng(0)
    class_folders(HERE / "RSDataset", CLASSES, lambda cls: f"{cls.lower()}_01.jpg", 32, rng, quality=70)
    labels = {
        "footballField/footballfield_01.jpg": "football field",
        "railwayStation/railwaystation_01.jpg": "railway station",
    }
    write_expected(HERE, {"all": len(CLASSES), "labels": labels})


if __name__ == "__main__":
    main()
