import pytest

from univlm.evaluation.metrics.grounding import box_iou, box_iou_inclusive, first_four_ints, grounding_summary


def test_first_four_ints_reads_like_vrsbench():
    assert first_four_ints("[12, 30, 45, 61]") == (12, 30, 45, 61)
    assert first_four_ints("{<10><20><30><40>|<45>}") == (10, 20, 30, 40)
    assert first_four_ints("x 1 and 2, 3") is None


def test_inclusive_iou_counts_grid_cells():
    # 6x6 cells each, 5x5 overlap: 25 / (36 + 36 - 25)
    assert box_iou_inclusive([10, 10, 15, 15], [11, 11, 16, 16]) == pytest.approx(25 / 47)
    assert box_iou_inclusive([5, 5, 5, 5], [5, 5, 5, 5]) == 1.0  # a single cell is a real box
    assert box_iou_inclusive([20, 5, 10, 9], [0, 0, 50, 50]) == 0.0  # inverted prediction


def test_continuous_iou():
    # 5x5 areas, 4x4 overlap: 16 / (25 + 25 - 16)
    assert box_iou([10, 10, 15, 15], [11, 11, 16, 16]) == pytest.approx(16 / 34)
    assert box_iou([5, 5, 5, 5], [5, 5, 5, 5]) == 0.0  # zero area
    assert box_iou([0, 0, 10, 10], [20, 20, 30, 30]) == 0.0


def test_summary_thresholds_are_inclusive():
    res = grounding_summary([1.0, 0.7, 0.5, 0.0])
    assert res["acc@0.5"] == 0.75 and res["acc@0.7"] == 0.5
    assert res["miou"] == pytest.approx(2.2 / 4)
    assert grounding_summary([])["miou"] == 0.0
