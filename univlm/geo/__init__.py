"""GIS input and output: GeoTIFF scenes in, georeferenced label rasters and vectors out (issue #17).

Needs the optional ``geo`` extra (rasterio with its bundled GDAL, shapely, pyproj):
``pip install univlm[geo]``. Nothing in the core package imports this package; the CLI and
:meth:`univlm.inference.Predictor.predict_scene` import it lazily, and every submodule that needs
the extra fails with :class:`GeoDependencyError` naming the install command.

Modules, one per role:
- :mod:`univlm.geo.raster`: open and check a scene, band selection, the scene-wide percentile
  stretch, windowed tile reads with nodata masks.
- :mod:`univlm.geo.tiling`: the tile grid with halo-crop cores.
- :mod:`univlm.geo.stitch`: box offsets and greedy non-maximum merging on intersection-over-smaller.
- :mod:`univlm.geo.vector`: GeoJSON (RFC 7946) and GeoPackage writers.
- :mod:`univlm.geo.run`: :func:`predict_scene` (tiled inference, resumable) and :func:`scene_from_masks`.
- :mod:`univlm.geo.scene`: :class:`SceneResult` (stitching, label GeoTIFF, vectors).
"""

from __future__ import annotations

GEO_HINT = "the GIS features need the optional 'geo' extra: pip install univlm[geo]"

__all__ = ["GEO_HINT", "GeoDependencyError", "GeoInputError", "require_geo"]


class GeoDependencyError(ImportError):
    """rasterio, shapely or pyproj is missing; the message names ``pip install univlm[geo]``."""


class GeoInputError(ValueError):
    """A scene or option that cannot be used; the message is one line naming the file."""


def require_geo() -> None:
    """Import the ``geo`` extra's packages, or raise :class:`GeoDependencyError` naming the extra.

    Raises:
        GeoDependencyError: If rasterio, shapely or pyproj cannot be imported.
    """
    try:
        import pyproj  # noqa: F401
        import rasterio  # noqa: F401
        import shapely  # noqa: F401
    except ImportError as err:
        raise GeoDependencyError(f"{GEO_HINT} ({err})") from err
