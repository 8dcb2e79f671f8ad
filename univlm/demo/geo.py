"""GeoTIFF scenes in the demo: tiled inference and GeoJSON / GeoTIFF downloads (needs ``univlm[geo]``).

Design choices:
- A ``.tif`` upload with a CRS goes through :meth:`~univlm.inference.Predictor.predict_scene`
  (:mod:`univlm.geo.run` and :mod:`univlm.geo.scene`: tiles, scene-wide stretch, stitched boxes, label raster), not the
  one-image path, so the downloads are georeferenced. Without the ``geo`` extra, or without a CRS,
  the file is an ordinary image.
- The page shows a quicklook: bands read decimated (at most :data:`QUICKLOOK_SIDE` pixels a side)
  and percentile-stretched, with the label raster and merged boxes drawn on it at the same scale.
- Downloads are written to a fresh temporary directory per request (Gradio serves files under the
  system temp directory); the GeoJSON is EPSG:4326 (RFC 7946), the GeoTIFF the scene's own grid.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from univlm.demo.tasks import DemoInputError

QUICKLOOK_SIDE = 768


def geo_available() -> bool:
    """Whether the ``geo`` extra (rasterio, shapely, pyproj) can be imported."""
    from univlm.geo import GeoDependencyError, require_geo

    try:
        require_geo()
    except GeoDependencyError:
        return False
    return True


def is_geo_scene(path: str | os.PathLike[str] | None) -> bool:
    """True for a GeoTIFF with a CRS when the ``geo`` extra is installed (False otherwise, never raises)."""
    if not path or not geo_available():
        return False
    from univlm.geo.raster import is_geotiff_path

    if not is_geotiff_path(path):
        return False
    import rasterio
    import rasterio.errors

    try:
        with warnings.catch_warnings():
            # A plain TIFF without georeferencing is exactly what this check is for: no warning.
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            with rasterio.open(path) as src:
                return src.crs is not None
    except rasterio.errors.RasterioError:
        return False


def _quicklook_shape(width: int, height: int) -> tuple[int, int]:
    scale = min(1.0, QUICKLOOK_SIDE / max(width, height))
    return max(1, round(height * scale)), max(1, round(width * scale))


def quicklook(path: str | os.PathLike[str]) -> Any:
    """A decimated, percentile-stretched RGB preview of a raster.

    Raises:
        DemoInputError: If the raster cannot be read.
    """
    import rasterio
    import rasterio.errors
    from PIL import Image

    from univlm.imaging import percentile_stretch

    name = os.path.basename(os.fspath(path))
    try:
        with rasterio.open(path) as src:
            bands = [1, 2, 3] if src.count >= 3 else [1]
            rows, cols = _quicklook_shape(src.width, src.height)
            data = src.read(bands, out_shape=(len(bands), rows, cols))  # (C, h, w)
            nodata = src.nodata
    except rasterio.errors.RasterioError as err:
        raise DemoInputError(f"{name}: cannot read the raster: {err}") from None
    pixels = percentile_stretch(np.moveaxis(data, 0, -1), nodata=nodata)  # (h, w, C) uint8
    if pixels.shape[-1] == 1:
        pixels = np.repeat(pixels, 3, axis=-1)  # (h, w, 3)
    return Image.fromarray(pixels)


@dataclass
class SceneView:
    """The result panel of a scene: quicklook overlay, text fields and the files to download."""

    overlay: Any
    boxes: str
    answer: str
    problems: str
    status: str
    files: list[str]


def run_scene(predictor: Any, path: str | os.PathLike[str], prompts: list[str]) -> SceneView:
    """Answer one prompt on every tile of a GeoTIFF and write GeoJSON (and a label GeoTIFF for masks).

    Args:
        predictor: A :class:`~univlm.inference.Predictor`.
        path: The uploaded GeoTIFF.
        prompts: Exactly one tagged prompt.

    Returns:
        The :class:`SceneView`.

    Raises:
        DemoInputError: For several prompts or a raster the geo module refuses.
    """
    import rasterio

    from univlm.geo import GeoInputError
    from univlm.inference.overlay import render_overlay

    if len(prompts) != 1:
        raise DemoInputError(f"a GeoTIFF scene takes one prompt at a time, got {len(prompts)}")
    name = Path(path).stem
    try:
        scene = predictor.predict_scene(path, prompts[0])
    except GeoInputError as err:
        raise DemoInputError(str(err).replace(os.fspath(path), Path(path).name)) from None
    out = Path(tempfile.mkdtemp(prefix="univlm-demo-"))
    files = [str(scene.write_vector(out / f"{name}.geojson"))]
    base = quicklook(path)
    rows, cols = base.height, base.width
    mask_arrays, mask_labels = [], []
    if scene.has_masks:
        raster = scene.to_geotiff(out / f"{name}_labels.tif")
        files.append(str(raster))
        with rasterio.open(raster) as src:
            labels = src.read(1, out_shape=(rows, cols))  # (h, w) nearest-decimated label indices
        labels = np.where(labels >= len(scene.labels), 0, labels)  # nodata is not painted
        mask_arrays, mask_labels = [labels], [list(scene.labels)]
    sx, sy = cols / scene.info.width, rows / scene.info.height
    boxes_px = [(b.box[0] * sx, b.box[1] * sy, b.box[2] * sx, b.box[3] * sy) for b in scene.boxes]
    overlay = render_overlay(base, mask_arrays=mask_arrays, mask_labels=mask_labels, boxes_px=boxes_px,
                             box_labels=[b.label for b in scene.boxes])
    box_lines = [
        f"box {k}: [{', '.join(f'{v:.0f}' for v in b.box)}] (scene pixels)" for k, b in enumerate(scene.boxes, 1)
    ]
    answers = [f"tile {t.tile.id}: {t.result.text}" for t in scene.tiles if t.result is not None]
    stats = scene.stats
    status = (
        f"scene {scene.info.width}x{scene.info.height}, {stats.get('tiles', len(scene.tiles))} tile(s), "
        f"{stats.get('tiles_skipped', 0)} skipped; downloads: {', '.join(Path(f).name for f in files)}"
    )
    return SceneView(overlay, "\n".join(box_lines), "\n".join(answers), "\n".join(scene.problems), status, files)
