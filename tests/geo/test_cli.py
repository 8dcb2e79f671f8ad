"""``univlm predict`` on a GeoTIFF and ``univlm decode-mask --like scene.tif`` (stub model, no download)."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("rasterio")

import rasterio  # noqa: E402

from tests.geo._scenes import BrightStub, building_scene, write_scene  # noqa: E402
from univlm.cli import decode_mask, predict  # noqa: E402

SEG = "[SEG] Please segment the building in this image."


@pytest.fixture
def stub(monkeypatch):
    model = BrightStub()
    monkeypatch.setattr(predict, "load_predictor", lambda args: model)
    return model


@pytest.fixture
def scene(tmp_path):
    return write_scene(tmp_path / "scene.tif", building_scene())


def _run(argv):
    return predict.main(["--model", "unused", *argv, "--quiet"])


def test_predict_writes_label_raster_and_vectors(stub, scene, tmp_path, capsys):
    out, vec = tmp_path / "mask.tif", tmp_path / "mask.geojson"
    code = _run([str(scene), "--prompt", SEG, "--tile", "256", "--overlap", "64", "--stretch", "0,100",
                 "-o", str(out), "--vector", str(vec)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "6 tiles (6 predicted, 0 resumed, 0 skipped as nodata)" in captured.out
    assert "labels: 0=others, 1=building" in captured.out
    with rasterio.open(out) as dst:
        assert dst.crs.to_epsg() == 32633 and (dst.read(1) == 1).sum() == 60 * 50
    assert len(json.loads(vec.read_text())["features"]) == 1
    assert (tmp_path / "mask.tif.tiles.jsonl").exists()
    code = _run([str(scene), "--prompt", SEG, "--tile", "256", "--overlap", "64", "--stretch", "0,100",
                 "-o", str(out), "--resume", "--json"])
    assert code == 0 and json.loads(capsys.readouterr().out)["stats"]["tiles_resumed"] == 6


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--bands", "4,2,1"], "scene.tif: band 4 does not exist; the file has 3 band(s)"),
        (["--bands", "1,2"], "expected 1 or 3 band numbers"),
        (["--stretch", "98,2"], "percentiles must satisfy"),
        (["--require-crs"], None),
        (["--vector", "x.shp"], "--vector x.shp: expected a .geojson or .gpkg file"),
        (["--resume"], "--resume needs -o/--out or --vector"),
        (["--crs", "EPSG:nope"], "--crs EPSG:nope: not a CRS"),
        (["--tile", "64", "--overlap", "64"], "scene.tif: overlap must be in 0..63"),
    ],
)
def test_input_errors_are_one_line_and_exit_2(stub, scene, tmp_path, capsys, extra, message):
    path = scene
    if message is None:
        path = write_scene(tmp_path / "plain.tif", building_scene(), crs=None)
        message = "plain.tif: the raster has no CRS (refused because of --require-crs)"
    assert _run([str(path), "--prompt", SEG, *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"univlm predict: error: {err[0].split('error: ', 1)[1]}"] and message in err[0]


def test_all_nodata_scene_is_refused(stub, tmp_path, capsys):
    empty = write_scene(tmp_path / "empty.tif", np.zeros((1, 64, 64), np.uint16), nodata=0)
    assert _run([str(empty), "--prompt", SEG]) == 2
    assert "empty.tif: nodata covers the whole scene" in capsys.readouterr().err


def test_decode_mask_like_geotiff(scene, tmp_path, capsys):
    from univlm.codecs.masks import encode_mask

    mask = np.zeros((400, 600), np.int64)
    mask[:, 300:] = 1
    answer = tmp_path / "answer.txt"
    answer.write_text(encode_mask(mask, ["others", "water"], grid=24))
    out, vec = tmp_path / "m.tif", tmp_path / "m.gpkg"
    code = decode_mask.main([str(answer), "--like", str(scene), "-o", str(out), "--vector", str(vec)])
    assert code == 0, capsys.readouterr().err
    with rasterio.open(out) as dst, rasterio.open(scene) as src:
        assert dst.transform == src.transform and dst.crs == src.crs
        labels = dst.read(1)
    assert (labels[:, 300:] == 1).all() and (labels[:, :300] == 0).all()
    from univlm.geo.vector import read_gpkg_features

    (feature,), srs_id = read_gpkg_features(vec)
    assert srs_id == 32633 and feature.properties["label"] == "water"
    assert decode_mask.main([str(answer), "--vector", str(vec)]) == 2
    assert "--vector needs --like RASTER" in capsys.readouterr().err
