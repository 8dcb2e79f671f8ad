"""Overlay drawing: masks blended in label colours, boxes outlined, legend strip below."""

from __future__ import annotations

import numpy as np
import pytest

from univlm.inference.overlay import BOX_COLOUR, colour_for, render_overlay, save_image_atomic


def test_masks_boxes_and_legend(tmp_path):
    image = np.full((20, 30, 3), 100, dtype=np.uint8)
    labels = np.zeros((20, 30), dtype=np.int64)
    labels[:10, :10] = 1
    drawn = render_overlay(
        image, mask_arrays=[labels], mask_labels=[["others", "building"]], boxes_px=[(15, 2, 28, 18)]
    )
    pixels = np.asarray(drawn)
    assert drawn.size == (30, 20 + 2 * 14 + 6)  # two legend rows: building, box 1
    assert tuple(pixels[15, 2]) == (100, 100, 100)  # background untouched
    expected = np.round(0.55 * 100 + 0.45 * np.array(colour_for(1))).astype(int)
    assert np.abs(pixels[5, 5].astype(int) - expected).max() <= 1
    assert tuple(pixels[10, 15]) == BOX_COLOUR
    path = save_image_atomic(drawn, tmp_path / "o.png")
    assert path.exists() and not list(tmp_path.glob(".*tmp"))


def test_plain_image_without_annotations_and_bad_shapes():
    image = np.zeros((8, 8, 3), dtype=np.uint8)
    assert render_overlay(image).size == (8, 8)
    with pytest.raises(ValueError, match="expected"):
        render_overlay(image, mask_arrays=[np.zeros((4, 4), dtype=int)], mask_labels=[["others", "x"]])
