"""Resource bounds of the mask codecs, in one place so docs/CODECS.md and the CLI quote one number.

Design choices:

- Model answers and dataset files are untrusted text: without bounds, ``"<seg>a*300" * 100000`` asks
  for about 52 GiB and ``--size 100000x100000`` for 80 GB. Every allocation the codecs make is
  therefore bounded by one of the limits below; each can be overridden by a keyword argument
  (library) or a ``--max-*`` flag (CLI), and ``None`` disables a pixel limit where the caller
  knows better (e.g. a georeferenced raster it has already validated).
- ``DEFAULT_MAX_PIXELS`` equals Pillow's decompression-bomb threshold (``Image.MAX_IMAGE_PIXELS``),
  so every image Pillow opens without a warning can be given a mask of its size.
- Exceeding a bound raises :class:`LimitExceeded` (a ``ValueError``) naming the bound and the
  keyword that raises it; the lenient decoder instead drops extra blocks and records a repair.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_MAX_CHARS",
    "DEFAULT_MAX_FILES",
    "DEFAULT_MAX_MASKS",
    "DEFAULT_MAX_PIXELS",
    "MAX_GRID",
    "MAX_LABEL_CHARS",
    "MAX_REPAIRS",
    "LimitExceeded",
    "check_pixels",
]

# Grid side G: inferred grids above this are clamped (a repair), requested grids above it refused.
MAX_GRID = 256
# Characters of one answer read by the decoder; a 24x24 answer is 1-15 k, so 1 M is far beyond any
# real one and still decodes in a few seconds at worst.
DEFAULT_MAX_CHARS = 1_000_000
# Masks (``<seg>`` blocks or bare groups of rows) decoded from one answer; later ones are dropped.
DEFAULT_MAX_MASKS = 64
# Pixels of one full-resolution mask (height x width), the same as Pillow's bomb threshold.
DEFAULT_MAX_PIXELS = 89_478_485
# Files ``univlm decode-mask`` may write in one call (masks, sidecars and overlays together).
DEFAULT_MAX_FILES = 256
# Characters of one label; longer text is junk, not a label.
MAX_LABEL_CHARS = 256
# Repairs kept per mask; the rest are counted in one final ``repairs_truncated`` repair.
MAX_REPAIRS = 256


class LimitExceeded(ValueError):
    """A request exceeds one of the codec bounds; the message names the bound and how to raise it."""


def check_pixels(height: int, width: int, max_pixels: int | None, what: str = "mask") -> None:
    """Refuse a ``height x width`` allocation above ``max_pixels``.

    Args:
        height: Rows.
        width: Columns.
        max_pixels: The bound, or None for no bound.
        what: What is being allocated, for the message.

    Raises:
        LimitExceeded: If ``height * width > max_pixels``.
    """
    if max_pixels is not None and height * width > max_pixels:
        raise LimitExceeded(
            f"{what} of {width}x{height} (WxH) = {height * width} pixels exceeds the limit of "
            f"{max_pixels} (max_pixels / --max-pixels)"
        )
