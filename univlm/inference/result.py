"""Structured answers: what :class:`~univlm.inference.Predictor` returns.

Design choices:
- A :class:`Result` keeps the raw text and everything parsed from it, in both coordinate systems the
  user may want: boxes in the model's 0..100 grid and in pixels of the ORIGINAL first image (the
  rescaling step whose omission once turned published grounding scores from ~70% into ~12%), masks as
  G x G label grids and as full-resolution label arrays at the original image size.
- Parsing never raises: every defect (no box for a ``[VG]`` prompt, a repaired mask row, ...) is a
  human-readable string in ``problems``.
- ``to_dict()`` is JSON-safe and omits the full-resolution arrays (they are derived from the grids
  and the image size, and can be megabytes); ``univlm predict --json`` prints it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from univlm.codecs.boxes import denormalize_box, parse_boxes
from univlm.codecs.masks import DecodedMask, decode_masks

# Tasks whose answer must hold a box / a mask; other tasks are parsed too but missing ones are no problem.
BOX_TASKS = frozenset({"VG"})
MASK_TASKS = frozenset({"SEG"})


@dataclass
class Result:
    """One model answer and what was parsed from it.

    Attributes:
        text: The generated answer (special tokens removed).
        prompt: The user prompt as given (without chat markup).
        task: Task name from the prompt's tag (``"VG"``), or None without a tag.
        expert: Name of the expert the sample was routed to (``"region"``).
        expert_id: Its index.
        image_size: ``(width, height)`` of the first original image, or None without images.
        boxes: Boxes read from the text, ``(x1, y1, x2, y2)`` on the 0..100 grid.
        boxes_px: The same boxes in pixels of the original first image (floats).
        masks: Decoded ``<seg>`` blocks (G x G label grids).
        mask_arrays: Each mask upsampled to ``(height, width)`` of the original first image.
        answer: The answer text, stripped (class name, VQA answer, caption, ...).
        problems: Defects found while parsing.
        labels: The label set the mask was constrained to / decoded with, or None.
        constrained: Whether grammar-constrained decoding produced the answer.
        stats: Generation counters (``new_tokens``, ``forward_passes``, ``seconds``, ...).
        head_masks: With a ``[SEG]``-token mask head (``config.mask_head = "clm"``): one
            ``(height, width)`` bool mask per ``[SEG0]``.. group of the answer, at the original size.
        head_mask_classes: The memory class each head mask was decoded with.
    """

    text: str
    prompt: str = ""
    task: str | None = None
    expert: str | None = None
    expert_id: int | None = None
    image_size: tuple[int, int] | None = None
    boxes: list[tuple[float, float, float, float]] = field(default_factory=list)
    boxes_px: list[tuple[float, float, float, float]] = field(default_factory=list)
    masks: list[DecodedMask] = field(default_factory=list)
    mask_arrays: list[np.ndarray] = field(default_factory=list)
    answer: str = ""
    problems: list[str] = field(default_factory=list)
    labels: list[str] | None = None
    constrained: bool = False
    stats: dict[str, Any] = field(default_factory=dict)
    head_masks: list[np.ndarray] = field(default_factory=list)
    head_mask_classes: list[str] = field(default_factory=list)

    @property
    def mask_decoder(self) -> str | None:
        """Which decoder produced the masks: ``"head"``, ``"text"`` (``<seg>`` R-RLE) or None."""
        return "head" if self.head_masks else ("text" if self.masks else None)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable summary (masks as label grids; full-resolution arrays omitted)."""
        return {
            "text": self.text,
            "prompt": self.prompt,
            "task": self.task,
            "expert": self.expert,
            "expert_id": self.expert_id,
            "image_size": list(self.image_size) if self.image_size else None,
            "answer": self.answer,
            "boxes": [list(b) for b in self.boxes],
            "boxes_px": [[round(float(v), 2) for v in b] for b in self.boxes_px],
            "masks": [
                {
                    "labels": list(m.labels),
                    "grid_size": m.grid_size,
                    "indices": m.indices.astype(int).tolist(),
                    "counts": m.counts(),
                    "repairs": [str(r) for r in m.repairs],
                }
                for m in self.masks
            ],
            "problems": list(self.problems),
            "labels": list(self.labels) if self.labels is not None else None,
            "constrained": self.constrained,
            "stats": dict(self.stats),
            "mask_decoder": self.mask_decoder,
            "head_masks": [
                {"class": c, "area": int(m.sum())} for m, c in zip(self.head_masks, self.head_mask_classes)
            ],
        }


def parse_answer(
    text: str,
    *,
    task: str | None,
    image_size: tuple[int, int] | None,
    labels: Sequence[str] | None = None,
    grid: int | None = None,
) -> dict[str, Any]:
    """Parse boxes and masks out of an answer; the fields of :class:`Result` that depend on the text.

    Args:
        text: The generated answer.
        task: Task name (``"VG"``, ``"SEG"``, ...) deciding which parts are expected.
        image_size: ``(width, height)`` of the original first image, for pixel boxes and full masks.
        labels: Known mask labels (``others`` first), or None to index labels by appearance.
        grid: Mask grid side; inferred per block when None.

    Returns:
        A dict with ``boxes``, ``boxes_px``, ``masks``, ``mask_arrays``, ``answer`` and ``problems``.
    """
    problems: list[str] = []
    boxes: list[tuple[float, float, float, float]] = []
    boxes_px: list[tuple[float, float, float, float]] = []
    masks: list[DecodedMask] = []
    mask_arrays: list[np.ndarray] = []
    if "[" in text or task in BOX_TASKS:
        parsed = parse_boxes(text)
        boxes = [tuple(b.box) for b in parsed.boxes]
        if task in BOX_TASKS:
            problems += parsed.problems
            if not boxes:
                problems.append("expected a box [x1, y1, x2, y2] in the answer, found none")
        if image_size is not None:
            boxes_px = [denormalize_box(b, image_size[0], image_size[1]) for b in boxes]
    if "<seg>" in text or "</seg>" in text or task in MASK_TASKS:
        masks = decode_masks(text, grid=grid, labels=list(labels) if labels else None)
        for k, mask in enumerate(masks):
            problems += [f"mask {k}: {r}" for r in mask.repairs]
        if task in MASK_TASKS and not masks:
            problems.append("expected a <seg>...</seg> mask in the answer, found none")
        if image_size is not None:
            mask_arrays = [m.upsample(image_size[1], image_size[0]) for m in masks]
    return {
        "boxes": boxes,
        "boxes_px": boxes_px,
        "masks": masks,
        "mask_arrays": mask_arrays,
        "answer": text.strip(),
        "problems": problems,
    }


@dataclass
class ClassMaskResult:
    """Per-class ``[SEG]`` answers merged into one semantic label map.

    Attributes:
        labels: ``["others", *classes]``; value v of ``label_map`` / ``grid`` names ``labels[v]``.
        grid: ``(G, G)`` merged label indices.
        label_map: ``(height, width)`` merged label indices at the original image size.
        results: One :class:`Result` per class, in class order.
        overlaps: Cells claimed by more than one class (the first class in order keeps them).
    """

    labels: list[str]
    grid: np.ndarray
    label_map: np.ndarray
    results: list[Result]
    overlaps: int = 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable summary (the merged grid, not the full-resolution map)."""
        return {
            "labels": list(self.labels),
            "grid": self.grid.astype(int).tolist(),
            "overlaps": self.overlaps,
            "results": [r.to_dict() for r in self.results],
        }
