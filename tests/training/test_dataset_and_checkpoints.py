"""Record checking (the shared checker of univlm.data.validate), the offline over-length filter, and
checkpoint completeness markers."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from univlm.data.schema import Problem
from univlm.training.dataset import (
    BadRecordError,
    RecordEncoder,
    encode_and_filter,
    load_training_records,
    to_hf_dataset,
)
from univlm.training.trainer import COMPLETE_MARKER, latest_complete_checkpoint, list_checkpoints


def _record(i, answer="yes", images=("a.png",)):
    return {
        "source": "test",
        "targets": {"answer": answer},
        "id": f"r{i}",
        "images": list(images),
        "messages": [
            {"role": "user", "content": "<image>\n" * len(images) + "[VQA] Is there a car?"},
            {"role": "assistant", "content": answer},
        ],
        "task": "VQA",
        "granularity": "image",
    }


class _FakeEncoder(RecordEncoder):
    """Token count = answer length; raises like the real encoder for answers saying 'boom'."""

    def __init__(self):
        super().__init__(processor=None)

    def __call__(self, record):
        answer = record["messages"][-1]["content"]
        if answer == "boom":
            raise BadRecordError([Problem("images[0]", "image", "cannot read x.png", record["line"], record["file"])])
        return {"input_ids": [0] * len(answer)}


def _write(path, lines):
    Image.new("RGB", (8, 8)).save(path.parent / "a.png")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_bad_records_stop_or_are_listed(tmp_path):
    mismatch = {**_record(2), "images": []}
    lines = [json.dumps(_record(0)), "[1, 2]", json.dumps(mismatch), "", json.dumps(_record(4))]
    path = _write(tmp_path / "train.jsonl", lines)
    with pytest.raises(BadRecordError, match=r"train.jsonl:2: record: expected a JSON object"):
        load_training_records(path, tmp_path)
    kept, report = load_training_records(path, tmp_path, skip_bad=True)
    assert [r["id"] for r in kept] == ["r0", "r4"]
    assert report.num_bad == 2 and {p.line for p in report.bad} == {2, 3}
    assert all(isinstance(p, Problem) and p.file == str(path) for p in report.bad)
    assert kept[0]["images"] == [str(tmp_path / "a.png")]
    assert "2 bad records (skipped)" in report.format()


def test_every_field_is_checked_before_use(tmp_path):
    """Issue #15 §9: a task list, a missing image, a path leaving the root are located problems, counted."""
    bad = [
        {**_record(1), "task": ["CLS"]},
        {**_record(2), "images": ["missing.png"]},
        {**_record(3), "images": ["../outside.png"]},
        {**_record(4), "messages": "[VQA] hi"},
    ]
    path = _write(tmp_path / "train.jsonl", [json.dumps(_record(0)), *map(json.dumps, bad)])
    with pytest.raises(BadRecordError, match=r"train.jsonl:2: task: .*\['CLS'\]"):
        load_training_records(path, tmp_path)
    kept, report = load_training_records(path, tmp_path, skip_bad=True)
    assert [r["id"] for r in kept] == ["r0"] and report.num_bad == 4 and report.total == 5
    by_line = {p.line: p for p in report.bad}
    assert by_line[2].field == "task" and by_line[3].kind == "image" and by_line[4].kind == "path"
    assert by_line[5].field == "messages"
    # The same problems, in the same words, as `univlm data validate` reports (one checker).
    from univlm.data.validate import validate_file

    validated = {(p.line, p.field, p.message) for p in validate_file(path, tmp_path).problems}
    assert {(p.line, p.field, p.message) for p in report.bad} <= validated


