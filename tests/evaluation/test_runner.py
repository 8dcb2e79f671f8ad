import json
from dataclasses import replace
from types import SimpleNamespace

import pytest

from tests.evaluation import minidata
from univlm.evaluation.registry import get_task
from univlm.evaluation.runner import (
    build_requests,
    evaluate_model,
    results_markdown,
    score,
    write_results,
)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("evaldata")
    data, records = minidata.build(root)
    return root, records


def test_vg_protocols_disagree_on_small_boxes(dataset):
    root, records = dataset
    preds = {"vg-1": "[10, 10, 15, 15]"}
    vrs = score("vg_vrsbench", preds, records, root)
    pix = score("vg_pixel", preds, records, root)
    assert vrs["protocol"] == "vrsbench" and pix["protocol"] == "pixel"
    assert vrs["scores"]["miou"] == pytest.approx(25 / 47)  # inclusive grid cells: a hit at 0.5
    assert pix["scores"]["miou"] == pytest.approx(16 / 34)  # continuous pixels: a miss
    assert vrs["scores"]["acc@0.5"] == 1.0 and pix["scores"]["acc@0.5"] == 0.0
    assert vrs["counts"]["skipped"] == len(records) - 1


def test_vg_pixel_protocol_denormalises_to_pixels(dataset):
    root, records = dataset
    rec = dict(records[3], id="vg-wide", targets={"boxes": [[20, 10, 100, 50]], "image_size": [200, 100]})
    res = score("vg_pixel", {"vg-wide": "[10, 10, 50, 50]"}, [rec], root)
    assert res["scores"]["miou"] == pytest.approx(1.0)
    res = score("vg_vrsbench", {"vg-wide": "[10, 10, 50, 50]"}, [rec], root)
    assert res["scores"]["miou"] == pytest.approx(1.0)  # ground truth normalised to the same grid


def test_missing_and_unparsable_predictions_score_zero_and_are_reported(dataset):
    root, records = dataset
    res = score("vg_vrsbench", {}, records, root)
    assert res["counts"]["missing"] == 1 and res["missing_ids"] == ["vg-1"] and res["scores"]["miou"] == 0.0
    res = score("vg_pixel", {"vg-1": "no idea"}, records, root)
    assert res["counts"]["unparsable"] == 1 and res["scores"]["acc@0.5"] == 0.0
    res = score("refseg_lisa", {"ref-1": "I cannot"}, records[4:5], root)
    assert res["counts"]["unparsable"] == 1 and res["scores"]["giou"] == 0.0


def test_perfect_answers_score_one_on_every_mask_task(dataset):
    root, records = dataset
    answers = minidata.reference_answers(records)
    ref = [r for r in records if r["id"] == "ref-1"]
    assert score("refseg_lisa", answers, ref, root)["scores"]["giou"] == pytest.approx(1.0, abs=1e-5)
    rrsisd = score("refseg_rrsisd", answers, ref, root)["scores"]
    assert rrsisd["miou"] == 1.0 and rrsisd["oiou"] == 1.0 and rrsisd["prec@0.9"] == 1.0
    multi = score("multiref_geopix", answers, records, root)
    assert multi["scores"] == {"miou": 1.0, "ciou": 1.0} and multi["details"]["masks"] == 2
    cd = score("change_detection", answers, records, root)["scores"]
    assert cd["f1"] == 1.0 and cd["iou"] == 1.0 and cd["oa"] == 1.0
    sem = [r for r in records if r["id"] == "sem-1"]
    single = score("semseg_mmseg_single", answers, sem, root)["scores"]
    assert single == {"aAcc": 1.0, "mIoU": 1.0, "mAcc": 1.0}


def test_zero_shot_semantic_segmentation_uses_one_prompt_per_class(dataset):
    root, records = dataset
    sem = [r for r in records if r["id"] == "sem-1"]
    requests, _ = build_requests("semseg_mmseg", sem)
    assert [r.label for r in requests] == ["building", "water"]
    assert requests[0].prompt == "<image>\n[SEG] Please segment the building in this image."
    answers = minidata.per_class_answers(root, sem[0])
    res = score("semseg_mmseg", answers, sem, root)
    assert res["scores"]["mIoU"] == 1.0 and res["counts"]["missing"] == 0
    del answers[("sem-1", "water")]
    res = score("semseg_mmseg", answers, sem, root)
    assert res["counts"]["missing"] == 1 and res["missing_ids"] == ["sem-1|water"]
    assert res["details"]["per_class"]["water"]["IoU"] == 0.0
    # water pixels (16x16) fall back to "others": others IoU = 24*48 - 256 ... / union with water area
    others = res["details"]["per_class"]["others"]["IoU"]
    assert others == pytest.approx((24 * 48 - 256) / (24 * 48))


