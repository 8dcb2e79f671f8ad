"""Opening scenes: checks with one-line errors naming the file, band selection, the scene-wide stretch."""

from __future__ import annotations

import logging

import numpy as np
import pytest

pytest.importorskip("rasterio")

from tests.geo._scenes import building_scene, write_scene  # noqa: E402
from univlm.geo import GeoInputError  # noqa: E402
from univlm.geo.raster import TileReader, open_scene, parse_bands, parse_stretch  # noqa: E402


def test_sixteen_bit_scene_gets_one_stretch_from_valid_pixels(tmp_path):
    data = building_scene()
    path = write_scene(tmp_path / "s.tif", data)
    info = open_scene(path)
    assert (info.width, info.height, info.count, info.dtype) == (600, 400, 3, "uint16")
    assert info.bands == (1, 2, 3) and info.nodata == 0 and info.crs.to_epsg() == 32633
    valid = data[0][data[0] > 0].astype(float)
    expected = np.percentile(valid, [2, 98])
    assert info.stretch.percentiles == (2.0, 98.0)
    # The scene is small enough to be its own sample: the percentiles are those of all valid pixels.
    assert info.stretch.low[0] == pytest.approx(expected[0]) and info.stretch.high[0] == pytest.approx(expected[1])
    assert info.sample_pixels == valid.size


def test_tiles_share_the_scene_stretch_and_nodata_is_black(tmp_path):
    path = write_scene(tmp_path / "s.tif", building_scene())
    info = open_scene(path, stretch=(0, 100))
    with TileReader(info) as reader:
        valid, data = reader.valid(0, 0, 64, 64)  # top-left corner: nodata margins
        rgb = reader.rgb(0, 0, 64, 64, valid, data)
        assert data is None and reader.masks_read == 1 and reader.tiles_read == 1
        assert rgb.shape == (64, 64, 3) and rgb.dtype == np.uint8
        assert not valid[:20].any() and not valid[:, :40].any() and valid[20:, 40:].all()
        assert (rgb[~valid] == 0).all()
        inside = reader.rgb(200, 150, 10, 10, np.ones((10, 10), bool))
        assert (inside == 255).all()  # the building is the scene maximum
        edge_valid, _ = reader.valid(560, 380, 64, 64)  # overhangs the scene: boundless padding
        assert edge_valid[:20, :40].all() and not edge_valid[20:].any() and not edge_valid[:, 40:].any()


def test_user_nodata_overrides_the_file_mask(tmp_path):
    data = building_scene()
    data[:, 300:, :] = 7
    path = write_scene(tmp_path / "s.tif", data, nodata=None)
    info = open_scene(path, nodata=7)
    assert info.user_nodata and info.nodata == 7
    with TileReader(info) as reader:
        valid, read = reader.valid(100, 280, 32, 40)
        assert read is not None and valid[:20].all() and not valid[20:].any()


def test_band_selection_and_grey(tmp_path):
    data = np.stack([np.full((50, 60), v, np.uint8) for v in (10, 20, 30, 40)])  # (4, H, W)
    path = write_scene(tmp_path / "four.tif", data, nodata=None)
    info = open_scene(path, bands=(4, 2, 1), stretch=None)
    with TileReader(info) as reader:
        rgb = reader.rgb(0, 0, 8, 8, np.ones((8, 8), bool))
    assert info.bands == (4, 2, 1) and rgb[0, 0].tolist() == [40, 20, 10]
    grey = open_scene(path, bands=(3,), stretch=None)
    with TileReader(grey) as reader:
        assert reader.rgb(0, 0, 4, 4, np.ones((4, 4), bool))[0, 0].tolist() == [30, 30, 30]
    assert open_scene(path).bands == (1, 2, 3)


def test_float_scene_with_nan_and_overviews(tmp_path):
    import rasterio
    from rasterio.enums import Resampling

    rng = np.random.default_rng(1)
    data = rng.normal(0.2, 0.05, size=(1, 1200, 1100)).astype(np.float32)
    data[0, :10] = np.nan
    path = write_scene(tmp_path / "f.tif", data, nodata=None)
    with rasterio.open(path, "r+") as dst:
        dst.build_overviews([2], Resampling.nearest)  # a COG-like file: the stretch reads the overview
    info = open_scene(path)
    assert info.dtype == "float32" and np.isfinite(info.stretch.low[0])
    assert info.sample_pixels < 1200 * 1100 // 2  # from the 2x overview, not the full image
    with TileReader(info) as reader:
        valid, _ = reader.valid(0, 0, 16, 16)
        rgb = reader.rgb(0, 0, 16, 16, valid)
    assert (rgb[:10] == 0).all() and rgb[10:].any()


def test_no_crs_warns_or_is_refused(tmp_path, caplog):
    path = write_scene(tmp_path / "plain.tif", building_scene(), crs=None)
    with caplog.at_level(logging.WARNING):
        info = open_scene(path)
    assert info.crs is None and "no CRS" in caplog.text and str(path) in caplog.text
    with pytest.raises(GeoInputError, match=r"plain\.tif: the raster has no CRS"):
        open_scene(path, require_crs=True)


def test_errors_name_the_file(tmp_path):
    path = write_scene(tmp_path / "s.tif", building_scene())
    with pytest.raises(GeoInputError, match=r"s\.tif: band 5 does not exist; the file has 3 band"):
        open_scene(path, bands=(5, 2, 1))
    with pytest.raises(GeoInputError, match="expected 1 or 3 bands"):
        open_scene(path, bands=(1, 2))
    with pytest.raises(GeoInputError, match="needs a stretch"):
        open_scene(path, stretch=None)
    complex_path = write_scene(tmp_path / "c.tif", np.ones((1, 8, 8), np.complex64), nodata=None)
    with pytest.raises(GeoInputError, match=r"c\.tif: data type complex64 is not supported"):
        open_scene(complex_path)
    empty = write_scene(tmp_path / "empty.tif", np.zeros((1, 300, 300), np.uint16), nodata=0)
    with pytest.raises(GeoInputError, match=r"empty\.tif: nodata covers the whole scene"):
        open_scene(empty)
    (tmp_path / "junk.tif").write_text("not a raster")
    with pytest.raises(GeoInputError, match=r"junk\.tif: cannot open as a raster"):
        open_scene(tmp_path / "junk.tif")
    with pytest.raises(FileNotFoundError):
        open_scene(tmp_path / "missing.tif")
    for err in (GeoInputError,):
        try:
            open_scene(path, bands=(9,))
        except err as exc:
            assert "\n" not in str(exc)


def test_sparse_scene_stretch_finds_valid_blocks_the_sample_grid_missed(tmp_path):
    import rasterio
    from rasterio.windows import Window

    path = write_scene(tmp_path / "sparse.tif", np.zeros((1, 4096, 4096), np.uint16), nodata=0, SPARSE_OK=True)
    with rasterio.open(path, "r+") as dst:
        dst.write(np.full((1, 20, 20), 500, np.uint16), window=Window(1500, 1500, 20, 20))
    info = open_scene(path)
    assert info.sample_pixels == 400 and info.stretch.low == (500.0,)


def test_option_parsers():
    assert parse_bands("3,2,1") == (3, 2, 1) and parse_bands("2") == (2,)
    assert parse_stretch("2,98") == (2.0, 98.0) and parse_stretch("none") is None
    for bad in ("1,2", "a,b,c"):
        with pytest.raises(ValueError):
            parse_bands(bad)
    for bad in ("98,2", "2", "x,y"):
        with pytest.raises(ValueError):
            parse_stretch(bad)