def test_over_length_filter_and_encode_failures(tmp_path):
    recs = [_record(0, "short"), _record(1, "a much longer answer"), _record(2, "boom")]
    path = _write(tmp_path / "train.jsonl", [json.dumps(r) for r in recs])
    kept, report = load_training_records(path, tmp_path)
    with pytest.raises(BadRecordError, match=r"train.jsonl:3: images\[0\]: cannot read x.png"):
        encode_and_filter([dict(r) for r in kept], report, _FakeEncoder(), max_length=10)
    kept, report = load_training_records(path, tmp_path)
    kept = encode_and_filter(kept, report, _FakeEncoder(), max_length=10, skip_bad=True)
    assert [r["id"] for r in kept] == ["r0"] and kept[0]["num_tokens"] == 5
    assert report.over_length == [("r1", 20)]
    text = report.format()
    assert "1 over max_length=10 (dropped)" in text and "r1: 20 tokens" in text
    assert to_hf_dataset(kept).column_names[:3] == ["id", "images", "messages"]
    with pytest.raises(ValueError, match="no training records"):
        to_hf_dataset([])


def test_cached_encoder_processes_each_image_list_once_and_encodes_the_same(tmp_path, tiny_tokenizer_dir):
    """Records sharing a scene share one processed pixel tensor; the encodings equal uncached ones."""
    from unittest import mock

    import torch
    from transformers import AutoTokenizer

    from univlm.models.processing_univlm import UniVLMProcessor

    Image.new("RGB", (8, 8), (200, 10, 10)).save(tmp_path / "b.png")
    recs = [_record(0, "yes"), _record(1, "no"), _record(2, "maybe", images=("a.png", "b.png")),
            _record(3, "yes", images=("b.png",)), _record(4, "no", images=("a.png", "b.png"))]  # fmt: skip
    path = _write(tmp_path / "train.jsonl", [json.dumps(r) for r in recs])
    kept, _ = load_training_records(path, tmp_path)
    processor = UniVLMProcessor.from_tokenizer(AutoTokenizer.from_pretrained(tiny_tokenizer_dir), image_size=32,
                                               patch_size=8)  # fmt: skip
    plain = [RecordEncoder(processor)(r) for r in kept]
    cached = RecordEncoder(processor, cache=True)
    with mock.patch.object(processor, "process_images", wraps=processor.process_images) as spy:
        out = [cached(r) for r in kept]
        assert spy.call_count == 3  # (a), (a, b), (b)
        assert cached(kept[0]) is out[0] and spy.call_count == 3
    for a, b in zip(plain, out):
        assert torch.equal(a["input_ids"], b["input_ids"]) and torch.equal(a["labels"], b["labels"])
        assert torch.equal(a["pixel_values"], b["pixel_values"]) and torch.equal(a["image_sizes"], b["image_sizes"])
    assert out[0]["pixel_values"] is out[1]["pixel_values"]
    assert out[2]["pixel_values"] is out[4]["pixel_values"] and out[2]["pixel_values"].shape[0] == 2
    assert not torch.equal(out[0]["pixel_values"], out[3]["pixel_values"])
    (tmp_path / "b.png").write_bytes(b"not a png")  # an unreadable image is still a located problem
    with pytest.raises(BadRecordError, match=r"train.jsonl:4: images\[0\]"):
        RecordEncoder(processor, cache=True)(kept[3])


def test_latest_complete_checkpoint_ignores_and_removes_incomplete(tmp_path):
    for step, complete in ((2, True), (4, True), (6, False)):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        if complete:
            (folder / COMPLETE_MARKER).write_text("{}")
    (tmp_path / "checkpoint-x").mkdir()
    assert [s for s, _, _ in list_checkpoints(tmp_path)] == [2, 4, 6]
    assert latest_complete_checkpoint(tmp_path) == tmp_path / "checkpoint-4"
    assert (tmp_path / "checkpoint-6").exists()
    assert latest_complete_checkpoint(tmp_path, remove_incomplete=True) == tmp_path / "checkpoint-4"
    assert not (tmp_path / "checkpoint-6").exists()
    assert latest_complete_checkpoint(tmp_path / "missing") is None
