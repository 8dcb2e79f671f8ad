"""Seeded fuzz over the image loader (issue #15 §6-7): corrupt files fail with a documented error, never another.

Valid small images in several formats and modes (PNG 8/16-bit, palette with transparency, RGBA, LA,
TIFF float and CMYK, GIF, BMP, JPEG) are mutated: bytes flipped, inserted or cut, and the size fields
of the header rewritten (up to decompression-bomb sizes). :func:`univlm.imaging.load_image` must
return an RGB image within the pixel limit or raise :class:`ImageLoadError` (a subclass included) -
never PIL's own exceptions, a ``DecompressionBombError``, or an unbounded allocation.
"""

from __future__ import annotations

import io
import random
import struct
import tracemalloc

import numpy as np
import pytest
from PIL import Image

from univlm.imaging import ImageLoadError, load_image

SEED = 77
CASES = 300
MAX_PIXELS = 1 << 20
PEAK_BYTES = 256 * 1024 * 1024
# PIL warns about every corrupt TIFF tag it skips; the outcome is what is asserted.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _samples() -> list[tuple[str, bytes]]:
    rng = np.random.default_rng(SEED)
    rgb = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    out = []

    def save(name, image, fmt, **kwargs):
        buf = io.BytesIO()
        image.save(buf, format=fmt, **kwargs)
        out.append((name, buf.getvalue()))

    save("rgb.png", Image.fromarray(rgb), "PNG")
    save("g16.png", Image.fromarray((rng.integers(0, 65535, (24, 32))).astype(np.uint16)), "PNG")
    palette = Image.fromarray(rgb).convert("P")
    palette.info["transparency"] = 0
    save("p.png", palette, "PNG", transparency=0)
    save("rgba.png", Image.fromarray(np.dstack([rgb, rgb[..., :1]])), "PNG")
    save("la.png", Image.fromarray(np.dstack([rgb[..., 0], rgb[..., 1]])), "PNG")
    save("f.tif", Image.fromarray(rng.standard_normal((24, 32)).astype(np.float32)), "TIFF")
    save("cmyk.tif", Image.fromarray(rgb).convert("CMYK"), "TIFF")
    save("p.gif", palette, "GIF")
    save("rgb.bmp", Image.fromarray(rgb), "BMP")
    save("rgb.jpg", Image.fromarray(rgb), "JPEG")
    return out


def _mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(5)
        pos = rng.randrange(len(buf))
        if op == 0:
            buf[pos] = rng.randrange(256)
        elif op == 1:
            buf[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        elif op == 2:
            del buf[rng.randrange(8, len(buf)) :]
        elif op == 3:
            del buf[pos : pos + rng.randint(1, 32)]
        else:
            # Rewrite a 16- or 32-bit field near the start: width/height of most headers live there.
            at = rng.randrange(min(len(buf) - 4, 40))
            size = rng.choice((0, 1, 4097, 20_000, 65535, 1 << 20, 1 << 31))
            if rng.randrange(2):
                buf[at : at + 4] = struct.pack(">I" if rng.randrange(2) else "<I", size & 0xFFFFFFFF)
            else:
                buf[at : at + 2] = struct.pack(">H" if rng.randrange(2) else "<H", size & 0xFFFF)
    return bytes(buf)


@pytest.fixture(scope="module")
def samples():
    return _samples()


def test_samples_load(samples, tmp_path):
    for name, data in samples:
        path = tmp_path / name
        path.write_bytes(data)
        image = load_image(path)
        assert image.mode == "RGB" and image.size == (32, 24), name


def test_mutated_images_raise_only_documented_errors(samples, tmp_path):
    rng = random.Random(SEED)
    outcomes = {"loaded": 0, "refused": 0}
    tracemalloc.start()
    try:
        for case in range(CASES):
            name, data = rng.choice(samples)
            path = tmp_path / f"{case}_{name}"
            path.write_bytes(_mutate(rng, data))
            try:
                image = load_image(path, max_pixels=MAX_PIXELS)
            except ImageLoadError as exc:
                assert str(path) in str(exc)
                outcomes["refused"] += 1
            else:
                assert image.mode == "RGB" and image.width * image.height <= MAX_PIXELS
                outcomes["loaded"] += 1
            path.unlink()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < PEAK_BYTES
    assert outcomes["loaded"] and outcomes["refused"], outcomes
