#!/usr/bin/env python3
"""Write a tiny fake RSICD copy (``dataset_rsicd.json`` + ``RSICD_images/``) next to this script.

Three 32x32 images, one per split; sentences in RSICD's raw style (detached final period, the
fifth sentence repeating the first). Run: ``python tests/data/rsicd/data.py``.
"""

import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
IMAGES = [
    ("airport_1.jpg", "train", ["many aircraft are parked near a terminal .", "an airport with planes ."]),
    ("beach_2.jpg", "val", ["yellow beach is near a piece of green ocean ."]),
    ("bridge_3.jpg", "test", ["a bridge crosses the river .", "a long bridge over water ."]),
]


def main() -> None:
    rng = np.random.default_rng(0)
    shutil.rmtree(HERE / "RSICD_images", ignore_errors=True)
    (HERE / "RSICD_images").mkdir()
    entries, sent_id = [], 0
    for img_id, (name, split, sentences) in enumerate(IMAGES):
        pixels = np.broadcast_to(rng.integers(0, 256, size=3), (32, 32, 3)).astype(np.uint8)
        Image.fromarray(pixels).save(HERE / "RSICD_images" / name, quality=70)
        padded = (sentences * 5)[:5]
        sents = []
        for raw in padded:
            sents.append({"tokens": raw.rstrip(" .").split(), "raw": raw, "imgid": img_id, "sentid": sent_id})
            sent_id += 1
        entries.append({"filename": name, "imgid": img_id, "sentences": sents, "split": split,
                        "sentids": [s["sentid"] for s in sents]})  # fmt: skip
    (HERE / "dataset_rsicd.json").write_text(json.dumps({"images": entries, "dataset": "rsicd"}) + "\n")
    expected = {split: [s.replace(" .", ".") for s in sentences] for _, split, sentences in IMAGES}
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    main()
