"""The tile grid: cores partition the scene, windows cover their cores, bad options are refused."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from univlm.geo.tiling import plan_tiles


@given(
    width=st.integers(1, 2000),
    height=st.integers(1, 2000),
    tile=st.integers(64, 1100),
    overlap_share=st.floats(0.0, 0.5),
)
def test_cores_partition_the_scene_and_lie_inside_their_windows(width, height, tile, overlap_share):
    overlap = int(tile * overlap_share)
    tiles = plan_tiles(width, height, tile, overlap)
    area = 0
    for t in tiles:
        x0, y0, x1, y1 = t.core
        assert t.x <= x0 < x1 <= t.x + t.width and t.y <= y0 < y1 <= t.y + t.height
        assert t.width == min(tile, width) and t.height == min(tile, height)
        area += (x1 - x0) * (y1 - y0)
    assert area == width * height  # with disjointness (checked below on a grid) this is a partition
    assert [t.index for t in tiles] == list(range(len(tiles)))
    assert len({t.id for t in tiles}) == len(tiles)


def test_cores_are_disjoint_and_cut_mid_overlap():
    tiles = plan_tiles(1000, 700, 256, 64)
    owner = np.full((700, 1000), -1)
    for t in tiles:
        x0, y0, x1, y1 = t.core
        assert (owner[y0:y1, x0:x1] == -1).all()
        owner[y0:y1, x0:x1] = t.index
    assert (owner >= 0).all()
    stride = 256 - 64
    assert [t.x for t in tiles if t.row == 0] == [0, stride, 2 * stride, 3 * stride, 4 * stride]
    second = next(t for t in tiles if (t.row, t.col) == (0, 1))
    assert second.core[0] == stride + 32  # the middle of the 64-pixel overlap


def test_small_scene_is_one_unpadded_tile():
    (only,) = plan_tiles(300, 200, 1024, 128)
    assert (only.x, only.y, only.width, only.height, only.core) == (0, 0, 300, 200, (0, 0, 300, 200))
    assert only.id == "r0000c0000"


@pytest.mark.parametrize(("tile", "overlap"), [(0, 0), (256, 256), (256, -1)])
def test_bad_options_are_refused(tile, overlap):
    with pytest.raises(ValueError, match="tile|overlap"):
        plan_tiles(100, 100, tile, overlap)
