"""Segmentation metrics: referring (two conventions), multi-referring and semantic (mmseg).

Referring segmentation works on per-sample binary masks reduced to an (intersection, union) pair by
:func:`binary_intersection_union` (pixels where the ground truth equals ``ignore_index`` are dropped,
as LISA's ``intersectionAndUnionGPU(..., ignore_index=255)`` does). Two published conventions then
disagree only on how a sample whose prediction and ground truth are both empty counts:

* ``lisa`` (LISA ``train_ds.validate``, also Text4Seg): per-sample IoU ``I / (U + 1e-5)``, plus 1 when
  ``U == 0`` (empty/empty scores 1); **gIoU** is the mean per-sample IoU and **cIoU** the cumulative
  intersection over the cumulative union.
* ``rrsisd`` (RRSIS-D / LAVT ``test.py``): per-sample IoU ``I / U`` with ``U == 0`` scoring 0;
  **mIoU** is the mean, **oIoU** the cumulative I over cumulative U, and **Prec@X** the fraction of
  samples with ``IoU >= X`` for X in 0.5..0.9.

A missing or unparsable prediction is passed in as ``valid=False`` and scores IoU 0 under both
conventions, with its ground-truth area added to the cumulative union.

Multi-referring (``geopix``): predicted and ground-truth masks of one sample are matched one-to-one by
the Hungarian algorithm on IoU; every unmatched mask (extra prediction or missed target) scores 0.
mIoU is the mean over all matched and unmatched masks, cIoU the cumulative intersection over the
cumulative union, where an unmatched mask contributes its own area to the union.

Semantic segmentation (``mmseg``, ``mmseg.evaluation.metrics.IoUMetric``): per class, intersection,
union, predicted and label areas are summed over the whole dataset (pixels labelled ``ignore_index``
dropped, predictions outside ``0..num_classes-1`` counted in no class); ``IoU = I / U`` per class,
**mIoU** the nanmean so classes absent from both prediction and ground truth everywhere are excluded,
**aAcc** the summed intersection over the summed label area, **mAcc** the nanmean of ``I / label``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

PRECISION_THRESHOLDS: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8, 0.9)


@dataclass(frozen=True)
class SampleIU:
    """Intersection and union (pixel counts) of one referring sample.

    Attributes:
        intersection: Pixels in both prediction and ground truth.
        union: Pixels in either.
        valid: False when the prediction was missing or unparsable (scores IoU 0).
    """

    intersection: int
    union: int
    valid: bool = True


def _check_same_shape(pred: np.ndarray, gt: np.ndarray) -> None:
    if pred.shape != gt.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from ground-truth shape {gt.shape}")


def binary_intersection_union(pred: np.ndarray, gt: np.ndarray, ignore_index: int | None = 255) -> SampleIU:
    """Intersection and union of a binary prediction with a binary ground truth.

    Args:
        pred: (H, W) mask, nonzero = foreground.
        gt: (H, W) mask, nonzero = foreground, except ``ignore_index`` pixels which are dropped.
        ignore_index: Ground-truth value to ignore; None keeps every pixel.

    Returns:
        The :class:`SampleIU` of the pair.

    Raises:
        ValueError: If the shapes differ.
    """
    pred = np.asarray(pred)
    gt = np.asarray(gt)
    _check_same_shape(pred, gt)
    keep = np.ones(gt.shape, dtype=bool) if ignore_index is None else gt != ignore_index
    p = (pred != 0) & keep
    g = (gt != 0) & keep
    return SampleIU(int(np.count_nonzero(p & g)), int(np.count_nonzero(p | g)))


def missing_sample(gt: np.ndarray, ignore_index: int | None = 255) -> SampleIU:
    """The :class:`SampleIU` of a sample whose prediction is missing or unparsable.

    Args:
        gt: (H, W) ground-truth mask.
        ignore_index: Ground-truth value to ignore.

    Returns:
        Intersection 0, union = ground-truth area, ``valid=False``.
    """
    gt = np.asarray(gt)
    g = gt != 0 if ignore_index is None else (gt != 0) & (gt != ignore_index)
    return SampleIU(0, int(np.count_nonzero(g)), valid=False)


def lisa_scores(samples: Sequence[SampleIU]) -> dict:
    """gIoU and cIoU under the LISA / Text4Seg convention (empty/empty = 1).

    Args:
        samples: One :class:`SampleIU` per referring expression.

    Returns:
        ``{"giou", "ciou", "total"}``; 0.0 for no samples.
    """
    per_sample = []
    for s in samples:
        if not s.valid:
            per_sample.append(0.0)
        elif s.union == 0:
            per_sample.append(1.0)
        else:
            per_sample.append(s.intersection / (s.union + 1e-5))
    cum_i = sum(s.intersection for s in samples)
    cum_u = sum(s.union for s in samples)
    return {
        "giou": sum(per_sample) / len(per_sample) if per_sample else 0.0,
        "ciou": cum_i / (cum_u + 1e-10) if samples else 0.0,
        "total": len(per_sample),
    }


def rrsisd_scores(samples: Sequence[SampleIU], thresholds: Sequence[float] = PRECISION_THRESHOLDS) -> dict:
    """mIoU, oIoU and Precision@X under the RRSIS-D convention (empty/empty = 0).

    Args:
        samples: One :class:`SampleIU` per referring expression.
        thresholds: IoU thresholds of the precision figures.

    Returns:
        ``{"miou", "oiou", "prec@0.5", ..., "total"}``; 0.0 for no samples or an empty cumulative union.
    """
    ious = [0.0 if (not s.valid or s.union == 0) else s.intersection / s.union for s in samples]
    cum_i = sum(s.intersection for s in samples)
    cum_u = sum(s.union for s in samples)
    total = len(ious)
    out: dict = {
        "miou": sum(ious) / total if total else 0.0,
        "oiou": cum_i / cum_u if cum_u else 0.0,
    }
    for t in thresholds:
        out[f"prec@{t:g}"] = sum(iou >= t for iou in ious) / total if total else 0.0
    out["total"] = total
    return out


def hungarian_match(preds: Sequence[np.ndarray], gts: Sequence[np.ndarray]) -> tuple[list[float], int, int]:
    """Match predicted to ground-truth masks of one sample by maximum total IoU.

    Args:
        preds: Predicted (H, W) binary masks.
        gts: Ground-truth (H, W) binary masks.

    Returns:
        ``(ious, intersection, union)``: one IoU per matched pair plus a 0.0 for every unmatched mask
        (so ``len(ious) == max(len(preds), len(gts))``), and the summed intersection and union, where an
        unmatched mask adds its own area to the union.

    Raises:
        ValueError: If any mask shape differs from the others.
    """
    # scipy is the optional ``eval`` extra: only multi-referring scoring needs it.
    from scipy.optimize import linear_sum_assignment

    p = [np.asarray(m) != 0 for m in preds]
    g = [np.asarray(m) != 0 for m in gts]
    for m in p[1:] + g:
        _check_same_shape(m, (p or g)[0])
    inter = np.zeros((len(p), len(g)), dtype=np.int64)  # (P, G)
    union = np.zeros((len(p), len(g)), dtype=np.int64)  # (P, G)
    for i, pm in enumerate(p):
        for j, gm in enumerate(g):
            inter[i, j] = np.count_nonzero(pm & gm)
            union[i, j] = np.count_nonzero(pm | gm)
    iou = np.divide(inter, union, out=np.zeros(inter.shape, dtype=np.float64), where=union > 0)
    rows, cols = linear_sum_assignment(iou, maximize=True) if iou.size else ([], [])
    ious = [float(iou[r, c]) for r, c in zip(rows, cols)]
    cum_i = int(sum(inter[r, c] for r, c in zip(rows, cols)))
    cum_u = int(sum(union[r, c] for r, c in zip(rows, cols)))
    matched_p, matched_g = set(int(r) for r in rows), set(int(c) for c in cols)
    for i, pm in enumerate(p):
        if i not in matched_p:
            ious.append(0.0)
            cum_u += int(np.count_nonzero(pm))
    for j, gm in enumerate(g):
        if j not in matched_g:
            ious.append(0.0)
            cum_u += int(np.count_nonzero(gm))
    return ious, cum_i, cum_u


def multi_referring_scores(per_sample: Sequence[tuple[list[float], int, int]]) -> dict:
    """mIoU and cIoU of multi-referring segmentation from :func:`hungarian_match` outputs.

    Args:
        per_sample: One ``(ious, intersection, union)`` triple per sample.

    Returns:
        ``{"miou", "ciou", "masks", "total"}``; ``masks`` counts matched plus unmatched masks.
    """
    ious = [v for sample in per_sample for v in sample[0]]
    cum_i = sum(sample[1] for sample in per_sample)
    cum_u = sum(sample[2] for sample in per_sample)
    return {
        "miou": sum(ious) / len(ious) if ious else 0.0,
        "ciou": cum_i / cum_u if cum_u else 0.0,
        "masks": len(ious),
        "total": len(per_sample),
    }


def intersect_and_union(
    pred: np.ndarray, label: np.ndarray, num_classes: int, ignore_index: int | None = 255
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-class areas of one image, as mmseg's ``IoUMetric.intersect_and_union``.

    Args:
        pred: (H, W) predicted class indices; values outside ``0..num_classes-1`` belong to no class.
        label: (H, W) ground-truth class indices; ``ignore_index`` pixels are dropped.
        num_classes: Number of classes.
        ignore_index: Ignored ground-truth value; None keeps every pixel.

    Returns:
        ``(area_intersect, area_union, area_pred, area_label)``, each an int64 array (num_classes,).

    Raises:
        ValueError: If the shapes differ.
    """
    pred = np.asarray(pred).astype(np.int64)
    label = np.asarray(label).astype(np.int64)
    _check_same_shape(pred, label)
    if ignore_index is not None:
        keep = label != ignore_index
        pred, label = pred[keep], label[keep]
    pred, label = pred.ravel(), label.ravel()

    def _hist(values: np.ndarray) -> np.ndarray:
        values = values[(values >= 0) & (values < num_classes)]
        return np.bincount(values, minlength=num_classes).astype(np.int64)

    area_intersect = _hist(pred[pred == label])
    area_pred = _hist(pred)
    area_label = _hist(label)
    return area_intersect, area_pred + area_label - area_intersect, area_pred, area_label


