#!/usr/bin/env python3
"""Write a tiny fake DIOR-RSVG copy (native layout) next to this script.

``Annotations/<id>.xml`` (VOC XML with a ``<description>`` per object), ``JPEGImages/<id>.jpg`` and
``train/val/test.txt`` listing global object indices (objects counted over the sorted XML files).
Three 64x48 images with 1, 2 and 1 objects = 4 objects: train {0, 2}, val {1}, test {3}.
Run: ``python tests/data/dior_rsvg/data.py``.
"""

import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
W, H = 64, 48
OBJECTS = {
    "00001": [("airplane", [4, 6, 30, 20], "The airplane on the upper left")],
    "00002": [
        ("storagetank", [10, 10, 20, 22], "A white storage tank on the left"),
        ("storagetank", [40, 24, 60, 44], "The storage tank at the bottom right"),
    ],
    "00003": [("golffield", [0, 0, 64, 48], "A green and brown golf field")],
}
SPLITS = {"train": [0, 2], "val": [1], "test": [3]}


def xml(image_id: str, objects: list) -> str:
    parts = [
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>',
        "<annotation>",
        f"  <filename>{image_id}.jpg</filename>",
        "  <source>\n    <database>DIOR</database>\n  </source>",
        f"  <size>\n    <width>{W}</width>\n    <height>{H}</height>\n    <depth>3</depth>\n  </size>",
        "  <segmented>0</segmented>",
    ]
    for name, (x1, y1, x2, y2), text in objects:
        parts += [
            "  <object>",
            f"    <name>{name}</name>",
            "    <pose>Unspecified</pose>",
            f"    <bndbox>\n      <xmin>{x1}</xmin>\n      <ymin>{y1}</ymin>\n      <xmax>{x2}</xmax>\n      <ymax>{y2}</ymax>\n    </bndbox>",
            f"    <description>{text}</description>",
            "  </object>",
        ]
    return "\n".join(parts + ["</annotation>"]) + "\n"


def main() -> None:
    rng = np.random.default_rng(0)
    for sub in ("Annotations", "JPEGImages"):
        shutil.rmtree(HERE / sub, ignore_errors=True)
        (HERE / sub).mkdir()
    flat = []
    for image_id, objects in OBJECTS.items():
        pixels = np.broadcast_to(rng.integers(0, 256, size=3), (H, W, 3)).astype(np.uint8)
        Image.fromarray(pixels).save(HERE / "JPEGImages" / f"{image_id}.jpg", quality=70)
        (HERE / "Annotations" / f"{image_id}.xml").write_text(xml(image_id, objects))
        flat += [{"image": f"{image_id}.jpg", "box": box, "text": text} for _, box, text in objects]
    for split, indices in SPLITS.items():
        (HERE / f"{split}.txt").write_text("".join(f"{i}\n" for i in indices))
    expected = {split: [flat[i] for i in indices] for split, indices in SPLITS.items()}
    expected["image_size"] = [W, H]
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    main()
