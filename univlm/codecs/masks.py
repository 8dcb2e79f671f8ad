"""Masks as text: Text4Seg semantic descriptors with row-wise run-length encoding (R-RLE).

Design choices and their sources:

- Encoding is byte-compatible with Text4Seg (Lan et al., 2024): the label mask is resized to a
  G x G grid by cell-centre sampling exactly like PIL ``Image.NEAREST`` (default G = 24, as in
  RSUniVLM), each cell is written as its label name (background ``"others"``), each row is
  run-length encoded as ``"{label} *{count}"`` runs joined by ``"| "``, rows are joined by
  ``"\\n "`` and the text ends with ``"\\n"``. :func:`encode_mask` wraps it in ``<seg>...</seg>``.
- Decoding is lenient and row-aware because generated text is imperfect: each row is decoded on its
  own; a row whose counts do not sum to G is padded with its last label or truncated; missing rows
  are padded with background and extra rows dropped. Every repair is recorded as a :class:`Repair`;
  ``strict=True`` turns the first repair into a :class:`MaskDecodeError` naming row and run.
- RSUniVLM's public demo writes runs as ``label*count`` joined by ``", "``; both dialects (and the
  plain, run-less ``"others| others| ..."`` form) are read by the same run scanner.
- Unlike Text4Seg's reference decoder, a mask with no ``others`` cell is *not* read as empty: label
  index 0 is always ``"others"`` and foreground is every other index.
- Upsampling to (H, W) reproduces ``torch.nn.functional.interpolate(mode="nearest")`` with numpy
  index arithmetic (``src = floor(dst * (in / out))`` in float32), so no torch import is needed.
- COCO RLE interop uses pycocotools, imported only when those functions are called.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

__all__ = [
    "BACKGROUND",
    "DEFAULT_GRID",
    "MAX_GRID",
    "DecodedMask",
    "MaskDecodeError",
    "NoMaskFound",
    "Repair",
    "coco_rle_to_mask",
    "decode_mask",
    "decode_masks",
    "downsample_mask",
    "encode_grid",
    "encode_mask",
    "mask_to_coco_rle",
    "nearest_indices",
    "pil_nearest_indices",
    "upsample_grid",
]

BACKGROUND = "others"
DEFAULT_GRID = 24
SEG_OPEN = "<seg>"
SEG_CLOSE = "</seg>"
RUN_SEP = "| "
ROW_SEP = "\n "
# Inferred grids above this are treated as garbage (a fuzzed "others *99999" must not allocate GBs).
MAX_GRID = 256
_STANDARD_GRIDS = (16, 24, 32)
_FORBIDDEN_LABEL_CHARS = ("|", "*", "\n", "<", ">")

# A run is a label (no "|", "*" or newline) then "*count"; separators ("| " or ", ") are stripped from
# the label's front, so labels containing commas ("red, large building *5") still read as one phrase.
_MAX_LABEL_CHARS = 256
_COUNT_RE = re.compile(r"\s*(\d+)")
_SEP_CHARS = " \t\r,|;"
# int() refuses >4300 digits and huge counts are nonsense anyway; clip to something > MAX_GRID.
_MAX_COUNT_DIGITS = 9
_HUGE_COUNT = 10**_MAX_COUNT_DIGITS


@dataclass(frozen=True)
class Repair:
    """One fix the lenient decoder made.

    Attributes:
        kind: What was fixed: ``"row_padded"``, ``"row_truncated"``, ``"rows_padded"``,
            ``"rows_dropped"``, ``"unknown_label"``, ``"zero_count"``, ``"junk_dropped"``,
            ``"empty_row"``, ``"missing_close_tag"``, ``"missing_open_tag"`` or ``"grid_clamped"``.
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
    """Raised by :func:`decode_mask` when the text holds no mask block."""


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

    def upsample(self, height: int, width: int) -> np.ndarray:
        """Label indices at full resolution, nearest-neighbour like ``F.interpolate(mode="nearest")``.

        Args:
            height: Output height in pixels.
            width: Output width in pixels.

        Returns:
            ``(height, width)`` int array of label indices.
        """
        return upsample_grid(self.indices, height, width)

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


