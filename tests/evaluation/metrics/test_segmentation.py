import numpy as np
import pytest

from univlm.evaluation.metrics.segmentation import (
    SampleIU,
    binary_intersection_union,
    hungarian_match,
    intersect_and_union,
    lisa_scores,
    missing_sample,
    multi_referring_scores,
    rrsisd_scores,
    semantic_scores,
)


def test_binary_intersection_union_drops_ignored_pixels():
    s = binary_intersection_union(np.array([[1, 1], [0, 0]]), np.array([[1, 0], [255, 0]]))
    assert (s.intersection, s.union, s.valid) == (1, 2, True)
    with pytest.raises(ValueError, match="differs"):
        binary_intersection_union(np.zeros((2, 2)), np.zeros((2, 3)))


def test_missing_sample_counts_ground_truth_area():
    s = missing_sample(np.array([[1, 255], [1, 0]]))
    assert (s.intersection, s.union, s.valid) == (0, 2, False)


SAMPLES = [SampleIU(1, 2), SampleIU(0, 0), SampleIU(0, 4, valid=False)]


def test_lisa_empty_empty_scores_one():
    res = lisa_scores(SAMPLES)
    assert res["giou"] == pytest.approx((0.5 + 1.0 + 0.0) / 3, abs=1e-5)
    assert res["ciou"] == pytest.approx(1 / 6)


def test_rrsisd_empty_empty_scores_zero():
    res = rrsisd_scores(SAMPLES)
    assert res["miou"] == pytest.approx(0.5 / 3)
    assert res["oiou"] == pytest.approx(1 / 6)
    assert res["prec@0.5"] == pytest.approx(1 / 3) and res["prec@0.6"] == 0.0 and res["prec@0.9"] == 0.0


def test_conventions_disagree_only_on_empty_empty():
    both_empty = [SampleIU(0, 0)]
    assert lisa_scores(both_empty)["giou"] == 1.0
    assert rrsisd_scores(both_empty)["miou"] == 0.0
    normal = [SampleIU(3, 4)]
    assert lisa_scores(normal)["giou"] == pytest.approx(rrsisd_scores(normal)["miou"], abs=1e-5)


def _masks():
    a = np.zeros((2, 4), bool)
    a[:, :2] = True  # left half, 4 px
    b = ~a  # right half, 4 px
    p2 = np.zeros((2, 4), bool)
    p2[0, :2] = True  # top of A, IoU 0.5 with A
    p3 = np.zeros((2, 4), bool)
    p3[1, 0] = True  # one pixel of A, IoU 0.25 with A
    return a, b, p2, p3


def test_hungarian_matching_leaves_extra_prediction_unmatched():
    a, b, p2, p3 = _masks()
    ious, inter, union = hungarian_match([b, p2, p3], [a, b])
    assert sorted(ious) == [0.0, 0.5, 1.0]  # B-B, p2-A matched (1.5 beats p3-A's 1.25); p3 unmatched
    assert (inter, union) == (4 + 2, 4 + 4 + 1)
    res = multi_referring_scores([(ious, inter, union)])
    assert res["miou"] == pytest.approx(0.5) and res["ciou"] == pytest.approx(6 / 9)


def test_hungarian_no_prediction_scores_zero_per_target():
    a, b, _, _ = _masks()
    assert hungarian_match([], [a, b]) == ([0.0, 0.0], 0, 8)


def test_mmseg_intersect_and_union_hand_computed():
    gt = np.array([[0, 1, 1], [2, 2, 255]])
    pred = np.array([[0, 1, 2], [2, 0, 1]])
    inter, union, area_pred, area_label = intersect_and_union(pred, gt, num_classes=4)
    assert inter.tolist() == [1, 1, 1, 0]
    assert area_pred.tolist() == [2, 1, 2, 0] and area_label.tolist() == [1, 2, 2, 0]
    assert union.tolist() == [2, 2, 3, 0]
    res = semantic_scores(inter, union, area_label, ["others", "a", "b", "never"])
    assert res["mIoU"] == pytest.approx((0.5 + 0.5 + 1 / 3) / 3)  # class 3 (nan) left out
    assert res["aAcc"] == pytest.approx(3 / 5)
    assert res["mAcc"] == pytest.approx((1 + 0.5 + 0.5) / 3)
    assert res["per_class"]["never"] == {"IoU": None, "Acc": None}


def test_mmseg_sums_over_the_dataset_before_dividing():
    totals = np.zeros((3, 2), dtype=np.int64)
    img1 = (np.ones((2, 2), int), np.ones((2, 2), int))  # pred, gt: all class 1
    img2 = (np.zeros((2, 2), int), np.array([[1, 0], [0, 0]]))
    for pred, gt in (img1, img2):
        i, u, _, label = intersect_and_union(pred, gt, 2)
        totals += np.stack([i, u, label])
    res = semantic_scores(*totals)
    # class 0: 3/4, class 1: 4/5 -> 0.775 (a per-image average would give 0.6875)
    assert res["mIoU"] == pytest.approx(0.775)


def test_mmseg_out_of_range_predictions_belong_to_no_class():
    inter, union, area_pred, _ = intersect_and_union(np.array([[-1, 1]]), np.array([[1, 1]]), 2)
    assert inter.tolist() == [0, 1] and union.tolist() == [0, 2] and area_pred.tolist() == [0, 1]
