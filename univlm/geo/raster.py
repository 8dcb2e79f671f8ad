"""Reading a georeferenced scene: checks, band selection, one stretch per scene, windowed tile reads.

Design choices and sources:
- rasterio (GDAL) opens GeoTIFF and Cloud-Optimised GeoTIFF alike; a COG is a tiled GeoTIFF with
  overviews, so windowed reads fetch only the blocks a tile touches.
- Bands are 1-based, as GDAL numbers them (``--bands 3,2,1``). One band is repeated to grey RGB;
  three bands are R, G, B. Without ``--bands`` a scene with 3+ bands uses 1,2,3 and a scene with
  fewer uses band 1.
- The stretch to 8 bits is computed ONCE per scene, never per tile, so neighbouring tiles agree:
  percentiles (default 2 and 98) per band over a sample of valid pixels. The sample is the smallest
  overview at least :data:`OVERVIEW_MIN_SIDE` pixels on its longest side when the file has overviews
  (a COG), else a regular grid of small windows (:data:`SAMPLE_GRID` squared windows of
  :data:`SAMPLE_WINDOW` pixels); when that grid lands only on nodata (a sparse scene) the file's
  blocks are scanned for valid pixels. The mapping ``rint(255 * clip((x - lo) / (hi - lo), 0, 1))``
  is the one of :func:`univlm.imaging.percentile_stretch`, which computes its percentiles per image
  and therefore cannot be shared across tiles; :class:`Stretch` splits computing from applying.
  8-bit scenes are passed through unstretched unless a stretch is asked for.
- Nodata comes from the file's mask (nodata value, internal mask or alpha; GDAL's
  ``read_masks``) or from ``--nodata V``, which overrides it: a pixel is nodata when every selected
  band equals V. Non-finite float pixels are nodata too.
- Tiles are read with ``boundless=True``: a tile that overhangs the scene edge is padded with 0 and
  the padding counts as nodata.
- Errors are :class:`~univlm.geo.GeoInputError` with one line naming the file: no CRS with
  ``require_crs``, a band index out of range, an unsupported data type, all-nodata scenes.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from univlm.geo import GEO_HINT, GeoDependencyError, GeoInputError

try:
    import rasterio
    import rasterio.errors
    from rasterio.windows import Window
except ImportError as err:  # the optional extra is missing: say which one to install
    raise GeoDependencyError(f"{GEO_HINT} ({err})") from err

logger = logging.getLogger(__name__)

SUPPORTED_DTYPES = ("uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "float64")
DEFAULT_PERCENTILES: tuple[float, float] = (2.0, 98.0)
OVERVIEW_MIN_SIDE = 512
SAMPLE_GRID = 16
SAMPLE_WINDOW = 64
# Cap on valid pixels kept per band for the percentiles (plenty for 0.5-percentile resolution).
MAX_SAMPLE_PIXELS = 1_048_576
GEOTIFF_SUFFIXES = (".tif", ".tiff", ".gtiff", ".vrt")
# GDAL's block cache defaults to 5% of RAM and keeps every block a whole-scene pass touched: on a
# 16k scene that is over a gigabyte. A few tiles' worth is all a row-by-row pass needs.
GDAL_CACHE_BYTES = 64 * 2**20


def gdal_env() -> Any:
    """A ``rasterio.Env`` capping GDAL's block cache at :data:`GDAL_CACHE_BYTES` (bounded memory)."""
    return rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_BYTES)


def is_geotiff_path(path: str | os.PathLike[str]) -> bool:
    """Whether a path names a raster univlm reads through rasterio (by suffix)."""
    return os.fspath(path).lower().endswith(GEOTIFF_SUFFIXES)


