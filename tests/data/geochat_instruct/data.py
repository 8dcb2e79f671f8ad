#!/usr/bin/env python3
"""Write a tiny fake GeoChat-Instruct copy (LLaVA JSON + ``images/``) next to this script.

Covers each GeoChat task form: ``[refer]`` (expression -> box), ``[identify]`` (box -> text),
``[grounding]`` (grounded description with ``<p>`` phrases and ``<delim>``-joined boxes), an
untagged description, and a multi-turn untagged VQA chat; one entry points at a missing image.
Boxes are ``{<x1><y1><x2><y2>|<theta>}`` on the 0..100 grid. Run: ``python tests/data/geochat_instruct/data.py``.
"""

import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
W, H = 50, 40


def turn(human: str, gpt: str) -> list:
    return [{"from": "human", "value": human}, {"from": "gpt", "value": gpt}]


ENTRIES = [
    {"id": "refer_1", "image": "P0001.png",
     "conversations": turn("<image>\n[refer] give me the location of <p>the white plane</p>", "{<10><20><30><40>|<90>}")},
    {"id": "identify_1", "image": "P0001.png",
     "conversations": turn("<image>\n[identify] What is the object present at {<50><50><70><90>|<90>}", "A tennis court")},
    {"id": "grounding_1", "image": "P0002.png",
     "conversations": turn("<image>\n[grounding] Describe the image in detail",
                           "There are <p>2 ships</p> {<0><0><10><10>|<90>}<delim>{<20><20><30><30>|<90>} in the harbor.")},
    {"id": "caption_1", "image": "P0002.png",
     "conversations": turn("<image>\nDescribe the image in detail.", "A harbor with ships.")},
    {"id": "vqa_1", "image": "P0001.png",
     "conversations": turn("<image>\nHow many planes are there?", "One.") + turn("Is there a runway?", "Yes.")},
    {"id": "missing_1", "image": "P9999.png",
     "conversations": turn("<image>\nIs it urban?", "Yes.")},
]  # fmt: skip


def main() -> None:
    rng = np.random.default_rng(0)
    shutil.rmtree(HERE / "images", ignore_errors=True)
    (HERE / "images").mkdir()
    for name in ("P0001.png", "P0002.png"):
        pixels = np.broadcast_to(rng.integers(0, 256, size=3), (H, W, 3)).astype(np.uint8)
        Image.fromarray(pixels).save(HERE / "images" / name)
    (HERE / "GeoChat_Instruct.json").write_text(json.dumps(ENTRIES, indent=1) + "\n")
    expected = {
        "image_size": [W, H],
        "records": {
            "refer_1": ["VG", "[10, 20, 30, 40]", [[5.0, 8.0, 15.0, 16.0]]],
            "identify_1": ["REF", "A tennis court", [[25.0, 20.0, 35.0, 36.0]]],
            "grounding_1": ["VG", "There are 2 ships [0, 0, 10, 10], [20, 20, 30, 30] in the harbor.",
                            [[0.0, 0.0, 5.0, 4.0], [10.0, 8.0, 15.0, 12.0]]],
            "caption_1": ["CAP", "A harbor with ships.", None],
            "vqa_1": ["VQA", "One.", None],
        },
        "skipped": {"missing image": 1},
    }  # fmt: skip
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    main()
