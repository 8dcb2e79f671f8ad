"""Mask text format and encoder: Text4Seg byte compatibility, exact round trips, refused labels."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from univlm.codecs import decode_mask, decode_masks, encode_grid, encode_mask

LABELS = ["others", "building"]


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


# --------------------------------------------------------------- labels: exact round trip or refusal
# Issue #15, class 3: the encoder accepted labels the decoder then changed.

TRICKY = "aAbİiıßsſK ,;.|*<>\n\t\r\x0b\x0c\x1c\x85\u2028\u2029\u00a0\u3000"


@pytest.mark.parametrize(
    "label,why",
    [
        ("Others", "only by case"),  # decoded as background: every foreground cell was lost
        ("OTHERS", "only by case"),
        ("x,", "run separator"),  # decoded as "x"
        (";x", "run separator"),
        ("a  b", "whitespace"),  # double spaces collapsed
        ("a\u2028b", "whitespace"),  # U+2028 split the row
        ("a\tb", "whitespace"),
        ("x" * 257, "characters"),
    ],
)
def test_labels_the_decoder_would_change_are_refused_by_name(label, why):
    with pytest.raises(ValueError, match=why) as info:
        encode_grid([["others", label], [label, "others"]])
    assert repr(label)[:40] in str(info.value)


def test_labels_equal_up_to_case_are_refused():
    with pytest.raises(ValueError, match="'Building' differ only by case"):
        encode_mask(np.array([[0, 1], [2, 0]]), ["others", "building", "Building"], grid=2)


def test_one_column_plain_form_is_refused():
    # Issue #15: grid=1, rle=False wrote "building\n", which no decoder reads as a mask.
    with pytest.raises(ValueError, match="plain"):
        encode_mask(np.ones((4, 4), dtype=int), LABELS, grid=1, rle=False)
    assert decode_mask(encode_mask(np.ones((4, 4), dtype=int), LABELS, grid=1)).names() == [["building"]]


def test_grid_above_the_limit_is_refused():
    with pytest.raises(ValueError, match="max_grid"):
        encode_mask(np.zeros((4, 4), dtype=int), LABELS, grid=300)


@given(
    labels=st.lists(
        st.text(min_size=1, max_size=10) | st.text(TRICKY, min_size=1, max_size=6), min_size=1, max_size=4
    ),
    size=st.integers(1, 6),
    wrap=st.booleans(),
    rle=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_arbitrary_unicode_labels_round_trip_exactly_or_are_refused(labels, size, wrap, rle, seed):
    rng = np.random.default_rng(seed)
    names = [[labels[i] for i in row] for row in rng.integers(0, len(labels), size=(size, size))]
    try:
        text = encode_grid(names, wrap=wrap, rle=rle)
    except ValueError as exc:
        message = str(exc)
        assert "plain" in message or any(repr(label) in message for label in labels), message
        return
    (decoded,) = decode_masks(text, strict=True)
    assert decoded.names() == names
    assert decoded.repairs == []