@dataclass(frozen=True)
class Stretch:
    """A per-band linear map to uint8, computed once per scene.

    Attributes:
        low: Value mapped to 0, one per selected band.
        high: Value mapped to 255, one per selected band.
        percentiles: The percentiles ``low``/``high`` came from, or None for the 8-bit pass-through.
    """

    low: tuple[float, ...]
    high: tuple[float, ...]
    percentiles: tuple[float, float] | None

    def apply(self, data: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """Map ``(C, H, W)`` band data to an ``(H, W, 3)`` uint8 RGB tile; nodata pixels become black.

        Args:
            data: ``(C, H, W)`` values of the selected bands (C is 1 or 3).
            valid: ``(H, W)`` bool, False on nodata.

        Returns:
            ``(H, W, 3)`` uint8.
        """
        if self.percentiles is None and data.dtype == np.uint8:
            out = data.copy()  # (C, H, W)
        elif data.dtype.itemsize <= 2 and np.issubdtype(data.dtype, np.integer):
            # 8/16-bit integers: one table lookup per pixel instead of five float passes over the tile.
            offset = -int(np.iinfo(data.dtype).min)
            out = np.empty(data.shape, dtype=np.uint8)  # (C, H, W)
            for c in range(data.shape[0]):
                out[c] = self._table(c, data.dtype)[data[c].astype(np.int32) + offset if offset else data[c]]
        else:
            lo = np.asarray(self.low, dtype=np.float32)[:, None, None]  # (C, 1, 1)
            span = np.maximum(np.asarray(self.high, dtype=np.float32)[:, None, None] - lo, 1e-12)
            scaled = np.clip((data.astype(np.float32) - lo) / span, 0.0, 1.0)  # (C, H, W)
            if np.issubdtype(data.dtype, np.floating):
                scaled[np.isnan(scaled)] = 0.0  # NaN pixels are nodata; they become black below
            out = np.rint(scaled * 255.0).astype(np.uint8)
        np.multiply(out, valid, out=out)  # nodata -> 0; cheaper than boolean indexing on 3 bands
        if out.shape[0] == 1:
            out = np.repeat(out, 3, axis=0)  # (1, H, W) -> (3, H, W) grey
        return np.ascontiguousarray(out.transpose(1, 2, 0))  # (3, H, W) -> (H, W, 3)

    def _table(self, band: int, dtype: np.dtype) -> np.ndarray:
        """The uint8 value of every possible ``dtype`` value of band ``band`` (same formula as :meth:`apply`)."""
        info = np.iinfo(dtype)
        values = np.arange(info.min, info.max + 1, dtype=np.float32)  # (2^bits,)
        lo, hi = np.float32(self.low[band]), np.float32(self.high[band])
        scaled = np.clip((values - lo) / max(hi - lo, np.float32(1e-12)), 0.0, 1.0)
        return np.rint(scaled * 255.0).astype(np.uint8)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "low": [float(v) for v in self.low],
            "high": [float(v) for v in self.high],
            "percentiles": list(self.percentiles) if self.percentiles else None,
        }


