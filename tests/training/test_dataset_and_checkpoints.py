"""Record checking, the offline over-length filter, and checkpoint completeness markers."""

from __future__ import annotations

import json

import pytest

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
            raise BadRecordError(f"record {record['id']}: cannot read image x.png")
        return {"input_ids": [0] * len(answer)}


def _write(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return path


def test_bad_records_stop_or_are_listed(tmp_path):
    mismatch = {**_record(2), "images": []}
    lines = [json.dumps(_record(0)), "[1, 2]", json.dumps(mismatch), "", json.dumps(_record(4))]
    path = _write(tmp_path / "train.jsonl", lines)
    with pytest.raises(BadRecordError, match=r"train.jsonl:2 \(no id\): expected a JSON object"):
        load_training_records(path, tmp_path)
    kept, report = load_training_records(path, tmp_path, skip_bad=True)
    assert [r["id"] for r in kept] == ["r0", "r4"]
    assert [b.line for b in report.bad] == [2, 3]
    assert "1 <image> placeholders but 0 images" in report.bad[1].reason
    assert kept[0]["images"] == [str(tmp_path / "a.png")]
    assert "2 bad records (skipped)" in report.format()


def test_over_length_filter_and_encode_failures(tmp_path):
    recs = [_record(0, "short"), _record(1, "a much longer answer"), _record(2, "boom")]
    path = _write(tmp_path / "train.jsonl", [json.dumps(r) for r in recs])
    kept, report = load_training_records(path, tmp_path)
    with pytest.raises(BadRecordError, match=r"train.jsonl:3 \(r2\).*cannot read image"):
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
