#!/usr/bin/env python3
"""Write a tiny fake RSVQA-LR copy next to this script.

``LR_split_{train,val,test}_{questions,answers,images}.json`` and ``Images_LR/<id>.tif``, holding the
scenario of ``tests.data._fake.rsvqa_splits`` (active and withdrawn questions and images) around a
rural/urban question. Run: ``python tests/data/rsvqa_lr/data.py``.
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # run from a checkout: tests.data._fake
from tests.data._fake import rsvqa_splits, write_rsvqa  # noqa: E402

HERE = Path(__file__).resolve().parent
PREFIX, IMAGE_DIR = "LR", "Images_LR"
SPLITS = rsvqa_splits(("Is it a rural or an urban area", "rural_urban", "rural"))


def main() -> None:
    write_rsvqa(HERE, PREFIX, IMAGE_DIR, SPLITS, np.random.default_rng(0))


if __name__ == "__main__":
    main()
