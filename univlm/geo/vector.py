"""Vector output: features in a target CRS, written as GeoJSON (RFC 7946) or GeoPackage.

Design choices and sources:
- GeoJSON is EPSG:4326 longitude/latitude (RFC 7946 section 4; pyproj with ``always_xy=True`` so
  axis order is x=lon, y=lat). With an explicit ``--crs`` the coordinates are in that CRS and the
  legacy ``crs`` member names it, which GDAL/QGIS read; without a source CRS geometry stays in pixel
  coordinates (x right, y down) and the collection says so in ``"univlm:coordinates": "pixel"``.
- GeoPackage keeps the scene's native CRS. It is written with the standard library's sqlite3 after
  OGC 12-128r18 (GeoPackage 1.3): ``application_id`` 'GPKG', ``user_version`` 10300, the
  ``gpkg_spatial_ref_sys`` / ``gpkg_contents`` / ``gpkg_geometry_columns`` tables, and geometry
  blobs = 'GP' header (version 0, little-endian, xy envelope) + ISO WKB from shapely. This avoids a
  fiona/pyogrio dependency; rasterio's bundled GDAL has no vector API.
- Polygons are reprojected vertex by vertex; the simplification tolerance (in pixels) is applied
  before, in the pixel frame, so it means the same on every scene.
- Every write is atomic (temp file beside the target + ``os.replace``).
"""

from __future__ import annotations

import json
import os
import sqlite3
import struct
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from univlm.geo import GEO_HINT, GeoDependencyError

try:
    import shapely
    from pyproj import CRS, Transformer
    from shapely.geometry import mapping
except ImportError as err:  # the optional extra is missing: say which one to install
    raise GeoDependencyError(f"{GEO_HINT} ({err})") from err

VECTOR_SUFFIXES = {".geojson": "geojson", ".json": "geojson", ".gpkg": "gpkg"}
PROPERTY_COLUMNS = (("kind", "TEXT"), ("label", "TEXT"), ("prompt", "TEXT"), ("tile_id", "TEXT"),
                    ("score", "REAL"), ("answer", "TEXT"))
_GPKG_APPLICATION_ID = 0x47504B47  # "GPKG"
_GPKG_VERSION = 10300


@dataclass
class Feature:
    """A geometry with univlm's properties.

    Attributes:
        geometry: A shapely geometry.
        properties: ``kind`` (mask, box, tile), ``label``, ``prompt``, ``tile_id``, ``score``, ``answer``.
    """

    geometry: Any
    properties: dict[str, Any]


def vector_format(path: str | os.PathLike[str]) -> str:
    """``"geojson"`` or ``"gpkg"`` from a path's suffix.

    Raises:
        ValueError: For any other suffix.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in VECTOR_SUFFIXES:
        raise ValueError(f"{os.fspath(path)}: expected a .geojson or .gpkg vector file, got suffix {suffix!r}")
    return VECTOR_SUFFIXES[suffix]


def reproject(geometries: Sequence[Any], src: Any, dst: Any) -> list[Any]:
    """Reproject shapely geometries from CRS ``src`` to ``dst`` (anything pyproj's CRS accepts)."""
    source, target = CRS.from_user_input(src), CRS.from_user_input(dst)
    if source == target:
        return list(geometries)
    transformer = Transformer.from_crs(source, target, always_xy=True)

    def move(coords: np.ndarray) -> np.ndarray:
        x, y = transformer.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])  # (N, 2)

    return [shapely.transform(g, move) for g in geometries]


def _atomic(path: Path, write: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def feature_collection(features: Sequence[Feature], crs: Any = None, pixel: bool = False) -> dict[str, Any]:
    """A GeoJSON FeatureCollection dict.

    Args:
        features: Features whose geometry is already in the output CRS.
        crs: The output CRS when it is not EPSG:4326 (named in a legacy ``crs`` member), else None.
        pixel: Geometry is in pixel coordinates (the scene had no CRS).

    Returns:
        The collection.
    """
    collection: dict[str, Any] = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "id": k, "geometry": mapping(f.geometry), "properties": dict(f.properties)}
            for k, f in enumerate(features)
        ],
    }
    if pixel:
        collection["univlm:coordinates"] = "pixel"
    elif crs is not None:
        authority = CRS.from_user_input(crs).to_authority()
        name = f"urn:ogc:def:crs:{authority[0]}::{authority[1]}" if authority else CRS.from_user_input(crs).to_wkt()
        collection["crs"] = {"type": "name", "properties": {"name": name}}
    return collection


def write_geojson(path: str | os.PathLike[str], collection: dict[str, Any]) -> Path:
    """Write a FeatureCollection atomically; returns the path."""
    target = Path(path)
    data = json.dumps(collection, ensure_ascii=False)

    def write(tmp: str) -> None:
        Path(tmp).write_text(data + "\n", encoding="utf-8")

    _atomic(target, write)
    return target


def _gpkg_blob(geometry: Any, srs_id: int) -> bytes:
    minx, miny, maxx, maxy = geometry.bounds
    flags = 0b0000_0011  # little-endian header, envelope [minx, maxx, miny, maxy]
    header = b"GP" + bytes([0, flags]) + struct.pack("<i4d", srs_id, minx, maxx, miny, maxy)
    return header + shapely.to_wkb(geometry, byte_order=1, flavor="iso")


