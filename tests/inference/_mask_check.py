"""A strict string-level check of one mask answer, for tests of the grammars and the Predictor."""

from __future__ import annotations

from collections.abc import Sequence


def validate_mask_text(text: str, labels: Sequence[str] | None, grid: int) -> list[str]:
    """Strictly check one ``<seg>...</seg>`` answer (string level, independent of tokenisation).

    Args:
        text: The answer text.
        labels: Allowed labels (``"others"`` always allowed); None allows any label.
        grid: Expected rows and cells per row.

    Returns:
        Problems found; empty when the answer is a valid G x G mask.
    """
    body = text.strip()
    if not body.startswith("<seg>") or not body.endswith("</seg>"):
        return ["answer is not wrapped in <seg>...</seg>"]
    rows = body[len("<seg>") : -len("</seg>")].rstrip("\n").split("\n")
    problems = []
    if len(rows) != grid:
        problems.append(f"expected {grid} rows, got {len(rows)}")
    allowed = None if labels is None else {"others", *labels}
    for r, row in enumerate(rows):
        total = 0
        for run in row.strip().split("| "):
            name, sep, count = run.rpartition(" *")
            if not sep or not count.isdigit() or count.startswith("0"):
                problems.append(f"row {r}: malformed run {run!r}")
                continue
            if allowed is not None and name not in allowed:
                problems.append(f"row {r}: label {name!r} not allowed")
            total += int(count)
        if total != grid:
            problems.append(f"row {r}: {total} cells, expected {grid}")
    return problems
