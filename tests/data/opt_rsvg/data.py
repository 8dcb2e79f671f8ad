#!/usr/bin/env python3
"""Write a tiny fake OPT-RSVG copy (native layout) next to this script.

``Annotations/<id>.xml`` (VOC XML with ``<description>``), ``Image/<id>.jpg`` and
``split/{train,val,test}.txt`` with global object indices. Two images (48x40 and 40x56) with 2 and
1 objects: train {0, 1}, val {2}, test {}. Run: ``python tests/data/opt_rsvg/data.py``.
"""

import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
IMAGES = {
    "0001": ((48, 40), [("vehicle", [2, 3, 12, 9], "the small vehicle at the top left"),
                        ("vehicle", [30, 20, 46, 38], "the vehicle on the lower right")]),
    "0002": ((40, 56), [("bridge", [5, 10, 35, 50], "a long bridge across the river")]),
}  # fmt: skip
SPLITS = {"train": [0, 1], "val": [2], "test": []}


def main() -> None:
    rng = np.random.default_rng(0)
    for sub in ("Annotations", "Image", "split"):
        shutil.rmtree(HERE / sub, ignore_errors=True)
        (HERE / sub).mkdir()
    flat = []
    for image_id, ((w, h), objects) in IMAGES.items():
        pixels = np.broadcast_to(rng.integers(0, 256, size=3), (h, w, 3)).astype(np.uint8)
        Image.fromarray(pixels).save(HERE / "Image" / f"{image_id}.jpg", quality=70)
        lines = ["<annotation>", f"<filename>{image_id}.jpg</filename>"]
        lines.append(f"<size><width>{w}</width><height>{h}</height><depth>3</depth></size>")
        for name, (x1, y1, x2, y2), text in objects:
            lines.append(
                f"<object><name>{name}</name><bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin><xmax>{x2}</xmax>"
                f"<ymax>{y2}</ymax></bndbox><description>{text}</description></object>"
            )
            flat.append({"image": f"{image_id}.jpg", "box": [x1, y1, x2, y2], "text": text, "size": [w, h]})
        (HERE / "Annotations" / f"{image_id}.xml").write_text("\n".join(lines + ["</annotation>"]) + "\n")
    for split, indices in SPLITS.items():
        (HERE / "split" / f"{split}.txt").write_text("".join(f"{i}\n" for i in indices))
    expected = {split: [flat[i] for i in indices] for split, indices in SPLITS.items()}
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    main()
