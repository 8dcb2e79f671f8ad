"""Image side of the UniVLM processor: loading, LLaVA's pad-to-square, AnyRes token counts, pixel values.

Split out of ``processing_univlm.py`` as transformers splits ``image_processing_*`` from
``processing_*``. Design choices and their sources:

- Image mode ``"pad"`` (default; always used for samples with several images) is LLaVA's
  ``expand2square``: pad the image to a centred square with the image processor's mean colour
  (``int(m * 255)`` per channel, as LLaVA and transformers' ``LlavaOnevisionImageProcessor`` do),
  resize to the vision tower's ``image_size`` and normalise. ``pixel_values`` is
  ``(num_images, 1, 3, S, S)`` and ``image_sizes`` holds each original ``(H, W)``.
- One padded image is ``(S // patch)^2 + 1`` placeholder tokens (730 for SigLIP-so400m-384):
  transformers' ``LlavaOnevisionModel.pack_image_features`` appends one ``image_newline`` vector to a
  single crop's SigLIP features (SigLIP has no CLS token).
- Mode ``"anyres_max_N"`` reuses ``LlavaOnevisionImageProcessor`` unchanged and counts tokens with the
  formula of transformers' ``LlavaOnevisionProcessor`` (base crop + unpadded grid + one newline per
  row, downscaled when above N crops); multi-image samples are still padded (``+1`` newline only), as
  transformers' ``need_patching`` is ``n == 1``.
- Images are loaded with :func:`univlm.imaging.load_image` (re-exported here as ``load_image``): the
  one safe loader of univlm, with its pixel limit (decompression bombs) and its conversion of 16-bit,
  32-bit and float images by their real range instead of PIL's clipping ``convert("RGB")``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from univlm.imaging import load_image
from univlm.tasks import IMAGE_TOKEN

ANYRES_RE = re.compile(r"^anyres_max_(\d+)$")


def expand2square(image: Any, background_color: tuple[int, ...]) -> Any:
    """Pad a PIL image to a centred square (LLaVA's ``expand2square``).

    Args:
        image: An RGB ``PIL.Image``.
        background_color: Fill colour, one int 0..255 per channel.

    Returns:
        The image itself when already square, else a new square image.
    """
    from PIL import Image

    width, height = image.size
    if width == height:
        return image
    side = max(width, height)
    result = Image.new(image.mode, (side, side), background_color)
    result.paste(image, ((side - width) // 2, (side - height) // 2))
    return result


def build_image_processor(image_size: int, image_mode: str = "pad") -> Any:
    """A SigLIP-normalising image processor (mean = std = 0.5, bicubic) for one image mode.

    Args:
        image_size: Crop side S (384 for SigLIP-so400m; 64 for the tiny preset).
        image_mode: ``"pad"`` gives a ``SiglipImageProcessor``; ``"anyres_max_N"`` a
            ``LlavaOnevisionImageProcessor`` with LLaVA-OneVision's 6 x 6 pinpoints scaled to S.

    Returns:
        The image processor (PIL backend).
    """
    from transformers.image_utils import PILImageResampling

    common = {
        "size": {"height": image_size, "width": image_size},
        "image_mean": [0.5, 0.5, 0.5],
        "image_std": [0.5, 0.5, 0.5],
        "resample": PILImageResampling.BICUBIC,
    }
    if image_mode == "pad":
        from transformers import SiglipImageProcessorPil

        return SiglipImageProcessorPil(**common)
    from transformers import LlavaOnevisionImageProcessorPil

    pinpoints = [[image_size * i, image_size * j] for i in range(1, 7) for j in range(1, 7)]
    return LlavaOnevisionImageProcessorPil(**common, image_grid_pinpoints=pinpoints)


def crop_size(image_processor: Any) -> int:
    """Side S of the square crop an image processor produces (its ``size``)."""
    size = image_processor.size
    size = size if isinstance(size, Mapping) else vars(size)
    if size.get("height") is not None:
        return int(size["height"])
    return int(size["shortest_edge"])


def anyres_num_tokens(height: int, width: int, image_processor: Any, image_mode: str, patch_size: int) -> int:
    """Placeholder count of one AnyRes image (formula of transformers' ``LlavaOnevisionProcessor``).

    Args:
        height: Original image height.
        width: Original image width.
        image_processor: A ``LlavaOnevisionImageProcessor`` (its ``image_grid_pinpoints`` and ``size``).
        image_mode: ``"anyres_max_N"``.
        patch_size: The vision tower's patch size.

    Returns:
        Base-crop features + unpadded grid features + one newline per grid row.
    """
    from transformers.image_processing_utils import select_best_resolution

    side = crop_size(image_processor)
    grid = side // patch_size
    best_h, best_w = select_best_resolution([height, width], image_processor.image_grid_pinpoints)
    cur_h, cur_w = grid * (best_h // side), grid * (best_w // side)
    # Undo the letterbox padding of the tiled canvas (transformers' unpad_image).
    if width / height > cur_w / cur_h:
        new_h = int(round(height * (cur_w / width), 7))
        cur_h -= ((cur_h - new_h) // 2) * 2
    else:
        new_w = int(round(width * (cur_h / height), 7))
        cur_w -= ((cur_w - new_w) // 2) * 2
    unpadded, newlines = cur_h * cur_w, cur_h
    max_crops = int(ANYRES_RE.match(image_mode).group(1))
    ratio = math.sqrt(cur_h * cur_w / (max_crops * grid**2))
    if ratio > 1.1:
        unpadded = int(cur_h // ratio) * int(cur_w // ratio)
        newlines = int(cur_h // ratio)
    return grid**2 + unpadded + newlines


def group_images(images: Any, counts: Sequence[int], image_token: str = IMAGE_TOKEN) -> list[list[Any]]:
    """Split ``images`` (None, one image, a flat list or per-sample lists) to match placeholder counts.

    Args:
        images: None, one image, a flat list (consumed in placeholder order) or one list per sample.
        counts: Placeholders per sample.
        image_token: The placeholder string, for error messages.

    Returns:
        One list of images per sample.

    Raises:
        ValueError: If the images and the placeholders disagree, per sample or in total.
    """
    counts = list(counts)
    if images is None:
        groups: list[list[Any]] = [[] for _ in counts]
    elif not isinstance(images, (list, tuple)):
        if len(counts) != 1:
            raise ValueError(f"got 1 image for a batch of {len(counts)} texts; pass one list of images per text")
        groups = [[images]]
    elif len(images) > 0 and all(isinstance(g, (list, tuple)) for g in images):
        groups = [list(g) for g in images]
        if len(groups) != len(counts):
            raise ValueError(f"got {len(groups)} per-sample image lists for {len(counts)} texts")
    else:
        flat = list(images)
        if len(flat) != sum(counts):
            raise ValueError(
                f"the texts hold {sum(counts)} {image_token} placeholders in total "
                f"(per sample: {counts}) but {len(flat)} images were given"
            )
        groups, start = [], 0
        for n in counts:
            groups.append(flat[start : start + n])
            start += n
    for i, (group, n) in enumerate(zip(groups, counts)):
        if len(group) != n:
            raise ValueError(
                f"sample {i} has {n} {image_token} placeholders but {len(group)} images were given "
                f"(placeholders per sample: {counts}; images per sample: {[len(g) for g in groups]})"
            )
    return groups


def process_images(
    image_processor: Any, groups: Sequence[Sequence[Any]], image_mode: str, patch_size: int
) -> tuple[dict[str, Any], list[int]]:
    """Turn per-sample image lists into model inputs and per-image placeholder counts.

    Args:
        image_processor: SigLIP-style (pad) or ``LlavaOnevisionImageProcessor`` (pad or AnyRes).
        groups: One list of images (PIL, path or array) per sample.
        image_mode: ``"pad"`` or ``"anyres_max_N"``.
        patch_size: The vision tower's patch size.

    Returns:
        ``(inputs, tokens)``: ``inputs`` holds ``pixel_values`` (num_images, P, 3, S, S) with P = 1
        in pad mode, ``image_sizes`` (num_images, 2) original (H, W) and, in AnyRes mode,
        ``batch_num_images``; ``tokens`` is the placeholder count of each image, in order.
    """
    import torch

    groups = [[load_image(im) for im in group] for group in groups]
    flat = [im for group in groups for im in group]
    if not flat:
        return {}, []
    side = crop_size(image_processor)
    per_image = (side // patch_size) ** 2 + 1  # crop features + one image_newline
    sizes = torch.tensor([[im.height, im.width] for im in flat], dtype=torch.long)  # (N, 2) as (H, W)
    if image_mode == "pad":
        background = tuple(int(m * 255) for m in image_processor.image_mean)
        squares = [expand2square(im, background) for im in flat]
        if hasattr(image_processor, "image_grid_pinpoints"):
            # LlavaOnevisionImageProcessor tiles a lone image; with one SxS pinpoint, crop 0 of a
            # square image is exactly the resized full view that "pad" mode wants.
            out = image_processor(squares, image_grid_pinpoints=[[side, side]], return_tensors="pt")
            pixel_values = out["pixel_values"][:, :1]  # (N, 1, 3, S, S)
        else:
            pixel_values = image_processor(squares, return_tensors="pt")["pixel_values"][:, None]  # (N, 1, 3, S, S)
        return {"pixel_values": pixel_values, "image_sizes": sizes}, [per_image] * len(flat)
    out = image_processor([list(g) for g in groups if g], return_tensors="pt")
    tokens = []
    for group in groups:
        for im in group:
            lone = len(group) == 1
            tokens.append(
                anyres_num_tokens(im.height, im.width, image_processor, image_mode, patch_size) if lone else per_image
            )
    inputs = {"pixel_values": out["pixel_values"], "image_sizes": sizes, "batch_num_images": out["batch_num_images"]}
    return inputs, tokens


__all__ = [
    "ANYRES_RE",
    "anyres_num_tokens",
    "build_image_processor",
    "crop_size",
    "expand2square",
    "group_images",
    "load_image",
    "process_images",
]