def test_classification_vqa_caption_through_score(dataset):
    root, records = dataset
    res = score("scene_cls", {"cls-1": "Airport."}, records, root)
    assert res["scores"]["accuracy"] == 1.0
    res = score("rsvqa_lr", {"vqa-1": "Yes", "vqa-2": "3"}, records, root)
    assert res["scores"]["accuracy"] == 1.0 and res["details"]["excluded_questions"] == 1
    no_meteor = replace(get_task("caption_levircc"), options={"meteor": False})  # METEOR's JVM is slow
    res = score(no_meteor, {"cap-1": "A green forest next to a road."}, records, root)
    assert res["scores"]["BLEU-4"] == pytest.approx(1.0, abs=1e-6)
    assert res["scores"]["METEOR"] is None and res["details"]["notes"]


def test_results_files_name_the_protocol(tmp_path, dataset):
    root, records = dataset
    res = score("vg_vrsbench", {"vg-1": "[11, 11, 16, 16]"}, records, root)
    json_path, md_path = write_results(tmp_path / "out", [res])
    payload = json.loads(json_path.read_text())
    assert payload["results"][0]["protocol"] == "vrsbench"
    assert md_path.read_text() == results_markdown([res])
    assert "protocol `vrsbench`" in md_path.read_text()
    assert "| acc@0.5 | acc@0.7 | miou |" in md_path.read_text()


class EchoPredictor:
    """Stand-in predictor answering each prompt with the record's reference answer."""

    def __init__(self, records):
        self.answers = {r["messages"][0]["content"]: r["messages"][1]["content"] for r in records}
        self.calls = 0

    def predict(self, images, prompt, **gen):
        self.calls += 1
        assert all(im.mode == "RGB" for im in images) and prompt.count("<image>") == len(images)
        return SimpleNamespace(text=self.answers[prompt])


def test_evaluate_model_scores_mixed_records(dataset):
    root, records = dataset
    predictor = EchoPredictor(records)
    out = evaluate_model(predictor, records, root)
    assert out["cls_accuracy"] == 1.0 and out["vqa_accuracy"] == 1.0
    assert out["vg_acc@0.5"] == 1.0 and out["vg_vrsbench_acc@0.5"] == 1.0
    assert out["seg_miou"] == pytest.approx(1.0) and out["seg_giou"] == pytest.approx(1.0, abs=1e-5)
    assert out["cap_bleu4"] == pytest.approx(1.0, abs=1e-6)
    assert out["protocols"]["vg_acc@0.5"] == "pixel" and out["protocols"]["seg_miou"] == "rrsisd"
    assert out["counts"] == {"CAP": 1, "CLS": 1, "SEG": 4, "VG": 1, "VQA": 2}
    assert predictor.calls == len(records)


def test_evaluate_model_reports_each_seg_kind_under_its_own_protocol(dataset):
    root, records = dataset
    out = evaluate_model(EchoPredictor(records), records, root, tasks=["SEG"])
    assert out["protocols"] == {
        "seg_miou": "rrsisd", "seg_oiou": "rrsisd", "seg_giou": "lisa", "semseg_miou": "mmseg",
        "semseg_aacc": "mmseg", "mref_miou": "geopix", "mref_ciou": "geopix", "cd_f1": "confusion",
        "cd_iou": "confusion",
    }  # fmt: skip
    details = out["details"]
    # seg_miou is RRSIS-D over the referring record alone, not over semantic/multi/change records.
    assert [details["SEG:refseg_rrsisd"]["counts"][k] for k in ("records", "scored")] == [1, 1]
    assert details["SEG:semseg_mmseg_single"]["counts"]["scored"] == 1
    assert details["SEG:multiref_geopix"]["counts"]["scored"] == 1
    assert details["SEG:change_detection"]["counts"]["scored"] == 1
    assert out["semseg_miou"] == 1.0 and out["mref_miou"] == 1.0 and out["cd_f1"] == 1.0


def test_evaluate_model_task_filter_and_limit(dataset):
    root, records = dataset
    predictor = EchoPredictor(records)
    out = evaluate_model(predictor, records, root, tasks=["SEG", "VQA"], limit=1)
    assert set(out) >= {"seg_miou", "vqa_accuracy"} and "cls_accuracy" not in out
    # The limit holds per SEG kind: each kind's headline gets its records.
    assert out["counts"] == {"SEG": 4, "VQA": 1} and predictor.calls == 5
    assert set(out) >= {"seg_miou", "semseg_miou", "mref_miou", "cd_f1"}




def test_evaluate_model_scores_only_the_seg_kinds_asked_for(dataset):
    root, records = dataset
    predictor = EchoPredictor(records)
    out = evaluate_model(predictor, records, root, tasks=["SEG"], seg_kinds=["referring"])
    assert out["counts"] == {"SEG": 1} and predictor.calls == 1
    assert out["seg_miou"] == pytest.approx(1.0) and "mref_miou" not in out and "cd_f1" not in out
    with pytest.raises(ValueError, match=r"unknown SEG kinds \['instance'\]"):
        evaluate_model(predictor, records, root, seg_kinds=["referring", "instance"])
