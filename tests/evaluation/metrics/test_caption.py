import pytest

from univlm.evaluation.metrics import caption
from univlm.evaluation.metrics.caption import JavaNotFoundError, caption_scores, whitespace_tokenize

HYPS = ["there is no change", "a new road is built here"]
REFS = [["There is no change."], ["A new road is built here", "road added"]]


def test_whitespace_tokenize():
    assert whitespace_tokenize("The building, is  NEW.") == "the building is new"


def test_levircc_identical_captions_score_one_without_meteor():
    res = caption_scores(HYPS, REFS, protocol="levircc", meteor=False)
    assert res["BLEU-1"] == pytest.approx(1.0) and res["BLEU-4"] == pytest.approx(1.0, abs=1e-6)
    assert res["ROUGE-L"] == pytest.approx(1.0)
    assert res["METEOR"] is None and "disabled" in res["notes"][0]


def test_missing_hypothesis_scores_zero():
    res = caption_scores([None, None], REFS, protocol="levircc", meteor=False)
    assert res["BLEU-1"] == pytest.approx(0.0, abs=1e-6) and res["CIDEr"] == 0.0


def test_missing_java_is_reported(monkeypatch):
    monkeypatch.setattr(caption.shutil, "which", lambda name: None)
    res = caption_scores(HYPS, REFS, protocol="levircc", meteor=True)
    assert res["METEOR"] is None and "Java is missing" in res["notes"][0]
    with pytest.raises(JavaNotFoundError, match="needs Java"):
        caption_scores(HYPS, REFS, protocol="coco")


def test_bad_inputs():
    with pytest.raises(ValueError, match="unknown caption protocol"):
        caption_scores(HYPS, REFS, protocol="ptb")
    with pytest.raises(ValueError, match="no reference"):
        caption_scores(["a"], [[]])


NO_JAVA = "Java is not installed: the COCO protocol (PTB tokenizer, METEOR) needs it"


@pytest.mark.skipif(not caption.java_available(), reason=NO_JAVA)
def test_coco_protocol_uses_the_ptb_tokenizer():
    res = caption_scores(
        ["A man, riding a horse!", "A dog."], [["a man riding a horse"], ["a dog"]], "coco", meteor=False
    )
    assert res["BLEU-4"] == pytest.approx(1.0, abs=1e-6)  # PTB lowercases and drops the punctuation
    assert res["METEOR"] is None


def test_meteor_is_pycocoevalcaps_own_figure(monkeypatch):
    """One METEOR call (one JVM start, no PTB tokenizer): univlm reports exactly what pycocoevalcap computes.

    Java is a CI requirement (docs/EVALUATION.md), so this test runs; a missing JRE fails it loudly.
    """
    from pycocoevalcap.meteor import meteor as meteor_module

    assert caption.java_available(), "Java is required by the COCO caption protocol and METEOR"
    seen = {}

    class RecordingMeteor(meteor_module.Meteor):
        def compute_score(self, gts, res):
            seen["inputs"] = (gts, res)
            seen["output"] = super().compute_score(gts, res)
            return seen["output"]

    monkeypatch.setattr(meteor_module, "Meteor", RecordingMeteor)
    res = caption_scores(["A man rides a horse."], [["a man riding a horse", "a person on a horse"]], "levircc")
    assert seen["inputs"] == ({0: ["a man riding a horse", "a person on a horse"]}, {0: ["a man rides a horse"]})
    assert res["METEOR"] == seen["output"][0]  # pycocoevalcap's own corpus figure, passed through
    assert 0.5 < res["METEOR"] < 1.0  # stemming matches "rides"/"riding": close, not exact
    assert res["notes"] == []
