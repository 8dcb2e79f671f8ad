"""Schema I/O: JSONL round trip, line-numbered errors, HF datasets loading."""

from __future__ import annotations

import json

import pytest

from univlm.data.schema import (
    RecordError,
    dumps_record,
    load_hf_dataset,
    read_jsonl,
    read_records,
    validate_record,
    write_jsonl_atomic,
)
from univlm.data.synth import generate_synthetic


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("schema") / "synth"
    generate_synthetic(root, n=6, size=64, seed=3)
    return root


def test_round_trip_is_byte_identical(synth_root, tmp_path):
    src = synth_root / "train.jsonl"
    records = read_records(src)
    assert len(records) > 0
    out = tmp_path / "copy.jsonl"
    assert write_jsonl_atomic(out, records) == len(records)
    assert out.read_bytes() == src.read_bytes()
    assert [dumps_record(r) for r in records] == src.read_text(encoding="utf-8").splitlines()


def test_multi_turn_and_unicode_round_trip(tmp_path):
    rec = {"id": "x-1", "images": ["a.png"], "messages": [
        {"role": "user", "content": "<image>\n[VQA] Is there water? ünïcode"},
        {"role": "assistant", "content": "yes"},
        {"role": "user", "content": "[VQA] How many buildings?"},
        {"role": "assistant", "content": "2"}],
        "task": "VQA", "granularity": "image", "source": "t/train", "targets": {"answer": "yes"}}
    path = tmp_path / "a.jsonl"
    write_jsonl_atomic(path, [rec, rec])
    assert [r for _, r in read_jsonl(path)] == [rec, rec]
    assert validate_record(rec) == []


def test_read_jsonl_line_numbers_and_errors(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"a": 1}\n\n{"b": 2}\n{oops\n', encoding="utf-8")
    it = read_jsonl(path)
    assert next(it) == (1, {"a": 1})
    assert next(it) == (3, {"b": 2})
    with pytest.raises(RecordError, match=r"bad.jsonl:4: json: invalid JSON") as info:
        next(it)
    assert info.value.line == 4
    path.write_text("[1, 2]\n", encoding="utf-8")
    with pytest.raises(RecordError, match="expected a JSON object"):
        list(read_jsonl(path))


def test_write_is_atomic_on_failure(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text("old\n", encoding="utf-8")

    def records():
        yield {"id": "1"}
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_jsonl_atomic(path, records())
    assert path.read_text(encoding="utf-8") == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]


def test_load_hf_dataset(synth_root):
    records = read_records(synth_root / "val.jsonl")
    ds = load_hf_dataset(synth_root / "val.jsonl")
    assert len(ds) == len(records)
    assert ds.column_names == ["id", "images", "messages", "task", "granularity", "source", "targets"]
    for row, rec in zip(ds, records):
        assert row["id"] == rec["id"] and row["images"] == rec["images"] and row["messages"] == rec["messages"]
        assert json.loads(row["targets"]) == rec["targets"]
    absolute = load_hf_dataset(synth_root / "val.jsonl", root=synth_root)
    assert absolute[0]["images"][0] == str(synth_root / records[0]["images"][0])
    structs = load_hf_dataset(synth_root / "val.jsonl", targets_as_json=False)
    cls = next(r for r in structs if r["task"] == "CLS")
    assert cls["targets"]["label"] == next(r for r in records if r["task"] == "CLS")["targets"]["label"]


def test_load_hf_dataset_names_missing_field(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text('{"id": "a"}\n', encoding="utf-8")
    with pytest.raises(RecordError, match=r"m.jsonl:1: images: missing required field"):
        load_hf_dataset(path)
