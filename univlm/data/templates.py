"""Task prompt templates: the task tag first, then RSUniVLM's evaluation phrasing.

Design choices and sources:
- CLS, VQA, VG, REF, the four SEG variants and the change-detection prompt follow RSUniVLM's
  evaluation prompts (issue 4); the first CCD phrasing and ``[CAP] Describe this image briefly.``
  are the ones RSUniVLM's released demo (``app.py``) uses.
- RSUniVLM's public code lists only one CCD phrasing; the other CCD variants below are the usual
  change-captioning instructions (LEVIR-CC style) and are marked as our choice in docs/DATA.md.
- Variants are chosen with a caller-supplied ``random.Random`` so training data is reproducible;
  without one, the first (canonical evaluation) variant is used.
- ``user_content`` opens the user turn as RSUniVLM's demo and training code do (:func:`image_prefix`):
  ``<image>\\n`` for one image, ``<image> <image>\\n`` for two (both on one line, a space between).
  Records written earlier with ``<image>\\n<image>\\n`` stay valid: the chat template renders them the
  same way.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from univlm.codecs.boxes import format_box
from univlm.tasks import IMAGE_TOKEN

CLS_TEMPLATE = "[CLS] Choose the best category describe the image from: {classes}. Only output the category."
SEG_TEMPLATES: tuple[str, ...] = (
    "[SEG] Can you segment the {cls} in this image?",
    "[SEG] Please segment the {cls} in this image.",
    "[SEG] What is {cls} in this image? Please respond with segmentation mask.",
    "[SEG] What is {cls} in this image? Please output segmentation mask.",
)
CCD_TEMPLATES: tuple[str, ...] = (
    "[CCD] Please briefly describe the changes in these two images.",
    "[CCD] What are the differences between these two images?",
    "[CCD] Describe the changes between the two images.",
    "[CCD] What has changed from the first image to the second image?",
    "[CCD] Please describe the differences between the two remote sensing images.",
)
CAP_TEMPLATES: tuple[str, ...] = (
    "[CAP] Describe this image briefly.",
    "[CAP] Please provide a short description of this image.",
    "[CAP] Write a one-sentence caption for this remote sensing image.",
)
CHANGE_SEG_TEMPLATE = "[SEG] Please segment the {cls} area in the images that have changed in the second image."
MULTI_SEG_TEMPLATE = "[SEG] Please segment {targets} in this image."
IMAGE_PLACEHOLDER = IMAGE_TOKEN


def _pick(variants: Sequence[str], rng: random.Random | None) -> str:
    return variants[0] if rng is None else variants[rng.randrange(len(variants))]


def cls_prompt(classes: Sequence[str], rng: random.Random | None = None) -> str:
    """Scene-classification prompt listing the candidate classes.

    Args:
        classes: Candidate class names.
        rng: When given, the class order is shuffled with it; otherwise the given order is kept.

    Returns:
        The prompt, e.g. ``[CLS] Choose the best category describe the image from: a, b. Only ...``.
    """
    names = list(classes)
    if rng is not None:
        rng.shuffle(names)
    return CLS_TEMPLATE.format(classes=", ".join(names))


def vqa_prompt(question: str) -> str:
    """``[VQA] {question}``."""
    return f"[VQA] {question}"


def cap_prompt(rng: random.Random | None = None) -> str:
    """Image-captioning prompt; the demo's phrasing unless ``rng`` picks a variant."""
    return _pick(CAP_TEMPLATES, rng)


def vg_prompt(description: str) -> str:
    """Visual-grounding prompt ``[VG] {description}``; the answer is one box."""
    return f"[VG] {description}"


def ref_prompt(box: Sequence[int]) -> str:
    """Region-captioning prompt ``[REF] [x1, y1, x2, y2]``.

    Args:
        box: The region in 0..100 units (already normalised with ``normalize_box``).
    """
    return f"[REF] {format_box(box)}"


def seg_prompt(cls: str, rng: random.Random | None = None) -> str:
    """Semantic / referring segmentation prompt for one class or expression.

    Args:
        cls: Class name or referring expression.
        rng: Picks one of the four RSUniVLM variants; the first variant when None.
    """
    return _pick(SEG_TEMPLATES, rng).format(cls=cls)


def multi_seg_prompt(descriptions: Sequence[str]) -> str:
    """Multi-referring segmentation prompt: ``[SEG] Please segment the a and the b in this image.``."""
    parts = [f"the {d}" for d in descriptions]
    targets = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return MULTI_SEG_TEMPLATE.format(targets=targets)


def ccd_prompt(rng: random.Random | None = None) -> str:
    """Change-captioning prompt for an image pair; the demo's phrasing unless ``rng`` picks a variant."""
    return _pick(CCD_TEMPLATES, rng)


def change_seg_prompt(cls: str) -> str:
    """Change-detection prompt (a ``[SEG]`` task on two images) for one class."""
    return CHANGE_SEG_TEMPLATE.format(cls=cls)


def image_prefix(num_images: int, image_token: str = IMAGE_PLACEHOLDER) -> str:
    """Placeholders that open a user turn, as RSUniVLM writes them.

    Args:
        num_images: Images of the turn (0 gives an empty prefix).
        image_token: The placeholder string.

    Returns:
        ``""``, ``"<image>\\n"``, ``"<image> <image>\\n"``, ...: the images on one line, separated by
        spaces, then one newline.
    """
    return " ".join([image_token] * num_images) + "\n" if num_images > 0 else ""


def user_content(prompt: str, num_images: int) -> str:
    """User-turn text: RSUniVLM's image prefix (:func:`image_prefix`), then the prompt.

    Raises:
        ValueError: If ``num_images`` is not 1 or 2.
    """
    if num_images not in (1, 2):
        raise ValueError(f"expected 1 or 2 images, got {num_images}")
    return image_prefix(num_images) + prompt
