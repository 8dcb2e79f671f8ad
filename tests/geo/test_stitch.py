"""Box stitching: offsets into the scene, intersection-over-smaller, greedy non-maximum merging."""

from __future__ import annotations

import pytest

from univlm.geo.stitch import SceneBox, greedy_nmm, intersection_over_smaller, offset_box


def test_ios_is_one_for_a_part_inside_a_whole():
    whole, half = (0, 0, 10, 10), (0, 0, 5, 10)
    assert intersection_over_smaller(whole, half) == 1.0
    assert intersection_over_smaller(half, whole) == 1.0
    assert intersection_over_smaller(whole, (20, 20, 30, 30)) == 0.0
    assert intersection_over_smaller((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(0.5)
    assert intersection_over_smaller((0, 0, 0, 10), (0, 0, 10, 10)) == 0.0


def test_offset_box_moves_and_clips_and_drops_padding_boxes():
    assert offset_box((10, 20, 30, 40), 100, 200, 1000, 1000) == (110, 220, 130, 240)
    assert offset_box((10, 20, 300, 40), 900, 0, 1000, 1000) == (910, 20, 1000, 40)
    assert offset_box((150, 0, 200, 10), 900, 0, 1000, 1000) is None


def test_parts_cut_by_tile_borders_merge_into_one_box():
    parts = [
        SceneBox((90, 10, 128, 40), "car", None, ["a"]),  # left tile sees the left part
        SceneBox((100, 10, 150, 40), "car", None, ["b"]),  # right tile sees it all
        SceneBox((130, 10, 165, 40), "car", None, ["c"]),  # a third tile sees the right end
        SceneBox((400, 400, 420, 420), "car", None, ["d"]),  # another car
    ]
    merged = greedy_nmm(parts, threshold=0.5)
    assert len(merged) == 2
    big = max(merged, key=lambda b: b.area)
    assert big.box == (90, 10, 165, 40) and sorted(big.tile_ids) == ["a", "b", "c"]


def test_scores_order_the_merge_and_labels_stay_apart_unless_agnostic():
    boxes = [
        SceneBox((0, 0, 10, 10), "car", 0.2, ["a"]),
        SceneBox((0, 0, 10, 10), "truck", 0.9, ["b"]),
        SceneBox((1, 1, 9, 9), "car", 0.8, ["c"]),
    ]
    per_label = greedy_nmm(boxes)
    assert sorted(b.label for b in per_label) == ["car", "truck"]
    car = next(b for b in per_label if b.label == "car")
    assert car.score == 0.8 and car.box == (0, 0, 10, 10)
    (agnostic,) = greedy_nmm(boxes, class_agnostic=True)
    assert agnostic.label == "truck" and agnostic.score == 0.9 and len(agnostic.tile_ids) == 3


def test_boxes_below_the_threshold_stay_separate():
    boxes = [SceneBox((0, 0, 10, 10), "x"), SceneBox((8, 0, 18, 10), "x")]  # IoS 0.2
    assert len(greedy_nmm(boxes, threshold=0.5)) == 2
    assert len(greedy_nmm(boxes, threshold=0.2)) == 1
