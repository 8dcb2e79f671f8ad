"""Regenerate the shipped examples: ``aerial.png`` (a synthetic 256x256 aerial tile) and
``answer_seg.txt`` (a model-style answer whose 24x24 ``<seg>`` mask marks its buildings).

Run from the repository root: ``python examples/make_examples.py``. Output is deterministic.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from univlm.codecs import encode_mask  # noqa: E402

SIZE = 256
HERE = Path(__file__).resolve().parent
# (x1, y1, x2, y2) pixel boxes of the roofs.
BUILDINGS = ((150, 28, 222, 84), (176, 100, 236, 150), (36, 160, 92, 226))


def make_scene(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Return the RGB tile (H, W, 3) uint8 and its building mask (H, W) uint8 (1 = building)."""
    rng = np.random.default_rng(seed)
    rgb = np.empty((SIZE, SIZE, 3), dtype=np.float32)
    rgb[:] = (78, 112, 60)  # grass
    rgb += rng.normal(0, 9, size=rgb.shape)
    rgb[:, 112:132] = (128, 128, 124)  # north-south road
    rgb[90:104, :] = (128, 128, 124)  # east-west road
    mask = np.zeros((SIZE, SIZE), dtype=np.uint8)
    for x1, y1, x2, y2 in BUILDINGS:
        rgb[y1:y2, x1:x2] = (172, 88, 70)  # roof
        rgb[y1:y2, (x1 + x2) // 2] = (120, 60, 50)  # ridge line
        mask[y1:y2, x1:x2] = 1
    return rgb.round().clip(0, 255).astype(np.uint8), mask


def main() -> None:
    rgb, mask = make_scene()
    Image.fromarray(rgb, mode="RGB").save(HERE / "aerial.png")
    seg = encode_mask(mask, ["others", "building"], grid=24)
    answer = f"Sure, here is the segmentation of the buildings:\n{seg}\nThree buildings are marked.\n"
    (HERE / "answer_seg.txt").write_text(answer, encoding="utf-8")


if __name__ == "__main__":
    main()
