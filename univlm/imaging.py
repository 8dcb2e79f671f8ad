"""Safe image loading for validation, training and inference: bounded size, honest pixel values, contained paths.

Every image univlm reads from a user's disk goes through :func:`load_image` (or :func:`open_image`
for label masks), so the three defences below hold everywhere (issue #15, §6-8).

Design choices:
- **Pixel limit.** An image whose width x height exceeds ``max_pixels`` (default
  :data:`DEFAULT_MAX_PIXELS` = 89,478,485 pixels, about 9459 x 9459: Pillow's decompression-bomb
  threshold, shared with the mask codecs through ``univlm.codecs.limits``) is refused *before* its pixels are
  decoded: ``PIL.Image.open`` reads only the header, so the size check costs nothing. PIL's own
  ``DecompressionBombError`` / ``DecompressionBombWarning`` (raised at its global
  ``MAX_IMAGE_PIXELS``) are caught as well and reported the same way. PIL's global limit is never
  changed (no global mutable state): the per-call ``max_pixels`` is the documented knob.
- **Conversion by the image's real range.** ``Image.convert("RGB")`` clips 16-bit grey to white and
  maps float to black. Instead, 16-bit and 32-bit integer (``I;16*``, ``I``) and float (``F``) images
  get a per-image percentile stretch: the 2nd and 98th percentiles of the finite, non-nodata values
  map to 0 and 255 (:func:`percentile_stretch`; the same function serves multi-band GIS rasters).
  Palette (``P``, also with a transparency entry), ``PA``, ``RGBA``, ``LA`` and ``La`` images are
  composited over black (the usual no-data value of remote-sensing mosaics); ``CMYK``, ``YCbCr``,
  ``L`` and ``1`` use PIL's exact conversions. Any other mode is refused with a message naming the
  file and the mode, never silently converted.
- **Paths stay under the data root.** With ``root`` given, a path is joined to it and normalised
  lexically (symlinks are not resolved, so a linked data folder still works); a result outside
  ``root`` (``/abs/elsewhere.png``, ``../../x.png``) raises :class:`OutsideRootError` unless
  ``allow_outside_root=True``.

Errors: :class:`ImageLoadError` (a ``ValueError``) and its subclasses name the file and what was
expected; a missing file is a ``FileNotFoundError``; an unsupported argument type a ``TypeError``.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from univlm.codecs.limits import DEFAULT_MAX_PIXELS

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_STRETCH",
    "ImageLoadError",
    "ImageTooLargeError",
    "OutsideRootError",
    "UnsupportedImageError",
    "check_pixels",
    "is_outside_root",
    "load_image",
    "open_image",
    "percentile_stretch",
    "resolve_image_path",
    "to_rgb",
]

# Percentiles (low, high) of the per-image stretch for 16-bit, 32-bit and float images.
DEFAULT_STRETCH: tuple[float, float] = (2.0, 98.0)

_INTEGER_MODES = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N"})
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_DIRECT_MODES = frozenset({"RGB", "L", "1", "CMYK", "YCbCr"})
SUPPORTED_MODES: tuple[str, ...] = tuple(sorted(_INTEGER_MODES | _ALPHA_MODES | _DIRECT_MODES | {"F", "P"}))


class ImageLoadError(ValueError):
    """An image that cannot be used; the message names the file (or ``<array>``) and the reason."""


class ImageTooLargeError(ImageLoadError):
    """An image over the pixel limit (a possible decompression bomb)."""


class OutsideRootError(ImageLoadError):
    """A path that leaves the data root while ``allow_outside_root`` is False."""


class UnsupportedImageError(ImageLoadError):
    """An image mode or array type that cannot be converted to RGB without corrupting it."""


def percentile_stretch(
    array: Any, low: float = DEFAULT_STRETCH[0], high: float = DEFAULT_STRETCH[1], nodata: float | None = None
) -> np.ndarray:
    """Map an image's ``low``..``high`` percentile range linearly onto 0..255 (uint8).

    Percentiles are taken over the finite values that differ from ``nodata``; those values map to
    ``round(255 * clip((x - p_low) / (p_high - p_low), 0, 1))``. Non-finite and nodata pixels become 0.
    A constant image (``p_high == p_low``) becomes 0 everywhere. A ``(H, W, C)`` array is stretched
    band by band, so one bright band does not darken the others.

    Args:
        array: ``(H, W)`` or ``(H, W, C)`` numbers (any integer or float dtype).
        low: Lower percentile, 0 <= low < high.
        high: Upper percentile, low < high <= 100.
        nodata: A value to ignore (e.g. a GeoTIFF's nodata), or None.

    Returns:
        A uint8 array of the same shape.

    Raises:
        ValueError: If the percentiles are out of order or the array is not 2-D or 3-D.
    """
    if not 0.0 <= low < high <= 100.0:
        raise ValueError(f"percentiles must satisfy 0 <= low < high <= 100, got low={low}, high={high}")
    data = np.asarray(array)
    if data.ndim == 3:
        bands = [percentile_stretch(data[..., c], low, high, nodata) for c in range(data.shape[2])]
        return np.stack(bands, axis=-1)  # (H, W, C)
    if data.ndim != 2:
        raise ValueError(f"expected an (H, W) or (H, W, C) array, got shape {data.shape}")
    with np.errstate(invalid="ignore", over="ignore"):  # non-finite input is masked out just below
        values = data.astype(np.float64)  # (H, W); float64 holds every uint16/int32 value exactly
    valid = np.isfinite(values)
    if nodata is not None:
        valid &= values != nodata
    out = np.zeros(values.shape, dtype=np.uint8)
    if not valid.any():
        return out
    p_low, p_high = np.percentile(values[valid], [low, high])
    if p_high <= p_low:
        return out
    scaled = np.clip((values[valid] - p_low) / (p_high - p_low), 0.0, 1.0)
    out[valid] = np.rint(scaled * 255.0).astype(np.uint8)
    return out


def is_outside_root(path: str | os.PathLike[str], root: str | os.PathLike[str]) -> bool:
    """Whether ``path`` (relative to ``root`` unless absolute) leaves ``root`` after lexical normalisation."""
    base = os.path.normpath(os.path.abspath(root))
    full = os.path.normpath(os.path.join(base, os.fspath(path)))
    return os.path.commonpath([base, full]) != base


def resolve_image_path(
    path: str | os.PathLike[str], root: str | os.PathLike[str] | None = None, allow_outside_root: bool = False
) -> Path:
    """The file a record's image path names: ``root / path``, checked to stay under ``root``.

    Args:
        path: A path from a record (relative to ``root``) or an absolute path.
        root: The data root; when None the path is used as given and not checked.
        allow_outside_root: Permit absolute paths and ``..`` that leave ``root``.

    Returns:
        The path to open.

    Raises:
        OutsideRootError: If the path leaves ``root`` and that is not allowed.
    """
    if root is None:
        return Path(path)
    if not allow_outside_root and is_outside_root(path, root):
        raise OutsideRootError(
            f"{os.fspath(path)}: path leaves the data root {os.fspath(root)} "
            "(pass --allow-outside-root / allow_outside_root=True to permit it)"
        )
    return Path(root) / path


def check_pixels(width: int, height: int, max_pixels: int, name: str) -> None:
    """Raise :class:`ImageTooLargeError` when ``width * height`` exceeds ``max_pixels``."""
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"{name}: {width}x{height} = {width * height} pixels exceeds the limit of {max_pixels} "
            "(max_pixels; a possible decompression bomb)"
        )


def open_image(path: str | os.PathLike[str], max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Open an image lazily after checking its size from the header; the caller closes it.

    Args:
        path: The image file.
        max_pixels: Largest accepted width x height.

    Returns:
        The opened (not yet decoded) ``PIL.Image``.

    Raises:
        FileNotFoundError: If the file does not exist.
        ImageTooLargeError: If the image is over ``max_pixels`` (also when PIL flags a decompression bomb).
        ImageLoadError: If the file is not a readable image.
    """
    name = os.fspath(path)
    if not os.path.exists(name):
        raise FileNotFoundError(f"image file not found: {name}")
    try:
        with warnings.catch_warnings():
            # Pillow warns above its own threshold; within a caller's larger max_pixels that is no error.
            bomb_is_error = Image.MAX_IMAGE_PIXELS is None or max_pixels <= Image.MAX_IMAGE_PIXELS
            warnings.simplefilter("error" if bomb_is_error else "ignore", Image.DecompressionBombWarning)
            image = Image.open(name)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLargeError(f"{name}: refused as a decompression bomb: {exc}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageLoadError(f"{name}: cannot open as an image: {exc}") from None
    try:
        check_pixels(image.width, image.height, max_pixels, name)
    except ImageTooLargeError:
        image.close()
        raise
    return image


def _flatten_alpha(image: Image.Image) -> Image.Image:
    if image.mode in ("La", "RGBa"):
        # Premultiplied alpha over black is the stored colour itself.
        bands = image.split()
        return Image.merge("RGB", bands[:3]) if image.mode == "RGBa" else bands[0].convert("RGB")
    rgba = image.convert("RGBA")
    black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
    return Image.alpha_composite(black, rgba).convert("RGB")


def to_rgb(image: Image.Image, name: str = "<image>") -> Image.Image:
    """Convert a decoded-or-lazy PIL image to RGB by its mode (see the module docstring).

    Args:
        image: The image.
        name: What to call it in errors (a path).

    Returns:
        An RGB image (a new object; ``image`` is not modified).

    Raises:
        UnsupportedImageError: For a mode without a faithful conversion.
    """
    mode = image.mode
    if mode == "RGB":
        return image.copy()
    if mode in _ALPHA_MODES or (mode == "P" and "transparency" in image.info):
        return _flatten_alpha(image)
    if mode in _DIRECT_MODES or mode == "P":
        return image.convert("RGB")
    if mode in _INTEGER_MODES or mode == "F":
        grey = percentile_stretch(np.asarray(image))  # (H, W) uint8
        return Image.fromarray(grey, mode="L").convert("RGB")
    raise UnsupportedImageError(
        f"{name}: image mode {mode!r} has no faithful RGB conversion; expected one of {list(SUPPORTED_MODES)} "
        "(convert the file to 8-bit RGB first)"
    )


def _array_to_rgb(array: np.ndarray) -> Image.Image:
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3, 4)):
        raise UnsupportedImageError(f"<array>: expected (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got {array.shape}")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]  # (H, W)
    if array.dtype == np.bool_:
        array = array.astype(np.uint8) * 255
    if array.dtype == np.uint8:
        image = Image.fromarray(array)
        return _flatten_alpha(image) if image.mode in _ALPHA_MODES else image.convert("RGB")
    if np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating):
        bands = array[..., :3] if array.ndim == 3 else array  # an alpha band is not stretched as colour
        stretched = percentile_stretch(bands)
        return Image.fromarray(stretched).convert("RGB")
    raise UnsupportedImageError(f"<array>: expected an integer, float or bool array, got dtype {array.dtype}")


