from univlm.evaluation.metrics.classification import class_key, classification_accuracy, match_class


def test_class_key_ignores_case_separators_punctuation_and_plural():
    assert class_key("Dense_Residential.") == class_key("dense residential") == class_key("DenseResidential")
    assert class_key("Tennis courts") == class_key("tennis_court")
    assert class_key("bus") == "bus"  # short names keep their last letter


def test_match_class_needs_exactly_one_class():
    assert match_class("Tennis courts", ["tennis_court", "airport"]) == "tennis_court"
    assert match_class("It is an airport", ["airport"]) is None  # no containment matching


def test_accuracy_hand_computed():
    res = classification_accuracy(
        ["Airport.", "dense residential", None, "a forest"],
        ["airport", "denseResidential", "forest", "forest"],
        ["airport", "denseResidential", "forest"],
    )
    assert res["accuracy"] == 0.5
    assert res["correct"] == 2 and res["total"] == 4 and res["unmatched"] == 2
    assert res["per_class"] == {"airport": 1.0, "denseResidential": 1.0, "forest": 0.0}