@dataclass(frozen=True)
class SceneInfo:
    """What univlm knows about a scene after opening and checking it.

    Attributes:
        path: The file.
        width: Pixels per row.
        height: Rows.
        count: Bands in the file.
        dtype: Data type name (``"uint16"``).
        crs: The file's CRS (a ``rasterio.crs.CRS``) or None.
        transform: Pixel -> map affine (``affine.Affine``); identity when the file has none.
        nodata: The nodata value in use (``--nodata`` or the file's), or None.
        user_nodata: Whether ``nodata`` came from the caller (then it defines the mask).
        bands: Selected 1-based band indices (1 or 3 of them).
        stretch: The scene-wide stretch.
        sample_pixels: Valid pixels the stretch was computed from.
    """

    path: str
    width: int
    height: int
    count: int
    dtype: str
    crs: Any
    transform: Any
    nodata: float | None
    user_nodata: bool
    bands: tuple[int, ...]
    stretch: Stretch
    sample_pixels: int

    @property
    def has_crs(self) -> bool:
        """Whether the scene is georeferenced (else geometry stays in pixel coordinates)."""
        return self.crs is not None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary."""
        return {
            "path": self.path,
            "width": self.width,
            "height": self.height,
            "count": self.count,
            "dtype": self.dtype,
            "crs": self.crs.to_string() if self.crs is not None else None,
            "transform": list(self.transform)[:6],
            "nodata": self.nodata,
            "bands": list(self.bands),
            "stretch": self.stretch.to_dict(),
            "sample_pixels": self.sample_pixels,
        }


def parse_bands(text: str) -> tuple[int, ...]:
    """``"3,2,1"`` -> ``(3, 2, 1)``; raises ValueError on anything that is not 1 or 3 integers."""
    try:
        bands = tuple(int(x) for x in text.split(","))
    except ValueError:
        raise ValueError(f"expected 1 or 3 comma-separated band numbers like 3,2,1, got {text!r}") from None
    if len(bands) not in (1, 3):
        raise ValueError(f"expected 1 or 3 band numbers, got {len(bands)} ({text!r})")
    return bands


def parse_stretch(text: str) -> tuple[float, float] | None:
    """``"2,98"`` -> ``(2.0, 98.0)``; ``"none"`` -> None (no stretch, 8-bit data only)."""
    if text.strip().lower() == "none":
        return None
    try:
        low, high = (float(x) for x in text.split(","))
    except ValueError:
        raise ValueError(f"expected two percentiles like 2,98 (or 'none'), got {text!r}") from None
    if not 0.0 <= low < high <= 100.0:
        raise ValueError(f"percentiles must satisfy 0 <= low < high <= 100, got {text!r}")
    return low, high


def _select_bands(path: str, count: int, bands: Sequence[int] | None) -> tuple[int, ...]:
    if bands is None:
        return (1, 2, 3) if count >= 3 else (1,)
    chosen = tuple(int(b) for b in bands)
    if len(chosen) not in (1, 3):
        raise GeoInputError(f"{path}: expected 1 or 3 bands, got {len(chosen)} ({list(chosen)})")
    bad = [b for b in chosen if not 1 <= b <= count]
    if bad:
        raise GeoInputError(
            f"{path}: band {bad[0]} does not exist; the file has {count} band(s), numbered 1..{count}"
        )
    return chosen


def valid_mask(src: Any, bands: Sequence[int], window: Any, nodata: float | None, user_nodata: bool,
               data: np.ndarray | None = None, **read: Any) -> np.ndarray:
    """``(H, W)`` bool validity of a window: the file's mask, or every band equal to ``--nodata``.

    Args:
        src: An open rasterio dataset.
        bands: 1-based band indices.
        window: The window (may overhang the scene; then ``boundless=True`` is passed in ``read``).
        nodata: The nodata value in use.
        user_nodata: Whether ``nodata`` was given by the caller (then ``data`` decides).
        data: ``(C, H, W)`` data of the window when already read.
        **read: Further ``read`` / ``read_masks`` arguments (``boundless``, ``out_shape``).

    Returns:
        ``(H, W)`` bool, False on nodata.
    """
    if user_nodata:
        if data is None:
            data = src.read(list(bands), window=window, **read)
        valid = ~np.all(data == nodata, axis=0)  # (C, H, W) -> (H, W)
    else:
        options = {k: v for k, v in read.items() if k != "fill_value"}  # read_masks has no fill value
        masks = src.read_masks(list(bands), window=window, **options)  # (C, H, W) uint8, 0 = nodata
        valid = np.all(masks > 0, axis=0)  # (H, W)
    if data is not None and np.issubdtype(data.dtype, np.floating):
        valid &= np.all(np.isfinite(data), axis=0)
    return valid


def _sample_windows(width: int, height: int) -> list[Any]:
    if width * height <= SAMPLE_GRID * SAMPLE_GRID * SAMPLE_WINDOW * SAMPLE_WINDOW:
        return [Window(0, 0, width, height)]
    side_w, side_h = min(SAMPLE_WINDOW, width), min(SAMPLE_WINDOW, height)
    xs = np.linspace(0, width - side_w, SAMPLE_GRID).astype(int)
    ys = np.linspace(0, height - side_h, SAMPLE_GRID).astype(int)
    return [Window(int(x), int(y), side_w, side_h) for y in ys for x in xs]


def _collect(src: Any, bands: Sequence[int], windows: Sequence[Any], nodata: float | None,
             user_nodata: bool, limit: int | None = None) -> list[np.ndarray]:
    """Valid pixel values ``(C, N)`` from each window holding any."""
    found: list[np.ndarray] = []
    total = 0
    for window in windows:
        if not user_nodata and not valid_mask(src, bands, window, nodata, False).any():
            continue  # masks are cheaper than data: skip empty blocks before reading them
        data = src.read(list(bands), window=window)  # (C, h, w)
        keep = valid_mask(src, bands, window, nodata, user_nodata, data=data)
        if keep.any():
            found.append(data[:, keep])  # (C, N)
            total += int(keep.sum())
            if limit is not None and total >= limit:
                break
    return found


def _sample(src: Any, path: str, bands: Sequence[int], nodata: float | None, user_nodata: bool) -> np.ndarray:
    """``(C, N)`` valid pixel values the stretch is computed from."""
    overviews = src.overviews(bands[0])
    usable = [f for f in overviews if max(src.width, src.height) // f >= OVERVIEW_MIN_SIDE]
    if usable:
        factor = max(usable)
        shape = (len(bands), max(1, src.height // factor), max(1, src.width // factor))
        data = src.read(list(bands), out_shape=shape)  # (C, h, w): GDAL serves it from the overview
        keep = valid_mask(src, bands, None, nodata, user_nodata, data=data, out_shape=shape)
        found = [data[:, keep]] if keep.any() else []
    else:
        found = _collect(src, bands, _sample_windows(src.width, src.height), nodata, user_nodata)
    if not found:
        # A sparse scene whose sample grid missed every valid pixel: scan the file's own blocks.
        blocks = [window for _, window in src.block_windows(bands[0])]
        found = _collect(src, bands, blocks, nodata, user_nodata, limit=MAX_SAMPLE_PIXELS)
    if not found:
        raise GeoInputError(f"{path}: nodata covers the whole scene (no valid pixel in bands {list(bands)})")
    values = np.concatenate(found, axis=1)  # (C, N)
    if values.shape[1] > MAX_SAMPLE_PIXELS:
        step = values.shape[1] // MAX_SAMPLE_PIXELS + 1
        values = values[:, ::step]
    return values


def open_raster(name: str) -> Any:
    """``rasterio.open`` without rasterio's NotGeoreferencedWarning (univlm logs its own, once)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        return rasterio.open(name)


