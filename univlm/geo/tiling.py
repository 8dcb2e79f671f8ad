"""The tile grid of a scene, with the halo-crop core each tile owns.

Design choices:
- Tiles start every ``tile - overlap`` pixels from the top-left corner; the last tile of a row or
  column may overhang the scene and is padded by a boundless read (a regular grid keeps tile ids
  stable for ``--resume``). A scene side shorter than the tile gets one tile of that side's length,
  so a small scene is one tile and is never padded.
- Halo crop: inside the overlap of two neighbouring tiles the border between what each keeps is the
  middle of the overlap (``start + overlap // 2``). Tile cores therefore partition the scene
  exactly: every pixel belongs to one core, and no mask pixel comes from within ``overlap // 2``
  pixels of a tile edge (where the model sees least context), except at the scene's own edges.
- Pure Python, no GDAL: the grid is tested on its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Tile:
    """One tile of a scene, in scene pixel coordinates.

    Attributes:
        index: Position in row-major order.
        row: Tile row.
        col: Tile column.
        x: Left column of the tile window (may be such that the window overhangs the right edge).
        y: Top row of the tile window.
        width: Window width in pixels.
        height: Window height in pixels.
        core: ``(x0, y0, x1, y1)`` half-open pixel box this tile's mask pixels are kept from.
    """

    index: int
    row: int
    col: int
    x: int
    y: int
    width: int
    height: int
    core: tuple[int, int, int, int]

    @property
    def id(self) -> str:
        """Stable tile id, ``"r0003c0012"``."""
        return f"r{self.row:04d}c{self.col:04d}"

    def footprint(self, scene_width: int, scene_height: int) -> tuple[int, int, int, int]:
        """``(x0, y0, x1, y1)`` of the window clipped to the scene."""
        return (self.x, self.y, min(self.x + self.width, scene_width), min(self.y + self.height, scene_height))


def _axis(size: int, tile: int, overlap: int) -> tuple[list[int], list[int], int]:
    """Tile starts, core cuts (len(starts) + 1 of them) and the tile length along one axis."""
    length = min(tile, size)
    if size <= tile:
        return [0], [0, size], length
    stride = tile - overlap
    count = math.ceil((size - overlap) / stride)
    starts = [k * stride for k in range(count)]
    cuts = [0, *[s + overlap // 2 for s in starts[1:]], size]
    return starts, cuts, length


def plan_tiles(width: int, height: int, tile: int, overlap: int) -> list[Tile]:
    """The tiles covering a ``width`` x ``height`` scene, row by row.

    Args:
        width: Scene width in pixels.
        height: Scene height in pixels.
        tile: Tile side in pixels.
        overlap: Pixels shared by neighbouring tiles (0 <= overlap < tile).

    Returns:
        The tiles; their cores partition the scene.

    Raises:
        ValueError: On a non-positive size or tile, or an overlap outside ``0..tile-1``.
    """
    if width < 1 or height < 1:
        raise ValueError(f"scene size must be positive, got {width}x{height}")
    if tile < 1:
        raise ValueError(f"tile must be >= 1 pixel, got {tile}")
    if not 0 <= overlap < tile:
        raise ValueError(f"overlap must be in 0..{tile - 1} for tile {tile}, got {overlap}")
    xs, xcuts, tw = _axis(width, tile, overlap)
    ys, ycuts, th = _axis(height, tile, overlap)
    tiles = []
    for r, y in enumerate(ys):
        for c, x in enumerate(xs):
            core = (xcuts[c], ycuts[r], xcuts[c + 1], ycuts[r + 1])
            tiles.append(Tile(len(tiles), r, c, x, y, tw, th, core))
    return tiles