def _srs_row(crs: Any) -> tuple[str, int, str, int, str]:
    """``(name, srs_id, organization, organization_coordsys_id, definition)``; -1 without a CRS."""
    if crs is None:
        return ("Undefined cartesian SRS", -1, "NONE", -1, "undefined")
    parsed = CRS.from_user_input(crs)
    authority = parsed.to_authority()
    if authority and authority[0] == "EPSG":
        code = int(authority[1])
        return (parsed.name, code, "EPSG", code, parsed.to_wkt("WKT1_GDAL"))
    return (parsed.name, 100000, "NONE", 100000, parsed.to_wkt("WKT1_GDAL"))


def write_gpkg(path: str | os.PathLike[str], features: Sequence[Feature], crs: Any, layer: str = "univlm") -> Path:
    """Write features (geometry in ``crs``) as a one-layer GeoPackage, atomically.

    Args:
        path: Target ``.gpkg``.
        features: Features with univlm's properties.
        crs: Their CRS, or None for pixel coordinates (the undefined cartesian SRS, id -1).
        layer: Table name.

    Returns:
        The path.
    """
    target = Path(path)
    srs = _srs_row(crs)
    srs_id = srs[1]
    bounds = (
        shapely.total_bounds([f.geometry for f in features]).tolist() if features else [None] * 4
    )

    def write(tmp: str) -> None:
        os.unlink(tmp)  # sqlite3 creates the file itself
        con = sqlite3.connect(tmp)
        try:
            con.execute(f"PRAGMA application_id = {_GPKG_APPLICATION_ID}")
            con.execute(f"PRAGMA user_version = {_GPKG_VERSION}")
            con.executescript(
                """
                CREATE TABLE gpkg_spatial_ref_sys (srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY,
                  organization TEXT NOT NULL, organization_coordsys_id INTEGER NOT NULL,
                  definition TEXT NOT NULL, description TEXT);
                CREATE TABLE gpkg_contents (table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL,
                  identifier TEXT UNIQUE, description TEXT DEFAULT '',
                  last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
                  min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER,
                  CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id));
                CREATE TABLE gpkg_geometry_columns (table_name TEXT NOT NULL, column_name TEXT NOT NULL,
                  geometry_type_name TEXT NOT NULL, srs_id INTEGER NOT NULL, z TINYINT NOT NULL,
                  m TINYINT NOT NULL, CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),
                  CONSTRAINT uk_gc_table_name UNIQUE (table_name),
                  CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),
                  CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id));
                """
            )
            rows = {
                ("Undefined cartesian SRS", -1, "NONE", -1, "undefined"),
                ("Undefined geographic SRS", 0, "NONE", 0, "undefined"),
                ("WGS 84 geodetic", 4326, "EPSG", 4326, CRS.from_epsg(4326).to_wkt("WKT1_GDAL")),
            }
            if srs_id not in (-1, 0, 4326):
                rows.add(srs)
            con.executemany("INSERT INTO gpkg_spatial_ref_sys VALUES (?, ?, ?, ?, ?, NULL)", sorted(rows, key=str))
            columns = ", ".join(f'"{name}" {kind}' for name, kind in PROPERTY_COLUMNS)
            con.execute(f'CREATE TABLE "{layer}" (fid INTEGER PRIMARY KEY AUTOINCREMENT, geom GEOMETRY, {columns})')
            con.execute(
                "INSERT INTO gpkg_contents (table_name, data_type, identifier, min_x, min_y, max_x, max_y, srs_id)"
                " VALUES (?, 'features', ?, ?, ?, ?, ?, ?)",
                (layer, layer, *bounds, srs_id),
            )
            con.execute("INSERT INTO gpkg_geometry_columns VALUES (?, 'geom', 'GEOMETRY', ?, 0, 0)", (layer, srs_id))
            names = [name for name, _ in PROPERTY_COLUMNS]
            marks = ", ".join("?" for _ in range(len(names) + 1))
            con.executemany(
                f'INSERT INTO "{layer}" (geom, {", ".join(names)}) VALUES ({marks})',
                [(_gpkg_blob(f.geometry, srs_id), *(f.properties.get(n) for n in names)) for f in features],
            )
            con.commit()
        finally:
            con.close()

    _atomic(target, write)
    return target


def read_gpkg_features(path: str | os.PathLike[str], layer: str = "univlm") -> tuple[list[Feature], int]:
    """Read back what :func:`write_gpkg` wrote (for tests and round trips).

    Returns:
        The features and the layer's srs_id.
    """
    con = sqlite3.connect(os.fspath(path))
    try:
        srs_id = con.execute("SELECT srs_id FROM gpkg_geometry_columns WHERE table_name = ?", (layer,)).fetchone()[0]
        names = [name for name, _ in PROPERTY_COLUMNS]
        rows = con.execute(f'SELECT geom, {", ".join(names)} FROM "{layer}" ORDER BY fid').fetchall()
    finally:
        con.close()
    features = []
    for blob, *values in rows:
        flags = blob[3]
        envelope = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}[(flags >> 1) & 0b111]
        geometry = shapely.from_wkb(bytes(blob[8 + envelope :]))
        features.append(Feature(geometry, dict(zip(names, values))))
    return features, int(srs_id)
