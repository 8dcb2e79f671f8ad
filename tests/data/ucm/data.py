#!/usr/bin/env python3
"""Write a tiny fake UC Merced Land Use copy (native layout) next to this script.

One 40x32 TIFF per class (two for ``agricultural``), plus torchgeo-style split lists that put the
two agricultural images in train and test. ``expected.json`` records what the converter must find.
Run: ``python tests/data/ucm/data.py`` (seeded, deterministic).
"""

import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
CLASSES = [
    "agricultural", "airplane", "baseballdiamond", "beach", "buildings", "chaparral", "denseresidential",
    "forest", "freeway", "golfcourse", "harbor", "intersection", "mediumresidential", "mobilehomepark",
    "overpass", "parkinglot", "river", "runway", "sparseresidential", "storagetanks", "tenniscourt",
]  # fmt: skip


def main() -> None:
    rng = np.random.default_rng(0)
    root = HERE / "UCMerced_LandUse"
    shutil.rmtree(root, ignore_errors=True)
    files = []
    for cls in CLASSES:
        folder = root / "Images" / cls
        folder.mkdir(parents=True)
        for i in range(2 if cls == "agricultural" else 1):
            pixels = np.broadcast_to(rng.integers(0, 256, size=3), (32, 40, 3)).astype(np.uint8)
            name = f"{cls}{i:02d}.tif"
            Image.fromarray(pixels).save(folder / name, compression="tiff_deflate")
            files.append(name)
    (HERE / "uc_merced-train.txt").write_text("agricultural00.tif\n")
    (HERE / "uc_merced-test.txt").write_text("agricultural01.tif\n")
    expected = {
        "all": len(files),
        "train": ["agricultural00.tif"],
        "test": ["agricultural01.tif"],
        "size": [40, 32],
    }
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    main()
