"""evaluate_val of univlm.training.pipeline: what it asks the evaluation runner to score."""

from __future__ import annotations

import json

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
