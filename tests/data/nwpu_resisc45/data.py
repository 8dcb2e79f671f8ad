#!/usr/bin/env python3
"""Write a tiny fake NWPU-RESISC45 copy (native layout) next to this script.

One 32x32 JPEG per class folder (``<class>/<class>_001.jpg``). Run: ``python tests/data/nwpu_resisc45/data.py``.
"""

import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

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
    root = HERE / "NWPU-RESISC45"
    shutil.rmtree(root, ignore_errors=True)
    labels = {}
    for cls in CLASSES:
        (root / cls).mkdir(parents=True)
        color = rng.integers(0, 256, size=3)
        pixels = np.broadcast_to(color, (32, 32, 3)).astype(np.uint8)
        Image.fromarray(pixels).save(root / cls / f"{cls}_001.jpg", quality=70)
        labels[f"{cls}/{cls}_001.jpg"] = cls.replace("_", " ")
    (HERE / "expected.json").write_text(json.dumps({"all": len(labels), "labels": labels}, indent=1) + "\n")


if __name__ == "__main__":
    main()
