import os

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


@pytest.mark.skipif(not caption.java_available(), reason=NO_JAVA)
@pytest.mark.skipif(
    not os.environ.get("UNIVLM_RUN_METEOR"),
    reason="METEOR starts a 2 GB JVM that loads a paraphrase table (20-40 s on 2 cores); set UNIVLM_RUN_METEOR=1",
)
def test_coco_protocol_meteor_one_tiny_case():
    res = caption_scores(["A man, riding a horse!"], [["a man riding a horse"]], protocol="coco")
    assert res["METEOR"] is not None and res["METEOR"] > 0.9
    assert res["notes"] == []
