"""``univlm.imaging``: pixel limit, conversion by real range for every mode, data-root containment (issue #15 §6-8)."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from univlm.imaging import (
    DEFAULT_MAX_PIXELS,
    ImageLoadError,
    ImageTooLargeError,
    OutsideRootError,
    UnsupportedImageError,
    load_image,
    open_image,
    percentile_stretch,
    to_rgb,
)


def _png_claiming(path, width: int, height: int) -> None:
    """A tiny PNG whose header claims ``width`` x ``height`` (a decompression bomb's shape, not its data)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit grey
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16))
                     + chunk(b"IEND", b""))


def _pixels(image):
    assert image.mode == "RGB"
    return np.asarray(image)


# ------------------------------------------------------------------------------ percentile stretch
def test_percentile_stretch_maps_percentiles_to_0_and_255():
    data = np.arange(101, dtype=np.uint16).reshape(1, 101) * 600  # 0 .. 60000
    out = percentile_stretch(data, 2, 98)
    assert out.dtype == np.uint8 and out.shape == data.shape
    assert out[0, 2] == 0 and out[0, 98] == 255 and out[0, 0] == 0 and out[0, 100] == 255
    assert out[0, 50] == 128  # (50 - 2) / 96 * 255 = 127.5 -> 128
    assert (np.diff(out[0].astype(int)) >= 0).all()


def test_percentile_stretch_nodata_nan_constant_and_bands():
    data = np.array([[np.nan, -9999.0, 1.0, 2.0, 3.0]], dtype=np.float32)
    out = percentile_stretch(data, 0, 100, nodata=-9999.0)
    assert out.tolist() == [[0, 0, 0, 128, 255]]
    assert percentile_stretch(np.full((3, 3), 7.0)).tolist() == [[0] * 3] * 3
    assert percentile_stretch(np.full((2, 2), np.nan)).tolist() == [[0, 0], [0, 0]]
    bands = np.stack([np.arange(10.0).reshape(2, 5), 1000 * np.arange(10.0).reshape(2, 5)], axis=-1)  # (2, 5, 2)
    out = percentile_stretch(bands, 0, 100)
    assert out.shape == (2, 5, 2) and (out[..., 0] == out[..., 1]).all()  # each band on its own range
    with pytest.raises(ValueError, match="percentiles"):
        percentile_stretch(data, 50, 50)
    with pytest.raises(ValueError, match="shape"):
        percentile_stretch(np.zeros(4))


# ------------------------------------------------------------------------------ modes
def test_16_bit_png_is_stretched_not_white(tmp_path):
    ramp = (1000 + np.arange(64 * 64).reshape(64, 64) * 14).astype(np.uint16)  # 1000 .. 58330, all above 255
    path = tmp_path / "g16.png"
    Image.fromarray(ramp).save(path)
    assert Image.open(path).mode.startswith("I")
    rgb = _pixels(load_image(path))
    assert rgb.min() == 0 and rgb.max() == 255 and len(np.unique(rgb)) > 200
    assert Image.open(path).convert("RGB").getextrema() == ((255, 255),) * 3  # what PIL alone would give


@pytest.mark.parametrize("mode", ["I;16", "I"])
def test_integer_modes(mode):
    array = (np.arange(32 * 32).reshape(32, 32) * 50).astype(np.uint16 if mode == "I;16" else np.int32)
    image = Image.fromarray(array)
    assert image.mode == mode
    rgb = _pixels(to_rgb(image))
    assert rgb[0, 0].tolist() == [0, 0, 0] and rgb[-1, -1].tolist() == [255, 255, 255]


def test_float_tiff_is_stretched_not_black(tmp_path):
    field = np.linspace(-0.2, 0.9, 48 * 48, dtype=np.float32).reshape(48, 48)  # e.g. an NDVI band
    path = tmp_path / "f.tif"
    Image.fromarray(field).save(path)
    assert Image.open(path).mode == "F"
    rgb = _pixels(load_image(path))
    assert rgb.min() == 0 and rgb.max() == 255 and len(np.unique(rgb)) > 200


def test_palette_with_and_without_transparency():
    palette = Image.new("P", (4, 4), 1)
    palette.putpalette([0, 0, 0, 200, 10, 20] + [0] * 762)
    assert _pixels(to_rgb(palette))[0, 0].tolist() == [200, 10, 20]
    palette.info["transparency"] = 1
    assert _pixels(to_rgb(palette))[0, 0].tolist() == [0, 0, 0]  # transparent -> composited over black


@pytest.mark.parametrize(("image", "want"), [
    (Image.new("RGBA", (4, 4), (200, 100, 50, 255)), [200, 100, 50]),
    (Image.new("RGBA", (4, 4), (200, 100, 50, 0)), [0, 0, 0]),
    (Image.new("RGBA", (4, 4), (200, 100, 50, 128)), [100, 50, 25]),
    (Image.new("LA", (4, 4), (200, 255)), [200, 200, 200]),
    (Image.new("LA", (4, 4), (200, 0)), [0, 0, 0]),
    (Image.new("PA", (4, 4), (0, 0)), [0, 0, 0]),
    (Image.new("CMYK", (4, 4), (0, 255, 255, 0)), [255, 0, 0]),
    (Image.new("1", (4, 4), 1), [255, 255, 255]),
    (Image.new("L", (4, 4), 77), [77, 77, 77]),
    (Image.new("RGB", (4, 4), (1, 2, 3)), [1, 2, 3]),
    (Image.new("YCbCr", (4, 4), (128, 128, 128)), [128, 128, 128]),
])
def test_eight_bit_modes(image, want):
    got = _pixels(to_rgb(image))[0, 0].tolist()
    assert max(abs(g - w) for g, w in zip(got, want)) <= 1, (image.mode, got)