def open_scene(
    path: str | os.PathLike[str],
    *,
    bands: Sequence[int] | None = None,
    stretch: tuple[float, float] | None | str = "auto",
    nodata: float | None = None,
    require_crs: bool = False,
) -> SceneInfo:
    """Open a GeoTIFF/COG, check it and compute its scene-wide stretch.

    Args:
        path: The raster file.
        bands: 1-based band indices (1 or 3); None picks 1,2,3 or 1.
        stretch: ``(low, high)`` percentiles; ``"auto"`` uses 2,98 except for 8-bit scenes (passed
            through); None passes values through (8-bit scenes only).
        nodata: Overrides the file's nodata.
        require_crs: Refuse a scene without a CRS instead of warning.

    Returns:
        The :class:`SceneInfo`.

    Raises:
        FileNotFoundError: If the file does not exist.
        GeoInputError: Unreadable file, no CRS with ``require_crs``, bad band index, unsupported
            data type, 8-bit-only options on other data, or a scene that is all nodata.
    """
    name = os.fspath(path)
    if not os.path.exists(name):
        raise FileNotFoundError(f"raster not found: {name}")
    try:
        src = open_raster(name)
    except rasterio.errors.RasterioIOError as exc:
        raise GeoInputError(f"{name}: cannot open as a raster: {str(exc).splitlines()[0]}") from None
    with src, gdal_env():
        chosen = _select_bands(name, src.count, bands)
        dtypes = {src.dtypes[b - 1] for b in chosen}
        unsupported = sorted(dtypes - set(SUPPORTED_DTYPES))
        if unsupported:
            raise GeoInputError(
                f"{name}: data type {unsupported[0]} is not supported; expected one of {', '.join(SUPPORTED_DTYPES)}"
            )
        if len(dtypes) > 1:
            raise GeoInputError(f"{name}: the selected bands mix data types {sorted(dtypes)}")
        dtype = dtypes.pop()
        if src.crs is None:
            if require_crs:
                raise GeoInputError(f"{name}: the raster has no CRS (refused because of --require-crs)")
            logger.warning("%s: the raster has no CRS; geometry stays in pixel coordinates", name)
        user_nodata = nodata is not None
        value = float(nodata) if user_nodata else (None if src.nodata is None else float(src.nodata))
        if stretch == "auto":
            percentiles = None if dtype == "uint8" else DEFAULT_PERCENTILES
        else:
            percentiles = stretch  # type: ignore[assignment]
        if percentiles is None and dtype != "uint8":
            raise GeoInputError(f"{name}: {dtype} data needs a stretch to 8 bits (e.g. --stretch 2,98), got none")
        values = _sample(src, name, chosen, value, user_nodata)  # (C, N)
        if percentiles is None:
            low = tuple(0.0 for _ in chosen)
            high = tuple(255.0 for _ in chosen)
        else:
            pct = np.percentile(values.astype(np.float64), list(percentiles), axis=1)  # (2, C)
            low, high = tuple(float(v) for v in pct[0]), tuple(float(v) for v in pct[1])
        return SceneInfo(
            path=name,
            width=src.width,
            height=src.height,
            count=src.count,
            dtype=dtype,
            crs=src.crs,
            transform=src.transform,
            nodata=value,
            user_nodata=user_nodata,
            bands=chosen,
            stretch=Stretch(low, high, tuple(percentiles) if percentiles else None),
            sample_pixels=int(values.shape[1]),
        )


