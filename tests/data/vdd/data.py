#!/usr/bin/env python3
"""Write a tiny fake VDD copy (native layout) next to this script.

``{train,val,test}/src/<name>.JPG`` and ``{split}/gt/<name>.png`` (index PNG: 0 other, 1 wall, 2 road,
3 vegetation, 4 vehicle, 5 roof, 6 water). Run: ``python tests/data/vdd/data.py``.
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # run from a checkout: tests.data._fake
from tests.data._fake import write_src_gt  # noqa: E402

HERE = Path(__file__).resolve().parent
VALUES = {"other": 0, "wall": 1, "road": 2, "vegetation": 3, "vehicle": 4, "roof": 5, "water": 6}
W, H = 40, 30
IMAGES = {
    ("train", "DJI_0100"): [("roof", 0, 0, 20, 15), ("wall", 0, 15, 20, 18), ("vegetation", 20, 0, 40, 30)],
    ("val", "DJI_0200"): [("water", 0, 0, 40, 12), ("road", 0, 20, 40, 26)],
    ("test", "DJI_0300"): [("vehicle", 12, 12, 24, 20)],
}


def main() -> None:
    write_src_gt(HERE, IMAGES, VALUES, W, H, np.random.default_rng(0))


if __name__ == "__main__":
    main()
