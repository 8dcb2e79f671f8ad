#!/usr/bin/env python3
"""Write a tiny fake RSITMD copy (``dataset_RSITMD.json`` + ``images/``) next to this script.

Two 32x32 TIFF images (train, test), five raw sentences each. Run: ``python tests/data/rsitmd/data.py``.
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # run from a checkout: tests.data._fake
from tests.data._fake import write_karpathy  # noqa: E402

HERE = Path(__file__).resolve().parent
IMAGES = [
    (
        "baseballfield_1.tif",
        "train",
        [f"a baseball field with {n} stands ." for n in ("two", "three", "four", "five", "six")],
    ),
    (
        "church_2.tif",
        "test",
        [f"a church surrounded by {w} ." for w in ("trees", "roads", "houses", "grass", "cars")],
    ),
]


def main() -> None:
    rng = np.random.default_rng(0)
    write_karpathy(HERE, "dataset_RSITMD.json", "rsitmd", "images", IMAGES, rng, compression="tiff_deflate")


if __name__ == "__main__":
    main()
