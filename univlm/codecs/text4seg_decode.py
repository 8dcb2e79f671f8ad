"""The lenient, bounded Text4Seg R-RLE decoder: model answers -> :class:`DecodedMask` grids.

Design choices and their sources:

- Decoding is row-aware because generated text is imperfect: each row is decoded on its own; a row
  whose counts do not sum to G is padded with its last label or truncated; missing rows are padded
  with background and extra rows dropped. Every repair is recorded as a :class:`Repair`;
  ``strict=True`` turns the first repair into a :class:`MaskDecodeError` naming row and run.
- RSUniVLM's public demo writes runs as ``label*count`` joined by ``", "``; both dialects (and the
  plain, run-less ``"others| others| ..."`` form) are read by the same run scanner, and ``<seg>``
  tags are found without shifting offsets (both in :mod:`univlm.codecs.text4seg_blocks`).
- Hostile text is bounded (see :mod:`univlm.codecs.limits`): at most ``max_masks`` blocks are
  decoded (the rest are counted in a ``masks_dropped`` repair), grids are at most ``max_grid``,
  at most ``MAX_REPAIRS`` repairs are listed per mask, and every loop is linear in the text.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence

import numpy as np

from univlm.codecs.limits import (
    DEFAULT_MAX_CHARS,
    DEFAULT_MAX_MASKS,
    MAX_GRID,
    MAX_REPAIRS,
    LimitExceeded,
)
from univlm.codecs.text4seg import (
    BACKGROUND,
    DecodedMask,
    MaskDecodeError,
    NoMaskFound,
    Repair,
)
from univlm.codecs.text4seg_blocks import (
    CLOSE_RE,
    OPEN_RE,
    Block,
    Row,
    bare_blocks,
    block_rows,
    clean_label,
    tagged_blocks,
)

logger = logging.getLogger(__name__)

__all__ = ["decode_mask", "decode_masks"]

_STANDARD_GRIDS = (16, 24, 32)


def _infer_grid(rows: list[Row], n_rows: int) -> int:
    """G from the text (``n_rows`` rows, ``rows`` parsed): the usual row sum if typical, else the row count."""
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
    """Collects repairs (at most ``MAX_REPAIRS``, the rest counted); in strict mode the first raises."""

    def __init__(self, strict: bool, block_index: int) -> None:
        self.strict = strict
        self.block_index = block_index
        self.repairs: list[Repair] = []
        self.unlisted = 0  # repairs counted but not listed (beyond MAX_REPAIRS, or never parsed)

    def add(self, kind: str, row: int | None, run: int | None, detail: str) -> None:
        if self.strict:
            where = f"mask {self.block_index}"
            if row is not None:
                where += f", row {row}"
            if run is not None:
                where += f", run {run}"
            raise MaskDecodeError(f"{where}: {kind}: {detail}", row=row, run=run, kind=kind)
        if len(self.repairs) < MAX_REPAIRS:
            self.repairs.append(Repair(kind, row, run, detail))
        else:
            self.unlisted += 1

    def finish(self) -> list[Repair]:
        if self.unlisted:
            detail = f"{self.unlisted} more repairs not listed (at most {MAX_REPAIRS} per mask)"
            self.repairs.append(Repair("repairs_truncated", None, None, detail))
        return self.repairs


class _LabelTable:
    """Maps label names to indices; index 0 is ``others``. A known set makes other names background."""

    def __init__(self, known: Sequence[str] | None) -> None:
        self.known = known is not None
        self.names: list[str] = [BACKGROUND]
        if known is not None:
            cleaned = (clean_label(k) for k in known)
            self.names += [k for k in cleaned if k and k != BACKGROUND]
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


def _fill_row(row: Row, r: int, size: int, table: _LabelTable, rec: _Recorder) -> list[int]:
    """The ``size`` label indices of grid row ``r``, repairing its runs as needed."""
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
            rec.add(
                "unknown_label", r, k, f"label {run.label!r} not in the label set; read as {BACKGROUND!r}"
            )
            idx = 0
        take = min(run.count, size - len(cells))
        cells.extend([idx] * take)
        if take < run.count:
            rec.add("row_truncated", r, k, f"row counts sum to {total}, expected {size}; truncated")
            break
    if not cells:
        rec.add("empty_row", r, None, f"no usable run; row filled with {BACKGROUND!r}")
        return [0] * size
    if len(cells) < size:
        last = table.names[cells[-1]]
        detail = f"row counts sum to {len(cells)}, expected {size}; padded with {last!r}"
        rec.add("row_padded", r, len(row.runs) - 1, detail)
        cells.extend([cells[-1]] * (size - len(cells)))
    return cells


def _decode_block(
    block: Block,
    grid: int | None,
    labels: Sequence[str] | None,
    strict: bool,
    block_index: int,
    max_grid: int,
) -> DecodedMask | None:
    rec = _Recorder(strict, block_index)
    if not block.closed:
        rec.add("missing_close_tag", None, None, "block has no </seg>; read to the end of the text")
    # Rows far beyond any grid are garbage: every line is parsed, but only enough rows are kept to
    # infer and fill the grid; the rest are counted.
    found = block_rows(block, 2 * max_grid + 64)
    if block.closed and block.tagged:
        for row in found.prose:
            rec.add("junk_dropped", None, None, f"ignored text {' '.join(row.junk)[:60]!r} inside <seg>")
        rec.unlisted += found.n_prose - len(found.prose)
    if not found.n_rows:
        return None
    parsed, n_rows = found.rows, found.n_rows
    size = grid
    if size is None:
        size = _infer_grid(parsed, n_rows)
        if size > max_grid:
            rec.add("grid_clamped", None, None, f"inferred grid {size} exceeds {max_grid}; using {max_grid}")
            size = max_grid
    table = _LabelTable(labels)
    indices = np.zeros((size, size), dtype=np.int64)  # (G, G)
    for r, row in enumerate(parsed[:size]):
        indices[r] = _fill_row(row, r, size, table, rec)
    if n_rows < size:
        rec.add("rows_padded", n_rows, None, f"{n_rows} rows, expected {size}; padded with {BACKGROUND!r}")
    elif n_rows > size:
        rec.add("rows_dropped", size, None, f"{n_rows} rows, expected {size}; extra rows dropped")
    return DecodedMask(labels=list(table.names), indices=indices, repairs=rec.finish(), span=block.span)


def decode_masks(
    text: str,
    grid: int | None = None,
    labels: Sequence[str] | None = None,
    strict: bool = False,
    *,
    max_masks: int = DEFAULT_MAX_MASKS,
    max_grid: int = MAX_GRID,
    max_chars: int = DEFAULT_MAX_CHARS,
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
        max_masks: Decode at most this many masks; later blocks are counted in a ``masks_dropped``
            repair on the last mask (an error in strict mode).
        max_grid: Largest G: an inferred grid above it is clamped (a repair), a requested one refused.
        max_chars: Read at most this many characters; a longer text is cut there (a
            ``text_truncated`` repair on the last mask, an error in strict mode).

    Returns:
        One :class:`DecodedMask` per block that holds at least one run, in text order.

    Raises:
        MaskDecodeError: In strict mode, on the first defect (naming row and run).
        ValueError: If ``grid``, ``max_masks``, ``max_grid`` or ``max_chars`` is < 1.
        LimitExceeded: If ``grid > max_grid``.
        TypeError: If ``text`` is not a string.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    if min(max_masks, max_grid, max_chars) < 1:
        raise ValueError(
            f"max_masks, max_grid and max_chars must be >= 1, got {max_masks}, {max_grid}, {max_chars}"
        )
    if grid is not None and grid < 1:
        raise ValueError(f"grid must be >= 1, got {grid}")
    if grid is not None and grid > max_grid:
        raise LimitExceeded(f"grid {grid} exceeds the limit of {max_grid} (max_grid / --max-grid)")
    cut = None
    if len(text) > max_chars:
        cut = f"the text has {len(text)} characters; only the first {max_chars} were read (max_chars)"
        if strict:
            raise MaskDecodeError(f"text_truncated: {cut}", kind="text_truncated")
        text = text[:max_chars]
    block_repairs: list[Repair] = []
    if OPEN_RE.search(text):
        blocks = tagged_blocks(text)
    else:
        if CLOSE_RE.search(text):
            block_repairs.append(Repair("missing_open_tag", None, None, "found </seg> without <seg>"))
        blocks = bare_blocks(text, 2 * max_grid + 64)
    if strict and block_repairs:
        first = block_repairs[0]
        raise MaskDecodeError(f"{first.kind}: {first.detail}", row=None, run=None, kind=first.kind)
    masks: list[DecodedMask] = []
    for block in blocks:
        if len(masks) == max_masks:
            # Count, do not decode, the rest: each block may cost up to max_grid**2 cells.
            dropped = 1 + sum(1 for _ in blocks)
            detail = f"{dropped} more block(s) after the first {max_masks} masks were not decoded (max_masks)"
            if strict:
                raise MaskDecodeError(f"masks_dropped: {detail}", kind="masks_dropped")
            masks[-1].repairs.append(Repair("masks_dropped", None, None, detail))
            break
        decoded = _decode_block(block, grid, labels, strict, len(masks), max_grid)
        if decoded is None:
            logger.debug("skipped an empty mask block at %s", block.span)
            continue
        decoded.repairs[:0] = block_repairs
        masks.append(decoded)
    if cut is not None and masks:
        masks[-1].repairs.append(Repair("text_truncated", None, None, cut))
    return masks


def decode_mask(
    text: str,
    grid: int | None = None,
    labels: Sequence[str] | None = None,
    strict: bool = False,
    *,
    max_masks: int = DEFAULT_MAX_MASKS,
    max_grid: int = MAX_GRID,
    max_chars: int = DEFAULT_MAX_CHARS,
) -> DecodedMask:
    """Decode the first mask in a model answer (see :func:`decode_masks`; strict mode checks them all).

    Raises:
        NoMaskFound: If the text holds no mask.
        MaskDecodeError: In strict mode, on the first defect.
    """
    masks = decode_masks(
        text,
        grid=grid,
        labels=labels,
        strict=strict,
        max_masks=max_masks,
        max_grid=max_grid,
        max_chars=max_chars,
    )
    if not masks:
        raise NoMaskFound("no mask found: expected a <seg>...</seg> block or rows like 'others *24'")
    return masks[0]
