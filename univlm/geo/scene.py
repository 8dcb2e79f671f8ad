"""Tiled inference on a georeferenced scene, and its map-ready result.

Design choices and sources:
- :func:`predict_scene` walks the tile grid (:mod:`univlm.geo.tiling`) row by row: it reads each
  tile's nodata mask first (cheap), skips tiles whose core is mostly nodata (counted, never
  silently dropped), reads and stretches the rest with the scene-wide stretch, and sends them to
  ``Predictor.predict_batch`` ``batch_size`` at a time. Reading runs in one worker thread, at most
  ``batch_size`` tiles ahead of the model (GDAL and numpy release the GIL, so I/O overlaps
  inference); with the batch being predicted that holds about ``2 * batch_size + 1`` tiles' pixels,
  whatever the scene size. GDAL's block cache is capped (:func:`~univlm.geo.raster.gdal_env`).
- A tile's mask is kept as its decoded Text4Seg grid, never as a full-resolution array: a 24 x 24
  grid IS the answer, and the scene label raster is rebuilt from the grids strip by strip when it
  is written (:meth:`SceneResult.to_geotiff`) or vectorised. Each tile contributes only its core
  (halo crop); cores partition the scene, so seams cannot overlap or leave gaps.
- Boxes are offset into the scene frame and merged across tile borders by greedy non-maximum merging
  on intersection-over-smaller (:mod:`univlm.geo.stitch`, after SAHI).
- Image-level answers (``[CLS]``, ``[CAP]``, ``[VQA]``) stay per tile; each becomes a feature whose
  geometry is the tile's footprint.
- Resume: with a ``checkpoint`` path every finished tile (its answer text, or that it was skipped) is
  appended to a JSON-lines file after each batch; ``resume=True`` re-parses those answers instead of
  running the model again. The first line fingerprints the scene and the options; a checkpoint of
  another run is refused.
- Labels in the written raster: 0 is ``others``, 1.. the mask labels in order of first appearance;
  nodata (source nodata, skipped tiles, tiles without a mask) is 255 (65535 past 254 labels).
  The label table goes into a ``<stem>.labels.json`` sidecar, the GeoTIFF's metadata and a GDAL raster
  attribute table in the ``.aux.xml`` sidecar (GDAL's PAM format; rasterio has no RAT writer).
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import numpy as np

from univlm.geo import GEO_HINT, GeoDependencyError, GeoInputError
from univlm.geo.raster import SceneInfo, gdal_env
from univlm.geo.stitch import DEFAULT_IOS_THRESHOLD, SceneBox, greedy_nmm, offset_box
from univlm.geo.tiling import Tile
from univlm.geo.vector import Feature, feature_collection, reproject, vector_format, write_geojson, write_gpkg

try:
    import rasterio
    import rasterio.errors
    import rasterio.features
    import shapely
    import shapely.affinity
    from affine import Affine
    from shapely.geometry import box as shapely_box
    from shapely.geometry import shape
except ImportError as err:  # the optional extra is missing: say which one to install
    raise GeoDependencyError(f"{GEO_HINT} ({err})") from err

logger = logging.getLogger(__name__)

DEFAULT_TILE = 1024
DEFAULT_OVERLAP = 128
DEFAULT_SKIP_NODATA = 0.95
DEFAULT_SIMPLIFY = 1.0
STRIP_ROWS = 1024  # rows of the label raster composed at once (a multiple of the 256-pixel block)
BLOCK = 256
CHECKPOINT_VERSION = 1


@dataclass
class TileResult:
    """What happened to one tile.

    Attributes:
        tile: The tile.
        result: The model's parsed answer (``mask_arrays`` dropped; rebuild them with
            ``mask.upsample(tile.height, tile.width)``), or None when skipped.
        valid_fraction: Share of the tile's core that is valid data.
        valid_bits: The core's validity packed with ``np.packbits`` when partly nodata, else None.
        resumed: Read back from a checkpoint instead of predicted.
    """

    tile: Tile
    result: Any = None
    valid_fraction: float = 1.0
    valid_bits: np.ndarray | None = None
    resumed: bool = False

    @property
    def skipped(self) -> bool:
        """Whether the tile was skipped as mostly nodata."""
        return self.result is None

    def core_valid(self) -> np.ndarray | None:
        """``(h, w)`` bool validity of the core, or None when the core is all valid."""
        if self.valid_bits is None:
            return None
        x0, y0, x1, y1 = self.tile.core
        count = (y1 - y0) * (x1 - x0)
        return np.unpackbits(self.valid_bits, count=count).astype(bool).reshape(y1 - y0, x1 - x0)


def _phrase(prompt: str) -> str:
    """The object phrase of a prompt: the text after its task tag, without trailing punctuation."""
    from univlm.models.router import find_task_tag

    tag = find_task_tag(prompt)
    rest = prompt.split(tag, 1)[1] if tag else prompt
    return rest.replace("<image>", "").strip().rstrip(".?!").strip() or prompt.strip()


@dataclass
class SceneResult:
    """The answers of every tile of a scene, stitched into scene-frame boxes and a label raster.

    Attributes:
        info: The scene (size, CRS, transform, bands, stretch).
        prompt: The prompt every tile was asked.
        tile_size: Tile side in pixels.
        overlap: Tile overlap in pixels.
        tiles: One :class:`TileResult` per tile, row-major.
        boxes: Boxes merged across tile borders, in scene pixels.
        labels: Scene label table: index -> name, ``others`` first.
        problems: Notes on the run (tiles without a mask, boxes in the padding, no CRS, ...).
        stats: Counters and timings (``tiles``, ``tiles_read``, ``tiles_skipped``, ``model_seconds``, ...).
    """

    info: SceneInfo
    prompt: str
    tile_size: int
    overlap: int
    tiles: list[TileResult]
    boxes: list[SceneBox] = field(default_factory=list)
    labels: list[str] = field(default_factory=lambda: ["others"])
    problems: list[str] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ views
    @property
    def results(self) -> list[Any]:
        """The per-tile :class:`~univlm.inference.Result` of every tile that was not skipped."""
        return [t.result for t in self.tiles if t.result is not None]

    @property
    def skipped(self) -> list[str]:
        """Ids of the tiles skipped as mostly nodata."""
        return [t.tile.id for t in self.tiles if t.skipped]

    @property
    def has_masks(self) -> bool:
        """Whether any tile answered with a mask."""
        return any(t.result is not None and t.result.masks for t in self.tiles)

    def _luts(self) -> dict[int, np.ndarray]:
        """Per tile index: tile mask index -> scene label index."""
        luts = {}
        for t in self.tiles:
            if t.result is not None and t.result.masks:
                luts[t.tile.index] = np.asarray([self.labels.index(n) for n in t.result.masks[0].labels])
        return luts

    def label_dtype(self) -> tuple[str, int]:
        """Data type and nodata value of the label raster."""
        return ("uint8", 255) if len(self.labels) < 255 else ("uint16", 65535)

    def _core_labels(self, t: TileResult, lut: np.ndarray | None, rows: tuple[int, int], nodata: int) -> np.ndarray:
        """Scene label indices of core rows ``rows`` (scene coordinates) of one tile."""
        x0, y0, x1, y1 = t.tile.core
        r0, r1 = rows
        if lut is None:
            return np.full((r1 - r0, x1 - x0), nodata, dtype=np.int64)
        from univlm.codecs.masks import nearest_indices

        grid = t.result.masks[0].indices  # (G, G)
        # Rows/columns of the grid that nearest upsampling to the tile size would pick, cut to the core.
        ri = nearest_indices(grid.shape[0], t.tile.height)[r0 - t.tile.y : r1 - t.tile.y]
        ci = nearest_indices(grid.shape[1], t.tile.width)[x0 - t.tile.x : x1 - t.tile.x]
        out = lut[grid.take(ri, axis=0).take(ci, axis=1)]  # (h, w) scene labels
        valid = t.core_valid()
        if valid is not None:
            out[~valid[r0 - y0 : r1 - y0]] = nodata
        return out

    def label_strips(self, rows: int = STRIP_ROWS) -> Iterator[tuple[int, np.ndarray]]:
        """The scene label raster as horizontal strips, so it never sits in memory whole.

        Args:
            rows: Strip height.

        Yields:
            ``(y0, strip)`` with ``strip`` of shape ``(h, width)`` in the label dtype.
        """
        dtype, nodata = self.label_dtype()
        luts = self._luts()
        width, height = self.info.width, self.info.height
        for y0 in range(0, height, rows):
            y1 = min(height, y0 + rows)
            strip = np.full((y1 - y0, width), nodata, dtype=dtype)  # (h, W)
            for t in self.tiles:
                cx0, cy0, cx1, cy1 = t.tile.core
                r0, r1 = max(cy0, y0), min(cy1, y1)
                if r0 >= r1 or t.skipped:
                    continue
                part = self._core_labels(t, luts.get(t.tile.index), (r0, r1), nodata)
                strip[r0 - y0 : r1 - y0, cx0:cx1] = part
            yield y0, strip

    # ------------------------------------------------------------------ raster output
    def to_geotiff(self, path: str | os.PathLike[str]) -> Path:
        """Write the single-band label raster (source CRS, transform; deflate, 256 x 256 tiles).

        Beside it: ``<stem>.labels.json`` (label table, as ``univlm decode-mask`` writes) and ``<name>.aux.xml`` (GDAL raster attribute table).

        Args:
            path: Target ``.tif``.

        Returns:
            The path.

        Raises:
            ValueError: If no tile answered with a mask (the prompt was not a ``[SEG]`` prompt).
        """
        if not self.has_masks:
            raise ValueError(f"{self.info.path}: no tile answered with a mask; a label raster needs a [SEG] prompt")
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        dtype, nodata = self.label_dtype()
        profile = {
            "driver": "GTiff", "width": self.info.width, "height": self.info.height, "count": 1,
            "dtype": dtype, "nodata": nodata, "compress": "deflate", "tiled": True,
            "blockxsize": BLOCK, "blockysize": BLOCK, "BIGTIFF": "IF_SAFER",
        }
        if self.info.crs is not None:
            profile["crs"] = self.info.crs
            profile["transform"] = self.info.transform
        tmp = target.with_name(f".{target.name}.tmp.tif")
        try:
            with warnings.catch_warnings():
                # A scene without a CRS gets a label raster without one too; the scene already warned.
                warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
                dst = rasterio.open(tmp, "w", **profile)
            with gdal_env(), dst:
                for y0, strip in self.label_strips():
                    dst.write(strip, 1, window=rasterio.windows.Window(0, y0, strip.shape[1], strip.shape[0]))
                dst.update_tags(labels=json.dumps(self.labels), prompt=self.prompt)
                dst.set_band_description(1, "univlm labels")
                if dtype == "uint8":  # GeoTIFF palettes are for 8-bit bands in practice
                    dst.write_colormap(1, _colormap(len(self.labels)))
            os.replace(tmp, target)
        finally:
            if tmp.exists():
                tmp.unlink()
        table = {"labels": {str(k): name for k, name in enumerate(self.labels)}, "nodata": nodata,
                 "prompt": self.prompt, "source": self.info.path}
        _write_text(target.with_suffix(".labels.json"), json.dumps(table, indent=2, ensure_ascii=False) + "\n")
        _write_text(target.with_name(target.name + ".aux.xml"), _rat_xml(self.labels))
        return target

    # ------------------------------------------------------------------ vector output
    def _mask_polygons(self, simplify: float) -> list[tuple[Any, dict[str, Any]]]:
        """Mask polygons in scene pixel coordinates, unioned across tile cores, per label."""
        luts = self._luts()
        _, nodata = self.label_dtype()
        parts: dict[int, list[tuple[Any, str]]] = {}
        for t in self.tiles:
            lut = luts.get(t.tile.index)
            if lut is None or not (lut > 0).any() or not t.result.masks[0].binary().any():
                continue
            x0, y0, x1, y1 = t.tile.core
            labels = self._core_labels(t, lut, (y0, y1), nodata)
            labels[labels == nodata] = 0
            if not labels.any():
                continue
            shapes = rasterio.features.shapes(
                labels.astype(np.int32), mask=labels > 0, connectivity=4, transform=Affine.translation(x0, y0)
            )
            for geom, value in shapes:
                parts.setdefault(int(value), []).append((shape(geom), t.tile.id))
        out = []
        for value in sorted(parts):
            merged = shapely.unary_union([g for g, _ in parts[value]])
            pieces = list(getattr(merged, "geoms", [merged]))
            for piece in pieces:
                tiles = sorted({tid for g, tid in parts[value] if g.intersects(piece)})
                if simplify > 0:
                    piece = piece.simplify(simplify, preserve_topology=True)
                props = {"kind": "mask", "label": self.labels[value], "prompt": self.prompt,
                         "tile_id": ",".join(tiles), "score": None, "answer": None}
                out.append((piece, props))
        return out

    def features(self, crs: Any = None, simplify: float = DEFAULT_SIMPLIFY, default_crs: Any = "EPSG:4326") -> tuple[list[Feature], Any]:
        """Every mask polygon, box and image-level answer as a feature.

        Args:
            crs: Output CRS; None uses ``default_crs``.
            simplify: Douglas-Peucker tolerance for mask polygons, in pixels (0 keeps every vertex).
            default_crs: The CRS used when ``crs`` is None (``"native"`` keeps the scene's).

        Returns:
            The features and the CRS their coordinates are in (None: pixel coordinates, no CRS).
        """
        items = self._mask_polygons(simplify)
        for b in self.boxes:
            items.append((shapely_box(*b.box), {"kind": "box", "label": b.label, "prompt": self.prompt,
                                                "tile_id": ",".join(b.tile_ids), "score": b.score, "answer": None}))
        for t in self.tiles:
            r = t.result
            if r is None or r.masks or r.boxes:
                continue
            items.append((shapely_box(*t.tile.footprint(self.info.width, self.info.height)),
                          {"kind": "tile", "label": r.answer, "prompt": self.prompt, "tile_id": t.tile.id,
                           "score": None, "answer": r.answer}))
        geoms = [g for g, _ in items]
        if self.info.crs is None:
            if crs is not None:
                raise GeoInputError(f"{self.info.path}: the raster has no CRS, so --crs {crs} cannot be applied")
            out_crs = None
        else:
            a, b, c, d, e, f = list(self.info.transform)[:6]
            geoms = [shapely.affinity.affine_transform(g, [a, b, d, e, c, f]) for g in geoms]
            target = crs if crs is not None else default_crs
            out_crs = self.info.crs if target == "native" else target
            geoms = reproject(geoms, self.info.crs, out_crs)
        return [Feature(g, p) for g, (_, p) in zip(geoms, items, strict=True)], out_crs

    def to_geojson(self, crs: Any = None, simplify: float = DEFAULT_SIMPLIFY) -> dict[str, Any]:
        """The result as a GeoJSON FeatureCollection (EPSG:4326 lon/lat, RFC 7946, unless ``crs``).

        Args:
            crs: Output CRS instead of EPSG:4326 (named in a legacy ``crs`` member).
            simplify: Mask polygon simplification tolerance in pixels.

        Returns:
            The collection; pixel coordinates (and ``"univlm:coordinates": "pixel"``) without a CRS.
        """
        features, out_crs = self.features(crs, simplify)
        legacy = None if out_crs is None or crs is None else out_crs
        return feature_collection(features, crs=legacy, pixel=out_crs is None)

    def write_vector(self, path: str | os.PathLike[str], crs: Any = None, simplify: float = DEFAULT_SIMPLIFY) -> Path:
        """Write ``.geojson`` (EPSG:4326) or ``.gpkg`` (the scene's CRS); ``crs`` overrides either."""
        if vector_format(path) == "geojson":
            return write_geojson(path, self.to_geojson(crs, simplify))
        features, out_crs = self.features(crs, simplify, default_crs="native")
        return write_gpkg(path, features, out_crs)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe summary: scene, stats, labels, merged boxes and the per-tile answers."""
        return {
            "scene": self.info.to_dict(),
            "prompt": self.prompt,
            "tile": self.tile_size,
            "overlap": self.overlap,
            "labels": list(self.labels),
            "stats": dict(self.stats),
            "skipped_tiles": self.skipped,
            "boxes": [{"box": [round(v, 2) for v in b.box], "label": b.label, "score": b.score,
                       "tile_ids": b.tile_ids} for b in self.boxes],
            "tiles": [
                {"id": t.tile.id, "window": [t.tile.x, t.tile.y, t.tile.width, t.tile.height],
                 "valid_fraction": round(t.valid_fraction, 4), "resumed": t.resumed,
                 "answer": None if t.result is None else t.result.answer,
                 "problems": [] if t.result is None else list(t.result.problems)}
                for t in self.tiles
            ],
            "problems": list(self.problems),
        }

    # ------------------------------------------------------------------ assembly
    def stitch(self, ios_threshold: float = DEFAULT_IOS_THRESHOLD) -> None:
        """Build the scene label table and merge the tiles' boxes (called once all tiles are in)."""
        labels = ["others"]
        raw: list[SceneBox] = []
        outside = empty = 0
        phrase = _phrase(self.prompt)
        for t in self.tiles:
            r = t.result
            if r is None:
                continue
            if r.masks:
                labels += [n for n in r.masks[0].labels if n not in labels]
                if len(r.masks) > 1:
                    self.problems.append(f"tile {t.tile.id}: {len(r.masks)} masks in the answer; the first is used")
            elif r.task == "SEG":
                self.problems.append(f"tile {t.tile.id}: no mask in the answer; its core is nodata in the raster")
            for bx in r.boxes_px:
                if bx[2] <= bx[0] or bx[3] <= bx[1]:
                    empty += 1
                    continue
                moved = offset_box(bx, t.tile.x, t.tile.y, self.info.width, self.info.height)
                if moved is None:
                    outside += 1
                    continue
                score = r.stats.get("score") if isinstance(r.stats, dict) else None
                raw.append(SceneBox(moved, phrase, score, [t.tile.id]))
        if empty:
            self.problems.append(f"{empty} box(es) had no area (x2 <= x1 or y2 <= y1) and were dropped")
        if outside:
            self.problems.append(f"{outside} box(es) lay wholly in the padding outside the scene and were dropped")
        self.labels = labels
        self.boxes = greedy_nmm(raw, ios_threshold)
        self.stats["boxes_before_merge"] = len(raw)
        self.stats["boxes"] = len(self.boxes)


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _colormap(count: int) -> dict[int, tuple[int, int, int, int]]:
    """Distinct colours for labels 0..count-1 (0, ``others``, is transparent black)."""
    colours = {0: (0, 0, 0, 0)}
    for k in range(1, min(count, 255)):
        hue = (k * 0.618033988749895) % 1.0
        rgb = [int(255 * max(0.0, min(1.0, abs(hue * 6 - s) - 1))) for s in (3, 2, 4)]
        colours[k] = (rgb[0], 255 - rgb[1], 255 - rgb[2], 255)
    return colours


def _rat_xml(labels: Sequence[str]) -> str:
    """A GDAL PAM sidecar holding a raster attribute table ``Value`` -> ``Label``."""
    rows = "\n".join(
        f'      <Row index="{k}"><F>{k}</F><F>{escape(name)}</F></Row>' for k, name in enumerate(labels)
    )
    return (
        "<PAMDataset>\n  <PAMRasterBand band=\"1\">\n"
        '    <GDALRasterAttributeTable tableType="thematic">\n'
        '      <FieldDefn index="0"><Name>Value</Name><Type>0</Type><Usage>5</Usage></FieldDefn>\n'
        '      <FieldDefn index="1"><Name>Label</Name><Type>2</Type><Usage>2</Usage></FieldDefn>\n'
        f"{rows}\n    </GDALRasterAttributeTable>\n  </PAMRasterBand>\n</PAMDataset>\n"
    )
