"""Tiled inference on synthetic GeoTIFFs with a stub model: georeferenced masks, stitching, memory, resume."""

from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pytest

pytest.importorskip("rasterio")

import rasterio  # noqa: E402
from pyproj import Transformer  # noqa: E402
from shapely.geometry import shape  # noqa: E402

from tests.geo._scenes import (  # noqa: E402
    PIXEL,
    UTM,
    BrightStub,
    building_scene,
    pixel_to_map,
    write_scene,
)
from univlm.geo import GeoInputError  # noqa: E402
from univlm.geo.run import predict_scene, scene_from_masks  # noqa: E402
from univlm.geo.vector import read_gpkg_features  # noqa: E402
from univlm.inference.result import Result  # noqa: E402  (up front: imported in a traced region, torch would count)

SEG = "[SEG] Please segment the building in this image."
VG = "[VG] the building"
BUILDING = (200, 150, 260, 200)  # x0, y0, x1, y1 pixels, half-open; cut by the tile borders below


@pytest.fixture
def scene_path(tmp_path):
    return write_scene(tmp_path / "scene.tif", building_scene(building=BUILDING))


def _seg(path, **options):
    stub = BrightStub()
    options = {"tile": 256, "overlap": 64, "stretch": (0, 100), **options}
    return predict_scene(stub, path, SEG, **options), stub


def test_building_polygon_comes_back_at_its_map_coordinates_in_epsg4326(scene_path):
    scene, stub = _seg(scene_path)
    assert scene.stats["tiles"] == 6 and scene.stats["tiles_skipped"] == 0
    assert all(s == (256, 256, 3) for s in stub.shapes)
    collection = scene.to_geojson()
    assert "crs" not in collection  # RFC 7946: EPSG:4326 longitude/latitude, no crs member
    masks = [f for f in collection["features"] if f["properties"]["kind"] == "mask"]
    assert len(masks) == 1  # cut by two tile borders, stitched into one polygon
    props = masks[0]["properties"]
    assert props["label"] == "building" and props["prompt"] == SEG and props["score"] is None
    assert props["tile_id"].count(",") >= 1  # several tiles contributed
    lon, lat = masks[0]["geometry"]["coordinates"][0][0]
    assert 14.9 < lon < 15.1 and 45.0 < lat < 45.3  # UTM 33N near its central meridian, lon first
    to_utm = Transformer.from_crs("EPSG:4326", UTM, always_xy=True)
    ring = np.asarray(masks[0]["geometry"]["coordinates"][0])
    x, y = to_utm.transform(ring[:, 0], ring[:, 1])
    west, north = pixel_to_map(BUILDING[0], BUILDING[1])
    east, south = pixel_to_map(BUILDING[2], BUILDING[3])
    assert abs(min(x) - west) < PIXEL and abs(max(x) - east) < PIXEL
    assert abs(min(y) - south) < PIXEL and abs(max(y) - north) < PIXEL
    area = shape({"type": "Polygon", "coordinates": [list(zip(x, y, strict=True))]}).area
    assert area == pytest.approx((BUILDING[2] - BUILDING[0]) * (BUILDING[3] - BUILDING[1]) * PIXEL**2, rel=0.02)


def test_box_cut_by_tile_borders_comes_out_as_one_box(scene_path):
    stub = BrightStub()
    scene = predict_scene(stub, scene_path, VG, tile=256, overlap=64, stretch=(0, 100))
    assert scene.stats["boxes_before_merge"] >= 3
    (merged,) = scene.boxes
    assert merged.label == "the building" and len(merged.tile_ids) >= 3
    expected = np.asarray(BUILDING, dtype=float)
    assert np.abs(np.asarray(merged.box) - expected).max() <= 256 / 100  # one step of the 0..100 grid
    features = scene.to_geojson(crs=UTM)["features"]
    (box,) = [f for f in features if f["properties"]["kind"] == "box"]
    xs = [p[0] for p in box["geometry"]["coordinates"][0]]
    assert abs(min(xs) - pixel_to_map(merged.box[0], 0)[0]) < 1e-6
    assert scene.to_geojson(crs=UTM)["crs"]["properties"]["name"] == "urn:ogc:def:crs:EPSG::32633"


def test_label_geotiff_round_trip(scene_path, tmp_path):
    scene, _ = _seg(scene_path)
    out = scene.to_geotiff(tmp_path / "out" / "mask.tif")
    with rasterio.open(scene_path) as src, rasterio.open(out) as dst:
        assert dst.crs == src.crs and dst.transform == src.transform
        assert (dst.count, dst.dtypes[0], dst.nodata) == (1, "uint8", 255)
        assert dst.profile["compress"] == "deflate" and dst.profile["tiled"]
        assert json.loads(dst.tags()["labels"]) == ["others", "building"]
        labels = dst.read(1)
        source_valid = src.read_masks(1) > 0
    x0, y0, x1, y1 = BUILDING
    assert (labels[y0:y1, x0:x1] == 1).all() and (labels == 1).sum() == (x1 - x0) * (y1 - y0)
    assert (labels[~source_valid] == 255).all() and (labels[source_valid] != 255).all()
    table = json.loads((tmp_path / "out" / "mask.labels.json").read_text())
    assert table["labels"] == {"0": "others", "1": "building"} and table["nodata"] == 255
    rat = (tmp_path / "out" / "mask.tif.aux.xml").read_text()
    assert "GDALRasterAttributeTable" in rat and "<F>building</F>" in rat
    assert not list((tmp_path / "out").glob(".*"))  # no temp file left behind


