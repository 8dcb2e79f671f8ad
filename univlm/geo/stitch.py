"""Stitching tile answers into scene answers: boxes offset into the scene and merged across borders.

Design choices and sources:
- An object cut by a tile border is seen whole or in part by each tile that overlaps it. The parts
  are merged by greedy non-maximum MERGING (SAHI's ``GreedyNMMPostprocess``) rather than suppression:
  boxes are visited best first; every not-yet-used box whose intersection-over-SMALLER (IoS) with
  the current one reaches the threshold joins it, and the merged box is their union. IoS, not IoU,
  because a cut-off part is small against the whole: a half box has IoU 0.5 but IoS 1.0 with it.
  Unlike SAHI, a candidate is tested against the growing merged box, so a chain of parts across
  several tiles folds into one box in a single pass.
- "Best" is the score when the model gave one (univlm's answers usually carry none), then the
  larger area. Merging happens per label unless ``class_agnostic``.
- Pure numpy, no GDAL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

DEFAULT_IOS_THRESHOLD = 0.5


@dataclass
class SceneBox:
    """A box in scene pixel coordinates.

    Attributes:
        box: ``(x1, y1, x2, y2)`` in pixels of the scene.
        label: What the box shows (the prompt's phrase).
        score: Confidence when the model gave one, else None.
        tile_ids: Tiles whose answers were merged into it.
    """

    box: tuple[float, float, float, float]
    label: str
    score: float | None = None
    tile_ids: list[str] = field(default_factory=list)

    @property
    def area(self) -> float:
        """Area in square pixels."""
        return max(0.0, self.box[2] - self.box[0]) * max(0.0, self.box[3] - self.box[1])


def offset_box(
    box: Sequence[float], x: float, y: float, width: float, height: float
) -> tuple[float, float, float, float] | None:
    """Shift a tile-pixel box by the tile origin ``(x, y)`` and clip it to the scene.

    Returns:
        The scene box, or None when nothing of it lies inside the scene (a box in the padding).
    """
    x1, y1 = max(0.0, box[0] + x), max(0.0, box[1] + y)
    x2, y2 = min(float(width), box[2] + x), min(float(height), box[3] + y)
    if x2 <= x1 or y2 <= y1:
        return None
    return (x1, y1, x2, y2)


def intersection_over_smaller(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection area over the smaller box's area (0 when either box is empty)."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return (w * h) / smaller if smaller > 0 else 0.0


def greedy_nmm(
    boxes: Sequence[SceneBox], threshold: float = DEFAULT_IOS_THRESHOLD, class_agnostic: bool = False
) -> list[SceneBox]:
    """Merge boxes that show the same object across tile borders (greedy NMM on IoS).

    Args:
        boxes: Boxes in scene pixels.
        threshold: Minimum IoS for two boxes to merge.
        class_agnostic: Merge boxes of different labels too (the best box's label wins).

    Returns:
        Merged boxes, best first; a merged box's score is the best of its members.
    """
    order = sorted(
        range(len(boxes)),
        key=lambda i: (boxes[i].score if boxes[i].score is not None else float("-inf"), boxes[i].area),
        reverse=True,
    )
    used = [False] * len(boxes)
    merged: list[SceneBox] = []
    for i in order:
        if used[i]:
            continue
        used[i] = True
        head = boxes[i]
        box = list(head.box)
        tile_ids = list(head.tile_ids)
        grown = True
        while grown:  # repeat: a grown box may now reach parts it missed
            grown = False
            for j in order:
                other = boxes[j]
                if used[j] or (not class_agnostic and other.label != head.label):
                    continue
                if intersection_over_smaller(box, other.box) >= threshold:
                    used[j] = grown = True
                    box = [min(box[0], other.box[0]), min(box[1], other.box[1]),
                           max(box[2], other.box[2]), max(box[3], other.box[3])]
                    tile_ids += [t for t in other.tile_ids if t not in tile_ids]
        merged.append(SceneBox(tuple(box), head.label, head.score, tile_ids))
    return merged
