"""``univlm.demo.geo``: which uploads count as GeoTIFF scenes, and their quicklook."""

from __future__ import annotations

import pytest

pytest.importorskip("rasterio", reason="the geo extra is not installed")

from tests.geo._scenes import building_scene, write_scene  # noqa: E402
from univlm.demo.geo import QUICKLOOK_SIDE, is_geo_scene, quicklook  # noqa: E402


def test_only_a_tiff_with_a_crs_is_a_scene(tmp_path):
    from PIL import Image

    data = building_scene(300, 200)
    assert is_geo_scene(write_scene(tmp_path / "utm.tif", data))
    assert not is_geo_scene(write_scene(tmp_path / "plain.tif", data, crs=None))
    Image.new("RGB", (8, 8)).save(tmp_path / "photo.png")
    assert not is_geo_scene(tmp_path / "photo.png")
    (tmp_path / "broken.tif").write_bytes(b"II*\x00 not a tiff")
    assert not is_geo_scene(tmp_path / "broken.tif")
    assert not is_geo_scene(None)


def test_quicklook_is_decimated_and_stretched(tmp_path):
    path = write_scene(tmp_path / "big.tif", building_scene(1600, 800))
    image = quicklook(path)
    assert image.size == (QUICKLOOK_SIDE, QUICKLOOK_SIDE // 2) and image.mode == "RGB"
    assert image.getextrema()[0][1] == 255  # uint16 values stretched onto the full 8-bit range
