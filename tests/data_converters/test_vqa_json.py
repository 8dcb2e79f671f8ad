"""VQA converters: RSVQA-LR/HR (questions/answers/images JSON with active flags) and VRSBench-VQA."""

from __future__ import annotations

import pytest

from data_converters import LayoutError, convert, get_converter
from tests.data_converters.helpers import corrupt, expected, fake_dir

ANSWER_TYPES = {
    "presence": "presence",
    "count": "count",
    "comp": "comparison",
    "rural_urban": "rural_urban",
    "area": "area",
}


@pytest.mark.parametrize(
    "name,fake,splits",
    [("rsvqa-lr", "rsvqa_lr", ("train", "val", "test")), ("rsvqa-hr", "rsvqa_hr", ("train", "test_phili"))],
)
def test_rsvqa_questions_and_inactive_entries(run_converter, name, fake, splits):
    want = expected(fake)
    for split in splits:
        summary, records = run_converter(name, fake_dir(fake), split=split)
        assert [(r["messages"][0]["content"], r["messages"][1]["content"]) for r in records] == [
            (f"<image>\n[VQA] {q}", a) for q, a, _ in want[split]
        ]
        assert [r["targets"]["answer_type"] for r in records] == [ANSWER_TYPES[t] for _, _, t in want[split]]
        assert set(summary.per_task) == {"VQA"}
        assert summary.skipped.get("inactive", 0) == want["inactive"].get(split, 0)


def test_vrsbench_vqa_types(run_converter):
    want = expected("vrsbench")
    for split in ("val", "train"):
        _, records = run_converter("vrsbench-vqa", fake_dir("vrsbench"), split=split)
        got = [[r["targets"]["answer"], r["targets"]["answer_type"]] for r in records]
        assert got == want[split]["vqa"]


def test_corrupt_image_skips_its_questions(run_converter, fake_copy):
    src = fake_copy("rsvqa_lr")
    corrupt(src / "Images_LR" / "0.tif")
    summary, records = run_converter("rsvqa-lr", src, split="train")
    assert summary.written == 1 and summary.skipped["corrupt image"] == 2
    assert records[0]["targets"]["answer_type"] == "comparison"


def test_wrong_layout_names_the_missing_file(tmp_path, fake_copy):
    src = fake_copy("rsvqa_hr")
    (src / "USGS_split_val_answers.json").unlink()
    with pytest.raises(LayoutError, match="USGS_split_val_answers.json"):
        convert(get_converter("rsvqa-hr"), src, tmp_path / "v.jsonl", split="val", progress=False)
    with pytest.raises(LayoutError, match="VRSBench_EVAL_vqa.json"):
        convert(get_converter("vrsbench-vqa"), fake_dir("rsicd"), tmp_path / "b.jsonl", progress=False)
