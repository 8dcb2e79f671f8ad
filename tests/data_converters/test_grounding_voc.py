"""VOC-XML grounding converters (DIOR-RSVG, OPT-RSVG) and VRSBench referring."""

from __future__ import annotations

import pytest

from data_converters import LayoutError, convert, get_converter
from tests.data_converters.helpers import corrupt, expected, fake_dir
from univlm.codecs.boxes import denormalize_box, parse_boxes


def _decoded_px(text: str, width: int, height: int) -> tuple[float, float, float, float]:
    (box,) = parse_boxes(text).boxes
    return denormalize_box(box.box, width, height)


def _assert_close(got, want, width, height):
    # The text box has 1/100-of-the-image resolution: half a unit of rounding either way.
    for g, w, scale in zip(got, want, (width, height, width, height)):
        assert abs(g - w) <= scale / 200 + 1e-9


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_dior_rsvg_boxes_decode_to_ground_truth(run_converter, split):
    want = expected("dior_rsvg")
    w, h = want["image_size"]
    summary, records = run_converter("dior-rsvg", fake_dir("dior_rsvg"), split=split)
    assert summary.written == len(want[split]) and set(summary.per_task) == {"VG"}
    for rec, exp in zip(records, want[split]):
        assert rec["task"] == "VG" and rec["granularity"] == "region"
        assert rec["messages"][0]["content"] == f"<image>\n[VG] {exp['text']}"
        assert rec["images"] == [f"JPEGImages/{exp['image']}"]
        assert rec["targets"] == {"boxes": [[float(v) for v in exp["box"]]], "image_size": [w, h]}
        _assert_close(_decoded_px(rec["messages"][1]["content"], w, h), exp["box"], w, h)


def test_opt_rsvg_vg_and_ref_records(run_converter):
    want = expected("opt_rsvg")
    summary, records = run_converter("opt-rsvg", fake_dir("opt_rsvg"), split="train", tasks=["VG", "REF"])
    assert dict(summary.per_task) == {"VG": 2, "REF": 2}
    vg = [r for r in records if r["task"] == "VG"]
    ref = [r for r in records if r["task"] == "REF"]
    for v, r, exp in zip(vg, ref, want["train"]):
        w, h = exp["size"]
        assert v["targets"]["image_size"] == [w, h]
        _assert_close(_decoded_px(v["messages"][1]["content"], w, h), exp["box"], w, h)
        _assert_close(_decoded_px(r["messages"][0]["content"], w, h), exp["box"], w, h)
        assert r["messages"][1]["content"] == exp["text"] and r["targets"]["references"] == [exp["text"]]
    _, empty = run_converter("opt-rsvg", fake_dir("opt_rsvg"), split="test")
    assert empty == []


def test_vrsbench_ref_grid_boxes_round_trip(run_converter):
    want = expected("vrsbench")
    w, h = want["image_size"]
    _, records = run_converter("vrsbench-ref", fake_dir("vrsbench"), split="val")
    assert [parse_boxes(r["messages"][1]["content"]).boxes[0].box for r in records] == [
        tuple(b) for b in want["val"]["ref"]
    ]
    _, train = run_converter("vrsbench-ref", fake_dir("vrsbench"), split="train")
    assert [r["targets"]["boxes"] for r in train] == [want["train"]["ref_px"]]
    assert train[0]["targets"]["image_size"] == [w, h]


def test_corrupt_image_and_broken_xml_keep_indices_aligned(run_converter, fake_copy):
    src = fake_copy("dior_rsvg")
    corrupt(src / "JPEGImages" / "00001.jpg")
    # An unparsable XML still counts its <object>s, so object 3 (test) stays object 3.
    xml = src / "Annotations" / "00002.xml"
    xml.write_text(xml.read_text().replace("</annotation>", ""))
    summary, _ = run_converter("dior-rsvg", src, split="train")
    assert summary.written == 0
    assert dict(summary.skipped) == {"corrupt image": 1, "unreadable annotation": 1}
    summary, records = run_converter("dior-rsvg", src, split="test")
    assert summary.written == 1 and records[0]["images"] == ["JPEGImages/00003.jpg"]


def test_wrong_layout_names_the_missing_path(fake_copy, tmp_path):
    src = fake_copy("opt_rsvg")
    (src / "split" / "val.txt").unlink()
    with pytest.raises(LayoutError, match=r"file 'split/val.txt'") as err:
        convert(get_converter("opt-rsvg"), src, tmp_path / "o.jsonl", split="val", progress=False)
    assert "Annotations/<id>.xml" in str(err.value)  # the expected tree is shown
    with pytest.raises(LayoutError, match="folder 'JPEGImages/'"):
        convert(get_converter("dior-rsvg"), fake_dir("opt_rsvg"), tmp_path / "d.jsonl", progress=False)