def test_geopackage_keeps_the_native_crs(scene_path, tmp_path):
    scene, _ = _seg(scene_path)
    path = scene.write_vector(tmp_path / "mask.gpkg")
    features, srs_id = read_gpkg_features(path)
    assert srs_id == 32633 and len(features) == 1
    west, north = pixel_to_map(BUILDING[0], BUILDING[1])
    east, south = pixel_to_map(BUILDING[2], BUILDING[3])
    assert features[0].geometry.bounds == pytest.approx((west, south, east, north))
    assert features[0].properties["label"] == "building"


def test_skipped_tiles_are_counted_and_all_nodata_is_refused(tmp_path):
    data = building_scene(width=700, height=300, margin=0)
    data[:, :, 400:] = 0  # the right part is nodata
    path = write_scene(tmp_path / "half.tif", data)
    scene, stub = _seg(path)
    assert scene.stats["tiles_skipped"] == len(scene.skipped) > 0
    assert len(stub.shapes) == scene.stats["tiles"] - scene.stats["tiles_skipped"] == scene.stats["tiles_read"]
    assert any("skipped as mostly nodata" in p for p in scene.problems)
    data[:, :, ::50] = 0  # a nodata column every 50 pixels: no 128-pixel tile core is free of nodata
    grid = write_scene(tmp_path / "grid.tif", data)
    with pytest.raises(GeoInputError, match=r"grid\.tif: every tile is more than 0% nodata"):
        _seg(grid, skip_nodata=0.0, tile=128, overlap=0)


def test_sixteen_k_sparse_scene_reads_only_tiles_with_data_in_bounded_memory(tmp_path):
    from rasterio.windows import Window

    size, tile = 16384, 1024
    path = write_scene(tmp_path / "big.tif", np.zeros((1, 256, 256), np.uint8), nodata=0)  # placeholder
    profile = {"driver": "GTiff", "width": size, "height": size, "count": 1, "dtype": "uint8", "nodata": 0,
               "tiled": True, "blockxsize": 512, "blockysize": 512, "compress": "deflate", "crs": UTM,
               "transform": rasterio.transform.from_origin(500000, 5000000, 1, 1), "SPARSE_OK": True}
    patches = [(1000, 1000), (8000, 9000), (15500, 15500)]
    with rasterio.open(path, "w", **profile) as dst:
        for x, y in patches:
            block = np.full((600, 600), 100, np.uint8)
            block[200:300, 200:300] = 250
            dst.write(block, 1, window=Window(x, y, 600, 600))
    assert path.stat().st_size < 1_000_000  # sparse and compressed

    stub = BrightStub(grid=32)
    tracemalloc.start()
    scene = predict_scene(stub, path, SEG, tile=tile, overlap=128, batch_size=1)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()

    from univlm.geo.tiling import plan_tiles

    tiles = plan_tiles(size, size, tile, 128)
    expected = 0
    for t in tiles:  # tiles whose core holds more than 5% data, computed from the patch geometry
        x0, y0, x1, y1 = t.core
        covered = sum(max(0, min(x1, x + 600) - max(x0, x)) * max(0, min(y1, y + 600) - max(y0, y)) for x, y in patches)
        expected += covered > 0.05 * (x1 - x0) * (y1 - y0)
    assert scene.stats["tiles"] == len(tiles) == 361
    assert scene.stats["tiles_read"] == len(stub.shapes) == expected
    assert scene.stats["tiles_skipped"] == 361 - expected and scene.stats["masks_read"] == 361
    one_tile_rgb = tile * tile * 3
    assert peak < 24 * one_tile_rgb < size * size  # a few tiles' worth; the scene alone is 268 MB
    # The same run on a one-tile scene peaks at least a third as high: memory does not grow with the scene.
    small = write_scene(tmp_path / "small.tif", np.full((1, tile, tile), 100, np.uint8), nodata=0)
    tracemalloc.start()
    predict_scene(BrightStub(grid=32), small, SEG, tile=tile, overlap=128, batch_size=1)
    single = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 3 * single
    polygons = [f for f in scene.to_geojson()["features"] if f["properties"]["kind"] == "mask"]
    assert len(polygons) == 3


