#!/usr/bin/env python3
"""Write a tiny fake OpenEarthMap copy (native layout) next to this script.

``<region>/images/<region>_N.tif`` (RGB) and ``<region>/labels/<region>_N.tif`` (index, 0 unknown,
1 bareland .. 8 building); ``train.txt``/``val.txt``/``test.txt`` list image file names. train.txt also
lists ``aachen_9.tif``, which is absent (a missing file must be reported).
Run: ``python tests/data/openearthmap/data.py``.
"""

import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
VALUES = {"unknown": 0, "bareland": 1, "rangeland": 2, "developed space": 3, "road": 4, "tree": 5, "water": 6,
          "agriculture land": 7, "building": 8}
SIZE = 32
IMAGES = {
    ("train", "aachen_1.tif"): [("rangeland", 0, 0, 32, 32), ("building", 4, 4, 16, 16), ("road", 20, 0, 26, 32)],
    ("train", "aachen_2.tif"): [("water", 0, 0, 32, 16), ("tree", 0, 16, 32, 32)],
    ("val", "kyoto_1.tif"): [("developed space", 0, 0, 32, 32), ("bareland", 8, 8, 24, 24)],
}
LISTS = {"train": ["aachen_1.tif", "aachen_2.tif", "aachen_9.tif"], "val": ["kyoto_1.tif"], "test": ["kyoto_2.tif"]}


def main() -> None:
    rng = np.random.default_rng(0)
    for region in ("aachen", "kyoto"):
        shutil.rmtree(HERE / region, ignore_errors=True)
    expected = {}
    for (split, name), rects in IMAGES.items():
        region = name.rsplit("_", 1)[0]
        for sub in ("images", "labels"):
            (HERE / region / sub).mkdir(parents=True, exist_ok=True)
        index = np.zeros((SIZE, SIZE), dtype=np.uint8)
        for cls, x1, y1, x2, y2 in rects:
            index[y1:y2, x1:x2] = VALUES[cls]
        Image.fromarray(rng.integers(0, 256, size=(SIZE, SIZE, 3), dtype=np.uint8)).save(HERE / region / "images" / name)
        Image.fromarray(index, mode="L").save(HERE / region / "labels" / name, compression="tiff_deflate")
        expected[Path(name).stem] = {"split": split, "size": [SIZE, SIZE], "rects": rects}
    for split, names in LISTS.items():
        (HERE / f"{split}.txt").write_text("".join(f"{n}\n" for n in names))
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    main()
