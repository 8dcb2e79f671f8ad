#!/usr/bin/env python3
"""Write a tiny fake RSITMD copy (``dataset_RSITMD.json`` + ``images/``) next to this script.

Two 32x32 TIFF images (train, test), five raw sentences each. Run: ``python tests/data/rsitmd/data.py``.
"""

import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
IMAGES = [
    (
        "baseballfield_1.tif",
        "train",
        [f"a baseball field with {n} stands ." for n in ("two", "three", "four", "five", "six")],
    ),
    (
        "church_2.tif",
        "test",
        [f"a church surrounded by {w} ." for w in ("trees", "roads", "houses", "grass", "cars")],
    ),
]


def main() -> None:
    rng = np.random.default_rng(0)
    shutil.rmtree(HERE / "images", ignore_errors=True)
    (HERE / "images").mkdir()
    entries, sent_id = [], 0
    for img_id, (name, split, sentences) in enumerate(IMAGES):
        pixels = np.broadcast_to(rng.integers(0, 256, size=3), (32, 32, 3)).astype(np.uint8)
        Image.fromarray(pixels).save(HERE / "images" / name, compression="tiff_deflate")
        sents = []
        for raw in sentences:
            sents.append({"tokens": raw.rstrip(" .").split(), "raw": raw, "imgid": img_id, "sentid": sent_id})
            sent_id += 1
        entries.append({"filename": name, "imgid": img_id, "sentences": sents, "split": split,
                        "sentids": [s["sentid"] for s in sents]})  # fmt: skip
    (HERE / "dataset_RSITMD.json").write_text(json.dumps({"images": entries, "dataset": "rsitmd"}) + "\n")
    expected = {split: [s.replace(" .", ".") for s in sentences] for _, split, sentences in IMAGES}
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    main()
