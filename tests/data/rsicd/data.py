#!/usr/bin/env python3
"""Write a tiny fake RSICD copy (``dataset_rsicd.json`` + ``RSICD_images/``) next to this script.

Three 32x32 images, one per split; sentences in RSICD's raw style (detached final period, the
fifth sentence repeating the first). Run: ``python tests/data/rsicd/data.py``.
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # run from a checkout: tests.data._fake
from tests.data._fake import write_karpathy  # noqa: E402

HERE = Path(__file__).resolve().parent
IMAGES = [
    ("airport_1.jpg", "train", ["many aircraft are parked near a terminal .", "an airport with planes ."]),
    ("beach_2.jpg", "val", ["yellow beach is near a piece of green ocean ."]),
    ("bridge_3.jpg", "test", ["a bridge crosses the river .", "a long bridge over water ."]),
]


def main() -> None:
    rng = np.random.default_rng(0)
    write_karpathy(HERE, "dataset_rsicd.json", "rsicd", "RSICD_images", IMAGES, rng, quality=70)


if __name__ == "__main__":
    main()
