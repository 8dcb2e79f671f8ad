#!/usr/bin/env python3
"""Write a tiny fake NWPU-RESISC45 copy (native layout) next to this script.

One 32x32 JPEG per class folder (``<class>/<class>_001.jpg``). Run: ``python tests/data/nwpu_resisc45/data.py``.
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # run from a checkout: tests.data._fake
from tests.data._fake import class_folders, write_expected  # noqa: E402

HERE = Path(__file__).resolve().parent
CLASSES = [
    "airplane", "airport", "baseball_diamond", "basketball_court", "beach", "bridge", "chaparral",
    "church", "circular_farmland", "cloud", "commercial_area", "dense_residential", "desert", "forest",
    "freeway", "golf_course", "ground_track_field", "harbor", "industrial_area", "intersection", "island",
    "lake", "meadow", "medium_residential", "mobile_home_park", "mountain", "overpass", "palace",
    "parking_lot", "railway", "railway_station", "rectangular_farmland", "river", "roundabout", "runway",
    "sea_ice", "ship", "snowberg", "sparse_residential", "stadium", "storage_tank", "tennis_court",
    "terrace", "thermal_power_station", "wetland",
]  # fmt: skip


def main() -> None:
    rng = np.random.default_rng(0)
    files = class_folders(HERE / "NWPU-RESISC45", CLASSES, lambda cls: f"{cls}_001.jpg", 32, rng, quality=70)
    labels = {path: cls.replace("_", " ") for cls, path in zip(CLASSES, files)}
    write_expected(HERE, {"all": len(labels), "labels": labels})


if __name__ == "__main__":
    main()
