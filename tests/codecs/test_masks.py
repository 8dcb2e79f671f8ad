"""Mask codec: Text4Seg byte compatibility, lenient row-aware decoding, dialects, repairs, interop."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from univlm.codecs.masks import (
    DecodedMask,
    MaskDecodeError,
    NoMaskFound,
    coco_rle_to_mask,
    decode_mask,
    decode_masks,
    downsample_mask,
    encode_grid,
    encode_mask,
    mask_to_coco_rle,
    nearest_indices,
    upsample_grid,
)

LABELS = ["others", "building"]


def _kinds(mask: DecodedMask) -> list[str]:
    return [r.kind for r in mask.repairs]


# ------------------------------------------------------------------------------------ golden strings


def test_golden_issue_example_body():
    names = [["others"] * 24, ["others"] * 7 + ["building"] * 10 + ["others"] * 7, ["others"] * 24]
    assert encode_grid(names, wrap=False) == "others *24\n others *7| building *10| others *7\n others *24\n"


def test_golden_small_grid_wrapped_and_plain():
    grid = np.array([[0, 0, 1], [1, 1, 1], [0, 2, 0]])
    labels = ["others", "building", "low vegetation"]
    assert encode_mask(grid, labels, grid=3) == (
        "<seg>others *2| building *1\n building *3\n others *1| low vegetation *1| others *1\n</seg>"
    )
    assert encode_mask(grid, labels, grid=3, wrap=False, rle=False) == (
        "others| others| building\n building| building| building\n others| low vegetation| others\n"
    )


def test_golden_full_resolution_mask():
    mask = np.zeros((64, 64), dtype=np.uint8)
    mask[:, 32:] = 1  # right half
    text = encode_mask(mask, LABELS, grid=4, wrap=False)
    assert text == "others *2| building *2\n" + " others *2| building *2\n" * 3
    assert encode_mask(mask.astype(bool), LABELS, grid=4, wrap=False) == text


def test_phrase_labels_are_written_whole():
    text = encode_grid([["the red roof", "the red roof", "others"]], wrap=False)
    assert text == "the red roof *2| others *1\n"


@pytest.mark.parametrize("bad", ["a|b", "a*b", "a\nb", " padded", "", "<seg>"])
def test_encode_rejects_unwritable_labels(bad):
    with pytest.raises(ValueError):
        encode_grid([[bad]])


def test_encode_rejects_values_without_label_and_bad_shapes():
    with pytest.raises(ValueError, match="mask value 2 has no label"):
        encode_mask(np.array([[0, 2]]), LABELS, grid=2)
    with pytest.raises(ValueError, match="2-D"):
        encode_mask(np.zeros((2, 2, 3), dtype=int), LABELS)
    with pytest.raises(ValueError, match="integer"):
        encode_mask(np.zeros((4, 4), dtype=float), LABELS, grid=2)


# ---------------------------------------------------------------------------- resampling parity


@pytest.mark.parametrize("grid", [16, 24, 32, 7])
def test_downsample_matches_pil_nearest(grid):
    rng = np.random.default_rng(grid)
    for height, width in [(1, 1), (5, 300), (100, 100), (256, 256), (333, 517), (1000, 24), (2048, 1999)]:
        mask = rng.integers(0, 70000, size=(height, width)).astype(np.int32)
        pil = np.asarray(Image.fromarray(mask, mode="I").resize((grid, grid), Image.NEAREST))
        np.testing.assert_array_equal(downsample_mask(mask, grid), pil)


def test_downsample_matches_pil_for_every_small_size():
    for size in range(1, 400):
        ramp = np.tile(np.arange(size, dtype=np.int32), (2, 1))  # (2, size)
        for grid in (16, 24, 32):
            pil = np.asarray(Image.fromarray(ramp, mode="I").resize((grid, 2), Image.NEAREST))[0]
            np.testing.assert_array_equal(downsample_mask(ramp, grid)[0], pil)


def test_upsample_matches_torch_nearest():
    import torch

    for grid in (16, 24, 32, 5):
        for out in list(range(1, 300, 7)) + [512, 1000, 1023, 2048, 4097]:
            src = torch.arange(grid, dtype=torch.float32).view(1, 1, grid, 1)
            ref = torch.nn.functional.interpolate(src, size=(out, 1), mode="nearest")[0, 0, :, 0]
            np.testing.assert_array_equal(nearest_indices(grid, out), ref.long().numpy())
    cells = np.random.default_rng(0).integers(0, 4, size=(24, 24))
    ref2d = torch.nn.functional.interpolate(
        torch.from_numpy(cells).float()[None, None], size=(333, 517), mode="nearest"
    )[0, 0]
    np.testing.assert_array_equal(upsample_grid(cells, 333, 517), ref2d.long().numpy())
    mask = DecodedMask(labels=LABELS, indices=cells.clip(0, 1))
    assert mask.upsample(333, 517).shape == (333, 517)


# ------------------------------------------------------------------------------------ round trips


@st.composite
def label_grids(draw):
    # Cells come from a seeded numpy generator (drawing 1024 cells one by one through hypothesis is
    # slow); hypothesis still explores grid size, label count, seed and run lengths.
    size = draw(st.sampled_from([16, 24, 32]))
    n_labels = draw(st.integers(1, 5))
    run = draw(st.integers(1, size))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    coarse = rng.integers(0, n_labels, size=(size, -(-size // run)))
    return np.repeat(coarse, run, axis=1)[:, :size].astype(np.int64), n_labels


@given(label_grids(), st.booleans())
def test_grid_text_grid_round_trip_is_exact(grid_and_n, wrap):
    cells, n_labels = grid_and_n
    labels = ["others"] + [f"class {i}" for i in range(1, n_labels)]
    text = encode_mask(cells, labels, grid=cells.shape[0], wrap=wrap)
    decoded = decode_mask(text, labels=labels, strict=True)
    assert decoded.grid_size == cells.shape[0]
    assert decoded.labels == labels
    np.testing.assert_array_equal(decoded.indices, cells)
    # Without a label set or grid the names and the grid are recovered too.
    free = decode_mask(text)
    assert free.names() == np.asarray(labels, dtype=object)[cells].tolist()
    assert free.repairs == []
    assert free.to_text(wrap=wrap) == text


@pytest.mark.parametrize("grid", [16, 24, 32])
def test_grid_is_inferred(grid):
    cells = np.zeros((grid, grid), dtype=int)
    cells[2:5, 3:9] = 1
    decoded = decode_mask(encode_mask(cells, LABELS, grid=grid))
    assert decoded.grid_size == grid
    np.testing.assert_array_equal(decoded.indices, cells)


def test_all_foreground_mask_is_not_empty():
    text = encode_mask(np.ones((24, 24), dtype=int), LABELS)
    decoded = decode_mask(text)
    assert decoded.labels == ["others", "building"]
    assert decoded.binary().all()
    assert decoded.binary("building").all() and not decoded.binary("others").any()
    assert not decoded.binary("road").any()
    assert decoded.counts() == {"others": 0, "building": 576}


# ------------------------------------------------------------------------------- blocks and dialects


def test_prose_around_and_several_blocks():
    text = (
        "Here you go: <seg>others *2| car *1\n car *3\n others *3\n</seg> and the second one "
        "<seg>road *3\n others *3\n others *3\n</seg>. Done."
    )
    first, second = decode_masks(text)
    assert first.names() == [["others", "others", "car"], ["car"] * 3, ["others"] * 3]
    assert second.labels == ["others", "road"]
    assert first.repairs == [] and second.repairs == []
    assert text[first.span[0] : first.span[1]].startswith("<seg>") and text[first.span[1] - 6 :].startswith("</seg>")


def test_missing_close_tag_with_trailing_prose():
    text = "<seg>others *3\n others *1| tree *2\n others *3\nThe trees are in the middle."
    decoded = decode_mask(text)
    assert decoded.grid_size == 3
    assert decoded.names()[1] == ["others", "tree", "tree"]
    assert _kinds(decoded) == ["missing_close_tag"]
    with pytest.raises(MaskDecodeError):
        decode_mask(text, strict=True)


def test_block_cut_by_next_block_without_close():
    masks = decode_masks("<seg>a *2\n a *2\n<seg>b *2\n b *2\n</seg>")
    assert [m.labels for m in masks] == [["others", "a"], ["others", "b"]]
    assert _kinds(masks[0]) == ["missing_close_tag"] and masks[1].repairs == []


def test_bare_block_without_tags():
    decoded = decode_mask("The mask:\nothers *2| ship *2\n others *4\n others *4\n others *4\nThat is all.")
    assert decoded.grid_size == 4 and decoded.counts()["ship"] == 2 and decoded.repairs == []


def test_missing_open_tag_is_repaired():
    decoded = decode_mask("others *2\n ship *2\n</seg>")
    assert _kinds(decoded) == ["missing_open_tag"]


def test_rsunivlm_demo_dialect():
    text = "<seg>others*3, building*1\nbuilding*4\nothers*4\nothers*2, building*2</seg>"
    decoded = decode_mask(text, strict=True)
    assert decoded.grid_size == 4
    assert decoded.names()[0] == ["others"] * 3 + ["building"]
    assert decoded.names()[3] == ["others"] * 2 + ["building"] * 2


def test_trailing_sentence_punctuation_is_not_junk():
    assert decode_mask("others*2\nothers*1, ship*1.", strict=True).counts() == {"others": 3, "ship": 1}


def test_demo_dialect_keeps_commas_inside_phrases():
    decoded = decode_mask("others*1, the red, large roof*1\nothers*2", strict=True)
    assert decoded.labels == ["others", "the red, large roof"]


def test_plain_per_cell_form():
    cells = np.array([[0, 1, 1], [1, 1, 0], [0, 0, 0]])
    decoded = decode_mask(encode_mask(cells, LABELS, grid=3, rle=False), strict=True)
    np.testing.assert_array_equal(decoded.indices, cells)


def test_spacing_and_case_variants():
    decoded = decode_mask("<SEG> others * 2 |Building*1 \n  others  *3\n others *3 </SEG>", labels=LABELS)
    assert decoded.names()[0] == ["others", "others", "building"] and decoded.repairs == []


# ---------------------------------------------------------------------------------------- repairs


def test_row_padded_with_last_label_and_truncated():
    decoded = decode_mask("<seg>others *1| car *1\n car *2| others *3\n others *3\n</seg>")
    assert decoded.names()[:2] == [["others", "car", "car"], ["car", "car", "others"]]
    assert [(r.kind, r.row, r.run) for r in decoded.repairs] == [("row_padded", 0, 1), ("row_truncated", 1, 1)]


def test_extra_run_after_a_full_row_is_truncated():
    decoded = decode_mask("others *2| car *1\n others *2\n", grid=2)
    assert [(r.kind, r.row, r.run) for r in decoded.repairs] == [("row_truncated", 0, 1)]
    assert decoded.counts() == {"others": 4}


def test_missing_rows_padded_and_extra_rows_dropped():
    short = decode_mask("<seg>car *4\n car *4\n</seg>", grid=4)
    assert short.names()[:2] == [["car"] * 4] * 2 and short.names()[2:] == [["others"] * 4] * 2
    assert [(r.kind, r.row) for r in short.repairs] == [("rows_padded", 2)]
    long = decode_mask("<seg>" + "car *2\n " * 5 + "</seg>", grid=2)
    assert long.grid_size == 2 and [(r.kind, r.row) for r in long.repairs] == [("rows_dropped", 2)]


def test_unknown_label_becomes_background_or_raises():
    text = "<seg>others *1| car *2\n building *3\n others *3\n</seg>"
    decoded = decode_mask(text, labels=["others", "building"])
    assert decoded.labels == ["others", "building"]
    assert decoded.names()[0] == ["others"] * 3
    assert [(r.kind, r.row, r.run) for r in decoded.repairs] == [("unknown_label", 0, 1)]
    with pytest.raises(MaskDecodeError) as info:
        decode_mask(text, labels=["others", "building"], strict=True)
    assert (info.value.row, info.value.run, info.value.kind) == (0, 1, "unknown_label")
    assert "row 0" in str(info.value) and "run 1" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_known_label_order_defines_indices():
    decoded = decode_mask("road *1| building *1\n others *2", labels=["building", "road"])
    assert decoded.labels == ["others", "building", "road"]
    assert decoded.indices[0].tolist() == [2, 1]


def test_zero_count_junk_and_empty_rows():
    decoded = decode_mask("<seg>others *0| car *4\n others *1| ??? | car *3\n !!!\n others *4\n</seg>")
    kinds = [(r.kind, r.row) for r in decoded.repairs]
    assert kinds == [("zero_count", 0), ("junk_dropped", 1), ("junk_dropped", 2), ("empty_row", 2)]
    assert decoded.names() == [["car"] * 4, ["others"] + ["car"] * 3, ["others"] * 4, ["others"] * 4]


def test_text_after_last_row_inside_closed_block_is_reported():
    decoded = decode_mask("<seg>others *2\n others *2\n (end of mask)</seg>")
    assert [(r.kind, r.row) for r in decoded.repairs] == [("junk_dropped", None)]


def test_huge_counts_are_clamped():
    decoded = decode_mask("<seg>others *99999999999999999999999\n</seg>")
    assert decoded.grid_size == 256 and "grid_clamped" in _kinds(decoded)


@pytest.mark.parametrize(
    "text,row,run",
    [
        ("others *2| car *1\n others *3\n others *3", 0, 1),  # row sums to 3 with an explicit grid of 2
        ("others *1\n others *2", 0, 0),
    ],
)
def test_strict_names_row_and_run(text, row, run):
    with pytest.raises(MaskDecodeError) as info:
        decode_masks(text, grid=2, strict=True)
    assert (info.value.row, info.value.run) == (row, run)


def test_no_mask():
    assert decode_masks("There is no building in the image.") == []
    assert decode_masks("<seg></seg>") == []
    with pytest.raises(NoMaskFound):
        decode_mask("nothing here")
    with pytest.raises(ValueError, match="grid must be >= 1"):
        decode_masks("no mask", grid=0)


# ------------------------------------------------------------------------------------------- COCO


def test_coco_rle_round_trip():
    rng = np.random.default_rng(1)
    binary = rng.random((37, 53)) > 0.6
    rle = mask_to_coco_rle(binary)
    assert rle["size"] == [37, 53] and isinstance(rle["counts"], str)
    np.testing.assert_array_equal(coco_rle_to_mask(rle), binary)
    np.testing.assert_array_equal(coco_rle_to_mask({**rle, "counts": rle["counts"].encode()}), binary)


def test_coco_uncompressed_counts_and_errors():
    # Column-major: 2 zeros, 3 ones, 1 zero in a 3x2 mask.
    mask = coco_rle_to_mask({"size": [3, 2], "counts": [2, 3, 1]})
    assert mask.tolist() == [[False, True], [False, True], [True, False]]
    with pytest.raises(ValueError):
        coco_rle_to_mask({"size": [3, 2], "counts": [2, 3]})
    with pytest.raises(ValueError):
        coco_rle_to_mask({"counts": "abc"})


def test_repair_text_starts_with_its_kind():
    decoded = decode_mask("<seg>others *1| car *1\n others *3\n others *3\n</seg>")
    (repair,) = decoded.repairs
    assert str(repair).split(":")[0] == "row_padded"
    assert str(repair).endswith("(row 0, run 1)")
