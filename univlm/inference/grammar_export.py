"""The mask and box answer grammars as text that serving engines compile (XGrammar EBNF, regex).

vLLM and SGLang constrain decoding with XGrammar, which takes an EBNF grammar (GBNF dialect: string
literals in double quotes, ``|`` alternatives, ``root`` as the start rule) or a regular expression.
This module writes univlm's two answer grammars in both forms, as pure functions of the labels and
the grid, so a served model emits exactly the text ``univlm.codecs`` reads.

Design choices:
- **EBNF is exact.** It encodes everything :class:`~univlm.inference.grammars.MaskGrammar` enforces:
  ``<seg>``, exactly G rows of exactly G cells, labels from the allowed set (``others`` first), run
  lengths without leading zeros, no run repeating the previous run's label (canonical R-RLE), then
  ``\\n</seg>``. The per-row sum is a finite automaton: rule ``r{k}_{p}`` is "k cells left in this
  row, previous label p", so the grammar has O(G * L) rules and O(G^2 * L) alternatives. Boxes
  ``[x1, y1, x2, y2]`` use integers 0..100 and, when ``ordered``, ``x1 <= x2`` and ``y1 <= y2``
  through one rule per lower bound.
- **Regex is structural.** A regular expression for the row-sum constraint would be exponential in
  G, so the regex form checks the row count, the labels, the separators and the count range but not
  that each row sums to G; the box regex checks the 0..100 range but not the order. Prefer EBNF; use
  the regex only where an engine takes nothing else, and let ``univlm.codecs`` repair the rest.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from univlm.codecs.text4seg import BACKGROUND, ROW_SEP, RUN_SEP, SEG_CLOSE, SEG_OPEN
from univlm.tasks import DEFAULT_GRID, FORBIDDEN_LABEL_CHARS

__all__ = ["box_ebnf", "box_regex", "mask_ebnf", "mask_labels", "mask_regex"]

COUNT_SEP, TAIL = " *", "\n"  # between a label and its run length; after the last row


def mask_labels(labels: Sequence[str]) -> list[str]:
    """The labels a mask grammar allows: ``others`` first, then ``labels`` stripped and de-duplicated.

    Raises:
        ValueError: If a label is empty or holds a character the mask format reserves.
    """
    names = list(dict.fromkeys([BACKGROUND, *(str(x).strip() for x in labels)]))
    for name in names:
        if not name or any(c in name for c in FORBIDDEN_LABEL_CHARS):
            raise ValueError(f"label {name!r} is empty or contains a mask separator {FORBIDDEN_LABEL_CHARS!r}")
    return names


def _lit(text: str) -> str:
    """``text`` as an EBNF string literal."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def mask_ebnf(labels: Sequence[str], grid: int = DEFAULT_GRID) -> str:
    """The exact Text4Seg mask grammar (``<seg>`` ... ``</seg>``) as XGrammar EBNF.

    Args:
        labels: Allowed labels besides ``others``.
        grid: Rows per mask and cells per row (G).

    Returns:
        EBNF text whose start rule is ``root``.

    Raises:
        ValueError: If ``grid`` is not 1..256 or a label cannot be written as mask text.
    """
    if not 1 <= grid <= 256:
        raise ValueError(f"grid must be 1..256, got {grid}")
    names = mask_labels(labels)
    lines = [f"# Text4Seg mask, {grid} x {grid} cells, labels: {', '.join(names)}"]
    rows = f" {_lit(ROW_SEP)} ".join(["row"] * grid)
    lines.append(f"root ::= {_lit(SEG_OPEN)} {rows} {_lit(TAIL + SEG_CLOSE)}")
    lines.append(f"row ::= r{grid}_n")
    # r{k}_{p}: k cells left in the row, previous run's label index p ("n": none, row start).
    for k in range(1, grid + 1):
        for p in ["n", *range(len(names))]:
            alts = [f"{_lit(name + COUNT_SEP)} c{k}_{j}" for j, name in enumerate(names) if j != p]
            if alts:
                lines.append(f"r{k}_{p} ::= " + " | ".join(alts))
    # c{k}_{j}: the run length of label j with k cells left; a shorter run continues the row.
    for k in range(1, grid + 1):
        for j in range(len(names)):
            alts = [_lit(str(k))]
            if len(names) > 1:
                alts += [f"{_lit(str(c) + RUN_SEP)} r{k - c}_{j}" for c in range(1, k)]
            lines.append(f"c{k}_{j} ::= " + " | ".join(alts))
    return "\n".join(lines) + "\n"


def _int_range(lo: int, hi: int) -> list[str]:
    return [str(v) for v in range(lo, hi + 1)]


def box_ebnf(max_value: int = 100, ordered: bool = True) -> str:
    """The box grammar ``[x1, y1, x2, y2]`` (integers 0..``max_value``) as XGrammar EBNF.

    Args:
        max_value: Largest coordinate (100: RSUniVLM's relative grid).
        ordered: Require ``x1 <= x2`` and ``y1 <= y2``.

    Returns:
        EBNF text whose start rule is ``root``.
    """
    lines = [f"# box [x1, y1, x2, y2], integers 0..{max_value}{', x1 <= x2 and y1 <= y2' if ordered else ''}"]
    if not ordered:
        lines.append('root ::= "[" v ", " v ", " v ", " v "]"')
        lines.append("v ::= " + " | ".join(_lit(s) for s in _int_range(0, max_value)))
        return "\n".join(lines) + "\n"
    # y{a}: the rest of the box after x1 = a; ge{a}: any value >= a (x2 after x1, y2 after y1).
    lines.append("root ::= " + " | ".join(f"{_lit('[' + str(a) + ', ')} y{a}" for a in range(max_value + 1)))
    for a in range(max_value + 1):
        lines.append(
            f"y{a} ::= " + " | ".join(f"{_lit(str(b) + ', ')} ge{a} {_lit(', ')} ge{b} {_lit(']')}" for b in range(max_value + 1))
        )
    for a in range(max_value + 1):
        lines.append(f"ge{a} ::= " + " | ".join(_lit(s) for s in _int_range(a, max_value)))
    return "\n".join(lines) + "\n"


def _re_int(lo: int, hi: int) -> str:
    return "(?:" + "|".join(re.escape(s) for s in sorted(_int_range(lo, hi), key=lambda s: (-len(s), s))) + ")"


def mask_regex(labels: Sequence[str], grid: int = DEFAULT_GRID) -> str:
    """A structural regex for mask answers: row count, labels, separators and run-length range.

    It does not check that each row sums to ``grid`` (see the module docstring); use
    :func:`mask_ebnf` for the exact grammar.

    Raises:
        ValueError: If ``grid`` is not 1..256 or a label cannot be written as mask text.
    """
    if not 1 <= grid <= 256:
        raise ValueError(f"grid must be 1..256, got {grid}")
    names = mask_labels(labels)
    label = "(?:" + "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)) + ")"
    run = label + re.escape(COUNT_SEP) + _re_int(1, grid)
    row = run + "(?:" + re.escape(RUN_SEP) + run + ")*"
    rows = row + ("(?:" + re.escape(ROW_SEP) + row + "){" + str(grid - 1) + "}" if grid > 1 else "")
    return re.escape(SEG_OPEN) + rows + re.escape(TAIL + SEG_CLOSE)


def box_regex(max_value: int = 100) -> str:
    """A regex for boxes ``[x1, y1, x2, y2]`` with integers 0..``max_value`` (order not checked)."""
    v = _re_int(0, max_value)
    return re.escape("[") + v + (re.escape(", ") + v) * 3 + re.escape("]")
