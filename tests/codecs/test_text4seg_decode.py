"""The lenient decoder: blocks, dialects, repairs, strict mode."""

from __future__ import annotations

import numpy as np
import pytest

from univlm.codecs import (
    DEFAULT_MAX_MASKS,
    MAX_GRID,
    DecodedMask,
    LimitExceeded,
    MaskDecodeError,
    NoMaskFound,
    decode_mask,
    decode_masks,
    encode_mask,
)
from univlm.codecs.limits import MAX_REPAIRS

LABELS = ["others", "building"]


def _kinds(mask: DecodedMask) -> list[str]:
    return [r.kind for r in mask.repairs]


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
    assert text[first.span[0] : first.span[1]].startswith("<seg>") and text[first.span[1] - 6 :].startswith(
        "</seg>"
    )


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
    assert [(r.kind, r.row, r.run) for r in decoded.repairs] == [
        ("row_padded", 0, 1),
        ("row_truncated", 1, 1),
    ]


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


def test_repair_text_starts_with_its_kind():
    decoded = decode_mask("<seg>others *1| car *1\n others *3\n others *3\n</seg>")
    (repair,) = decoded.repairs
    assert str(repair).split(":")[0] == "row_padded"
    assert str(repair).endswith("(row 0, run 1)")


# ------------------------------------------------ issue #15, class 1: case folding must not shift offsets


@pytest.mark.parametrize("prefix", ["İ", "İİİ then ", "ſ ", "\u212a "])  # lower() lengthens "İ" to "i̇"
def test_letters_whose_lowercase_is_longer_do_not_shift_blocks(prefix):
    cells = np.zeros((24, 24), dtype=int)
    cells[3:9, 4:20] = 1
    text = prefix + encode_mask(cells, LABELS) + " done"
    decoded = decode_mask(text, strict=True)  # 192 of 576 cells and a label "uilding" came out wrong
    assert decoded.labels == LABELS
    np.testing.assert_array_equal(decoded.indices, cells)
    assert text[decoded.span[0] : decoded.span[1]].startswith("<seg>")
    assert text[decoded.span[0] : decoded.span[1]].endswith("</seg>")


def test_label_istanbul_decodes_strictly():
    text = encode_mask(np.eye(24, dtype=int), ["others", "İstanbul"])
    assert decode_mask("İ " + text, strict=True).labels == ["others", "İstanbul"]


def test_tags_match_ascii_case_insensitively_only():
    assert decode_mask("<SeG>a *2\n a *2\n</sEg>", strict=True).counts() == {"others": 0, "a": 4}
    # "ſ" folds to "s" under Unicode rules; "<ſeg>" is not a tag, so the rows are read as a bare block.
    assert decode_mask("<ſeg>\na *2\n a *2\n").repairs == []


# ------------------------------------------------ issue #15, class 2: bounded blocks, grid and work


def test_blocks_per_answer_are_bounded_and_the_rest_counted():
    masks = decode_masks("<seg>a*300" * 100000)  # wanted about 52 GiB
    assert len(masks) == DEFAULT_MAX_MASKS
    assert all(m.grid_size == MAX_GRID for m in masks)
    dropped = masks[-1].repairs[-1]
    assert dropped.kind == "masks_dropped" and str(100000 - DEFAULT_MAX_MASKS) in dropped.detail
    assert len(decode_masks("<seg>a*1</seg>" * 10, max_masks=3)) == 3
    assert len(decode_masks("<seg>a*1</seg>" * 10, max_masks=100)) == 10
    with pytest.raises(MaskDecodeError, match="masks_dropped"):
        decode_masks("<seg>a*1</seg>" * 10, max_masks=3, strict=True)


def test_requested_grid_above_the_limit_is_an_error_not_an_allocation():
    with pytest.raises(LimitExceeded, match="max_grid"):
        decode_masks("<seg>a *1</seg>", grid=100000)
    assert decode_mask("a *1", grid=300, max_grid=300).grid_size == 300
    assert decode_mask("a *9999", max_grid=32).grid_size == 32


def test_long_texts_are_cut_with_a_repair():
    text = encode_mask(np.eye(4, dtype=int), LABELS, grid=4) + "x" * 100
    decoded = decode_mask(text, max_chars=len(text) - 50)
    assert decoded.repairs[-1].kind == "text_truncated"
    with pytest.raises(MaskDecodeError, match="text_truncated"):
        decode_mask(text, max_chars=len(text) - 50, strict=True)


def test_repairs_per_mask_are_bounded_and_counted():
    decoded = decode_mask("a *1|" + "x|" * 5000)
    assert len(decoded.repairs) == MAX_REPAIRS + 1
    assert (
        decoded.repairs[-1].kind == "repairs_truncated"
        and f"{5000 - MAX_REPAIRS} more" in decoded.repairs[-1].detail
    )


def test_prose_far_from_the_rows_is_counted_not_kept():
    decoded = decode_mask("<seg>" + "junk\n" * 5000 + "a *2\n a *2\n" + "more junk\n" * 3000 + "</seg>")
    assert decoded.grid_size == 2 and decoded.counts() == {"others": 0, "a": 4}
    assert decoded.repairs[-1].kind == "repairs_truncated" and "7744 more" in decoded.repairs[-1].detail