# ----------------------------------------------------------------------------------------- encoding


def pil_nearest_indices(in_size: int, out_size: int) -> np.ndarray:
    """Source indices PIL ``Image.resize(..., NEAREST)`` samples along one axis.

    Pillow's affine scaler walks ``x = scale / 2, x += scale`` in double precision and truncates,
    i.e. it samples each output cell's centre; the incremental sum is reproduced on purpose so
    rounding matches bit for bit.

    Args:
        in_size: Input length.
        out_size: Output length.

    Returns:
        ``(out_size,)`` int64 array of source indices.
    """
    scale = float(in_size) / float(out_size)
    pos = scale * 0.5
    out = np.empty(out_size, dtype=np.int64)
    for i in range(out_size):
        out[i] = min(int(pos), in_size - 1)
        pos += scale
    return out


def downsample_mask(mask: np.ndarray, grid: int = DEFAULT_GRID) -> np.ndarray:
    """Resize a label mask to ``grid`` x ``grid`` by cell-centre sampling (PIL ``NEAREST`` semantics).

    Args:
        mask: ``(H, W)`` integer (or bool) label mask.
        grid: G, the output side.

    Returns:
        ``(G, G)`` array with the input dtype.

    Raises:
        ValueError: If ``mask`` is not 2-D or empty, or ``grid`` < 1.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2 or mask.size == 0:
        raise ValueError(f"mask must be a non-empty 2-D (H, W) array, got shape {mask.shape}")
    if grid < 1:
        raise ValueError(f"grid must be >= 1, got {grid}")
    rows = pil_nearest_indices(mask.shape[0], grid)
    cols = pil_nearest_indices(mask.shape[1], grid)
    return mask[rows[:, None], cols[None, :]]


def _check_label(label: str) -> str:
    if not isinstance(label, str) or not label.strip():
        raise ValueError(f"labels must be non-empty strings, got {label!r}")
    if label != label.strip():
        raise ValueError(f"label {label!r} has leading or trailing whitespace")
    bad = [c for c in _FORBIDDEN_LABEL_CHARS if c in label]
    if bad:
        raise ValueError(f"label {label!r} contains {bad!r}, which the mask text format reserves")
    return label


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
            Text4Seg's plain semantic descriptors.

    Returns:
        The text, e.g. ``"<seg>others *24\\n others *24\\n...</seg>"``.

    Raises:
        ValueError: On empty rows or labels the format cannot hold (``|``, ``*``, newlines, ``<>``).
    """
    rows = [list(r) for r in names]
    if not rows:
        raise ValueError("grid must have at least one row")
    checked: dict[str, str] = {}
    for i, row in enumerate(rows):
        if not row:
            raise ValueError(f"grid row {i} is empty")
        for name in row:
            if name not in checked:
                checked[name] = _check_label(name)
    body = ROW_SEP.join(_encode_row(row, rle) for row in rows) + "\n"
    return f"{SEG_OPEN}{body}{SEG_CLOSE}" if wrap else body


def encode_mask(
    mask: np.ndarray, labels: Sequence[str], grid: int = DEFAULT_GRID, wrap: bool = True, rle: bool = True
) -> str:
    """Encode a full-resolution label mask as Text4Seg R-RLE text.

    Args:
        mask: ``(H, W)`` integer or bool mask; pixel value ``v`` means ``labels[v]``.
        labels: Label names; ``labels[0]`` is normally ``"others"`` (background).
        grid: G, the side of the semantic-descriptor grid (Text4Seg/RSUniVLM use 16 or 24).
        wrap: Wrap the text in ``<seg>`` ... ``</seg>``.
        rle: Run-length encode rows (False gives the plain per-cell form).

    Returns:
        The mask text.

    Raises:
        ValueError: If the mask is not 2-D, holds a value outside ``0..len(labels)-1``, or a label
            cannot be written.
    """
    labels = [_check_label(lab) for lab in labels]
    cells = downsample_mask(np.asarray(mask), grid)
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