def test_resume_skips_tiles_already_written(scene_path, tmp_path):
    ckpt = tmp_path / "mask.tif.tiles.jsonl"
    first, stub = _seg(scene_path, checkpoint=ckpt)
    lines = ckpt.read_text().splitlines()
    assert len(lines) == 1 + first.stats["tiles"]
    ckpt.write_text("\n".join(lines[:3]) + "\n" + lines[3][:10])  # interrupted during tile 3
    again, stub = _seg(scene_path, checkpoint=ckpt, resume=True)
    assert again.stats["tiles_resumed"] == 2 and len(stub.shapes) == again.stats["tiles"] - 2
    assert any("unreadable checkpoint line" in p for p in again.problems)
    assert again.to_geojson() == first.to_geojson()
    third, stub = _seg(scene_path, checkpoint=ckpt, resume=True)
    assert third.stats["tiles_resumed"] == third.stats["tiles"] and stub.shapes == []
    with pytest.raises(GeoInputError, match="belongs to another scene"):
        _seg(scene_path, checkpoint=ckpt, resume=True, overlap=32)


def test_no_crs_gives_pixel_coordinates(tmp_path):
    path = write_scene(tmp_path / "plain.tif", building_scene(building=BUILDING), crs=None)
    scene, _ = _seg(path)
    collection = scene.to_geojson()
    assert collection["univlm:coordinates"] == "pixel"
    (mask,) = [f for f in collection["features"] if f["properties"]["kind"] == "mask"]
    assert shape(mask["geometry"]).bounds == BUILDING
    assert any("no CRS" in p for p in scene.problems)
    with pytest.raises(GeoInputError, match="no CRS"):
        scene.to_geojson(crs=UTM)


def test_image_level_answers_are_tile_footprints(scene_path):
    class Captioner(BrightStub):
        def predict_batch(self, items, batch_size=8, **generate):
            return [Result(text="a scene", prompt=p, task="CAP", answer="a scene") for _, p in items]

    scene = predict_scene(Captioner(), scene_path, "[CAP] Describe the image.", tile=256, overlap=64)
    tiles = [f for f in scene.to_geojson(crs=UTM)["features"] if f["properties"]["kind"] == "tile"]
    assert len(tiles) == 6 and {f["properties"]["answer"] for f in tiles} == {"a scene"}
    xs = sorted({p[0] for f in tiles for p in f["geometry"]["coordinates"][0]})
    assert xs[0] == pixel_to_map(0, 0)[0] and xs[-1] == pixel_to_map(600, 0)[0]  # clipped to the scene
    with pytest.raises(ValueError, match="needs a \\[SEG\\] prompt"):
        scene.to_geotiff(scene_path.with_name("x.tif"))


def test_scene_from_masks_georeferences_an_answer(scene_path, tmp_path):
    from univlm.codecs.masks import decode_masks, encode_mask

    mask = np.zeros((400, 600), np.int64)
    mask[:200, :300] = 1
    (decoded,) = decode_masks(encode_mask(mask, ["others", "field"], grid=24))
    scene = scene_from_masks([decoded], scene_path)
    out = scene.to_geotiff(tmp_path / "m.tif")
    with rasterio.open(out) as dst:
        labels = dst.read(1)
        assert dst.crs.to_epsg() == 32633
    assert (labels[:200, :300] == 1).all() and (labels[200:] == 0).all()


@pytest.fixture
def one_thread():
    from tests.inference._tiny import one_torch_thread

    yield from one_torch_thread()


def test_wiring_through_the_real_tiny_model(tmp_path, one_thread):
    from tests.inference._tiny import save_tiny_univlm
    from univlm.inference import Predictor

    predictor = Predictor.from_pretrained(save_tiny_univlm(tmp_path / "tiny"), grid=8)
    rng = np.random.default_rng(0)
    path = write_scene(tmp_path / "rgb.tif", rng.integers(0, 255, size=(3, 100, 100)).astype(np.uint8), nodata=None)
    scene = predictor.predict_scene(path, SEG, tile=64, overlap=16, batch_size=4)
    assert scene.stats["tiles"] == 4 and scene.stats["tiles_predicted"] == 4
    assert scene.info.stretch.percentiles is None  # 8-bit data passes through
    for result in scene.results:
        assert result.task == "SEG" and result.masks[0].grid_size == 8 and result.mask_arrays == []
    out = scene.to_geotiff(tmp_path / "mask.tif")
    with rasterio.open(out) as dst:
        labels = dst.read(1)
    assert labels.shape == (100, 100) and set(np.unique(labels)) <= set(range(len(scene.labels)))
    collection = scene.to_geojson()
    assert all(f["properties"]["prompt"] == SEG for f in collection["features"])


def test_empty_and_padding_boxes_are_dropped_and_counted(tmp_path):
    class Boxer(BrightStub):
        def predict_batch(self, items, batch_size=8, **generate):
            from univlm.inference.result import parse_answer

            out = []
            for image, p in items:
                h, w = np.asarray(image).shape[:2]
                text = "[10, 10, 10, 20] [95, 10, 100, 20]"  # no area; in the right padding of edge tiles
                out.append(Result(text=text, prompt=p, task="VG", **parse_answer(text, task="VG", image_size=(w, h))))
            return out

    path = write_scene(tmp_path / "s.tif", building_scene(width=300, height=256))
    scene = predict_scene(Boxer(), path, VG, tile=256, overlap=64)
    assert scene.stats["tiles"] == 2
    assert any("2 box(es) had no area" in p for p in scene.problems)
    assert any("1 box(es) lay wholly in the padding" in p for p in scene.problems)
    assert len(scene.boxes) == 1
