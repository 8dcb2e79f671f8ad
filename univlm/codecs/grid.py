"""Nearest-neighbour resampling between full-resolution label masks and the G x G text grid.

Design choices and their sources:

- Downsampling (mask -> grid) samples each cell's centre exactly like PIL ``Image.NEAREST``, as
  Text4Seg (Lan et al., 2024) builds its semantic descriptors; Pillow's incremental double-precision
  walk is reproduced on purpose so indices match bit for bit.
- Upsampling (grid -> mask) reproduces ``torch.nn.functional.interpolate(mode="nearest")`` with
  numpy index arithmetic (``src = floor(dst * (in / out))`` in float32), so no torch import is needed.
- Output size is bounded by ``max_pixels`` (see :mod:`univlm.codecs.limits`) before anything is
  allocated.
"""

from __future__ import annotations

import numpy as np

from univlm.codecs.limits import DEFAULT_MAX_PIXELS, check_pixels
from univlm.tasks import DEFAULT_GRID

__all__ = ["downsample_mask", "nearest_indices", "pil_nearest_indices", "upsample_grid"]


def pil_nearest_indices(in_size: int, out_size: int) -> np.ndarray:
    """Source indices PIL ``Image.resize(..., NEAREST)`` samples along one axis.

    Pillow's affine scaler walks ``x = scale / 2, x += scale`` in double precision and truncates,
    i.e. it samples each output cell's centre; the incremental sum is reproduced on purpose so
    rounding matches bit for bit.

    Args:
        in_size: Input length.
        out_size: Output length.

    Returns:
        ``(out_size,)`` int64 array of source indices.
    """
    scale = float(in_size) / float(out_size)
    pos = scale * 0.5
    out = np.empty(out_size, dtype=np.int64)
    for i in range(out_size):
        out[i] = min(int(pos), in_size - 1)
        pos += scale
    return out


def downsample_mask(mask: np.ndarray, grid: int = DEFAULT_GRID) -> np.ndarray:
    """Resize a label mask to ``grid`` x ``grid`` by cell-centre sampling (PIL ``NEAREST`` semantics).

    Args:
        mask: ``(H, W)`` integer (or bool) label mask.
        grid: G, the output side.

    Returns:
        ``(G, G)`` array with the input dtype.

    Raises:
        ValueError: If ``mask`` is not 2-D or empty, or ``grid`` < 1.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2 or mask.size == 0:
        raise ValueError(f"mask must be a non-empty 2-D (H, W) array, got shape {mask.shape}")
    if grid < 1:
        raise ValueError(f"grid must be >= 1, got {grid}")
    rows = pil_nearest_indices(mask.shape[0], grid)
    cols = pil_nearest_indices(mask.shape[1], grid)
    return mask[rows[:, None], cols[None, :]]  # (H, W) -> (G, G)


def nearest_indices(in_size: int, out_size: int) -> np.ndarray:
    """Source indices ``F.interpolate(mode="nearest")`` uses along one axis.

    PyTorch computes ``min(floor(dst * scale), in - 1)`` with ``scale = in / out`` in float32
    (and shortcuts equal sizes and exact 2x upsampling, which the formula also gives).

    Args:
        in_size: Input length.
        out_size: Output length.

    Returns:
        ``(out_size,)`` int64 array of source indices.
    """
    if in_size == out_size:
        return np.arange(out_size, dtype=np.int64)
    scale = np.float32(in_size) / np.float32(out_size)
    dst = np.arange(out_size, dtype=np.float32)
    src = np.floor(dst * scale).astype(np.int64)
    return np.minimum(src, in_size - 1)


def upsample_grid(
    indices: np.ndarray, height: int, width: int, max_pixels: int | None = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """Nearest-neighbour resize of a label grid to ``(height, width)``.

    Args:
        indices: ``(g_h, g_w)`` label grid.
        height: Output height.
        width: Output width.
        max_pixels: Refuse outputs with more pixels than this (None: no bound).

    Returns:
        ``(height, width)`` array with the grid's dtype.

    Raises:
        ValueError: If the grid is not 2-D or a size is < 1.
        LimitExceeded: If ``height * width > max_pixels``.
    """
    indices = np.asarray(indices)
    if indices.ndim != 2:
        raise ValueError(f"grid must be 2-D, got shape {indices.shape}")
    if height < 1 or width < 1:
        raise ValueError(f"output size must be positive, got {height}x{width} (HxW)")
    check_pixels(height, width, max_pixels)
    rows = nearest_indices(indices.shape[0], height)
    cols = nearest_indices(indices.shape[1], width)
    # Two 1-D takes are ~2x faster than one 2-D fancy index on large outputs.
    return indices.take(rows, axis=0).take(cols, axis=1)  # (G, G) -> (H, G) -> (H, W)