# ----------------------------------------------------------------------------------------- decoding


@dataclass
class _Run:
    label: str
    count: int


@dataclass
class _Row:
    runs: list[_Run]
    junk: list[str]


@dataclass
class _Block:
    body: str
    span: tuple[int, int]
    closed: bool
    tagged: bool


def _clean_label(raw: str) -> str:
    return " ".join(raw.strip(_SEP_CHARS).split())


def _label_part(text: str, junk: list[str]) -> str:
    """The label at the end of ``text`` (after the last ``|``); earlier non-empty parts are junk."""
    parts = text.split("|")
    for part in parts[:-1]:
        cleaned = _clean_label(part)
        if cleaned:
            junk.append(cleaned)
    label = _clean_label(parts[-1])
    if len(label) > _MAX_LABEL_CHARS:
        junk.append(label[:_MAX_LABEL_CHARS])
        return ""
    return label


def _parse_row(line: str) -> _Row:
    """Split one text row into runs; text that is neither run nor separator is kept as junk.

    Splitting on ``*`` makes every piece after the first start with the previous run's count and
    end with the next run's label, which reads both ``"a *3| b *2"`` and ``"a*3, b*2"`` in one pass.
    """
    runs: list[_Run] = []
    junk: list[str] = []
    if "*" in line:
        pieces = line.split("*")
        label = _label_part(pieces[0], junk)
        for piece in pieces[1:]:
            m = _COUNT_RE.match(piece)
            if m is None:
                if label:
                    junk.append(label + " *")
                label = _label_part(piece, junk)
                continue
            digits = m.group(1)
            if label:
                runs.append(_Run(label, int(digits) if len(digits) <= _MAX_COUNT_DIGITS else _HUGE_COUNT))
            else:
                junk.append("*" + digits)
            label = _label_part(piece[m.end() :], junk)
        if label.strip(".!?:;"):  # sentence punctuation after the last run is not junk
            junk.append(label)
        if runs:
            return _Row(runs, junk)
    # No "*count" anywhere: Text4Seg's plain form writes every cell, "others| others| building".
    elif "|" in line:
        cells = [_clean_label(c) for c in line.split("|")]
        if all(cells) and all(len(c) <= _MAX_LABEL_CHARS for c in cells):
            return _Row([_Run(c, 1) for c in cells], [])
    stripped = line.strip()
    return _Row([], [stripped] if stripped else [])


def _is_mask_line(line: str) -> bool:
    return bool(_parse_row(line).runs)


def _find_blocks(text: str) -> tuple[list[_Block], list[Repair]]:
    """Cut the text into mask blocks: ``<seg>`` blocks when any exist, else runs of mask-like lines."""
    blocks: list[_Block] = []
    repairs: list[Repair] = []
    lowered = text.lower()
    if SEG_OPEN in lowered:
        starts = [m.start() for m in re.finditer(re.escape(SEG_OPEN), lowered)]
        for k, start in enumerate(starts):
            body_start = start + len(SEG_OPEN)
            limit = starts[k + 1] if k + 1 < len(starts) else len(text)
            close = lowered.find(SEG_CLOSE, body_start, limit)
            if close >= 0:
                blocks.append(_Block(text[body_start:close], (start, close + len(SEG_CLOSE)), True, True))
            else:
                blocks.append(_Block(text[body_start:limit], (start, limit), False, True))
        return blocks, repairs
    # No <seg>: a stray "</seg>" means the opening tag was lost; rows run up to it.
    if SEG_CLOSE in lowered:
        repairs.append(Repair("missing_open_tag", None, None, "found </seg> without <seg>"))
        text = re.sub(re.escape(SEG_CLOSE), "\n", text, flags=re.IGNORECASE)
    offset = 0
    current: list[str] = []
    current_start = 0
    last_end = 0
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if stripped and _is_mask_line(stripped):
            if not current:
                current_start = offset
            current.append(line)
            last_end = offset + len(line)
        elif stripped and current:
            blocks.append(_Block("".join(current), (current_start, last_end), True, False))
            current = []
        offset += len(line)
    if current:
        blocks.append(_Block("".join(current), (current_start, last_end), True, False))
    return blocks, repairs


