"""Row scanning and block finding for the Text4Seg decoder (internal to :mod:`univlm.codecs`).

Design choices:

- A run is a label (no ``|``, ``*`` or newline) then ``*count``; splitting a row on ``*`` makes every
  piece after the first start with the previous run's count and end with the next run's label, so
  Text4Seg's ``"a *3| b *2"``, RSUniVLM's ``"a*3, b*2"`` and labels with commas read in one pass.
- ``<seg>`` tags are found case-insensitively (ASCII only) on the text itself, never on a
  lower-cased copy: ``str.lower`` changes lengths ("İ" -> "i̇"), which would shift every offset.
- Every line is parsed once; a block keeps at most a cap of parsed rows and counts the rest, so
  memory stays bounded however many rows hostile text holds.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from univlm.codecs.limits import MAX_LABEL_CHARS
from univlm.codecs.text4seg import LABEL_EDGE_CHARS, SEG_CLOSE, SEG_OPEN

__all__ = [
    "CLOSE_RE",
    "OPEN_RE",
    "Block",
    "BlockRows",
    "Row",
    "Run",
    "bare_blocks",
    "block_rows",
    "clean_label",
    "parse_row",
    "tagged_blocks",
]

OPEN_RE = re.compile(re.escape(SEG_OPEN), re.IGNORECASE | re.ASCII)
CLOSE_RE = re.compile(re.escape(SEG_CLOSE), re.IGNORECASE | re.ASCII)
# A run is a label (no "|", "*" or newline) then "*count"; separators ("| " or ", ") are stripped from
# the label's front, so labels containing commas ("red, large building *5") still read as one phrase.
_COUNT_RE = re.compile(r"\s*(\d+)")
_SEP_CHARS = " \t\r|" + LABEL_EDGE_CHARS
# int() refuses >4300 digits and huge counts are nonsense anyway; clip to something > MAX_GRID.
_MAX_COUNT_DIGITS = 9
_HUGE_COUNT = 10**_MAX_COUNT_DIGITS


@dataclass
class Run:
    """One ``label *count`` run of a row."""

    label: str
    count: int


@dataclass
class Row:
    """One text row: its runs and the text that was neither run nor separator."""

    runs: list[Run]
    junk: list[str]


@dataclass
class Block:
    """A mask block: its text lines (tagged) or its already parsed rows (bare)."""

    lines: list[str]
    span: tuple[int, int]
    closed: bool
    tagged: bool
    rows: list[Row] | None = None
    unparsed: int = 0  # non-blank lines beyond the row cap, counted but not parsed


def clean_label(raw: str) -> str:
    """A label as the decoder reads it: separators stripped from both ends, whitespace collapsed."""
    return " ".join(raw.strip(_SEP_CHARS).split())


def _label_part(text: str, junk: list[str]) -> str:
    """The label at the end of ``text`` (after the last ``|``); earlier non-empty parts are junk."""
    parts = text.split("|")
    for part in parts[:-1]:
        cleaned = clean_label(part)
        if cleaned:
            junk.append(cleaned)
    label = clean_label(parts[-1])
    if len(label) > MAX_LABEL_CHARS:
        junk.append(label[:MAX_LABEL_CHARS])
        return ""
    return label


def parse_row(line: str) -> Row:
    """Split one text row into runs; text that is neither run nor separator is kept as junk.

    Splitting on ``*`` makes every piece after the first start with the previous run's count and
    end with the next run's label, which reads both ``"a *3| b *2"`` and ``"a*3, b*2"`` in one pass.
    """
    runs: list[Run] = []
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
                runs.append(Run(label, int(digits) if len(digits) <= _MAX_COUNT_DIGITS else _HUGE_COUNT))
            else:
                junk.append("*" + digits[:_MAX_COUNT_DIGITS])
            label = _label_part(piece[m.end() :], junk)
        if label.strip(".!?:;"):  # sentence punctuation after the last run is not junk
            junk.append(label)
        if runs:
            return Row(runs, junk)
    # No "*count" anywhere: Text4Seg's plain form writes every cell, "others| others| building".
    elif "|" in line:
        cells = [clean_label(c) for c in line.split("|")]
        if all(cells) and all(len(c) <= MAX_LABEL_CHARS for c in cells):
            return Row([Run(c, 1) for c in cells], [])
    stripped = line.strip()
    return Row([], [stripped[:MAX_LABEL_CHARS]] if stripped else [])


def tagged_blocks(text: str) -> Iterator[Block]:
    starts = [m.start() for m in OPEN_RE.finditer(text)]
    for k, start in enumerate(starts):
        body_start = start + len(SEG_OPEN)
        limit = starts[k + 1] if k + 1 < len(starts) else len(text)
        close = CLOSE_RE.search(text, body_start, limit)
        if close is not None:
            yield Block(text[body_start : close.start()].split("\n"), (start, close.end()), True, True)
        else:
            yield Block(text[body_start:limit].split("\n"), (start, limit), False, True)


def bare_blocks(text: str, row_cap: int) -> Iterator[Block]:
    """Groups of consecutive mask-like lines (blank lines do not end a group, prose does).

    Each line is parsed once, here; a block keeps at most ``row_cap`` parsed rows and counts the rest.
    """
    # A stray "</seg>" ends its line; it is blanked with spaces of the same length so offsets hold.
    text = CLOSE_RE.sub(" " * (len(SEG_CLOSE) - 1) + "\n", text)
    offset = 0
    block: Block | None = None
    for line in text.split("\n"):
        stripped = line.strip()
        # Cheap test first: a mask row holds a "*" count or "|" cells.
        row = parse_row(stripped) if stripped and ("*" in stripped or "|" in stripped) else None
        if row is not None and row.runs:
            if block is None:
                block = Block([], (offset, offset), True, False, rows=[])
            if len(block.rows) < row_cap:
                block.rows.append(row)
            else:
                block.unparsed += 1
            block.span = (block.span[0], offset + len(line))
        elif stripped and block is not None:
            yield block
            block = None
        offset += len(line) + 1
    if block is not None:
        yield block


@dataclass
class BlockRows:
    """A block's mask rows (first to last row with runs) and the prose around them."""

    rows: list[Row]  # at most the row cap are kept ...
    n_rows: int  # ... of this many
    prose: list[Row]  # prose lines before the first and after the last mask row, at most the cap kept ...
    n_prose: int  # ... of this many


def block_rows(block: Block, row_cap: int) -> BlockRows:
    """Parse the block's lines once, keeping at most ``row_cap`` rows (and prose lines) and counting the rest."""
    if block.rows is not None:
        return BlockRows(block.rows, len(block.rows) + block.unparsed, [], 0)
    leading: list[Row] = []
    body: list[Row] = []
    n_leading = n_body = 0
    n_rows = 0  # rows up to and including the last one with runs
    for line in block.lines:
        row = parse_row(line)
        if not (row.runs or row.junk):
            continue
        if n_body == 0 and not row.runs:
            if len(leading) < row_cap:
                leading.append(row)
            n_leading += 1
            continue
        if n_body < row_cap:
            body.append(row)
        n_body += 1
        if row.runs:
            n_rows = n_body
    return BlockRows(body[:n_rows], n_rows, leading + body[n_rows:], n_leading + n_body - n_rows)
