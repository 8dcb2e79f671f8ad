#!/usr/bin/env python3
"""Write a tiny fake WHU-CD copy (the BIT/ChangeFormer ``WHU-CD-256`` layout) next to this script.

``A/``, ``B/``, ``label/`` (PNG, 0 unchanged / 255 changed) and ``list/{train,val,test}.txt``.
32x32 tiles stand in for 256x256 ones. Run: ``python tests/data/whu_cd/data.py``.
"""

import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
SIZE = 32
TILES = {
    ("train", "whu_0001.png"): [("building", 2, 2, 12, 12), ("building", 20, 18, 30, 30)],
    ("train", "whu_0002.png"): [],
    ("val", "whu_0003.png"): [("building", 0, 0, 32, 10)],
    ("test", "whu_0004.png"): [("building", 8, 8, 24, 24)],
}


def main() -> None:
    rng = np.random.default_rng(0)
    for sub in ("A", "B", "label", "list"):
        shutil.rmtree(HERE / sub, ignore_errors=True)
        (HERE / sub).mkdir()
    expected, lists = {}, {"train": [], "val": [], "test": []}
    for (split, name), rects in TILES.items():
        before = rng.integers(0, 256, size=(SIZE, SIZE, 3), dtype=np.uint8)
        after = before.copy()
        label = np.zeros((SIZE, SIZE), dtype=np.uint8)
        for _, x1, y1, x2, y2 in rects:
            label[y1:y2, x1:x2] = 255
            after[y1:y2, x1:x2] = 230
        Image.fromarray(before).save(HERE / "A" / name)
        Image.fromarray(after).save(HERE / "B" / name)
        Image.fromarray(label, mode="L").save(HERE / "label" / name)
        lists[split].append(name)
        expected[Path(name).stem] = {"split": split, "size": [SIZE, SIZE], "rects": rects}
    for split, names in lists.items():
        (HERE / "list" / f"{split}.txt").write_text("".join(f"{n}\n" for n in names))
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    main()