def _infer_grid(rows: list[_Row]) -> int:
    """G from the text: the usual row sum if it is typical, else the row count."""
    n_rows = len(rows)
    sums = Counter(sum(r.count for r in row.runs) for row in rows if row.runs)
    sums.pop(0, None)  # rows of zero-count runs say nothing about G
    if not sums:
        return max(1, n_rows)
    best_count = max(sums.values())
    # Ties: prefer a standard grid, then the sum closest to the row count.
    candidates = [s for s, c in sums.items() if c == best_count]
    mode = min(candidates, key=lambda s: (s not in _STANDARD_GRIDS, abs(s - n_rows), s))
    if mode == n_rows or 2 * best_count >= n_rows:
        return mode
    if n_rows in _STANDARD_GRIDS or mode not in _STANDARD_GRIDS:
        return n_rows
    return mode


class _Recorder:
    """Collects repairs; in strict mode the first one raises."""

    def __init__(self, strict: bool, block_index: int) -> None:
        self.strict = strict
        self.block_index = block_index
        self.repairs: list[Repair] = []

    def add(self, kind: str, row: int | None, run: int | None, detail: str) -> None:
        repair = Repair(kind, row, run, detail)
        if self.strict:
            where = f"mask {self.block_index}"
            if row is not None:
                where += f", row {row}"
            if run is not None:
                where += f", run {run}"
            raise MaskDecodeError(f"{where}: {kind}: {detail}", row=row, run=run, kind=kind)
        self.repairs.append(repair)


class _LabelTable:
    """Maps label names to indices; index 0 is ``others``. A known set makes other names background."""

    def __init__(self, known: Sequence[str] | None) -> None:
        self.known = known is not None
        self.names: list[str] = [BACKGROUND]
        if known is not None:
            self.names += [_clean_label(k) for k in known if _clean_label(k) and _clean_label(k) != BACKGROUND]
        self.index = {n: i for i, n in enumerate(self.names)}
        self.folded = {n.casefold(): i for i, n in reversed(list(enumerate(self.names)))}

    def lookup(self, name: str) -> int | None:
        if name in self.index:
            return self.index[name]
        folded = self.folded.get(name.casefold())
        if folded is not None:
            return folded
        if self.known:
            return None
        self.names.append(name)
        self.index[name] = len(self.names) - 1
        self.folded.setdefault(name.casefold(), len(self.names) - 1)
        return self.index[name]


