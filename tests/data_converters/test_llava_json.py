"""GeoChat-Instruct (LLaVA JSON with GeoChat tags and {<x1><y1><x2><y2>|θ} boxes)."""

from __future__ import annotations

import json

import pytest

from data_converters import LayoutError, convert, get_converter
from data_converters.families.llava_json import convert_geochat_text
from tests.data_converters.helpers import corrupt, expected, fake_dir


def test_geochat_tasks_boxes_and_skips(run_converter):
    want = expected("geochat_instruct")
    summary, records = run_converter("geochat-instruct", fake_dir("geochat_instruct"))
    assert dict(summary.skipped) == want["skipped"]
    assert summary.written == len(want["records"])
    for rec in records:
        key = rec["id"].split("-")[4]
        task, answer, boxes = want["records"][key]
        assert rec["task"] == task
        assert rec["messages"][0]["content"].startswith(f"<image>\n[{task}] ")
        assert rec["messages"][1]["content"] == answer
        if boxes is not None:
            assert rec["targets"]["boxes"] == boxes
            assert rec["targets"]["image_size"] == want["image_size"]
    multi = next(r for r in records if r["task"] == "VQA")
    assert [m["content"] for m in multi["messages"][2:]] == ["[VQA] Is there a runway?", "Yes."]


def test_convert_geochat_text():
    text, boxes = convert_geochat_text("<p>planes</p> {<1><2><3><4>|<90>}<delim>{<5><6><7><8>|<0>} here")
    assert text == "planes [1, 2, 3, 4], [5, 6, 7, 8] here"
    assert boxes == [(1, 2, 3, 4), (5, 6, 7, 8)]
    with pytest.raises(ValueError, match="arity"):
        convert_geochat_text("{<1><2><3>|<90>}")


def test_corrupt_image_bad_box_and_wrong_layout(run_converter, fake_copy, tmp_path):
    src = fake_copy("geochat_instruct")
    corrupt(src / "images" / "P0002.png")
    data = json.loads((src / "GeoChat_Instruct.json").read_text())
    data[0]["conversations"][1]["value"] = "{<10><20><30>|<90>}"
    (src / "GeoChat_Instruct.json").write_text(json.dumps(data))
    summary, _ = run_converter("geochat-instruct", src)
    assert dict(summary.skipped) == {"missing image": 1, "corrupt image": 2, "unreadable GeoChat box": 1}
    assert summary.written == 2
    with pytest.raises(LayoutError, match="GeoChat_Instruct.json"):
        convert(get_converter("geochat-instruct"), fake_dir("rsicd"), tmp_path / "g.jsonl", progress=False)