def semantic_scores(
    total_intersect: np.ndarray,
    total_union: np.ndarray,
    total_label: np.ndarray,
    class_names: Sequence[str] | None = None,
) -> dict:
    """aAcc, mIoU and mAcc from dataset-summed per-class areas (mmseg convention).

    Args:
        total_intersect: (C,) summed intersections.
        total_union: (C,) summed unions.
        total_label: (C,) summed ground-truth areas.
        class_names: Names for the per-class table; ``class_<i>`` when None.

    Returns:
        ``{"aAcc", "mIoU", "mAcc", "per_class": {name: {"IoU", "Acc"}}}``. Per-class values are None
        (JSON null) where undefined; mIoU/mAcc are nanmeans (0.0 if every class is undefined).
    """
    total_intersect = np.asarray(total_intersect, dtype=np.float64)
    total_union = np.asarray(total_union, dtype=np.float64)
    total_label = np.asarray(total_label, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = total_intersect / total_union  # (C,) nan where the class never occurs
        acc = total_intersect / total_label
    names = list(class_names) if class_names is not None else [f"class_{i}" for i in range(len(iou))]

    def _nanmean(values: np.ndarray) -> float:
        finite = values[~np.isnan(values)]
        return float(finite.mean()) if finite.size else 0.0

    def _or_none(value: float) -> float | None:
        return None if math.isnan(value) else float(value)

    label_sum = float(total_label.sum())
    return {
        "aAcc": float(total_intersect.sum() / label_sum) if label_sum else 0.0,
        "mIoU": _nanmean(iou),
        "mAcc": _nanmean(acc),
        "per_class": {
            name: {"IoU": _or_none(float(iou[i])), "Acc": _or_none(float(acc[i]))}
            for i, name in enumerate(names)
        },
    }
