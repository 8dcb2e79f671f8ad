"""COCO run-length encoding of binary masks, read and written in numpy without pycocotools.

Design choices and their sources:

- COCO RLE (cocodataset/cocoapi ``maskApi.c``) stores a binary ``(H, W)`` mask as run lengths over
  the *column-major* (Fortran-order) flattening, alternating 0-runs and 1-runs and always starting
  with a 0-run (of length 0 when the first pixel is set). Uncompressed RLE keeps ``counts`` as a
  list of ints (what ``frPyObjects`` accepts); compressed RLE is the ASCII string of ``rleToString``.
- The string form, from the published algorithm: each count (from the fourth on, as the difference
  to the count two places back) is written as signed 5-bit groups, least significant first; a
  group is ``c = x & 0x1f`` and gets the continuation bit ``0x20`` while more groups follow (for a
  negative value, while ``x != -1`` or the sign bit ``0x10`` of the last group is clear); each
  group is written as ``chr(c + 48)``. The decoder inverts it, sign-extending the last group.
- Nothing here imports pycocotools: uncompressed and compressed RLE are both read and written in
  numpy and pure Python, and a test compares the results with pycocotools when it is installed.
- Sizes and counts are untrusted: they are type- and range-checked and bounded by ``max_pixels``
  before any allocation, and every error is a ``ValueError`` naming the field.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from univlm.codecs.limits import DEFAULT_MAX_PIXELS, check_pixels

__all__ = [
    "coco_rle_to_mask",
    "label_map_to_coco_rles",
    "mask_to_coco_rle",
    "rle_from_string",
    "rle_to_string",
    "uncompressed_rle",
]

_ZERO = ord("0")  # each 5-bit group is written as chr(group + 48)


def _run_lengths(binary: np.ndarray) -> list[int]:
    """COCO run lengths of a binary ``(H, W)`` mask: column-major, alternating, first run of zeros."""
    flat = np.asarray(binary, dtype=bool).ravel(order="F")  # (H*W,) column-major, as COCO
    if flat.size == 0:
        return []
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], change, [flat.size]))
    counts = np.diff(bounds).tolist()
    return [0, *counts] if flat[0] else counts


def rle_to_string(counts: list[int]) -> str:
    """Compress run lengths to COCO's ASCII string (``rleToString``).

    Args:
        counts: Run lengths, alternating 0-runs and 1-runs, starting with a 0-run.

    Returns:
        The compressed ``counts`` string.
    """
    out: list[str] = []
    for i, count in enumerate(counts):
        x = int(count) - (int(counts[i - 2]) if i > 2 else 0)
        more = True
        while more:
            c = x & 0x1F
            x >>= 5  # arithmetic shift: a negative x ends at -1
            more = x != -1 if c & 0x10 else x != 0
            out.append(chr((c | 0x20 if more else c) + _ZERO))
    return "".join(out)


def rle_from_string(text: str | bytes) -> list[int]:
    """Expand COCO's compressed ``counts`` string (``rleFrString``) to run lengths.

    Args:
        text: The compressed counts (``str`` or ASCII ``bytes``).

    Returns:
        The run lengths.

    Raises:
        ValueError: If the string holds a character outside COCO's alphabet (``chr(48)``..``chr(111)``),
            ends inside a count, or decodes to a negative run length.
    """
    codes = [ord(ch) for ch in text] if isinstance(text, str) else list(bytes(text))
    counts: list[int] = []
    x = shift = 0
    for pos, code in enumerate(codes):
        c = code - _ZERO
        if not 0 <= c < 64:
            raise ValueError(
                f"RLE counts: character {chr(code)!r} at offset {pos} is outside COCO's alphabet"
            )
        x |= (c & 0x1F) << shift
        shift += 5
        if c & 0x20:
            continue
        if c & 0x10:
            x |= -1 << shift  # sign-extend the last group
        if len(counts) > 2:
            x += counts[-2]
        if x < 0:
            raise ValueError(f"RLE counts: run {len(counts)} decodes to a negative length {x}")
        counts.append(x)
        x = shift = 0
    if shift:
        raise ValueError("RLE counts: the string ends in the middle of a count")
    return counts


def mask_to_coco_rle(binary: np.ndarray, compressed: bool = True) -> dict[str, Any]:
    """Encode a binary ``(H, W)`` mask as COCO RLE (JSON-ready).

    Args:
        binary: ``(H, W)`` bool or 0/1 array.
        compressed: True for the compressed ``str`` counts of pycocotools' ``encode``; False for
            uncompressed list counts.

    Returns:
        ``{"size": [H, W], "counts": str | list[int]}``.

    Raises:
        ValueError: If the mask is not 2-D.
    """
    arr = np.asarray(binary)
    if arr.ndim != 2:
        raise ValueError(f"binary mask must be 2-D (H, W), got shape {arr.shape}")
    counts = _run_lengths(arr)
    size = [int(arr.shape[0]), int(arr.shape[1])]
    return {"size": size, "counts": rle_to_string(counts) if compressed else counts}


def uncompressed_rle(binary: np.ndarray) -> dict[str, Any]:
    """COCO uncompressed RLE (list counts) of a binary ``(H, W)`` mask; see :func:`mask_to_coco_rle`."""
    return mask_to_coco_rle(binary, compressed=False)


def label_map_to_coco_rles(label_map: np.ndarray, compressed: bool = True) -> dict[int, dict[str, Any]]:
    """COCO RLE of every non-zero label of a ``(H, W)`` label map, in one pass over the pixels.

    Runs of equal labels are found once over the column-major flattening and grouped by label, so
    the cost is O(pixels + runs log runs) however many labels there are (``label_map == k`` per
    label would be O(pixels x labels)).

    Args:
        label_map: ``(H, W)`` integer label indices; 0 is background and gets no RLE.
        compressed: As in :func:`mask_to_coco_rle`.

    Returns:
        Label index -> ``{"size": [H, W], "counts": ...}``, for each label present, ascending.

    Raises:
        ValueError: If the map is not 2-D.
    """
    arr = np.asarray(label_map)
    if arr.ndim != 2:
        raise ValueError(f"label map must be 2-D (H, W), got shape {arr.shape}")
    size = [int(arr.shape[0]), int(arr.shape[1])]
    flat = arr.ravel(order="F")  # (H*W,) column-major, as COCO
    if flat.size == 0:
        return {}
    starts = np.concatenate(([0], np.flatnonzero(flat[1:] != flat[:-1]) + 1))  # (R,) run starts
    ends = np.append(starts[1:], flat.size)  # (R,)
    values = flat[starts]  # (R,) label of each run
    order = np.argsort(values, kind="stable")  # runs grouped by label, in pixel order within a label
    cuts = np.flatnonzero(np.diff(values[order])) + 1
    out: dict[int, dict[str, Any]] = {}
    for group in np.split(order, cuts):
        label = int(values[group[0]])
        if label == 0:
            continue
        # Alternate gap (0-run) and run (1-run) lengths: gap_i = start_i - end_{i-1}.
        prev_end = np.concatenate(([0], ends[group][:-1]))
        pairs = np.stack([starts[group] - prev_end, ends[group] - starts[group]], axis=1)  # (n, 2)
        counts = pairs.ravel().tolist()
        tail = flat.size - int(ends[group][-1])
        if tail:
            counts.append(tail)
        out[label] = {"size": size, "counts": rle_to_string(counts) if compressed else counts}
    return dict(sorted(out.items()))


def _dimension(value: Any, name: str) -> int:
    # bool is an int subclass but never a size; numpy integers are fine.
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"COCO RLE 'size' {name} must be a non-negative integer, got {value!r:.40}")
    return int(value)


def _list_counts(counts: list[Any]) -> list[int]:
    out = []
    for i, c in enumerate(counts):
        if isinstance(c, bool) or not isinstance(c, numbers.Integral) or c < 0:
            raise ValueError(f"COCO RLE 'counts'[{i}] must be a non-negative integer, got {c!r:.40}")
        out.append(int(c))
    return out


def coco_rle_to_mask(rle: dict[str, Any], max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode COCO RLE (compressed ``str``/``bytes`` counts or uncompressed list counts) to bool.

    Args:
        rle: ``{"size": [H, W], "counts": ...}``.
        max_pixels: Refuse masks with more than this many pixels (None: no bound).

    Returns:
        ``(H, W)`` bool array.

    Raises:
        ValueError: If ``size`` or ``counts`` is missing or malformed, or the counts do not sum
            to ``H * W``.
        LimitExceeded: If ``H * W > max_pixels`` (a ``ValueError`` too).
    """
    if not isinstance(rle, dict) or "size" not in rle or "counts" not in rle:
        raise ValueError(f"COCO RLE must be a dict with 'size' and 'counts', got {rle!r:.80}")
    size = rle["size"]
    if not (isinstance(size, (list, tuple)) and len(size) == 2):
        raise ValueError(f"COCO RLE 'size' must be [H, W], got {size!r:.80}")
    height, width = _dimension(size[0], "H"), _dimension(size[1], "W")
    check_pixels(height, width, max_pixels, what="COCO RLE mask")
    raw = rle["counts"]
    if isinstance(raw, list):
        counts = _list_counts(raw)
    elif isinstance(raw, (str, bytes)):
        counts = rle_from_string(raw)
    else:
        raise ValueError(f"COCO RLE 'counts' must be str, bytes or list, got {type(raw).__name__}")
    total = sum(counts)
    if total != height * width:
        raise ValueError(
            f"COCO RLE counts sum to {total}, expected H*W = {height}*{width} = {height * width}"
        )
    values = np.arange(len(counts), dtype=np.int64) % 2 == 1  # runs alternate 0, 1, 0, ...
    flat = np.repeat(values, counts)  # (H*W,) column-major
    return flat.reshape((width, height)).T.copy()  # (W, H) -> (H, W)
