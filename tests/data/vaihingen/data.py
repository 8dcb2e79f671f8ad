#!/usr/bin/env python3
"""Write a tiny fake ISPRS Vaihingen copy (native layout) next to this script.

``ISPRS_semantic_labeling_Vaihingen/top/top_mosaic_09cm_area<N>.tif`` (IRRG) and the eroded ground
truth ``ISPRS_semantic_labeling_Vaihingen_ground_truth_eroded_COMPLETE/top_mosaic_09cm_area<N>_noBoundary.tif``
(colour-coded RGB, black boundaries). Area 1 (train, 48x64) and area 2 (val, 40x40).
Run: ``python tests/data/vaihingen/data.py``.
"""

import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
COLOURS = {"impervious surface": (255, 255, 255), "building": (0, 0, 255), "low vegetation": (0, 255, 255),
           "tree": (0, 255, 0), "car": (255, 255, 0), "clutter": (255, 0, 0), "boundary": (0, 0, 0)}
IMAGES = "ISPRS_semantic_labeling_Vaihingen/top"
LABELS = "ISPRS_semantic_labeling_Vaihingen_ground_truth_eroded_COMPLETE"
AREAS = {
    ("train", 1, 48, 64): [("impervious surface", 0, 0, 48, 64), ("building", 8, 8, 40, 30),
                           ("boundary", 8, 30, 40, 32), ("low vegetation", 0, 40, 48, 64)],
    ("val", 2, 40, 40): [("tree", 0, 0, 40, 40), ("car", 10, 10, 22, 18)],
}


def main() -> None:
    rng = np.random.default_rng(0)
    for sub in ("ISPRS_semantic_labeling_Vaihingen", LABELS):
        shutil.rmtree(HERE / sub, ignore_errors=True)
    (HERE / IMAGES).mkdir(parents=True)
    (HERE / LABELS).mkdir(parents=True)
    expected = {}
    for (split, area, w, h), rects in AREAS.items():
        label = np.zeros((h, w, 3), dtype=np.uint8)
        for name, x1, y1, x2, y2 in rects:
            label[y1:y2, x1:x2] = COLOURS[name]
        stem = f"top_mosaic_09cm_area{area}"
        Image.fromarray(rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)).save(HERE / IMAGES / f"{stem}.tif")
        Image.fromarray(label).save(HERE / LABELS / f"{stem}_noBoundary.tif", compression="tiff_deflate")
        expected[stem] = {"split": split, "size": [w, h], "rects": rects}
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    main()
