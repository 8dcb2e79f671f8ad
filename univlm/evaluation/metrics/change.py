"""Binary change-detection metrics from a confusion matrix accumulated over the dataset.

Protocol ``confusion`` (as in BIT / ChangeFormer's ``metric_tool``, which sum the confusion matrix over
all test images before computing scores): for the change class,
``precision = TP / (TP + FP)``, ``recall = TP / (TP + FN)``, ``F1 = 2PR / (P + R)``,
``IoU = TP / (TP + FP + FN)`` and ``OA = (TP + TN) / (TP + TN + FP + FN)``. Undefined ratios (zero
denominators) are reported as 0.0. Ground-truth pixels equal to ``ignore_index`` are dropped.
A missing or unparsable prediction counts every pixel as wrong (change pixels as FN, no-change pixels
as FP) rather than as a free "no change" answer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class ChangeConfusion:
    """Accumulated pixel counts of the change class.

    Attributes:
        tp: Change predicted and present.
        fp: Change predicted but absent.
        fn: Change missed.
        tn: No change predicted and none present.
    """

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def update(self, pred: np.ndarray, gt: np.ndarray, ignore_index: int | None = 255) -> None:
        """Add one image pair.

        Args:
            pred: (H, W) predicted mask, nonzero = change.
            gt: (H, W) ground-truth mask, nonzero = change, ``ignore_index`` pixels dropped.
            ignore_index: Ignored ground-truth value; None keeps every pixel.

        Raises:
            ValueError: If the shapes differ.
        """
        pred, gt = np.asarray(pred), np.asarray(gt)
        if pred.shape != gt.shape:
            raise ValueError(f"prediction shape {pred.shape} differs from ground-truth shape {gt.shape}")
        keep = np.ones(gt.shape, dtype=bool) if ignore_index is None else gt != ignore_index
        p, g = (pred != 0)[keep], (gt != 0)[keep]
        self.tp += int(np.count_nonzero(p & g))
        self.fp += int(np.count_nonzero(p & ~g))
        self.fn += int(np.count_nonzero(~p & g))
        self.tn += int(np.count_nonzero(~p & ~g))

    def update_missing(self, gt: np.ndarray, ignore_index: int | None = 255) -> None:
        """Add an image pair whose prediction is missing: every pixel counts as wrong.

        Args:
            gt: (H, W) ground-truth mask.
            ignore_index: Ignored ground-truth value.
        """
        gt = np.asarray(gt)
        keep = np.ones(gt.shape, dtype=bool) if ignore_index is None else gt != ignore_index
        g = (gt != 0)[keep]
        self.fn += int(np.count_nonzero(g))
        self.fp += int(np.count_nonzero(~g))


def change_scores(conf: ChangeConfusion) -> dict:
    """Precision, recall, F1, IoU and OA of the change class.

    Args:
        conf: The accumulated confusion counts.

    Returns:
        ``{"precision", "recall", "f1", "iou", "oa", "tp", "fp", "fn", "tn"}``.
    """

    def _ratio(num: float, den: float) -> float:
        return num / den if den else 0.0

    precision = _ratio(conf.tp, conf.tp + conf.fp)
    recall = _ratio(conf.tp, conf.tp + conf.fn)
    return {
        "precision": precision,
        "recall": recall,
        "f1": _ratio(2 * precision * recall, precision + recall),
        "iou": _ratio(conf.tp, conf.tp + conf.fp + conf.fn),
        "oa": _ratio(conf.tp + conf.tn, conf.tp + conf.tn + conf.fp + conf.fn),
        "tp": conf.tp,
        "fp": conf.fp,
        "fn": conf.fn,
        "tn": conf.tn,
    }