def _decode_block(
    block: _Block, grid: int | None, labels: Sequence[str] | None, strict: bool, block_index: int
) -> DecodedMask | None:
    rec = _Recorder(strict, block_index)
    if not block.closed:
        rec.add("missing_close_tag", None, None, "block has no </seg>; read to the end of the text")
    parsed = [_parse_row(line) for line in block.body.split("\n")]
    parsed = [r for r in parsed if r.runs or r.junk]
    # Prose before the first and after the last mask row (e.g. after a missing </seg>) is not a row.
    dropped = []
    while parsed and not parsed[0].runs:
        dropped.append(parsed.pop(0))
    while parsed and not parsed[-1].runs:
        dropped.append(parsed.pop())
    if block.closed and block.tagged:
        for row in dropped:
            rec.add("junk_dropped", None, None, f"ignored text {' '.join(row.junk)[:60]!r} inside <seg>")
    if not parsed:
        return None
    if grid is None:
        size = _infer_grid(parsed)
        if size > MAX_GRID:
            rec.add("grid_clamped", None, None, f"inferred grid {size} exceeds {MAX_GRID}; using {MAX_GRID}")
            size = MAX_GRID
    else:
        size = grid
    table = _LabelTable(labels)
    indices = np.zeros((size, size), dtype=np.int64)
    for r, row in enumerate(parsed[:size]):
        for junk in row.junk:
            rec.add("junk_dropped", r, None, f"ignored text {junk[:60]!r}")
        cells: list[int] = []
        total = sum(run.count for run in row.runs)
        for k, run in enumerate(row.runs):
            if run.count == 0:
                rec.add("zero_count", r, k, f"run {run.label!r} has count 0")
                continue
            if len(cells) >= size:
                rec.add("row_truncated", r, k, f"row counts sum to {total}, expected {size}; truncated")
                break
            idx = table.lookup(run.label)
            if idx is None:
                rec.add("unknown_label", r, k, f"label {run.label!r} not in the label set; read as {BACKGROUND!r}")
                idx = 0
            take = min(run.count, size - len(cells))
            if take < run.count:
                rec.add("row_truncated", r, k, f"row counts sum to {total}, expected {size}; truncated")
            cells.extend([idx] * take)
            if take < run.count:
                break
        if not cells:
            rec.add("empty_row", r, None, f"no usable run; row filled with {BACKGROUND!r}")
            cells = [0] * size
        elif len(cells) < size:
            rec.add(
                "row_padded",
                r,
                len(row.runs) - 1,
                f"row counts sum to {len(cells)}, expected {size}; padded with {table.names[cells[-1]]!r}",
            )
            cells.extend([cells[-1]] * (size - len(cells)))
        indices[r] = cells
    if len(parsed) < size:
        rec.add("rows_padded", len(parsed), None, f"{len(parsed)} rows, expected {size}; padded with {BACKGROUND!r}")
    elif len(parsed) > size:
        rec.add("rows_dropped", size, None, f"{len(parsed)} rows, expected {size}; extra rows dropped")
    return DecodedMask(labels=list(table.names), indices=indices, repairs=rec.repairs, span=block.span)


def decode_masks(
    text: str, grid: int | None = None, labels: Sequence[str] | None = None, strict: bool = False
) -> list[DecodedMask]:
    """Decode every mask in a model answer.

    Reads ``<seg>`` blocks (a missing ``</seg>`` is tolerated), or, when the text has no ``<seg>``,
    each group of consecutive mask-like lines. Prose around blocks is ignored.

    Args:
        text: The model answer.
        grid: G; inferred from each block when None (16, 24, 32 and others work).
        labels: The known label set. When given, names outside it decode as ``others`` (a repair),
            and indices follow this order with ``others`` moved to index 0. When None, labels are
            indexed in order of first appearance after ``others``.
        strict: Raise :class:`MaskDecodeError` on the first repair instead of fixing it.

    Returns:
        One :class:`DecodedMask` per block that holds at least one run, in text order.

    Raises:
        MaskDecodeError: In strict mode, on the first defect (naming row and run).
        ValueError: If ``grid`` < 1.
        TypeError: If ``text`` is not a string.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    if grid is not None and grid < 1:
        raise ValueError(f"grid must be >= 1, got {grid}")
    blocks, block_repairs = _find_blocks(text)
    if strict and block_repairs:
        first = block_repairs[0]
        raise MaskDecodeError(f"{first.kind}: {first.detail}", row=None, run=None, kind=first.kind)
    masks: list[DecodedMask] = []
    for block in blocks:
        decoded = _decode_block(block, grid, labels, strict, len(masks))
        if decoded is None:
            logger.debug("skipped an empty mask block at %s", block.span)
            continue
        decoded.repairs[:0] = block_repairs
        masks.append(decoded)
    return masks


def decode_mask(
    text: str, grid: int | None = None, labels: Sequence[str] | None = None, strict: bool = False
) -> DecodedMask:
    """Decode the first mask in a model answer (see :func:`decode_masks`).

    Raises:
        NoMaskFound: If the text holds no mask.
        MaskDecodeError: In strict mode, on the first defect.
    """
    masks = decode_masks(text, grid=grid, labels=labels, strict=strict)
    if not masks:
        raise NoMaskFound("no mask found: expected a <seg>...</seg> block or rows like 'others *24'")
    return masks[0]


def nearest_indices(in_size: int, out_size: int) -> np.ndarray:
    """Source indices ``F.interpolate(mode="nearest")`` uses along one axis.

    PyTorch computes ``min(floor(dst * scale), in - 1)`` with ``scale = in / out`` in float32
    (and shortcuts equal sizes and exact 2x upsampling, which the formula also gives).

    Args:
        in_size: Input length.
        out_size: Output length.

    Returns:
        ``(out_size,)`` int64 array of source indices.
    """
    if in_size == out_size:
        return np.arange(out_size, dtype=np.int64)
    scale = np.float32(in_size) / np.float32(out_size)
    dst = np.arange(out_size, dtype=np.float32)
    src = np.floor(dst * scale).astype(np.int64)
    return np.minimum(src, in_size - 1)


def upsample_grid(indices: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour resize of a label grid to ``(height, width)``.

    Args:
        indices: ``(g_h, g_w)`` label grid.
        height: Output height.
        width: Output width.

    Returns:
        ``(height, width)`` array with the grid's dtype.

    Raises:
        ValueError: If the grid is not 2-D or a size is < 1.
    """
    indices = np.asarray(indices)
    if indices.ndim != 2:
        raise ValueError(f"grid must be 2-D, got shape {indices.shape}")
    if height < 1 or width < 1:
        raise ValueError(f"output size must be positive, got {height}x{width} (HxW)")
    rows = nearest_indices(indices.shape[0], height)
    cols = nearest_indices(indices.shape[1], width)
    # Two 1-D takes are ~2x faster than one 2-D fancy index on large outputs.
    return indices.take(rows, axis=0).take(cols, axis=1)  # (G, G) -> (H, G) -> (H, W)


