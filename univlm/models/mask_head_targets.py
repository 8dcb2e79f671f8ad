"""Training targets of the ``[SEG]``-token mask head, built from univlm JSONL records.

Design choices and their sources:

- An instance's answer text is one group ``[SEG0]..[SEG{L*N-1}]`` (GeoPix); a record with ``K``
  instances answers ``"Sure: G and G."`` (PixelLM/GeoPix style), ``"Sure: G, G and G."`` for three.
- Targets come from the record's own ground truth, never from the answer text: multi-referring
  ``targets.instances[*].rle`` (COCO RLE, from ``univlm synth`` and the GeoPixInstruct / RRSIS-D
  converters) or a semantic ``targets.mask`` PNG with ``labels = ["others", name]``. Each is padded to
  the processor's centred square and area-resized to the head's resolution
  (:func:`univlm.models.mask_head.pad_mask_to_square`).
- The class query of an instance is its ``category`` field when the record has one, else the first
  memory class named in its description as a whole word (``"water body"`` -> ``water``), else -1,
  for which the head uses its classifier's prediction and trains no class loss.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from univlm.models.configuration_mask_head import MaskHeadSettings, mask_token_answer_text
from univlm.models.mask_head import pad_mask_to_square


def instance_class(description: str, classes: Sequence[str]) -> int:
    """Index of the memory class a referring description names, or -1.

    Longer class names are tried first, so ``"parking lot"`` wins over a shorter name inside it.
    """
    text = description.lower()
    for name in sorted(classes, key=len, reverse=True):
        if re.search(rf"\b{re.escape(name.lower())}(s|es)?\b", text):
            return list(classes).index(name)
    return -1


def mask_token_answer(num_instances: int, settings: MaskHeadSettings) -> str:
    """The head-mode answer for ``num_instances`` instances.

    Raises:
        ValueError: If ``num_instances < 1``.
    """
    return mask_token_answer_text(num_instances, settings.num_mask_tokens)


def record_instances(record: Mapping[str, Any], root: str | os.PathLike | None = None) -> list[tuple[np.ndarray, str]]:
    """``(binary mask (H, W), description)`` for every instance of a SEG record, in answer order.

    Raises:
        ValueError: If the record has neither ``targets.instances`` nor a ``targets.mask`` file.
    """
    from PIL import Image

    from univlm.codecs.masks import coco_rle_to_mask

    targets = _targets_dict(record)
    if targets.get("instances"):
        out = []
        for inst in targets["instances"]:
            description = str(inst.get("category") or inst.get("description") or "")
            out.append((coco_rle_to_mask(inst["rle"]).astype(bool), description))
        return out
    if targets.get("mask") and len(targets.get("labels") or []) == 2:
        path = Path(root or ".") / targets["mask"]
        with Image.open(path) as im:
            index = np.asarray(im)
        return [(index == 1, str(targets["labels"][1]))]
    raise ValueError(
        f"record {record.get('id')!r}: expected targets.instances or a two-label targets.mask for mask-head training"
    )


def record_mask_targets(
    record: Mapping[str, Any], settings: MaskHeadSettings, resolution: int, root: str | os.PathLike | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The head's targets for one record: masks ``(K, R, R)`` and memory classes ``(K,)`` (-1 unknown)."""
    instances = record_instances(record, root)
    masks = torch.stack([pad_mask_to_square(torch.from_numpy(m), resolution) for m, _ in instances])  # (K, R, R)
    classes = torch.tensor([instance_class(d, settings.memory_classes) for _, d in instances], dtype=torch.long)
    return masks, classes


def to_mask_token_record(record: Mapping[str, Any], settings: MaskHeadSettings) -> dict[str, Any]:
    """A copy of a SEG record whose last assistant turn is the mask-token answer (one group per instance).

    Raises:
        ValueError: If the record has no instance.
    """
    count = _num_instances(record)
    out = dict(record)
    messages = [dict(m) for m in record["messages"]]
    last = max(i for i, m in enumerate(messages) if m.get("role") == "assistant")
    messages[last]["content"] = mask_token_answer(count, settings)
    out["messages"] = messages
    return out


def head_training_example(
    record: Mapping[str, Any], settings: MaskHeadSettings, resolution: int, root: str | os.PathLike | None = None
) -> tuple[dict[str, Any], torch.Tensor, torch.Tensor] | None:
    """A SEG record rewritten for head training, with its targets; None when the head cannot learn from it.

    The head segments the first image of one-image ``[SEG]`` records whose ground truth is instance
    masks or a two-label mask. Other records (not SEG, change-detection pairs, multi-label semantic
    masks) keep their text answer; the caller counts them.

    Args:
        record: A training record with ``task``, ``images``, ``messages`` and ``targets`` (a dict or
            its JSON text).
        settings: The head's settings.
        resolution: Side of the head's masks (:func:`univlm.models.mask_head.head_resolution`).
        root: Data root that ``targets.mask`` is relative to.

    Returns:
        ``(record with the mask-token answer, masks (K, R, R), classes (K,))`` or None.

    Raises:
        ValueError: If a mask file or RLE cannot be read.
    """
    if record.get("task") != "SEG" or len(record.get("images") or []) != 1 or _num_instances(record) < 1:
        return None
    targets = _targets_dict(record)
    if not targets.get("instances") and len(targets.get("labels") or []) != 2:
        return None
    masks, classes = record_mask_targets({**record, "targets": targets}, settings, resolution, root)
    return to_mask_token_record(record, settings), masks, classes


def _targets_dict(record: Mapping[str, Any]) -> dict[str, Any]:
    targets = record.get("targets") or {}
    if isinstance(targets, str):
        import json

        targets = json.loads(targets) if targets.strip() else {}
    return dict(targets)


def _num_instances(record: Mapping[str, Any]) -> int:
    """Instances of a SEG record, without decoding any mask."""
    targets = _targets_dict(record)
    if targets.get("instances"):
        return len(targets["instances"])
    return 1 if targets.get("mask") else 0


__all__ = [
    "head_training_example",
    "instance_class",
    "mask_token_answer",
    "record_instances",
    "record_mask_targets",
    "to_mask_token_record",
]
