#!/usr/bin/env python3
"""Write a tiny fake LandCover.ai copy (native layout after ``split.py``) next to this script.

``output/<tile>.jpg`` and ``output/<tile>_m.png`` as split.py writes them with OpenCV (masks are
3-channel PNGs repeating the class value: 0 background, 1 building, 2 woodland, 3 water, 4 road) and
``train.txt``/``val.txt``/``test.txt`` listing tile names. 32x32 tiles stand in for 512x512 ones.
Run: ``python tests/data/landcover_ai/data.py``.
"""

import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
VALUES = {"background": 0, "building": 1, "woodland": 2, "water": 3, "road": 4}
SIZE = 32
TILES = {
    ("train", "M-33-20-D-c-4-2_0"): [("woodland", 0, 0, 32, 20), ("building", 4, 22, 12, 30)],
    ("train", "M-33-20-D-c-4-2_1"): [("water", 0, 0, 32, 32), ("road", 14, 0, 18, 32)],
    ("val", "N-34-97-D-c-2-4_3"): [("woodland", 0, 0, 16, 32)],
    ("test", "N-34-106-A-b-3-4_7"): [("road", 0, 10, 32, 16)],
}


def main() -> None:
    rng = np.random.default_rng(0)
    shutil.rmtree(HERE / "output", ignore_errors=True)
    (HERE / "output").mkdir()
    expected, lists = {}, {"train": [], "val": [], "test": []}
    for (split, name), rects in TILES.items():
        index = np.zeros((SIZE, SIZE), dtype=np.uint8)
        for cls, x1, y1, x2, y2 in rects:
            index[y1:y2, x1:x2] = VALUES[cls]
        Image.fromarray(rng.integers(0, 256, size=(SIZE, SIZE, 3), dtype=np.uint8)).save(
            HERE / "output" / f"{name}.jpg", quality=80
        )
        Image.fromarray(np.repeat(index[:, :, None], 3, axis=2)).save(HERE / "output" / f"{name}_m.png")
        lists[split].append(name)
        expected[name] = {"split": split, "size": [SIZE, SIZE], "rects": rects}
    for split, names in lists.items():
        (HERE / f"{split}.txt").write_text("".join(f"{n}\n" for n in names))
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    main()
