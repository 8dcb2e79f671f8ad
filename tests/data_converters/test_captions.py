"""Captioning converters: RSICD and RSITMD (Karpathy JSON) and VRSBench-Cap."""

from __future__ import annotations

import pytest

from data_converters import LayoutError, convert, get_converter
from data_converters.families.captions import clean_sentence
from tests.data_converters.helpers import corrupt, expected, fake_dir


@pytest.mark.parametrize(
    "name,fake,splits",
    [("rsicd", "rsicd", ("train", "val", "test")), ("rsitmd", "rsitmd", ("train", "test"))],
)
def test_karpathy_captions(run_converter, name, fake, splits):
    want = expected(fake)
    for split in splits:
        summary, records = run_converter(name, fake_dir(fake), split=split)
        refs = want[split]
        # train: one record per distinct sentence; val/test: one per image answering the first one.
        answers = refs if split == "train" else refs[:1]
        assert [r["messages"][1]["content"] for r in records] == answers
        assert all(r["targets"]["references"] == refs for r in records)
        assert all(
            r["messages"][0]["content"] == "<image>\n[CAP] Describe this image briefly." for r in records
        )
        assert dict(summary.per_task) == {"CAP": len(answers)}


def test_vrsbench_captions(run_converter):
    for split in ("val", "train"):
        summary, records = run_converter("vrsbench-cap", fake_dir("vrsbench"), split=split)
        assert summary.written == expected("vrsbench")[split]["cap"]
        assert all(r["task"] == "CAP" for r in records)


def test_clean_sentence():
    assert clean_sentence("  many  planes are parked .") == "many planes are parked."


def test_corrupt_image_and_wrong_layout(run_converter, fake_copy, tmp_path):
    src = fake_copy("rsicd")
    corrupt(src / "RSICD_images" / "airport_1.jpg")
    summary, _ = run_converter("rsicd", src, split="train")
    assert summary.written == 0 and dict(summary.skipped) == {"corrupt image": 1}
    with pytest.raises(LayoutError, match="dataset_RSITMD.json"):
        convert(get_converter("rsitmd"), fake_dir("rsicd"), tmp_path / "r.jsonl", progress=False)
