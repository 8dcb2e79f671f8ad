#!/usr/bin/env python3
"""Write a tiny fake LEVIR-MCI copy (native layout) next to this script.

``images/{train,val,test}/{A,B,label}/<split>_00000N.png`` (32x32; labels: 3-channel grey PNG,
128 road, 255 building, as the release; ``val_000001`` uses the mapped single-channel form 1 road,
2 building) and ``LevirCCcaptions.json`` (Karpathy-style: filename, split, sentences[raw]).
Run: ``python tests/data/levir_mci/data.py``.
"""

import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
SIZE = 32
GREY = {"road": 128, "building": 255}
MAPPED = {"road": 1, "building": 2}
PAIRS = {
    ("train", "train_000001.png", "grey"): (
        [("building", 4, 4, 14, 14), ("road", 0, 20, 32, 26)],
        [" a new building appears on the left and a road is built .", "a road and a house have been built ."],
    ),
    ("train", "train_000002.png", "grey"): ([], [" the scene is the same as before .", "there is no difference ."]),
    ("val", "val_000001.png", "mapped"): ([("building", 16, 16, 30, 30)], ["a building is built at the bottom right ."]),
    ("test", "test_000001.png", "grey"): ([("road", 10, 0, 16, 32)], ["a road is built in the middle ."]),
}


def main() -> None:
    rng = np.random.default_rng(0)
    shutil.rmtree(HERE / "images", ignore_errors=True)
    entries, expected = [], {}
    for n, ((split, name, form), (rects, sentences)) in enumerate(PAIRS.items()):
        for sub in ("A", "B", "label"):
            (HERE / "images" / split / sub).mkdir(parents=True, exist_ok=True)
        before = rng.integers(0, 256, size=(SIZE, SIZE, 3), dtype=np.uint8)
        after = before.copy()
        label = np.zeros((SIZE, SIZE), dtype=np.uint8)
        for cls, x1, y1, x2, y2 in rects:
            label[y1:y2, x1:x2] = GREY[cls] if form == "grey" else MAPPED[cls]
            after[y1:y2, x1:x2] = 200
        if form == "grey":
            label = np.repeat(label[:, :, None], 3, axis=2)
        Image.fromarray(before).save(HERE / "images" / split / "A" / name)
        Image.fromarray(after).save(HERE / "images" / split / "B" / name)
        Image.fromarray(label).save(HERE / "images" / split / "label" / name)
        entries.append({
            "filepath": split, "filename": name, "imgid": n, "split": split, "changeflag": int(bool(rects)),
            "sentids": list(range(len(sentences))),
            "sentences": [{"tokens": s.split(), "raw": s, "imgid": n, "sentid": i} for i, s in enumerate(sentences)],
        })
        expected[Path(name).stem] = {"split": split, "size": [SIZE, SIZE], "rects": rects, "sentences": sentences}
    (HERE / "LevirCCcaptions.json").write_text(json.dumps({"images": entries}) + "\n")
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    main()
