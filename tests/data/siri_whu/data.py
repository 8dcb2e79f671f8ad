#!/usr/bin/env python3
"""Write a tiny fake SIRI-WHU copy (native layout: ``12class_tif/<class>/<nnnn>.tif``) next to this script.

Run: ``python tests/data/siri_whu/data.py``.
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # run from a checkout: tests.data._fake
from tests.data._fake import class_folders, write_expected  # noqa: E402

HERE = Path(__file__).resolve().parent
CLASSES = [
    "agriculture", "commercial", "harbor", "idle_land", "industrial", "meadow", "overpass", "park",
    "pond", "residential", "river", "water",
]  # fmt: skip


def main() -> None:
    rng = np.random.default_rng(0)
    class_folders(HERE / "12class_tif", CLASSES, lambda cls: "0001.tif", 32, rng, compression="tiff_deflate")
    labels = {"idle_land/0001.tif": "idle land", "water/0001.tif": "water"}
    write_expected(HERE, {"all": len(CLASSES), "labels": labels})


if __name__ == "__main__":
    main()
