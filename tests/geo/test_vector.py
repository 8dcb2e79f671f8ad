"""Vector writers: GeoJSON collections and GeoPackage files that GIS tools read."""

from __future__ import annotations

import json
import sqlite3

import pytest

pytest.importorskip("shapely")

from shapely.geometry import Polygon, box  # noqa: E402

from univlm.geo.vector import (  # noqa: E402
    Feature,
    feature_collection,
    read_gpkg_features,
    reproject,
    vector_format,
    write_geojson,
    write_gpkg,
)

PROPS = {"kind": "mask", "label": "building", "prompt": "[SEG] x", "tile_id": "r0000c0000", "score": None,
         "answer": None}


def test_geopackage_structure_follows_the_standard(tmp_path):
    features = [Feature(box(500000, 4999000, 500100, 4999100), PROPS),
                Feature(Polygon([(500200, 4999000), (500300, 4999000), (500250, 4999100)]), {**PROPS, "score": 0.5})]
    path = write_gpkg(tmp_path / "out.gpkg", features, "EPSG:32633")
    con = sqlite3.connect(path)
    try:
        assert con.execute("PRAGMA application_id").fetchone()[0] == 0x47504B47
        assert con.execute("PRAGMA user_version").fetchone()[0] == 10300
        ids = {r[0] for r in con.execute("SELECT srs_id FROM gpkg_spatial_ref_sys")}
        assert {-1, 0, 4326, 32633} <= ids
        row = con.execute("SELECT data_type, srs_id, min_x, max_y FROM gpkg_contents").fetchone()
        assert row == ("features", 32633, 500000.0, 4999100.0)
        blob = con.execute('SELECT geom FROM "univlm" WHERE fid = 1').fetchone()[0]
        assert blob[:2] == b"GP" and blob[2] == 0 and blob[3] == 3
    finally:
        con.close()
    back, srs_id = read_gpkg_features(path)
    assert srs_id == 32633 and [f.geometry.equals(g.geometry) for f, g in zip(back, features, strict=True)] == [True] * 2
    assert back[1].properties["score"] == 0.5 and back[0].properties["label"] == "building"


def test_geojson_collection_and_atomic_write(tmp_path):
    lonlat = reproject([box(500000, 4999000, 500100, 4999100)], "EPSG:32633", "EPSG:4326")[0]
    minx, miny, _, _ = lonlat.bounds
    assert 14.99 < minx < 15.01 and 45.1 < miny < 45.2  # x is longitude (always_xy)
    collection = feature_collection([Feature(lonlat, PROPS)])
    assert "crs" not in collection and collection["features"][0]["properties"] == PROPS
    named = feature_collection([Feature(box(0, 0, 1, 1), PROPS)], crs="EPSG:32633")
    assert named["crs"]["properties"]["name"] == "urn:ogc:def:crs:EPSG::32633"
    path = write_geojson(tmp_path / "a" / "out.geojson", collection)
    assert json.loads(path.read_text())["type"] == "FeatureCollection"
    assert sorted(p.name for p in path.parent.iterdir()) == ["out.geojson"]


def test_vector_format_from_suffix():
    assert vector_format("x.GeoJSON") == "geojson" and vector_format("x.gpkg") == "gpkg"
    with pytest.raises(ValueError, match=r"x\.shp: expected a \.geojson or \.gpkg"):
        vector_format("x.shp")
