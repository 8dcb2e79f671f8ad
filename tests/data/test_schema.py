"""Schema I/O: JSONL round trip, line-numbered errors, HF datasets loading."""

from __future__ import annotations

import json

import pytest

from univlm.data.schema import (
    RecordError,
    dumps_record,
    read_jsonl,
    read_records,
    write_jsonl_atomic,
)
from univlm.data.synth import generate_synthetic
from univlm.data.validate import load_hf_dataset, validate_record


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


def test_schema_and_validate_import_no_model_stack():
    """Issue #13 §1/§3: the schema (and the checker) load without torch or transformers, and schema
    does not import validate (the old cycle)."""
    import subprocess
    import sys

    code = (
        "import sys, univlm.data.schema\n"
        "assert 'univlm.data.validate' not in sys.modules\n"
        "import univlm.data.validate, univlm.imaging\n"
        "print(sorted(m for m in ('torch', 'transformers', 'datasets', 'univlm.models') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_read_jsonl_rejects_hostile_json_by_line(tmp_path):
    path = tmp_path / "h.jsonl"
    path.write_text('{"a": 1}\n' + "[" * 100_000 + "\n", encoding="utf-8")
    with pytest.raises(RecordError, match=r"h.jsonl:2: json: "):
        list(read_jsonl(path))
    path.write_text('{"a": ' + "9" * 5000 + "}\n", encoding="utf-8")
    with pytest.raises(RecordError, match=r"h.jsonl:1: json: "):
        list(read_jsonl(path))


def test_load_hf_dataset_uses_the_one_checker(synth_root, tmp_path):
    rec = read_records(synth_root / "val.jsonl")[0]
    path = tmp_path / "h.jsonl"
    path.write_text(json.dumps(rec) + "\n" + json.dumps({**rec, "task": ["CLS"]}) + "\n", encoding="utf-8")
    with pytest.raises(RecordError, match=r"h.jsonl:2: task: expected one of .* \(a string\), got \['CLS'\]"):
        load_hf_dataset(path)
    path.write_text(json.dumps({**rec, "images": ["../../x.png"]}) + "\n", encoding="utf-8")
    with pytest.raises(RecordError, match=r"h.jsonl:1: images\[0\]: .* leaves the data root"):
        load_hf_dataset(path, root=tmp_path)
    assert len(load_hf_dataset(path, root=tmp_path, allow_outside_root=True)) == 1
    assert len(load_hf_dataset(path)) == 1  # no root: paths stay as written, unchecked
