#!/usr/bin/env python3
"""Write a tiny fake UAVid copy (native layout) next to this script.

``uavid_{train,val}/seq<N>/Images/<frame>.png`` and ``Labels/<frame>.png`` (colour-coded RGB).
Train: seq1 frames 000000 and 000100 (64x36); val: seq16 frame 000000. Run: ``python tests/data/uavid/data.py``.
"""

import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
COLOURS = {"clutter": (0, 0, 0), "building": (128, 0, 0), "road": (128, 64, 128), "tree": (0, 128, 0),
           "low vegetation": (128, 128, 0), "moving car": (64, 0, 128), "static car": (192, 0, 192),
           "human": (64, 64, 0)}
W, H = 64, 36
FRAMES = {
    ("train", "seq1", "000000"): [("road", 0, 12, 64, 24), ("building", 0, 0, 30, 12), ("moving car", 40, 14, 50, 20)],
    ("train", "seq1", "000100"): [("tree", 0, 0, 64, 36), ("human", 30, 10, 36, 22)],
    ("val", "seq16", "000000"): [("low vegetation", 0, 0, 32, 36), ("static car", 40, 4, 56, 16)],
}


def main() -> None:
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        shutil.rmtree(HERE / f"uavid_{split}", ignore_errors=True)
    expected = {}
    for (split, seq, frame), rects in FRAMES.items():
        base = HERE / f"uavid_{split}" / seq
        (base / "Images").mkdir(parents=True, exist_ok=True)
        (base / "Labels").mkdir(parents=True, exist_ok=True)
        label = np.zeros((H, W, 3), dtype=np.uint8)
        for name, x1, y1, x2, y2 in rects:
            label[y1:y2, x1:x2] = COLOURS[name]
        Image.fromarray(rng.integers(0, 256, size=(H, W, 3), dtype=np.uint8)).save(base / "Images" / f"{frame}.png")
        Image.fromarray(label).save(base / "Labels" / f"{frame}.png")
        expected[f"{seq}_{frame}"] = {"split": split, "size": [W, H], "rects": rects}
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    main()
