"""``validate``: one test per defect kind, each on a mutated copy of a valid synthetic record."""

from __future__ import annotations

import copy
import json

import pytest

from univlm.data.schema import read_records, validate_record
from univlm.data.synth import generate_synthetic
from univlm.data.validate import PROBLEM_KINDS, check_record, validate_file


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("validate") / "synth"
    generate_synthetic(root, n=3, size=64, seed=11, val_frac=0.0, test_frac=0.0)
    records = {r["id"].rsplit("-", 1)[1]: r for r in read_records(root / "train.jsonl")}
    return root, records


def _problems(data, suffix, mutate):
    root, records = data
    rec = copy.deepcopy(records[suffix])
    mutate(rec)
    return check_record(rec, root=root, line=7)


def _kinds(problems):
    return {p.kind for p in problems}


def test_valid_records_have_no_problems(data):
    root, records = data
    for rec in records.values():
        assert validate_record(rec, root=root) == []


def test_schema_missing_field(data):
    problems = _problems(data, "cls", lambda r: r.pop("source"))
    assert [(p.field, p.kind, p.line) for p in problems] == [("source", "schema", 7)]
    assert problems[0].format("f.jsonl") == "f.jsonl:7: source: missing required field"


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda r: r.update(granularity="pixel"), "granularity"),
    (lambda r: r.update(task="DET"), "task"),
    (lambda r: r.update(images=[]), "images"),
    (lambda r: r["messages"].reverse(), "messages"),
    (lambda r: r["messages"][0].update(role="robot"), "messages[0].role"),
    (lambda r: r.update(targets=[]), "targets"),
])
def test_schema_bad_values(data, mutate, field):
    problems = _problems(data, "vg", mutate)
    assert ("schema", field) in {(p.kind, p.field) for p in problems}


def test_image_missing(data):
    problems = _problems(data, "cap", lambda r: r.update(images=["images/train/nope.png"]))
    assert [(p.kind, p.field) for p in problems] == [("image", "images[0]")]
    assert "file not found" in problems[0].message


def test_image_corrupt(data, tmp_path):
    root, records = data
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    rec = copy.deepcopy(records["cls"])
    rec["images"] = ["images/bad.png"]
    problems = check_record(rec, root=tmp_path)
    assert [(p.kind, p.field) for p in problems] == [("image", "images[0]")]
    assert "cannot open" in problems[0].message


def test_placeholder_count(data):
    def mutate(r):
        r["messages"][0]["content"] = r["messages"][0]["content"].replace("<image>\n", "", 1)

    problems = _problems(data, "ccd", mutate)
    assert [(p.kind, p.message) for p in problems] == [("placeholder", "1 <image> placeholders for 2 images")]


def test_tag_disagrees_with_task(data):
    def mutate(r):
        r["messages"][0]["content"] = r["messages"][0]["content"].replace("[VQA]", "[CAP]")

    problems = _problems(data, "vqa", mutate)
    assert _kinds(problems) == {"tag"}
    assert "[CAP] disagrees with task VQA" in problems[0].message


def test_tag_missing(data):
    def mutate(r):
        r["messages"][0]["content"] = r["messages"][0]["content"].replace("[CLS] ", "")

    assert _kinds(_problems(data, "cls", mutate)) == {"tag"}


def test_answer_box_does_not_parse(data):
    problems = _problems(data, "vg", lambda r: r["messages"][1].update(content="somewhere on the left"))
    assert [(p.kind, p.field) for p in problems] == [("answer", "messages[1].content")]


def test_answer_box_out_of_range(data):
    problems = _problems(data, "vg", lambda r: r["messages"][1].update(content="[10, 20, 130, 40]"))
    assert "answer" in _kinds(problems)


def test_answer_mask_fails_strict_decoder(data):
    def mutate(r):
        text = r["messages"][1]["content"]
        r["messages"][1]["content"] = text.replace("others *24\n", "others *23\n", 1)

    problems = _problems(data, "seg", mutate)
    assert [(p.kind, p.field) for p in problems] == [("answer", "messages[1].content")]
    assert "strictly" in problems[0].message


def test_targets_vg_box_disagrees(data):
    def mutate(r):
        r["targets"]["boxes"][0] = [b + 5 for b in r["targets"]["boxes"][0]]

    problems = _problems(data, "vg", mutate)
    assert _kinds(problems) == {"targets"}
    assert "differs from normalize_box" in problems[0].message


def test_targets_ref_box_disagrees(data):
    problems = _problems(data, "ref", lambda r: r["targets"].update(boxes=[[0, 0, 64, 64]]))
    assert _kinds(problems) == {"targets"}


def test_targets_seg_mask_disagrees(data):
    def mutate(r):
        r["messages"][1]["content"] = "<seg>" + "\n ".join(["others *24"] * 24) + "\n</seg>"

    problems = _problems(data, "seg", mutate)
    assert _kinds(problems) == {"targets"}
    assert "cells" in problems[0].message


def test_targets_multi_referring_instance_disagrees(data):
    def mutate(r):
        r["targets"]["instances"][0]["rle"] = {"size": [64, 64], "counts": [64 * 64]}

    assert _kinds(_problems(data, "mref", mutate)) == {"targets"}


@pytest.mark.parametrize(("suffix", "mutate"), [
    ("cls", lambda r: r["messages"][1].update(content="forest")),
    ("vqa", lambda r: r["targets"].update(answer="maybe")),
    ("cap", lambda r: r["targets"].update(references=["something else"])),
    ("ccd", lambda r: r["targets"].update(references=[])),
    ("vg", lambda r: r["targets"].update(image_size=[32, 32])),
    ("seg", lambda r: r["targets"].update(labels=["background", "building"])),
    ("cd", lambda r: r["targets"].pop("mask")),
])
def test_targets_other_disagreements(data, suffix, mutate):
    assert _kinds(_problems(data, suffix, mutate)) == {"targets"}


def test_validate_file_reports_lines_and_summary(data, tmp_path):
    root, records = data
    good = records["cls"]
    bad = copy.deepcopy(records["vqa"])
    bad["targets"]["answer"] = "maybe"
    path = tmp_path / "mixed.jsonl"
    lines = [json.dumps(good), "", "{broken", json.dumps(bad), json.dumps([1])]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = validate_file(path, root=root)
    assert report.records == 4 and report.bad == 3
    assert [(p.line, p.kind) for p in report.problems] == [(3, "json"), (4, "targets"), (5, "json")]
    assert report.by_kind == {"json": 2, "targets": 1}
    assert "4 records read, 3 bad" in report.summary()
    assert set(report.by_kind) <= set(PROBLEM_KINDS)


def test_duplicate_id_in_file(data, tmp_path):
    root, records = data
    path = tmp_path / "dup.jsonl"
    path.write_text(json.dumps(records["cls"]) + "\n" + json.dumps(records["cls"]) + "\n", encoding="utf-8")
    report = validate_file(path, root=root)
    assert [(p.line, p.field, p.kind) for p in report.problems] == [(2, "id", "schema")]
    assert "first on line 1" in report.problems[0].message
