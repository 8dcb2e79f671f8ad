"""Draw a :class:`~univlm.inference.result.Result` on its image: boxes, masks and a legend.

Design choices:
- One colour per label, taken from a fixed qualitative palette in label order, so the same class
  gets the same colour in every image of a run; ``others`` (background) is never painted.
- Masks are alpha-blended over the image; boxes are outlined in their own colour (pixel boxes of the
  original image, i.e. ``Result.boxes_px``). The legend is a strip appended below the image, so it
  never hides content.
- Only Pillow and numpy are used; the output file is written atomically (temp file + ``os.replace``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from univlm.fileio import atomic_open

# Tableau-like qualitative palette (RGB); label k (k >= 1) gets PALETTE[(k - 1) % len(PALETTE)].
PALETTE: tuple[tuple[int, int, int], ...] = (
    (230, 25, 75),
    (60, 180, 75),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
    (210, 245, 60),
    (250, 190, 212),
    (0, 128, 128),
    (170, 110, 40),
    (128, 0, 0),
)
BOX_COLOUR = (255, 215, 0)


def colour_for(index: int) -> tuple[int, int, int]:
    """Colour of label index ``index`` (1-based; 0 is background and has none)."""
    return PALETTE[(index - 1) % len(PALETTE)]


def render_overlay(
    image: Any,
    *,
    mask_arrays: Sequence[np.ndarray] = (),
    mask_labels: Sequence[Sequence[str]] = (),
    boxes_px: Sequence[Sequence[float]] = (),
    box_labels: Sequence[str] | None = None,
    alpha: float = 0.45,
) -> Any:
    """Blend masks and outline boxes on an image, with a legend strip below it.

    Args:
        image: The original image (PIL, path or uint8 array).
        mask_arrays: ``(H, W)`` label-index arrays at the image's size (index 0 = background).
        mask_labels: Label names of each mask (index -> name).
        boxes_px: Pixel boxes ``(x1, y1, x2, y2)``.
        box_labels: A legend entry per box; ``"box k"`` when None.
        alpha: Mask opacity.

    Returns:
        An RGB ``PIL.Image`` (taller than the input when there is a legend).

    Raises:
        ValueError: If a mask's shape differs from the image's or labels and masks disagree in number.
    """
    from PIL import Image, ImageDraw, ImageFont

    from univlm.imaging import load_image

    base = load_image(image)
    width, height = base.size
    if len(mask_labels) != len(mask_arrays):
        raise ValueError(f"got {len(mask_arrays)} masks but {len(mask_labels)} label lists")
    pixels = np.asarray(base, dtype=np.float32)  # (H, W, 3)
    legend: list[tuple[str, tuple[int, int, int]]] = []
    names_seen: dict[str, tuple[int, int, int]] = {}
    for array, labels in zip(mask_arrays, mask_labels):
        if tuple(array.shape) != (height, width):
            raise ValueError(
                f"mask has shape {tuple(array.shape)}, expected (height, width) = {(height, width)}"
            )
        for index, name in enumerate(labels):
            if index == 0:
                continue
            colour = names_seen.setdefault(name, colour_for(len(names_seen) + 1))
            where = array == index  # (H, W)
            if where.any():
                pixels[where] = (1 - alpha) * pixels[where] + alpha * np.asarray(colour, dtype=np.float32)
            if (name, colour) not in legend:
                legend.append((name, colour))
    canvas = Image.fromarray(pixels.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    line = max(1, round(min(width, height) / 150))
    for k, box in enumerate(boxes_px):
        x1, y1, x2, y2 = (float(v) for v in box)
        draw.rectangle([min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)], outline=BOX_COLOUR, width=line)
        name = box_labels[k] if box_labels is not None and k < len(box_labels) else f"box {k + 1}"
        legend.append((name, BOX_COLOUR))
    if not legend:
        return canvas
    font = ImageFont.load_default()
    row = 14
    strip = Image.new("RGB", (width, row * len(legend) + 6), (255, 255, 255))
    pen = ImageDraw.Draw(strip)
    for k, (name, colour) in enumerate(legend):
        top = 3 + k * row
        pen.rectangle([4, top + 1, 14, top + 11], fill=colour, outline=(0, 0, 0))
        pen.text((20, top), name, fill=(0, 0, 0), font=font)
    out = Image.new("RGB", (width, height + strip.height), (255, 255, 255))
    out.paste(canvas, (0, 0))
    out.paste(strip, (0, height))
    return out


def result_overlay(image: Any, result: Any, alpha: float = 0.45) -> Any:
    """:func:`render_overlay` for a :class:`~univlm.inference.result.Result` (its masks and pixel boxes).

    Masks of a ``[SEG]``-token mask head (``Result.head_masks``) are drawn after the text masks, one
    colour and legend entry per instance (``"instance k (class)"``).
    """
    head_masks = list(getattr(result, "head_masks", None) or [])
    classes = list(getattr(result, "head_mask_classes", None) or [])
    head_labels = [
        ["others", f"instance {k + 1}" + (f" ({classes[k]})" if k < len(classes) else "")]
        for k in range(len(head_masks))
    ]
    return render_overlay(
        image,
        mask_arrays=[*result.mask_arrays, *(np.asarray(m).astype(np.uint8) for m in head_masks)],
        mask_labels=[*(m.labels for m in result.masks), *head_labels],
        boxes_px=result.boxes_px,
        box_labels=[f"{result.prompt.split(']', 1)[-1].strip() or 'box'}"] * len(result.boxes_px)
        if result.task == "VG"
        else None,
        alpha=alpha,
    )


def save_image_atomic(image: Any, path: str | os.PathLike) -> Path:
    """Write a PIL image atomically; the format follows the suffix (PNG when unknown).

    Returns:
        The written path.
    """
    path = Path(path)
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}.get(path.suffix.lower(), "PNG")
    with atomic_open(path, "wb") as fh:
        image.save(fh, format=fmt)
    return path
