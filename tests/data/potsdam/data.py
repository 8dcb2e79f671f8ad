#!/usr/bin/env python3
"""Write a tiny fake ISPRS Potsdam copy (native layout) next to this script.

``2_Ortho_RGB/top_potsdam_<tile>_RGB.tif`` and ``5_Labels_all/top_potsdam_<tile>_label.tif``
(colour-coded RGB GeoTIFF-like TIFFs). One 64x48 training tile (2_10) and one validation tile (2_13);
the other 37 tiles are absent, as in a partial download. A black "boundary" strip (the colour of the
eroded ``noBoundary`` labels) is ignored by mmseg. ``expected.json`` lists the rectangles.
Run: ``python tests/data/potsdam/data.py``.
"""

import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
COLOURS = {"impervious surface": (255, 255, 255), "building": (0, 0, 255), "low vegetation": (0, 255, 255),
           "tree": (0, 255, 0), "car": (255, 255, 0), "clutter": (255, 0, 0), "boundary": (0, 0, 0)}
W, H = 64, 48
TILES = {
    ("train", "2_10"): [("impervious surface", 0, 0, 64, 48), ("building", 4, 4, 28, 20), ("tree", 36, 24, 60, 44),
                        ("car", 40, 4, 52, 12), ("boundary", 28, 0, 32, 48)],
    ("val", "2_13"): [("low vegetation", 0, 0, 64, 48), ("clutter", 0, 32, 20, 48)],
}


def main() -> None:
    rng = np.random.default_rng(0)
    for sub in ("2_Ortho_RGB", "5_Labels_all"):
        shutil.rmtree(HERE / sub, ignore_errors=True)
        (HERE / sub).mkdir()
    expected = {}
    for (split, tile), rects in TILES.items():
        label = np.zeros((H, W, 3), dtype=np.uint8)
        for name, x1, y1, x2, y2 in rects:
            label[y1:y2, x1:x2] = COLOURS[name]
        pixels = rng.integers(0, 256, size=(H, W, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(HERE / "2_Ortho_RGB" / f"top_potsdam_{tile}_RGB.tif")
        Image.fromarray(label).save(HERE / "5_Labels_all" / f"top_potsdam_{tile}_label.tif", compression="tiff_deflate")
        expected[f"top_potsdam_{tile}"] = {"split": split, "size": [W, H], "rects": rects}
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    main()
