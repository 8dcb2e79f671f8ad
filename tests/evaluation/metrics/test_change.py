import numpy as np
import pytest

from univlm.evaluation.metrics.change import ChangeConfusion, change_scores


def test_confusion_scores_hand_computed():
    conf = ChangeConfusion()
    conf.update(np.array([[1, 1], [0, 0]]), np.array([[1, 0], [1, 0]]))
    res = change_scores(conf)
    assert (res["tp"], res["fp"], res["fn"], res["tn"]) == (1, 1, 1, 1)
    assert res["precision"] == 0.5 and res["recall"] == 0.5 and res["f1"] == 0.5
    assert res["iou"] == pytest.approx(1 / 3) and res["oa"] == 0.5


def test_accumulates_over_images_and_ignores_255():
    conf = ChangeConfusion()
    conf.update(np.array([[1, 1]]), np.array([[1, 255]]))
    conf.update(np.array([[1, 0, 0]]), np.array([[1, 1, 0]]))
    res = change_scores(conf)
    assert (res["tp"], res["fp"], res["fn"], res["tn"]) == (2, 0, 1, 1)
    assert res["recall"] == pytest.approx(2 / 3) and res["precision"] == 1.0


def test_missing_prediction_counts_every_pixel_wrong():
    conf = ChangeConfusion()
    conf.update_missing(np.array([[1, 0], [0, 0]]))
    res = change_scores(conf)
    assert (res["tp"], res["fp"], res["fn"], res["tn"]) == (0, 3, 1, 0)
    assert res["oa"] == 0.0 and res["f1"] == 0.0
