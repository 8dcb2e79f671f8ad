"""Visual-grounding IoU under two protocols, and the acc@threshold / mean-IoU summary.

``vrsbench`` (VRSBench ``eval_utils.computeIoU`` and ``compute_metrics.ipynb``):
    the prediction is the first four integers of the answer (``re.findall(r"\\d+")``), the ground truth
    is the box on the same 0..100 grid, and IoU counts grid cells inclusively: a box ``[x1, y1, x2, y2]``
    covers ``(x2 - x1 + 1) * (y2 - y1 + 1)`` cells. An answer with fewer than four integers scores 0
    and still counts in the denominator. Accuracy counts ``IoU >= threshold``. A prediction with
    ``x2 < x1`` or ``y2 < y1`` (VRSBench would produce a meaningless ratio) scores 0 here.

``pixel``:
    the answer's first box (read by :func:`univlm.codecs.parse_boxes`) is denormalised from 0..100 to
    pixels of the original image and compared with the pixel ground truth by continuous IoU
    (areas ``(x2 - x1) * (y2 - y1)``). Unparsable answers score 0.

The ``+1`` makes the ``vrsbench`` IoU larger than the continuous one for small boxes, so the two
protocols disagree most on small objects; the output always names the protocol used.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_INT_RE = re.compile(r"\d+")

Box = Sequence[float]


def first_four_ints(text: str) -> tuple[int, int, int, int] | None:
    """Return the first four integers of ``text`` (VRSBench's reading of an answer).

    Args:
        text: A model answer.

    Returns:
        The four integers, or None when the text holds fewer than four.
    """
    found = _INT_RE.findall(text)
    if len(found) < 4:
        return None
    return tuple(int(v) for v in found[:4])  # type: ignore[return-value]


def box_iou_inclusive(pred: Box, gt: Box) -> float:
    """IoU of two integer grid boxes counting cells inclusively (VRSBench's ``+1`` convention).

    Args:
        pred: Predicted ``[x1, y1, x2, y2]`` on the 0..100 grid.
        gt: Ground-truth box on the same grid.

    Returns:
        IoU in 0..1; 0.0 when either box is inverted (``x2 < x1`` or ``y2 < y1``).
    """
    if pred[2] < pred[0] or pred[3] < pred[1] or gt[2] < gt[0] or gt[3] < gt[1]:
        return 0.0
    iw = max(0.0, min(pred[2], gt[2]) - max(pred[0], gt[0]) + 1)
    ih = max(0.0, min(pred[3], gt[3]) - max(pred[1], gt[1]) + 1)
    inter = iw * ih
    union = (pred[2] - pred[0] + 1) * (pred[3] - pred[1] + 1) + (gt[2] - gt[0] + 1) * (gt[3] - gt[1] + 1)
    union -= inter
    return float(inter / union) if union > 0 else 0.0


def box_iou(pred: Box, gt: Box) -> float:
    """Continuous IoU of two ``[x1, y1, x2, y2]`` boxes.

    Args:
        pred: Predicted box (any unit, same as ``gt``); inverted coordinates are sorted first.
        gt: Ground-truth box.

    Returns:
        IoU in 0..1; 0.0 when the union has zero area.
    """
    px1, px2 = sorted((pred[0], pred[2]))
    py1, py2 = sorted((pred[1], pred[3]))
    gx1, gx2 = sorted((gt[0], gt[2]))
    gy1, gy2 = sorted((gt[1], gt[3]))
    inter = max(0.0, min(px2, gx2) - max(px1, gx1)) * max(0.0, min(py2, gy2) - max(py1, gy1))
    union = (px2 - px1) * (py2 - py1) + (gx2 - gx1) * (gy2 - gy1) - inter
    return float(inter / union) if union > 0 else 0.0


def grounding_summary(ious: Sequence[float], thresholds: Sequence[float] = (0.5, 0.7)) -> dict:
    """Summarise per-sample IoUs (missing or unparsable samples must be passed as 0.0).

    Args:
        ious: One IoU per ground-truth sample.
        thresholds: IoU thresholds for the accuracy figures (``IoU >= t`` counts as a hit).

    Returns:
        ``{"acc@0.5": ..., "acc@0.7": ..., "miou": ..., "total": n}``; figures are 0.0 for no samples.
    """
    total = len(ious)
    out: dict = {f"acc@{t:g}": (sum(iou >= t for iou in ious) / total if total else 0.0) for t in thresholds}
    out["miou"] = sum(ious) / total if total else 0.0
    out["total"] = total
    return out
