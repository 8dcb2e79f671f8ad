"""Masks as text: Text4Seg semantic descriptors with row-wise run-length encoding (R-RLE).

This module holds the format, its result types and the encoder; the lenient decoder is in
:mod:`univlm.codecs.text4seg_decode`.

Design choices and their sources:

- Encoding is byte-compatible with Text4Seg (Lan et al., 2024): the label mask is resized to a
  G x G grid by cell-centre sampling exactly like PIL ``Image.NEAREST`` (default G = 24, as in
  RSUniVLM), each cell is written as its label name (background ``"others"``), each row is
  run-length encoded as ``"{label} *{count}"`` runs joined by ``"| "``, rows are joined by
  ``"\\n "`` and the text ends with ``"\\n"``. :func:`encode_mask` wraps it in ``<seg>...</seg>``.
- Round trip is exact or refused: the encoder rejects, up front and naming the label, every label
  the decoder would read back differently (reserved characters, non-canonical or line-breaking
  whitespace, leading/trailing ``,`` or ``;``, labels equal up to case, over-long labels), and the
  one grid shape the plain form cannot express (one column with ``rle=False``). Property tests
  check ``decode(encode(m)) == m`` over arbitrary Unicode labels.
- Index 0 is always ``"others"`` and foreground is every other index (unlike Text4Seg's reference
  decoder, a mask with no ``others`` cell is not read as empty).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from univlm.codecs.grid import downsample_mask, upsample_grid
from univlm.codecs.limits import DEFAULT_MAX_PIXELS, MAX_GRID, MAX_LABEL_CHARS, LimitExceeded
from univlm.tasks import DEFAULT_GRID, FORBIDDEN_LABEL_CHARS

__all__ = [
    "BACKGROUND",
    "ROW_SEP",
    "RUN_SEP",
    "SEG_CLOSE",
    "SEG_OPEN",
    "DecodedMask",
    "MaskDecodeError",
    "NoMaskFound",
    "Repair",
    "check_labels",
    "encode_grid",
    "encode_mask",
]

BACKGROUND = "others"
SEG_OPEN = "<seg>"
SEG_CLOSE = "</seg>"
RUN_SEP = "| "
ROW_SEP = "\n "
# The decoder strips these from a label's ends (RSUniVLM separates runs with ", "), so a label may not
# start or end with one.
LABEL_EDGE_CHARS = ",;"


@dataclass(frozen=True)
class Repair:
    """One fix the lenient decoder made.

    Attributes:
        kind: What was fixed: ``"row_padded"``, ``"row_truncated"``, ``"rows_padded"``,
            ``"rows_dropped"``, ``"unknown_label"``, ``"zero_count"``, ``"junk_dropped"``,
            ``"empty_row"``, ``"missing_close_tag"``, ``"missing_open_tag"``, ``"grid_clamped"``,
            ``"masks_dropped"`` (blocks beyond ``max_masks``), ``"text_truncated"`` (text beyond
            ``max_chars``) or ``"repairs_truncated"``.
        row: 0-based row of the grid concerned, or None for block-level repairs.
        run: 0-based run within that row, or None.
        detail: Human-readable description.
    """

    kind: str
    row: int | None
    run: int | None
    detail: str

    def __str__(self) -> str:
        where = []
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.run is not None:
            where.append(f"run {self.run}")
        # "kind: detail (row r, run k)": the text before the first ":" is always the kind, for tallies.
        suffix = f" ({', '.join(where)})" if where else ""
        return f"{self.kind}: {self.detail}{suffix}"


class MaskDecodeError(ValueError):
    """Raised by strict decoding; names the row and run at fault.

    Attributes:
        row: 0-based row, or None for block-level faults.
        run: 0-based run within the row, or None.
        kind: The :class:`Repair` kind that lenient mode would have applied.
    """

    def __init__(self, message: str, row: int | None = None, run: int | None = None, kind: str = "") -> None:
        super().__init__(message)
        self.row = row
        self.run = run
        self.kind = kind


class NoMaskFound(ValueError):
    """Raised by :func:`~univlm.codecs.decode_mask` when the text holds no mask block."""


@dataclass
class DecodedMask:
    """A decoded G x G label grid.

    Attributes:
        labels: Index -> label name; index 0 is always ``"others"``.
        indices: ``(G, G)`` int array of label indices.
        repairs: Every repair made while decoding (empty when the text was clean).
        span: ``(start, end)`` character offsets of the block in the decoded text.
    """

    labels: list[str]
    indices: np.ndarray
    repairs: list[Repair] = field(default_factory=list)
    span: tuple[int, int] = (0, 0)

    @property
    def grid_size(self) -> int:
        """G, the side of the square grid."""
        return int(self.indices.shape[0])

    def upsample(self, height: int, width: int, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
        """Label indices at full resolution, nearest-neighbour like ``F.interpolate(mode="nearest")``.

        Args:
            height: Output height in pixels.
            width: Output width in pixels.
            max_pixels: Refuse outputs above this many pixels (None: no bound).

        Returns:
            ``(height, width)`` int array of label indices.

        Raises:
            LimitExceeded: If ``height * width > max_pixels``.
        """
        return upsample_grid(self.indices, height, width, max_pixels=max_pixels)

    def binary(self, label: str | int | None = None) -> np.ndarray:
        """Boolean ``(G, G)`` mask of the foreground, or of one label.

        Args:
            label: None for every non-``others`` cell; a label name or index for that label only
                (a name the mask does not use gives an all-False mask).

        Returns:
            ``(G, G)`` bool array.
        """
        if label is None:
            return self.indices != 0
        if isinstance(label, str):
            if label not in self.labels:
                return np.zeros(self.indices.shape, dtype=bool)
            label = self.labels.index(label)
        return self.indices == int(label)

    def names(self) -> list[list[str]]:
        """The grid as label names, row by row."""
        return [[self.labels[int(i)] for i in row] for row in self.indices]

    def counts(self) -> dict[str, int]:
        """Cells per label name, in label-index order (labels with no cell included)."""
        hist = np.bincount(self.indices.ravel(), minlength=len(self.labels))
        return {name: int(hist[i]) for i, name in enumerate(self.labels)}

    def to_text(self, wrap: bool = True) -> str:
        """Re-encode this grid in canonical Text4Seg form."""
        return encode_grid(self.names(), wrap=wrap)


# ------------------------------------------------------------------------------------------- labels


def _label_problem(label: object) -> str | None:
    """Why the decoder would not read ``label`` back unchanged, or None if it would."""
    if not isinstance(label, str) or not label:
        return "labels must be non-empty strings"
    if len(label) > MAX_LABEL_CHARS:
        return f"it has {len(label)} characters, more than the {MAX_LABEL_CHARS} a label may have"
    bad = sorted({c for c in label if c in FORBIDDEN_LABEL_CHARS})
    if bad:
        return f"it contains {''.join(bad)!r}, which the mask text format reserves"
    # str.split() splits on every Unicode space and line break (U+2028, \x85, \x0b, ...): the decoder
    # collapses such runs to one space, so only single ASCII spaces between words survive.
    if label != " ".join(label.split()):
        return "it has leading, trailing, repeated or non-space whitespace, which the decoder collapses"
    if label[0] in LABEL_EDGE_CHARS or label[-1] in LABEL_EDGE_CHARS:
        return (
            f"it starts or ends with one of {LABEL_EDGE_CHARS!r}, which the decoder reads as a run separator"
        )
    if label != BACKGROUND and label.casefold() == BACKGROUND.casefold():
        return f"it differs from the background {BACKGROUND!r} only by case, so it would decode as background"
    return None


def check_labels(labels: Iterable[str]) -> list[str]:
    """Check that every label survives a round trip through the mask text; return them as a list.

    Args:
        labels: Label names.

    Returns:
        The labels, unchanged.

    Raises:
        ValueError: Naming the first label the decoder would read back differently, or two labels
            it would merge because they differ only by case.
    """
    out = list(labels)
    seen: dict[str, str] = {}
    for label in out:
        problem = _label_problem(label)
        if problem is not None:
            raise ValueError(f"label {label!r} cannot be written as mask text: {problem}")
        other = seen.setdefault(label.casefold(), label)
        if other != label:
            raise ValueError(
                f"labels {other!r} and {label!r} differ only by case; the decoder matches labels "
                "case-insensitively and would merge them"
            )
    return out


# ----------------------------------------------------------------------------------------- encoding


def _encode_row(row: Sequence[str], rle: bool) -> str:
    if not rle:
        return RUN_SEP.join(row)
    runs: list[str] = []
    current, count = row[0], 0
    for name in row:
        if name == current:
            count += 1
        else:
            runs.append(f"{current} *{count}")
            current, count = name, 1
    runs.append(f"{current} *{count}")
    return RUN_SEP.join(runs)


def encode_grid(names: Sequence[Sequence[str]], wrap: bool = True, rle: bool = True) -> str:
    """Write a grid of label names as Text4Seg text.

    Args:
        names: Rows of label names (need not be square, but every row must be non-empty).
        wrap: Wrap the text in ``<seg>`` ... ``</seg>``.
        rle: Run-length encode rows (R-RLE). False writes every cell (``"others| others| ..."``),
            Text4Seg's plain semantic descriptors, which needs at least two columns.

    Returns:
        The text, e.g. ``"<seg>others *24\\n others *24\\n...</seg>"``.

    Raises:
        ValueError: On empty rows, a one-column plain grid, or a label the decoder would not read
            back unchanged (see :func:`check_labels`); the message names the label.
    """
    rows = [list(r) for r in names]
    if not rows:
        raise ValueError("grid must have at least one row")
    for i, row in enumerate(rows):
        if not row:
            raise ValueError(f"grid row {i} is empty")
        if not rle and len(row) < 2:
            raise ValueError(f"grid row {i} has 1 cell: the plain (rle=False) form needs >= 2 columns")
    check_labels(dict.fromkeys(name for row in rows for name in row))
    body = ROW_SEP.join(_encode_row(row, rle) for row in rows) + "\n"
    return f"{SEG_OPEN}{body}{SEG_CLOSE}" if wrap else body


def encode_mask(
    mask: np.ndarray,
    labels: Sequence[str],
    grid: int = DEFAULT_GRID,
    wrap: bool = True,
    rle: bool = True,
    max_grid: int = MAX_GRID,
) -> str:
    """Encode a full-resolution label mask as Text4Seg R-RLE text.

    Args:
        mask: ``(H, W)`` integer or bool mask; pixel value ``v`` means ``labels[v]``.
        labels: Label names; ``labels[0]`` is normally ``"others"`` (background).
        grid: G, the side of the semantic-descriptor grid (Text4Seg/RSUniVLM use 16 or 24).
        wrap: Wrap the text in ``<seg>`` ... ``</seg>``.
        rle: Run-length encode rows (False gives the plain per-cell form).
        max_grid: Largest G accepted (the decoder's default bound, so the text decodes as written).

    Returns:
        The mask text.

    Raises:
        ValueError: If the mask is not 2-D, holds a value outside ``0..len(labels)-1``, or a label
            cannot be written (the message names it).
        LimitExceeded: If ``grid > max_grid``.
    """
    if grid > max_grid:
        raise LimitExceeded(f"grid {grid} exceeds the limit of {max_grid} (max_grid / --max-grid)")
    labels = check_labels(labels)
    cells = downsample_mask(np.asarray(mask), grid)  # (H, W) -> (G, G)
    if cells.dtype == bool:
        cells = cells.astype(np.int64)
    if not np.issubdtype(cells.dtype, np.integer):
        raise ValueError(f"mask must hold integer label indices, got dtype {cells.dtype}")
    lo, hi = int(cells.min()), int(cells.max())
    if lo < 0 or hi >= len(labels):
        bad = lo if lo < 0 else hi
        raise ValueError(f"mask value {bad} has no label: {len(labels)} labels given ({labels!r})")
    table = np.asarray(labels, dtype=object)
    return encode_grid(table[cells].tolist(), wrap=wrap, rle=rle)
