#!/usr/bin/env python3
"""Write a tiny fake RSVQA-HR copy next to this script.

``USGS_split_{train,val,test,test_phili}_{questions,answers,images}.json`` and ``Data/<id>.tif``,
holding the scenario of ``tests.data._fake.rsvqa_splits`` (active and withdrawn questions and images)
around an area question, plus one question in test_phili. Run: ``python tests/data/rsvqa_hr/data.py``.
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # run from a checkout: tests.data._fake
from tests.data._fake import rsvqa_splits, write_rsvqa  # noqa: E402

HERE = Path(__file__).resolve().parent
PREFIX, IMAGE_DIR = "USGS", "Data"
SPLITS = rsvqa_splits(
    ("What is the area covered by residential buildings?", "area", "0m2"),
    test_phili=[
        (5, True, [("What is the area covered by buildings?", "area", "between 100m2 and 1000m2", True)]),
    ],
)


def main() -> None:
    write_rsvqa(HERE, PREFIX, IMAGE_DIR, SPLITS, np.random.default_rng(0))


if __name__ == "__main__":
    main()
