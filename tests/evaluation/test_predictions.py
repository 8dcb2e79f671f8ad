"""Predictions files: hostile lines are rejected one by one, named FILE:LINE, counted, and the rest scored."""

import json

import pytest

from tests.evaluation import minidata
from univlm.evaluation.predictions import (
    MAX_LISTED_REJECTS,
    PredictionsError,
    PredictionSet,
    as_prediction_map,
    read_predictions,
    write_predictions,
)
from univlm.evaluation.runner import score

DEEP = '{"id": "deep", "text": ' + "[" * 100_000 + "]" * 100_000 + "}"  # RecursionError in json
HUGE_INT = '{"id": "big", "text": "x", "n": ' + "9" * 5000 + "}"  # ValueError: over the digit limit
BAD_UTF8 = b'{"id": "utf", "text": "\xff\xfe"}'


def _write(path, lines):
    path.write_bytes(b"".join((x if isinstance(x, bytes) else x.encode()) + b"\n" for x in lines))
    return path


def test_issue_15_reproducers_are_rejected_by_line_and_the_rest_kept(tmp_path):
    path = _write(
        tmp_path / "p.jsonl",
        ['{"id": "vg-1", "text": "[11, 11, 16, 16]"}', DEEP, HUGE_INT, BAD_UTF8, '{"id": "ok", "text": "y"}'],
    )
    preds = read_predictions(path)
    assert dict(preds) == {("vg-1", None): "[11, 11, 16, 16]", ("ok", None): "y"}
    assert preds.rejected == 3
    assert preds.problems[0].startswith(f"{path}:2: JSON nested too deeply")
    assert preds.problems[1].startswith(f"{path}:3: invalid JSON") and "digits" in preds.problems[1]
    assert preds.problems[2] == f"{path}:4: invalid UTF-8 at byte 23 of the line"


def test_rejected_lines_are_counted_in_the_score(tmp_path):
    root = tmp_path / "data"
    _, records = minidata.build(root)
    path = _write(tmp_path / "p.jsonl", ['{"id": "vg-1", "text": "[11, 11, 16, 16]"}', DEEP, BAD_UTF8])
    res = score("vg_vrsbench", path, records, root)
    assert res["scores"]["acc@0.5"] == 1.0
    assert res["counts"]["rejected_predictions"] == 2 and len(res["rejected"]) == 2
    assert res["rejected"][0].endswith(":2: JSON nested too deeply")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"id": 1, "text": "x"}', "id: expected a string, got int"),
        ('{"id": "a"}', "text: expected a string, got NoneType"),
        ('{"id": "a", "text": "x", "label": 3}', "label: expected a string or null, got int"),
        ("[1, 2]", "expected a JSON object, got list"),
        ("{not json", "invalid JSON: "),
    ],
)
def test_each_defect_names_its_line_and_field(tmp_path, line, message):
    path = _write(tmp_path / "p.jsonl", ['{"id": "first", "text": "x"}', "", line])
    preds = read_predictions(path)
    assert preds.rejected == 1 and preds.problems[0].startswith(f"{path}:3: {message}")
    with pytest.raises(PredictionsError, match=rf"p.jsonl:3: {message[:12]}"):
        read_predictions(path, strict=True)


def test_duplicates_keep_the_first_and_reject_the_repeat(tmp_path):
    path = _write(tmp_path / "p.jsonl", ['{"id": "a", "text": "x"}', '{"id": "a", "text": "y"}'])
    preds = read_predictions(path)
    assert dict(preds) == {("a", None): "x"} and preds.problems == [
        f"{path}:2: id: duplicate prediction for ('a', None)"
    ]


def test_over_long_lines_are_rejected_without_losing_the_next(tmp_path, monkeypatch):
    monkeypatch.setattr("univlm.evaluation.predictions.MAX_LINE_BYTES", 64)
    path = _write(
        tmp_path / "p.jsonl", ['{"id": "long", "text": "' + "x" * 200 + '"}', '{"id": "b", "text": "y"}']
    )
    preds = read_predictions(path)
    assert dict(preds) == {("b", None): "y"} and preds.problems == [f"{path}:1: line longer than 64 bytes"]


def test_the_problem_list_is_bounded_but_every_reject_is_counted(tmp_path):
    path = _write(tmp_path / "p.jsonl", ["{"] * (MAX_LISTED_REJECTS + 5))
    preds = read_predictions(path)
    assert preds.rejected == MAX_LISTED_REJECTS + 5 and len(preds.problems) == MAX_LISTED_REJECTS


def test_write_then_read_round_trips_and_in_memory_inputs_are_accepted(tmp_path):
    path = tmp_path / "out" / "p.jsonl"
    rows = [{"id": "a", "text": "x", "score": 1}, {"id": "a", "label": "water", "text": "ü"}]
    assert write_predictions(path, rows) == 2
    assert json.loads(path.read_text(encoding="utf-8").splitlines()[1])["text"] == "ü"
    assert read_predictions(path) == {("a", None): "x", ("a", "water"): "ü"}
    assert as_prediction_map({"a": "x"}) == {("a", None): "x"}
    assert as_prediction_map(rows) == {("a", None): "x", ("a", "water"): "ü"}
    assert isinstance(as_prediction_map(rows), PredictionSet) and as_prediction_map(rows).rejected == 0
