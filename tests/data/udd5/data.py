#!/usr/bin/env python3
"""Write a tiny fake UDD5 copy (native layout) next to this script.

``{train,val}/src/<name>.JPG`` and ``{train,val}/gt/<name>.png`` (index PNG: 0 vegetation,
1 building, 2 road, 3 vehicle, 4 other). Run: ``python tests/data/udd5/data.py``.
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # run from a checkout: tests.data._fake
from tests.data._fake import write_src_gt  # noqa: E402

HERE = Path(__file__).resolve().parent
VALUES = {"vegetation": 0, "building": 1, "road": 2, "vehicle": 3, "other": 4}
W, H = 48, 36
IMAGES = {
    ("train", "DJI_0001"): [("other", 0, 0, 48, 36), ("building", 0, 0, 20, 20), ("road", 24, 0, 32, 36)],
    ("train", "DJI_0002"): [("vegetation", 0, 0, 48, 36), ("vehicle", 10, 10, 18, 16)],
    ("val", "DJI_0100"): [("other", 0, 0, 48, 36), ("road", 0, 12, 48, 24)],
}


def main() -> None:
    write_src_gt(HERE, IMAGES, VALUES, W, H, np.random.default_rng(0))


if __name__ == "__main__":
    main()
