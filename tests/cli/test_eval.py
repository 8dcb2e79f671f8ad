import json

import pytest

from tests.evaluation import minidata
from univlm.cli.eval import main


@pytest.fixture()
def dataset(tmp_path):
    data, records = minidata.build(tmp_path / "data")
    return data, records


def _write_predictions(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_scores_existing_predictions(tmp_path, dataset, capsys):
    data, records = dataset
    answers = minidata.reference_answers(records)
    rows = [{"id": rid, "text": text, "model": "ref"} for rid, text in answers.items() if rid != "ref-1"]
    rows.append({"id": "extra", "text": "unused"})
    preds = _write_predictions(tmp_path / "preds.jsonl", rows)
    out = tmp_path / "out"
    code = main(
        [
            "--task",
            "vg_vrsbench",
            "--task",
            "vg_pixel",
            "--task",
            "refseg_rrsisd",
            "--task",
            "change_detection",
            "--predictions",
            str(preds),
            "--data",
            str(data),
            "--out",
            str(out),
        ]
    )
    assert code == 0
    results = {r["task"]: r for r in json.loads((out / "results.json").read_text())["results"]}
    assert results["vg_vrsbench"]["protocol"] == "vrsbench" and results["vg_pixel"]["protocol"] == "pixel"
    assert results["vg_vrsbench"]["scores"]["acc@0.5"] == 1.0
    assert results["change_detection"]["scores"]["f1"] == 1.0
    seg = results["refseg_rrsisd"]
    assert seg["counts"]["missing"] == 1 and seg["missing_ids"] == ["ref-1"]  # scored as IoU 0
    assert seg["counts"]["scored"] == 1 and seg["scores"]["prec@0.5"] == 0.0  # other SEG kinds skipped
    assert seg["skipped"]["semantic SEG record, task scores referring records"] == 1
    assert seg["counts"]["unused_predictions"] == 1  # the "extra" id matches no record
    md = (out / "results.md").read_text()
    assert "protocol `rrsisd`" in md and "protocol `pixel`" in md
    captured = capsys.readouterr()
    assert "1 record(s) had no prediction" in captured.err and "results.json" in captured.out


def test_per_class_predictions_with_root(tmp_path, dataset):
    data, records = dataset
    sem = next(r for r in records if r["id"] == "sem-1")
    answers = minidata.per_class_answers(data.parent, sem)
    preds = _write_predictions(
        tmp_path / "p.jsonl", [{"id": i, "label": lab, "text": t} for (i, lab), t in answers.items()]
    )
    moved = tmp_path / "elsewhere.jsonl"
    moved.write_text(json.dumps(records[0]) + "\n" + json.dumps(sem) + "\n")  # a CLS record (skipped) + sem-1
    out = tmp_path / "out"
    code = main(
        [
            "--task",
            "semseg_mmseg",
            "--predictions",
            str(preds),
            "--data",
            str(moved),
            "--root",
            str(data.parent),
            "--out",
            str(out),
            "--limit",
            "1",
        ]
    )
    assert code == 0
    res = json.loads((out / "results.json").read_text())["results"][0]
    assert res["scores"]["mIoU"] == 1.0 and res["details"]["prompting"] == "one prompt per class"
    assert res["counts"]["records"] == 1 and res["counts"]["missing"] == 0


def test_bad_inputs_exit_2_with_one_line_errors(tmp_path, dataset, capsys):
    data, _ = dataset
    assert main(["--task", "vg_pixel", "--data", str(data)]) == 2
    assert main(["--task", "no_such_task", "--predictions", str(data), "--data", str(data)]) == 2
    assert main(["--task", "vg_pixel", "--predictions", str(tmp_path / "nope.jsonl"), "--data", str(data)]) == 2
    assert main(["--task", "vg_pixel", "--dtype", "float64"]) == 2
    assert main(["--bogus"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 5 and all(line.startswith("univlm eval: error: ") for line in err)
    assert "known tasks" in err[1] and "nope.jsonl" in err[2] and "float64" in err[3]


def test_bad_prediction_lines_are_rejected_and_the_rest_scored(tmp_path, dataset, capsys):
    data, _ = dataset
    preds = tmp_path / "p.jsonl"
    preds.write_bytes(b'{"id": 1, "text": "x"}\n{"id": "vg-1", "text": "[11, 11, 16, 16]"}\n' + b"[" * 50000 + b"\n")
    out = tmp_path / "out"
    args = ["--task", "vg_vrsbench", "--predictions", str(preds), "--data", str(data), "-o", str(out), "--json"]
    assert main(args) == 0
    captured = capsys.readouterr()
    payload = json.loads(captured.out)
    res = payload["results"][0]
    assert res["scores"]["acc@0.5"] == 1.0 and res["counts"]["rejected_predictions"] == 2
    assert f"{preds}:1: id: expected a string" in captured.err and f"{preds}:3: JSON nested" in captured.err
    assert json.loads((out / "results.json").read_text())["results"][0]["counts"]["rejected_predictions"] == 2
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1, "text": "x"}\n')
    assert main(["--task", "vg_pixel", "--predictions", str(bad), "--data", str(data), "-o", str(out)]) == 1
    assert capsys.readouterr().err.strip().startswith("univlm eval: error: no usable line in")


def test_quiet_prints_nothing_on_success(tmp_path, dataset, capsys):
    data, records = dataset
    preds = _write_predictions(tmp_path / "p.jsonl", [{"id": "vg-1", "text": "[11, 11, 16, 16]"}])
    assert main(["--task", "vg_pixel", "--predictions", str(preds), "--data", str(data), "-o", str(tmp_path), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_list_tasks(capsys):
    assert main(["--list-tasks"]) == 0
    out = capsys.readouterr().out
    assert "vg_vrsbench" in out and "grounding/vrsbench" in out and "semseg_mmseg" in out
    assert main(["--list-tasks", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {"name": "vg_pixel", "parser": "boxes"}.items() <= next(r for r in rows if r["name"] == "vg_pixel").items()


def test_generates_with_a_tiny_saved_model(tmp_path, dataset, tiny_tokenizer_dir, monkeypatch):
    """End to end: --model loads a saved random tiny checkpoint, writes predictions.jsonl, then scores.

    Every ``predict_batch`` call holds prompts of one expert (as the checkpoint's router decides), and
    the predictions come back in request order.
    """
    import torch
    from transformers import AutoTokenizer

    from tokenizer_ext import resize_embeddings_for
    from univlm.inference import Predictor
    from univlm.models import UniVLMForConditionalGeneration
    from univlm.models.presets import get_preset
    from univlm.models.processing_univlm import UniVLMProcessor
    from univlm.models.router import route_from_config

    batches = []
    original = Predictor.predict_batch

    def spy(self, items, **kw):
        items = list(items)
        batches.append({route_from_config(self.model.config, prompt).expert for _, prompt in items})
        return original(self, items, **kw)

    monkeypatch.setattr(Predictor, "predict_batch", spy)

    config = get_preset("tiny")
    processor = UniVLMProcessor.from_config(AutoTokenizer.from_pretrained(tiny_tokenizer_dir), config)
    torch.manual_seed(0)
    model = UniVLMForConditionalGeneration(config).eval()
    resize_embeddings_for(model, processor.tokenizer)
    model.save_pretrained(tmp_path / "model")
    processor.save_pretrained(tmp_path / "model")

    data, records = dataset
    out = tmp_path / "out"
    code = main(
        [
            "--task",
            "scene_cls",
            "--task",
            "vg_pixel",
            "--task",
            "vqa",
            "--model",
            str(tmp_path / "model"),
            "--data",
            str(data),
            "--out",
            str(out),
            "--max-new-tokens",
            "6",
            "--batch-size",
            "2",
            "--quiet",
        ]
    )
    assert code == 0
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["cls-1", "vg-1", "vqa-1", "vqa-2"]
    assert all(isinstance(r["text"], str) for r in rows)
    assert batches == [{"image"}, {"image"}, {"region"}]  # cls-1 + vqa-1, vqa-2, then vg-1
    results = json.loads((out / "results.json").read_text())["results"]
    assert [(r["task"], r["counts"]["scored"], r["counts"]["missing"]) for r in results] == [
        ("scene_cls", 1, 0),
        ("vg_pixel", 1, 0),
        ("vqa", 2, 0),
    ]