def test_premultiplied_alpha_modes():
    assert _pixels(to_rgb(Image.new("RGBA", (2, 2), (200, 100, 50, 128)).convert("RGBa")))[0, 0].tolist() == [
        100, 50, 25]
    assert _pixels(to_rgb(Image.new("LA", (2, 2), (200, 128)).convert("La")))[0, 0].tolist() == [100, 100, 100]


def test_unsupported_mode_is_refused_by_name():
    with pytest.raises(UnsupportedImageError, match="mode 'HSV'"):
        to_rgb(Image.new("HSV", (2, 2)), "x.png")


# ------------------------------------------------------------------------------ arrays
def test_arrays():
    assert _pixels(load_image(np.full((3, 4, 3), 9, np.uint8))).shape == (3, 4, 3)
    grey16 = np.array([[0, 1000], [2000, 65535]], dtype=np.uint16)
    got = _pixels(load_image(grey16))
    assert (got[..., 0] == percentile_stretch(grey16)).all() and got[0, 0, 0] == 0 and got[1, 1, 0] == 255
    assert _pixels(load_image(np.array([[True, False]])))[0, :, 0].tolist() == [255, 0]
    assert _pixels(load_image(np.zeros((2, 2, 4), np.uint8)))[0, 0].tolist() == [0, 0, 0]
    with pytest.raises(UnsupportedImageError, match=r"got \(2, 2, 5\)"):
        load_image(np.zeros((2, 2, 5), np.uint8))
    with pytest.raises(UnsupportedImageError, match="dtype"):
        load_image(np.zeros((2, 2), np.complex64))
    with pytest.raises(TypeError, match="got int"):
        load_image(3)


# ------------------------------------------------------------------------------ pixel limit
def test_pixel_limit_is_checked_before_decoding(tmp_path):
    path = tmp_path / "small.png"
    Image.new("RGB", (40, 30)).save(path)
    assert load_image(path, max_pixels=1200).size == (40, 30)
    with pytest.raises(ImageTooLargeError, match=r"small.png: 40x30 = 1200 pixels exceeds the limit of 1199"):
        load_image(path, max_pixels=1199)
    with pytest.raises(ImageTooLargeError):
        load_image(Image.new("L", (10, 10)), max_pixels=99)
    with pytest.raises(ImageTooLargeError):
        load_image(np.zeros((10, 10), np.uint8), max_pixels=99)


@pytest.mark.parametrize("side", [12_000, 20_000])  # above PIL's warning, above PIL's error threshold
def test_decompression_bomb_header_is_refused(tmp_path, side):
    path = tmp_path / "bomb.png"
    _png_claiming(path, side, side)
    assert side * side > DEFAULT_MAX_PIXELS
    with pytest.raises(ImageTooLargeError, match="bomb.png"):
        load_image(path)
    with pytest.raises(ImageTooLargeError):
        open_image(path)


# ------------------------------------------------------------------------------ files and paths
def test_missing_corrupt_and_truncated_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.png"):
        load_image(tmp_path / "nope.png")
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image at all")
    with pytest.raises(ImageLoadError, match="junk.png"):
        load_image(junk)
    good = tmp_path / "good.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(good)
    cut = tmp_path / "cut.png"
    cut.write_bytes(good.read_bytes()[:400])
    with pytest.raises(ImageLoadError, match="cut.png"):
        load_image(cut)


def test_paths_outside_the_root(tmp_path):
    root = tmp_path / "data"
    (root / "images").mkdir(parents=True)
    Image.new("RGB", (4, 4)).save(root / "images" / "a.png")
    Image.new("RGB", (4, 4)).save(tmp_path / "outside.png")
    assert load_image("images/a.png", root=root).size == (4, 4)
    assert load_image(str(root / "images" / "a.png"), root=root).size == (4, 4)  # absolute but inside
    for bad in ("../outside.png", str(tmp_path / "outside.png"), "images/../../outside.png"):
        with pytest.raises(OutsideRootError, match="leaves the data root"):
            load_image(bad, root=root)
        assert load_image(bad, root=root, allow_outside_root=True).size == (4, 4)
    assert load_image(tmp_path / "outside.png").size == (4, 4)  # no root: nothing to stay inside


# ------------------------------------------------------------------------------ properties
@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, max_side=12),
                  elements=st.floats(-1e12, 1e12) | st.sampled_from([np.nan, np.inf, -np.inf])))
def test_percentile_stretch_is_uint8_and_order_preserving(array):
    out = percentile_stretch(array)
    assert out.dtype == np.uint8 and out.shape == array.shape
    finite = np.isfinite(array)
    assert (out[~finite] == 0).all()
    values, codes = array[finite], out[finite].astype(int)
    order = np.argsort(values, kind="stable")
    assert (np.diff(codes[order]) >= 0).all()  # a brighter input never maps darker
