import pytest

from univlm.evaluation.metrics.vqa import normalize_answer, vqa_accuracy

ANSWERS = ["Yes.", "no", "5", "urban", None, "Yes"]
TARGETS = ["yes", "yes", "4", "Urban", "no", "yes"]
TYPES = ["presence", "presence", "count", "rural_urban", "comparison", "area"]


def test_normalize_answer():
    assert normalize_answer("  Yes. ") == "yes"
    assert normalize_answer("No") == "no"


def test_lr_protocol_excludes_count():
    res = vqa_accuracy(ANSWERS, TARGETS, TYPES, exclude=["count"])
    assert res["excluded"] == 1 and res["total"] == 5 and res["correct"] == 3
    assert res["accuracy"] == pytest.approx(0.6)
    assert res["mean_type_accuracy"] == pytest.approx((0.5 + 1.0 + 0.0 + 1.0) / 4)
    assert res["per_type"]["presence"] == {"accuracy": 0.5, "correct": 1, "total": 2}


def test_hr_protocol_excludes_count_and_area():
    res = vqa_accuracy(ANSWERS, TARGETS, TYPES, exclude=["count", "area"])
    assert res["excluded"] == 2 and res["total"] == 4
    assert res["accuracy"] == pytest.approx(0.5)
    assert "area" not in res["per_type"]


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="one entry per question"):
        vqa_accuracy(["a"], ["a", "b"])
