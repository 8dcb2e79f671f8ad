"""Ground truth of a record: reference answers, image sizes, label masks, SEG record kinds, class lists.

Design choices:
- Ground truth comes from each record's ``targets`` (schema in docs/DATA.md); where a target key is
  absent, classification/VQA/caption fall back to the reference assistant turn.
- ``targets.mask`` is a label-index PNG: value ``v`` names ``targets.labels[v]``, and the ignore value
  (``targets.ignore_index``, default 255, mmseg's convention) marks pixels no protocol scores
  (no-data, boundary, unlabelled). Binary ``mask_rle`` targets carry ignored pixels apart, as
  ``targets.ignore_rle``; :func:`load_label_mask` folds them back in as the ignore value.
- A SEG record is one of four kinds, each scored under its own protocol only (docs/EVALUATION.md):
  ``change`` (two images), ``multi_referring`` (``targets.instances``), ``semantic`` (a label-index
  mask with more than one class) and ``referring`` (one binary target). A SEG task skips, and counts,
  records of the other kinds.
- The class list of a semantic protocol never depends on record order: it is the task's
  ``options.classes``, else the dataset card of the records' ``source`` (``data_converters``), else the
  one list every record declares; records that disagree are an error.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from univlm.codecs import coco_rle_to_mask
from univlm.evaluation.registry import TaskSpec
from univlm.imaging import open_image

IGNORE_INDEX = 255
SEG_KINDS: tuple[str, ...] = ("referring", "semantic", "multi_referring", "change")


class ClassListError(ValueError):
    """Semantic records whose class list cannot be fixed without depending on record order."""


def resolve(path: str | os.PathLike[str], root: str | os.PathLike[str] | None) -> Path:
    """``path`` under the data root, unless it is absolute or there is no root."""
    path = Path(path)
    return path if root is None or path.is_absolute() else Path(root) / path


def user_turn(record: Mapping[str, Any]) -> str:
    """The first user message of a record ("" when there is none)."""
    for message in record.get("messages", []):
        if message.get("role") == "user":
            return str(message.get("content", ""))
    return ""


def reference_answer(record: Mapping[str, Any]) -> str | None:
    """The first assistant message of a record, or None."""
    for message in record.get("messages", []):
        if message.get("role") == "assistant":
            return str(message.get("content", ""))
    return None


# SEG metric family -> the record kind it scores (each kind has its own protocol).
METRIC_KIND: dict[str, str] = {
    "referring_seg": "referring",
    "semantic_seg": "semantic",
    "multi_referring_seg": "multi_referring",
    "change_detection": "change",
}


def skip_reason(spec: TaskSpec, record: Mapping[str, Any]) -> str | None:
    """Why a task does not apply to a record (counted as skipped), or None when it does."""
    if record.get("task") != spec.record_task:
        return f"task {record.get('task')!r} is not {spec.record_task}"
    if spec.num_images is not None and len(record.get("images", [])) != spec.num_images:
        return f"{len(record.get('images', []))} image(s), task expects {spec.num_images}"
    wanted = METRIC_KIND.get(spec.metric)
    if wanted is not None and record.get("task") == "SEG":
        kind = seg_kind(record)
        if kind != wanted:
            return f"{kind} SEG record, task scores {wanted} records"
    return None


def seg_kind(record: Mapping[str, Any]) -> str:
    """The kind of a SEG record, one of :data:`SEG_KINDS` (see the module docstring)."""
    targets = record.get("targets", {})
    if len(record.get("images", [])) == 2:
        return "change"
    if targets.get("instances"):
        return "multi_referring"
    if "mask" in targets and len(targets.get("labels", [])) > 2:
        return "semantic"
    return "referring"


def image_size(record: Mapping[str, Any], root: str | os.PathLike[str] | None) -> tuple[int, int]:
    """``(W, H)`` of the record's first image: ``targets.image_size``, else read from the file."""
    size = record.get("targets", {}).get("image_size")
    if size is not None:
        return int(size[0]), int(size[1])
    with open_image(resolve(record["images"][0], root)) as im:
        return im.size


def load_label_mask(record: Mapping[str, Any], root: str | os.PathLike[str] | None) -> np.ndarray:
    """(H, W) int label map of a SEG record: label-index PNG, binary COCO RLE, or union of instances.

    Ignored pixels hold ``targets.ignore_index`` (default 255), also when a binary target keeps them
    in ``targets.ignore_rle``.

    Raises:
        KeyError: If the targets hold none of ``mask``, ``mask_rle``, ``instances``.
        FileNotFoundError: If the mask file is missing.
        univlm.imaging.ImageLoadError: If it is unreadable or over the pixel limit.
    """
    targets = record.get("targets", {})
    if "mask" in targets:
        with open_image(resolve(targets["mask"], root)) as im:
            return np.asarray(im, dtype=np.int64)
    if "mask_rle" in targets:
        mask = coco_rle_to_mask(targets["mask_rle"]).astype(np.int64)
    elif targets.get("instances"):
        union = None
        for inst in targets["instances"]:
            m = coco_rle_to_mask(inst["rle"])
            union = m if union is None else union | m
        mask = np.asarray(union, dtype=np.int64)
    else:
        raise KeyError("targets has none of 'mask', 'mask_rle', 'instances'")
    if "ignore_rle" in targets:
        mask[coco_rle_to_mask(targets["ignore_rle"]).astype(bool)] = ignore_value(record)
    return mask


def ignore_value(record: Mapping[str, Any], default: int = IGNORE_INDEX) -> int:
    """The record's ignore value (``targets.ignore_index``), else ``default``."""
    value = record.get("targets", {}).get("ignore_index", default)
    return int(value) if isinstance(value, int) else default


def card_classes(source: str) -> tuple[str, ...] | None:
    """The scored class list the dataset card of a record ``source`` (``"<dataset>/<split>"``) declares.

    Returns:
        The card's ``eval_classes``, or None for a source no converter declares (e.g. synthetic data).
    """
    # data_converters is imported only here: scoring non-semantic tasks must not need it, and the
    # converters import univlm, not the other way round at import time.
    from data_converters import get_converter

    try:
        converter = get_converter(source.split("/", 1)[0])
    except KeyError:
        return None
    return tuple(converter.card.eval_classes) or None


def semantic_class_list(spec: TaskSpec, records: Sequence[Mapping[str, Any]]) -> list[str]:
    """The class list a semantic protocol scores (order-independent, see the module docstring).

    Args:
        spec: The task; ``options.classes`` wins when set.
        records: The semantic records to score.

    Returns:
        Class names in the order results list them.

    Raises:
        ClassListError: If records resolve to different class lists, or none is declared anywhere.
    """
    if spec.options.get("classes"):
        return [str(c) for c in spec.options["classes"]]
    found: dict[tuple[str, ...], str] = {}
    cards: dict[str, tuple[str, ...] | None] = {}
    for rec in records:
        source = str(rec.get("source", ""))
        if source not in cards:
            cards[source] = card_classes(source) if source else None
        classes = cards[source]
        if classes is None:
            labels = rec.get("targets", {}).get("labels") or []
            classes = tuple(str(x) for x in labels)
        if classes:
            found.setdefault(classes, source or str(rec.get("id")))
    if not found:
        raise ClassListError(f"task {spec.name}: no class list; set options.classes in the task file")
    if len(found) > 1:
        where = ", ".join(sorted(found.values())[:3])
        raise ClassListError(
            f"task {spec.name}: records declare {len(found)} different class lists (e.g. {where}); "
            "score each dataset separately or set options.classes in the task file"
        )
    return list(next(iter(found)))