def load_image(
    image: Any,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    root: str | os.PathLike[str] | None = None,
    allow_outside_root: bool = False,
) -> Image.Image:
    """Load a PIL image, a path or an array as an RGB ``PIL.Image``, safely.

    Args:
        image: A ``PIL.Image``, a path (relative to ``root`` when given) or an ``(H, W[, C])`` array
            (uint8 as is; other integer and float dtypes are percentile-stretched).
        max_pixels: Largest accepted width x height (default :data:`DEFAULT_MAX_PIXELS`).
        root: Data root that relative paths are under; paths are not checked when None.
        allow_outside_root: Permit paths that leave ``root``.

    Returns:
        An RGB image.

    Raises:
        FileNotFoundError: If a path does not exist.
        ImageLoadError: (or a subclass) For an unreadable, over-large, unsupported or outside-root image.
        TypeError: For any other input type.
    """
    if isinstance(image, Image.Image):
        check_pixels(image.width, image.height, max_pixels, "<image>")
        return to_rgb(image)
    if isinstance(image, (str, os.PathLike)):
        path = resolve_image_path(image, root, allow_outside_root)
        with open_image(path, max_pixels) as opened:
            try:
                return to_rgb(opened, os.fspath(path))
            except (OSError, SyntaxError, ValueError) as exc:  # truncated or corrupt pixel data
                if isinstance(exc, ImageLoadError):
                    raise
                raise ImageLoadError(f"{os.fspath(path)}: cannot decode the image: {exc}") from None
    if hasattr(image, "__array_interface__"):
        array = np.asarray(image)
        if array.ndim >= 2:
            check_pixels(array.shape[1], array.shape[0], max_pixels, "<array>")
        return _array_to_rgb(array)
    raise TypeError(f"expected a PIL image, a path or an array, got {type(image).__name__}")
