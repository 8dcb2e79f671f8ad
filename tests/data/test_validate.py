"""``validate``: one test per defect kind, each on a mutated copy of a valid synthetic record."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from univlm.data.schema import read_records
from univlm.data.synth import generate_synthetic
from univlm.data.validate import PROBLEM_KINDS, check_record, validate_file, validate_record


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


# ---------------------------------------------------------------------- hostile content (issue #15 §9-10)
@pytest.mark.parametrize(("suffix", "mutate", "field", "kind"), [
    ("vg", lambda r: r["targets"]["boxes"][0].__setitem__(1, float("nan")), "targets.boxes", "targets"),
    ("vg", lambda r: r["targets"]["boxes"][0].__setitem__(2, float("inf")), "targets.boxes", "targets"),
    ("vg", lambda r: r["targets"].update(image_size=[True, 64]), "targets.image_size", "targets"),
    ("vg", lambda r: r["targets"].update(image_size=[200000, 200000]), "targets.image_size", "limit"),
    ("mref", lambda r: r["targets"]["instances"][0]["rle"].update(size=["64", "64"]),
     "targets.instances[0].rle", "targets"),
    ("mref", lambda r: r["targets"]["instances"][0]["rle"].update(size=[200000, 200000]),
     "targets.instances[0].rle", "limit"),
    ("mref", lambda r: r["targets"]["instances"][0]["rle"].update(counts=["1", None]),
     "targets.instances[0].rle", "targets"),
    ("mref", lambda r: r["targets"]["instances"][0]["rle"].update(counts="\x7f\x7f"),
     "targets.instances[0].rle", "targets"),
    ("mref", lambda r: r["targets"].update(instances={"a": 1}), "targets.instances", "targets"),
    ("seg", lambda r: r["targets"].update(labels=["others", 3]), "targets.labels", "targets"),
    ("seg", lambda r: r["targets"].update(mask=["masks/x.png"]), "targets.mask", "targets"),
    ("cls", lambda r: r["targets"].update(label={"x": 1}), "targets.label", "targets"),
    ("vqa", lambda r: r["targets"].update(answer_type=["count"]), "targets.answer_type", "targets"),
])
def test_hostile_target_values_are_located_problems(data, suffix, mutate, field, kind):
    problems = _problems(data, suffix, mutate)
    assert (field, kind) in {(p.field, p.kind) for p in problems}, [p.format() for p in problems]
    assert all(p.line == 7 for p in problems)


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda r: r.update(task=["CLS"]), "task"),
    (lambda r: r.update(task={"CLS": 1}), "task"),
    (lambda r: r.update(granularity=["image"]), "granularity"),
    (lambda r: r.update(id=None), "id"),
    (lambda r: r.update(images="images/x.png"), "images"),
    (lambda r: r.update(messages={"role": "user"}), "messages"),
    (lambda r: r["messages"][0].update(role=["user"]), "messages[0].role"),
    (lambda r: r["messages"][1].update(content=None), "messages[1].content"),
    (lambda r: r.update(source=5), "source"),
])
def test_hostile_schema_values_are_located_problems(data, mutate, field):
    problems = _problems(data, "cls", mutate)
    assert ("schema", field) in {(p.kind, p.field) for p in problems}, [p.format() for p in problems]


def test_text_limits(data):
    from univlm.data.validate import DEFAULT_LIMITS

    long_word = "x" * (DEFAULT_LIMITS.max_word_chars + 1)
    problems = _problems(data, "cap", lambda r: r["messages"][1].update(content=f"a {long_word} b"))
    assert [(p.kind, p.field) for p in problems] == [("limit", "messages[1].content")]
    assert f"{DEFAULT_LIMITS.max_word_chars + 1}-character word" in problems[0].message
    huge = "ab " * (DEFAULT_LIMITS.max_message_chars // 3 + 1)
    problems = _problems(data, "cap", lambda r: r["messages"][1].update(content=huge))
    assert [(p.kind, p.field) for p in problems] == [("limit", "messages[1].content")]
    problems = _problems(data, "cap", lambda r: r["messages"].extend(r["messages"] * 40))
    assert [(p.kind, p.field) for p in problems] == [("limit", "messages")]


def test_paths_outside_the_root(data, tmp_path):
    root, records = data
    inside = str(root / records["cls"]["images"][0])
    for bad in ("../x.png", "/abs/path.png", "images/../../x.png"):
        problems = _problems(data, "cls", lambda r, bad=bad: r.update(images=[bad]))
        assert [(p.kind, p.field) for p in problems] == [("path", "images[0]")], bad
        assert "leaves the data root" in problems[0].message and "--allow-outside-root" in problems[0].message
    rec = copy.deepcopy(records["cls"])
    rec["images"] = [inside]  # absolute, but under the root
    assert check_record(rec, root=root) == []
    outside = tmp_path / "elsewhere.png"
    outside.write_bytes((root / records["cls"]["images"][0]).read_bytes())
    rec["images"] = [str(outside)]
    assert _kinds(check_record(rec, root=root)) == {"path"}
    assert check_record(rec, root=root, allow_outside_root=True) == []
    seg = copy.deepcopy(records["seg"])
    seg["targets"]["mask"] = "../../m.png"
    assert [(p.kind, p.field) for p in check_record(seg, root=root)] == [("path", "targets.mask")]


def test_oversized_and_unsupported_images(data, tmp_path):
    from PIL import Image

    root, records = data
    rec = copy.deepcopy(records["cls"])
    problems = check_record(rec, root=root, limits=_limits(max_pixels=64 * 64 - 1))
    assert [(p.kind, p.field) for p in problems] == [("image", "images[0]")]
    assert "exceeds the limit" in problems[0].message
    (tmp_path / "images").mkdir()
    Image.fromarray(np.zeros((64, 64), np.uint16)).save(tmp_path / "images" / "g16.png")
    rec["images"] = ["images/g16.png"]
    assert check_record(rec, root=tmp_path) == []  # 16-bit is loadable now (percentile stretch)


def test_file_problems_carry_file_and_line(data, tmp_path):
    root, records = data
    path = tmp_path / "f.jsonl"
    rec = copy.deepcopy(records["cls"])
    rec["task"] = ["CLS"]
    path.write_bytes(json.dumps(rec).encode() + b"\n\xc3\x28 broken utf-8\n" + b"[" * 100_000 + b"\n"
                     + b'{"id": ' + b"9" * 5000 + b"}\n")
    report = validate_file(path, root=root)
    assert report.records == 4 and report.bad == 4
    located = [(p.file, p.line, p.field, p.kind) for p in report.problems]
    assert (str(path), 1, "task", "schema") in located
    assert (str(path), 2, "encoding", "json") in located
    assert [p.line for p in report.problems if p.kind == "json"] == [2, 3, 4]
    assert report.problems[0].format().startswith(f"{path}:1: task: ")


def test_read_jsonl_names_file_and_line_for_invalid_utf8(tmp_path):
    from univlm.data.schema import RecordError, read_jsonl

    path = tmp_path / "u.jsonl"
    path.write_bytes(b'{"a": 1}\n{"b": "\xff"}\n')
    with pytest.raises(RecordError, match=r"u.jsonl:2: encoding: invalid UTF-8 at byte 8"):
        list(read_jsonl(path))


def test_long_line_is_a_limit_problem(tmp_path):
    path = tmp_path / "long.jsonl"
    path.write_text('{"id": "' + "a" * 2000 + '"}\n', encoding="utf-8")
    report = validate_file(path, limits=_limits(max_line_bytes=1000))
    assert [(p.line, p.kind) for p in report.problems] == [(1, "limit")]


def _limits(**kwargs):
    import dataclasses

    from univlm.data.validate import DEFAULT_LIMITS

    return dataclasses.replace(DEFAULT_LIMITS, **kwargs)


def test_ignored_pixels_are_not_compared(data, tmp_path):
    """Issue #14 §4: ground-truth masks keep no-data pixels as 255 (mmseg's ignore value)."""
    from PIL import Image

    root, records = data
    rec = copy.deepcopy(records["seg"])
    mask = np.asarray(Image.open(root / rec["targets"]["mask"])).copy()  # (64, 64) 0/1
    mask[:, :8] = 255  # the first 3 grid columns sample ignored pixels only
    (tmp_path / "masks").mkdir()
    Image.fromarray(mask.astype(np.uint8)).save(tmp_path / "masks" / "m.png")
    (tmp_path / "images").mkdir()
    for rel in rec["images"]:
        (tmp_path / "images" / rel.rsplit("/", 1)[1]).write_bytes((root / rel).read_bytes())
    rec["images"] = ["images/" + rec["images"][0].rsplit("/", 1)[1]]
    rec["targets"]["mask"] = "masks/m.png"
    assert check_record(rec, root=tmp_path) == []  # whatever the answer says in ignored cells
    rec["targets"]["ignore_index"] = 7
    assert [(p.field, p.kind) for p in check_record(rec, root=tmp_path)] == [("targets.mask", "targets")]
    rec["targets"]["ignore_index"] = 1
    assert [(p.field, p.kind) for p in check_record(rec, root=tmp_path)] == [("targets.ignore_index", "targets")]


def test_ignore_rle_beside_a_binary_mask_rle(data):
    from univlm.codecs.coco_rle import uncompressed_rle

    def mutate(r):
        binary = np.zeros((64, 64), bool)
        r["targets"] = {"mask_rle": uncompressed_rle(binary), "labels": ["others", "building"],
                        "image_size": [64, 64], "ignore_rle": uncompressed_rle(np.ones((64, 64), bool))}

    assert _problems(data, "seg", mutate) == []  # every cell ignored: any answer passes

    def bad(r):
        mutate(r)
        r["targets"]["ignore_rle"] = uncompressed_rle(np.ones((32, 32), bool))

    assert ("targets.ignore_rle", "targets") in {(p.field, p.kind) for p in _problems(data, "seg", bad)}