# ------------------------------------------------------------------------------------------ COCO RLE


def mask_to_coco_rle(binary: np.ndarray) -> dict[str, Any]:
    """Encode a binary ``(H, W)`` mask as COCO compressed RLE (JSON-ready: ``counts`` is a str).

    Args:
        binary: ``(H, W)`` bool or 0/1 array.

    Returns:
        ``{"size": [H, W], "counts": str}``.

    Raises:
        ValueError: If the mask is not 2-D.
    """
    from pycocotools import mask as mask_utils

    arr = np.asarray(binary)
    if arr.ndim != 2:
        raise ValueError(f"binary mask must be 2-D (H, W), got shape {arr.shape}")
    rle = mask_utils.encode(np.asfortranarray(arr.astype(bool).astype(np.uint8)))
    counts = rle["counts"]
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": counts.decode("ascii")}


def coco_rle_to_mask(rle: dict[str, Any]) -> np.ndarray:
    """Decode COCO RLE (compressed ``str``/``bytes`` counts or uncompressed list counts) to bool.

    Args:
        rle: ``{"size": [H, W], "counts": ...}``.

    Returns:
        ``(H, W)`` bool array.

    Raises:
        ValueError: If ``size`` or ``counts`` is missing or malformed.
    """
    from pycocotools import mask as mask_utils

    if not isinstance(rle, dict) or "size" not in rle or "counts" not in rle:
        raise ValueError(f"COCO RLE must be a dict with 'size' and 'counts', got {rle!r:.80}")
    size = rle["size"]
    if not (isinstance(size, (list, tuple)) and len(size) == 2):
        raise ValueError(f"COCO RLE 'size' must be [H, W], got {size!r}")
    height, width = int(size[0]), int(size[1])
    counts = rle["counts"]
    if isinstance(counts, list):
        if sum(int(c) for c in counts) != height * width:
            raise ValueError(f"uncompressed RLE counts sum to {sum(counts)}, expected {height * width}")
        compressed = mask_utils.frPyObjects({"size": [height, width], "counts": counts}, height, width)
    elif isinstance(counts, (str, bytes)):
        compressed = {"size": [height, width], "counts": counts.encode("ascii") if isinstance(counts, str) else counts}
    else:
        raise ValueError(f"COCO RLE 'counts' must be str, bytes or list, got {type(counts).__name__}")
    return mask_utils.decode(compressed).astype(bool)
