"""Synthetic GeoTIFF scenes and a stub predictor for the geo tests (no model, no network)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from univlm.codecs.boxes import format_box, normalize_box
from univlm.codecs.masks import MAX_GRID, encode_mask

UTM = "EPSG:32633"  # UTM zone 33N
ORIGIN = (500_000.0, 5_000_000.0)  # map coordinates of the top-left corner
PIXEL = 2.0  # metres per pixel


def write_scene(path: Path, array: np.ndarray, *, crs: str | None = UTM, nodata: float | None = 0,
                origin: tuple[float, float] = ORIGIN, pixel: float = PIXEL, **options) -> Path:
    """Write ``(C, H, W)`` ``array`` as a tiled, deflate-compressed GeoTIFF north-up at ``origin``."""
    import rasterio
    import rasterio.errors
    from rasterio.transform import from_origin

    count, height, width = array.shape
    profile = {"driver": "GTiff", "width": width, "height": height, "count": count, "dtype": array.dtype.name,
               "tiled": True, "blockxsize": 256, "blockysize": 256, "compress": "deflate", "nodata": nodata}
    if crs is not None:
        profile.update(crs=crs, transform=from_origin(origin[0], origin[1], pixel, pixel))
    profile.update(options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)  # crs=None on purpose
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(array)
    return path


def building_scene(width: int = 600, height: int = 400, building=(200, 150, 260, 200), margin: int = 40,
                   seed: int = 0) -> np.ndarray:
    """``(3, H, W)`` uint16: noisy background ~1000, a bright building (x0, y0, x1, y1 half-open) at
    3000, nodata (0) in a left margin and a top margin of ``margin`` pixels."""
    rng = np.random.default_rng(seed)
    data = rng.integers(900, 1100, size=(3, height, width)).astype(np.uint16)
    x0, y0, x1, y1 = building
    data[:, y0:y1, x0:x1] = 3000
    data[:, :, :margin] = 0
    data[:, :margin // 2, :] = 0
    return data


def pixel_to_map(col: float, row: float, origin=ORIGIN, pixel: float = PIXEL) -> tuple[float, float]:
    """Map coordinates of a pixel corner of a :func:`write_scene` raster."""
    return origin[0] + col * pixel, origin[1] - row * pixel


class BrightStub:
    """A stand-in for ``Predictor``: "segments" (or boxes) the pixels brighter than ``threshold``.

    ``[SEG]`` answers are Text4Seg text on a grid as fine as the tile (up to 256), so masks are
    pixel-exact on tiles of up to 256 pixels; ``[VG]`` answers are the bright pixels' bounding box.
    Records the shape of every tile it sees.
    """

    def __init__(self, threshold: int = 200, grid: int | None = None) -> None:
        self.threshold = threshold
        self.grid = grid
        self.shapes: list[tuple[int, ...]] = []
        self.batches = 0

    def predict_batch(self, items, batch_size: int = 8, **generate):
        from univlm.inference.result import Result, parse_answer  # imports the model stack: only when used

        self.batches += 1
        results = []
        for image, prompt in items:
            array = np.asarray(image)
            self.shapes.append(array.shape)
            height, width = array.shape[:2]
            bright = array.mean(axis=2) > self.threshold  # (H, W)
            task = "VG" if prompt.startswith("[VG]") else "SEG"
            if task == "SEG":
                grid = self.grid or min(width, MAX_GRID)
                text = encode_mask(bright.astype(np.int64), ["others", "building"], grid=grid)
                labels = ["others", "building"]
            else:
                labels = None
                rows, cols = np.nonzero(bright)
                if rows.size:
                    box = (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1)
                    text = format_box(normalize_box(box, width, height))
                else:
                    text = "none"
            parsed = parse_answer(text, task=task, image_size=(width, height), labels=labels)
            results.append(Result(text=text, prompt=prompt, task=task, image_size=(width, height),
                                  labels=labels, **parsed))
        return results
