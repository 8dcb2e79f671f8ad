"""Bounding boxes as text: the RSUniVLM ``[x1, y1, x2, y2]`` contract and a forgiving parser.

Design choices and their sources:

- The contract (RSUniVLM, following Qwen-VL/MiniGPT-v2 style grounding): ``[x1, y1, x2, y2]`` are
  integers in 0..100, origin top-left, each coordinate relative to the *original* image width or
  height (``x / W * 100`` rounded half up), with ``x1 <= x2`` and ``y1 <= y2`` after clamping.
- GeoChat writes oriented boxes as ``{<x1><y1><x2><y2>|<theta>}`` on the same 0..100 scale; the
  parser reads those too and keeps the angle apart from the box, so region metrics can ignore it.
- Model output is free text, so :func:`parse_boxes` never raises: it returns every box it could
  read plus a list of human-readable problems (wrong arity, out of range, swapped corners, ...).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

__all__ = [
    "BoxParseResult",
    "ParsedBox",
    "denormalize_box",
    "format_box",
    "format_boxes",
    "format_geochat_box",
    "normalize_box",
    "parse_boxes",
]

Number = int | float
SCALE = 100

_NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)"
_NUM_RE = re.compile(rf"^\s*({_NUM})\s*$")
# Anything in square brackets on one line; the content decides whether it is a box.
_BRACKET_RE = re.compile(r"\[([^\[\]\n]{0,200})\]")
# GeoChat: {<a><b><c><d>|<theta>} with any number of <...> items so wrong arity can be reported.
_GEOCHAT_RE = re.compile(r"\{\s*((?:<[^<>{}\n]{0,40}>\s*){1,12})(?:\|\s*<([^<>{}\n]{0,40})>\s*)?\}")
_ANGLE_ITEM_RE = re.compile(r"<([^<>]*)>")


@dataclass(frozen=True)
class ParsedBox:
    """One box read from model text.

    Attributes:
        box: ``(x1, y1, x2, y2)`` as read (ints, or floats when written with decimals), corners
            swapped if they were reversed; values are *not* clamped (see the problems list).
        angle: GeoChat's rotation angle, or None.
        form: ``"rsunivlm"`` for ``[x1, y1, x2, y2]``, ``"geochat"`` for ``{<x1><y1><x2><y2>|<a>}``.
        span: ``(start, end)`` character offsets of the box text in the input.
    """

    box: tuple[Number, Number, Number, Number]
    angle: float | None
    form: str
    span: tuple[int, int]


@dataclass
class BoxParseResult:
    """What :func:`parse_boxes` found.

    Attributes:
        boxes: The boxes in reading order.
        problems: One message per issue found (unreadable or repaired boxes), each starting with a
            stable kind before the first ``":"`` (``"wrong arity"``, ``"swapped corners"``,
            ``"out of range"``, ``"non-integer"``, ``"unreadable box"``, ``"unreadable angle"``);
            empty when clean.
    """

    boxes: list[ParsedBox] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _round_half_up(value: float) -> int:
    # Python's round() is banker's rounding; the contract says "rounded", read as half up.
    return int(math.floor(value + 0.5))


def _check_size(width: Number, height: Number) -> None:
    for name, value in (("width", width), ("height", height)):
        if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise ValueError(f"image {name} must be a positive finite number, got {value!r}")


def _four(box: Sequence[Number], what: str) -> tuple[float, float, float, float]:
    values = list(box)
    if len(values) != 4:
        raise ValueError(f"{what} must have 4 values (x1, y1, x2, y2), got {len(values)}: {values!r}")
    out = []
    for v in values:
        fv = float(v)
        if not math.isfinite(fv):
            raise ValueError(f"{what} values must be finite numbers, got {values!r}")
        out.append(fv)
    return out[0], out[1], out[2], out[3]


def normalize_box(box: Sequence[Number], width: Number, height: Number) -> tuple[int, int, int, int]:
    """Map a pixel ``(x1, y1, x2, y2)`` box to the 0..100 integer text contract.

    Args:
        box: Pixel corners, origin top-left, in the original image.
        width: Original image width in pixels.
        height: Original image height in pixels.

    Returns:
        ``(x1, y1, x2, y2)`` ints in 0..100 with ``x1 <= x2`` and ``y1 <= y2``.

    Raises:
        ValueError: If the box does not have 4 finite values or the size is not positive.
    """
    _check_size(width, height)
    x1, y1, x2, y2 = _four(box, "box")
    xs = sorted(min(SCALE, max(0, _round_half_up(v / width * SCALE))) for v in (x1, x2))
    ys = sorted(min(SCALE, max(0, _round_half_up(v / height * SCALE))) for v in (y1, y2))
    return xs[0], ys[0], xs[1], ys[1]


def denormalize_box(box: Sequence[Number], width: Number, height: Number) -> tuple[float, float, float, float]:
    """Map a 0..100 text box back to pixel coordinates of a ``width`` x ``height`` image.

    Args:
        box: ``(x1, y1, x2, y2)`` on the 0..100 scale (ints or floats).
        width: Target image width in pixels.
        height: Target image height in pixels.

    Returns:
        ``(x1, y1, x2, y2)`` floats in pixels (not clamped, not reordered).

    Raises:
        ValueError: If the box does not have 4 finite values or the size is not positive.
    """
    _check_size(width, height)
    x1, y1, x2, y2 = _four(box, "box")
    return (x1 / SCALE * width, y1 / SCALE * height, x2 / SCALE * width, y2 / SCALE * height)


def _integral(value: Number, box: Sequence[Number]) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not float(value).is_integer():
        raise ValueError(f"box values must be integers 0..{SCALE}, got {list(box)!r}")
    iv = int(value)
    if not 0 <= iv <= SCALE:
        raise ValueError(f"box values must be integers 0..{SCALE}, got {list(box)!r}")
    return iv


def format_box(box: Sequence[Number]) -> str:
    """Write one normalized box as ``"[x1, y1, x2, y2]"``.

    Args:
        box: Four integers (or integral floats) in 0..100, e.g. from :func:`normalize_box`.

    Returns:
        The box text, e.g. ``"[12, 30, 45, 61]"``.

    Raises:
        ValueError: If the box does not hold four integers in 0..100.
    """
    values = list(box)
    if len(values) != 4:
        raise ValueError(f"box must have 4 values (x1, y1, x2, y2), got {len(values)}: {values!r}")
    return "[" + ", ".join(str(_integral(v, values)) for v in values) + "]"


def format_boxes(boxes: Iterable[Sequence[Number]]) -> str:
    """Write several boxes joined by ``", "``, e.g. ``"[1, 2, 3, 4], [5, 6, 7, 8]"``.

    Args:
        boxes: Normalized boxes (see :func:`format_box`).

    Returns:
        The joined text (empty string for no boxes).

    Raises:
        ValueError: If any box is invalid.
    """
    return ", ".join(format_box(b) for b in boxes)


def format_geochat_box(box: Sequence[Number], angle: Number = 0) -> str:
    """Write a normalized box in GeoChat's ``{<x1><y1><x2><y2>|<angle>}`` form.

    Args:
        box: Four integers in 0..100.
        angle: Rotation angle in degrees (GeoChat writes integers).

    Returns:
        The GeoChat box text.

    Raises:
        ValueError: If the box is invalid.
    """
    values = [_integral(v, list(box)) for v in box]
    if len(values) != 4:
        raise ValueError(f"box must have 4 values (x1, y1, x2, y2), got {len(values)}")
    angle_text = str(int(angle)) if float(angle).is_integer() else f"{float(angle):g}"
    return "{" + "".join(f"<{v}>" for v in values) + f"|<{angle_text}>" + "}"


def _read_number(text: str) -> Number | None:
    m = _NUM_RE.match(text)
    if m is None:
        return None
    token = m.group(1)
    if "." in token:
        return float(token)
    return int(token)


def _finish_box(
    values: list[Number], angle: float | None, form: str, span: tuple[int, int], raw: str, problems: list[str]
) -> ParsedBox:
    x1, y1, x2, y2 = values
    if x1 > x2:
        problems.append(f"swapped corners: x1 > x2 in {raw!r} at {span[0]}")
        x1, x2 = x2, x1
    if y1 > y2:
        problems.append(f"swapped corners: y1 > y2 in {raw!r} at {span[0]}")
        y1, y2 = y2, y1
    if any(v < 0 or v > SCALE for v in (x1, y1, x2, y2)):
        problems.append(f"out of range: value outside 0..{SCALE} in {raw!r} at {span[0]}")
    if any(isinstance(v, float) and not v.is_integer() for v in (x1, y1, x2, y2)):
        problems.append(f"non-integer: decimal values in {raw!r} at {span[0]} (the contract is integers 0..{SCALE})")
    return ParsedBox(box=(x1, y1, x2, y2), angle=angle, form=form, span=span)


def _parse_bracket(m: re.Match[str], problems: list[str]) -> ParsedBox | None:
    raw = m.group(0)
    parts = m.group(1).split(",")
    numbers = [_read_number(p) for p in parts]
    if all(n is not None for n in numbers):
        values = [n for n in numbers if n is not None]
        if len(values) != 4:
            problems.append(f"wrong arity: expected 4 numbers, got {len(values)} in {raw!r} at {m.start()}")
            return None
        return _finish_box(values, None, "rsunivlm", m.span(), raw, problems)
    # Brackets that hold words (task tags like "[VG]", prose) are not boxes; only report things that
    # look like an attempt at a box: several comma-separated items, some of them numbers.
    if len(parts) >= 2 and any(n is not None for n in numbers):
        problems.append(f"unreadable box: non-numeric values in {raw!r} at {m.start()}")
    return None


def _parse_geochat(m: re.Match[str], problems: list[str]) -> ParsedBox | None:
    raw = m.group(0)
    items = _ANGLE_ITEM_RE.findall(m.group(1))
    numbers = [_read_number(p) for p in items]
    if any(n is None for n in numbers):
        problems.append(f"unreadable box: non-numeric values in GeoChat box {raw!r} at {m.start()}")
        return None
    values = [n for n in numbers if n is not None]
    if len(values) != 4:
        problems.append(f"wrong arity: expected 4 numbers, got {len(values)} in {raw!r} at {m.start()}")
        return None
    angle: float | None = None
    if m.group(2) is not None:
        angle_value = _read_number(m.group(2))
        if angle_value is None:
            problems.append(f"unreadable angle: ignored in GeoChat box {raw!r} at {m.start()}")
        else:
            angle = float(angle_value)
    return _finish_box(values, angle, "geochat", m.span(), raw, problems)


def parse_boxes(text: str) -> BoxParseResult:
    """Find every box in free model output; never raises.

    Reads ``[x1, y1, x2, y2]`` (ints or decimals) and GeoChat's ``{<x1><y1><x2><y2>|<theta>}``.
    Reversed corners are swapped, out-of-range values are kept as read; both are reported.

    Args:
        text: Model output (anything; non-strings give an empty result with a problem).

    Returns:
        A :class:`BoxParseResult` with the boxes in reading order and the problems found.
    """
    result = BoxParseResult()
    if not isinstance(text, str):
        result.problems.append(f"not a string: expected str, got {type(text).__name__}")
        return result
    found: list[ParsedBox] = []
    for m in _BRACKET_RE.finditer(text):
        box = _parse_bracket(m, result.problems)
        if box is not None:
            found.append(box)
    for m in _GEOCHAT_RE.finditer(text):
        box = _parse_geochat(m, result.problems)
        if box is not None:
            found.append(box)
    result.boxes = sorted(found, key=lambda b: b.span[0])
    return result