class TileReader:
    """Windowed reads of one scene, counting what was read.

    Args:
        info: The scene (from :func:`open_scene`).

    Attributes:
        masks_read: Windows whose nodata mask was read.
        tiles_read: Windows whose pixel data was read.
    """

    def __init__(self, info: SceneInfo) -> None:
        self.info = info
        self.src = open_raster(info.path)
        self.masks_read = 0
        self.tiles_read = 0

    def close(self) -> None:
        """Close the dataset."""
        self.src.close()

    def __enter__(self) -> TileReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _window(self, x: int, y: int, width: int, height: int) -> tuple[Any, dict[str, Any]]:
        inside = x >= 0 and y >= 0 and x + width <= self.info.width and y + height <= self.info.height
        return Window(x, y, width, height), ({} if inside else {"boundless": True, "fill_value": 0})

    def valid(self, x: int, y: int, width: int, height: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Validity of a window, and its data when computing validity needed it (``--nodata``).

        Returns:
            ``(H, W)`` bool validity (padding outside the scene is invalid) and the ``(C, H, W)``
            data or None.
        """
        info = self.info
        window, read = self._window(x, y, width, height)
        data = None
        if info.user_nodata:
            data = self.src.read(list(info.bands), window=window, **read)  # (C, H, W)
            self.tiles_read += 1
        else:
            self.masks_read += 1
        valid = valid_mask(self.src, info.bands, window, info.nodata, info.user_nodata, data=data, **read)
        if read:
            inside = np.zeros((height, width), dtype=bool)  # boundless padding is never valid data
            inside[max(0, -y) : max(0, min(height, info.height - y)), max(0, -x) : max(0, min(width, info.width - x))] = True
            valid &= inside
        return valid, data

    def rgb(self, x: int, y: int, width: int, height: int, valid: np.ndarray,
            data: np.ndarray | None = None) -> np.ndarray:
        """The stretched ``(H, W, 3)`` uint8 tile; reads the window unless ``data`` is given."""
        if data is None:
            window, read = self._window(x, y, width, height)
            data = self.src.read(list(self.info.bands), window=window, **read)  # (C, H, W)
            self.tiles_read += 1
        if np.issubdtype(data.dtype, np.floating):
            valid = valid & np.all(np.isfinite(data), axis=0)
        return self.info.stretch.apply(data, valid)
