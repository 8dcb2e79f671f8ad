"""Box codec: the 0..100 contract, formatting, and the never-raising parser."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from univlm.codecs.boxes import (
    denormalize_box,
    format_box,
    format_boxes,
    format_geochat_box,
    normalize_box,
    parse_boxes,
)


def test_normalize_rounds_half_up_clamps_and_orders():
    assert normalize_box((10, 20, 110, 220), 200, 400) == (5, 5, 55, 55)
    assert normalize_box((1, 0, 3, 0), 200, 200) == (1, 0, 2, 0)  # 0.5 -> 1, 1.5 -> 2
    assert normalize_box((-50, -1, 500, 900), 400, 300) == (0, 0, 100, 100)
    assert normalize_box((300, 200, 100, 50), 400, 400) == (25, 13, 75, 50)


@pytest.mark.parametrize(
    "box,size",
    [((1, 2, 3), (10, 10)), ((1, 2, 3, float("nan")), (10, 10)), ((1, 2, 3, 4), (0, 10)), ((1, 2, 3, 4), (10, -1))],
)
def test_normalize_rejects_bad_input(box, size):
    with pytest.raises(ValueError):
        normalize_box(box, *size)


def test_denormalize_scales_back():
    assert denormalize_box((0, 50, 100, 25), 640, 480) == (0.0, 240.0, 640.0, 120.0)


@given(
    width=st.integers(1, 5000),
    height=st.integers(1, 5000),
    fx=st.lists(st.floats(0, 1), min_size=4, max_size=4),
)
def test_normalize_denormalize_within_one_unit(width, height, fx):
    box = (fx[0] * width, fx[1] * height, fx[2] * width, fx[3] * height)
    norm = normalize_box(box, width, height)
    back = denormalize_box(norm, width, height)
    xs, ys = sorted((box[0], box[2])), sorted((box[1], box[3]))
    expected = (xs[0], ys[0], xs[1], ys[1])
    for got, want, side in zip(back, expected, (width, height, width, height)):
        assert abs(got - want) <= side / 100 + 1e-9  # one unit of the 0..100 scale
    assert normalize_box(back, width, height) == norm


def test_format_box_and_boxes():
    assert format_box((12, 30, 45, 61)) == "[12, 30, 45, 61]"
    assert format_box((12.0, 30, 45, 61)) == "[12, 30, 45, 61]"
    assert format_boxes([(1, 2, 3, 4), (5, 6, 7, 8)]) == "[1, 2, 3, 4], [5, 6, 7, 8]"
    assert format_boxes([]) == ""
    assert format_geochat_box((1, 2, 3, 4), 30) == "{<1><2><3><4>|<30>}"
    for bad in [(1, 2, 3), (1.5, 2, 3, 4), (0, 0, 0, 101), (-1, 0, 0, 0)]:
        with pytest.raises(ValueError):
            format_box(bad)


def test_parse_rsunivlm_and_decimals():
    result = parse_boxes("The ship is at [12, 30, 45, 61] and another at [1.5,2.25, 3 ,4].")
    assert [b.box for b in result.boxes] == [(12, 30, 45, 61), (1.5, 2.25, 3, 4)]
    assert all(b.form == "rsunivlm" and b.angle is None for b in result.boxes)
    assert isinstance(result.boxes[0].box[0], int) and isinstance(result.boxes[1].box[0], float)
    assert result.boxes[0].span == (15, 31)
    assert any("non-integer" in p for p in result.problems)


def test_parse_geochat_keeps_angle_apart():
    result = parse_boxes("[VG] plane {<10><20><30><40>|<45>} and {<1><2><3><4>}")
    assert [(b.box, b.angle, b.form) for b in result.boxes] == [
        ((10, 20, 30, 40), 45.0, "geochat"),
        ((1, 2, 3, 4), None, "geochat"),
    ]
    assert result.problems == []


def test_parse_mixed_forms_in_reading_order():
    result = parse_boxes("{<1><2><3><4>|<0>} then [5, 6, 7, 8]")
    assert [b.form for b in result.boxes] == ["geochat", "rsunivlm"]


def test_parse_reports_problems():
    result = parse_boxes("[1, 2, 3] [50, 60, 40, 70] [0, 0, 120, 10] [1, x, 3, 4] {<1><2><3>|<0>} [CLS] [a, b]")
    assert [b.box for b in result.boxes] == [(40, 60, 50, 70), (0, 0, 120, 10)]
    text = " | ".join(result.problems)
    assert "wrong arity" in text and "got 3" in text
    assert "x1 > x2" in text and "swapped corners" in text
    assert "outside 0..100" in text
    kinds = {p.split(":")[0] for p in result.problems}
    assert kinds == {"wrong arity", "swapped corners", "out of range", "unreadable box"}
    assert "unreadable box" in text
    assert len(result.problems) == 5  # [CLS] and [a, b] are words, not boxes


@pytest.mark.parametrize("text", ["", "no boxes", "[[[[", "{<<>>|<>}", "[1e5, 2, 3, 4]", "[" * 500, None, 42])
def test_parse_never_raises(text):
    result = parse_boxes(text)
    assert isinstance(result.boxes, list) and isinstance(result.problems, list)


@given(st.text(alphabet="[]{}<>|,.0123456789- ab", max_size=80))
def test_parse_never_raises_on_random_text(text):
    parse_boxes(text)
