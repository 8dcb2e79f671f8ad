"""Resampling parity: downsampling is PIL ``NEAREST``, upsampling is torch ``interpolate(nearest)``."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from univlm.codecs import DecodedMask, downsample_mask, nearest_indices, upsample_grid

LABELS = ["others", "building"]


# ---------------------------------------------------------------------------- resampling parity


@pytest.mark.parametrize("grid", [16, 24, 32, 7])
def test_downsample_matches_pil_nearest(grid):
    rng = np.random.default_rng(grid)
    for height, width in [(1, 1), (5, 300), (100, 100), (256, 256), (333, 517), (1000, 24), (2048, 1999)]:
        mask = rng.integers(0, 70000, size=(height, width)).astype(np.int32)
        pil = np.asarray(Image.fromarray(mask, mode="I").resize((grid, grid), Image.NEAREST))
        np.testing.assert_array_equal(downsample_mask(mask, grid), pil)


def test_downsample_matches_pil_for_every_small_size():
    for size in range(1, 400):
        ramp = np.tile(np.arange(size, dtype=np.int32), (2, 1))  # (2, size)
        for grid in (16, 24, 32):
            pil = np.asarray(Image.fromarray(ramp, mode="I").resize((grid, 2), Image.NEAREST))[0]
            np.testing.assert_array_equal(downsample_mask(ramp, grid)[0], pil)


def test_upsample_matches_torch_nearest():
    import torch

    for grid in (16, 24, 32, 5):
        for out in list(range(1, 300, 7)) + [512, 1000, 1023, 2048, 4097]:
            src = torch.arange(grid, dtype=torch.float32).view(1, 1, grid, 1)
            ref = torch.nn.functional.interpolate(src, size=(out, 1), mode="nearest")[0, 0, :, 0]
            np.testing.assert_array_equal(nearest_indices(grid, out), ref.long().numpy())
    cells = np.random.default_rng(0).integers(0, 4, size=(24, 24))
    ref2d = torch.nn.functional.interpolate(
        torch.from_numpy(cells).float()[None, None], size=(333, 517), mode="nearest"
    )[0, 0]
    np.testing.assert_array_equal(upsample_grid(cells, 333, 517), ref2d.long().numpy())
    mask = DecodedMask(labels=LABELS, indices=cells.clip(0, 1))
    assert mask.upsample(333, 517).shape == (333, 517)
