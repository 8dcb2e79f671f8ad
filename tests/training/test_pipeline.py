"""univlm.training.pipeline: what evaluate_val asks the runner to score, and what run checks before the data work."""

from __future__ import annotations

import json
import types

import pytest

from univlm.training import pipeline
from univlm.training.config import parse_args


def test_evaluate_val_passes_the_configured_seg_kinds_and_limit(tmp_path, monkeypatch):
    (tmp_path / "val.jsonl").write_text(json.dumps({"id": "a", "task": "SEG", "images": [], "messages": []}) + "\n")
    calls = []
    monkeypatch.setattr(pipeline, "Predictor", lambda model, processor: "predictor")
    monkeypatch.setattr(pipeline, "evaluate_model", lambda *a, **kw: calls.append(kw) or {"seg_miou": 0.5})
    args, _ = parse_args(["--eval_seg_kinds", "referring", "--eval_limit", "7"], prog="t")

    class Model:
        def eval(self):
            return self

    assert pipeline.evaluate_val(Model(), None, args, tmp_path) == {"seg_miou": 0.5}
    assert [(kw["tasks"], kw["seg_kinds"], kw["limit"]) for kw in calls] == [(["SEG"], ["referring"], 7)]


def test_a_misnamed_expert_fails_before_the_data_is_encoded(tmp_path, monkeypatch):
    def too_late(*args, **kwargs):
        raise AssertionError("the records were resampled and encoded before expert_lrs was checked")

    model = types.SimpleNamespace(config=types.SimpleNamespace(expert_names=["image", "region", "pixel"]))
    monkeypatch.setattr(pipeline, "ensure_data", lambda args, seed: tmp_path)
    monkeypatch.setattr(pipeline, "load_training_records", lambda *a, **kw: ([], None))
    monkeypatch.setattr(pipeline, "_build_model", lambda *a, **kw: (model, None, 0))
    monkeypatch.setattr(pipeline, "_resample", too_late)
    monkeypatch.setattr(pipeline, "encode_and_filter", too_late)
    args, train = parse_args(["--stage", "2", "--expert_lrs.regoin", "1e-4", "--output_dir", str(tmp_path)], prog="t")
    with pytest.raises(ValueError, match=r"unknown experts \['regoin'\]; the model's experts are \['image'"):
        pipeline.run(args, train)
