"""The converter framework: registry, layout checks, atomic writes, limits, skip accounting."""

from __future__ import annotations

import json

import pytest

import data_converters
from data_converters import (
    ConvertContext,
    Converter,
    DatasetCard,
    LayoutError,
    Skip,
    convert,
    get_converter,
    make_record,
)
from tests.data_converters.helpers import fake_dir

EXPECTED = {
    "aid", "dior-rsvg", "fmow-rgb", "geochat-instruct", "nwpu-resisc45", "opt-rsvg", "rsicd", "rsitmd",
    "rsvqa-hr", "rsvqa-lr", "siri-whu", "ucm", "vrsbench-cap", "vrsbench-ref", "vrsbench-vqa", "whu-rs19",
}  # fmt: skip


def test_registry_discovers_every_dataset_module():
    convs = data_converters.available_converters()
    assert EXPECTED <= set(convs)
    for name, conv in convs.items():
        assert conv.name == name and conv.url.startswith("http") and conv.citation and conv.layout
    assert get_converter("NWPU_RESISC45") is convs["nwpu-resisc45"]
    with pytest.raises(KeyError, match="unknown dataset 'nope'"):
        get_converter("nope")


def _toy(records, tasks=("CLS",)):
    def parse(ctx: ConvertContext):
        yield from records(ctx)

    card = DatasetCard(
        name="toy", title="Toy", url="https://example.org", citation="-", layout="<src>/\n  a/\n"
    )
    return Converter(card, tasks=tasks, splits=("train",), required=("a/",), parse=parse)


def _cls(ctx, i, label="x"):
    img = ctx.image(fake_dir("ucm") / "UCMerced_LandUse/Images/beach/beach00.tif")
    return make_record(
        rid=f"toy-{i}", images=[img.rel], task="CLS", prompt="[CLS] pick: x, y", answer=label,
        source="toy/train", targets={"label": label, "classes": ["x", "y"]},
    )  # fmt: skip


def test_failure_leaves_no_output_and_no_temp_file(tmp_path):
    (tmp_path / "src" / "a").mkdir(parents=True)
    out = tmp_path / "out" / "toy.jsonl"

    def records(ctx):
        yield _cls(ctx, 0)
        raise ValueError("annotation file broken half-way")

    with pytest.raises(ValueError, match="half-way"):
        convert(_toy(records), tmp_path / "src", out, progress=False)
    assert list(out.parent.iterdir()) == []


def test_existing_output_survives_a_failed_run(tmp_path):
    (tmp_path / "src" / "a").mkdir(parents=True)
    out = tmp_path / "toy.jsonl"
    out.write_text("previous\n")
    with pytest.raises(LayoutError):
        convert(_toy(lambda ctx: iter(())), tmp_path / "elsewhere", out, progress=False)
    assert out.read_text() == "previous\n"


def test_limit_skips_invalid_and_duplicates(tmp_path):
    (tmp_path / "src" / "a").mkdir(parents=True)

    def records(ctx):
        yield Skip("missing image", "a/1.png")
        yield _cls(ctx, 0, label="z")  # not among the classes: validation rejects it
        for i in range(1, 10):
            yield _cls(ctx, i)

    summary = convert(_toy(records), tmp_path / "src", tmp_path / "o.jsonl", limit=3, progress=False)
    assert summary.written == 3 and len((tmp_path / "o.jsonl").read_text().splitlines()) == 3
    assert summary.skipped == {"missing image": 1, "invalid record (targets)": 1}
    assert "invalid record (targets)" in summary.format()
    assert json.loads(json.dumps(summary.to_dict()))["per_task"] == {"CLS": 3}

    def dupes(ctx):
        yield _cls(ctx, 0)
        yield _cls(ctx, 0)

    with pytest.raises(ValueError, match="duplicate record id 'toy-0'"):
        convert(_toy(dupes), tmp_path / "src", tmp_path / "d.jsonl", progress=False)


def test_bad_arguments_are_rejected(tmp_path):
    conv = get_converter("ucm")
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        convert(conv, fake_dir("ucm"), tmp_path / "x.jsonl", split="dev", progress=False)
    with pytest.raises(ValueError, match="cannot emit tasks"):
        convert(conv, fake_dir("ucm"), tmp_path / "x.jsonl", tasks=["VG"], progress=False)
    with pytest.raises(ValueError, match="unknown tasks"):
        _toy(lambda ctx: iter(()), tasks=("DET",))
    with pytest.raises(LayoutError, match="is not a folder"):
        conv.check_layout(tmp_path / "missing")
