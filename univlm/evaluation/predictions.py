"""Predictions files: read them defensively, join them to records, write them atomically.

Predictions file (JSONL, one object per line)::

    {"id": "<record id>", "text": "<model answer>"}                 # one answer per record
    {"id": "<record id>", "label": "building", "text": "<answer>"}   # per-class tasks: one per label
    {"id": "<record id>", "text": "Sure: [SEG0]..[SEG5].", "masks": [{"size": [H, W], "counts": "..."}],
     "mask_decoder": "head"}                                        # masks from a [SEG]-token mask head

Extra fields are allowed and ignored. Predictions are joined to records by ``id`` (and ``label``).
``masks`` (COCO RLE objects at the image's size, one per instance, from a model with a mask head;
``mask_decoder`` is then ``"head"``) are kept in :attr:`PredictionSet.head_masks`; the referring and
multi-referring scorers prefer them over masks decoded from the text.

Design choices:
- A predictions file is untrusted model output. Each line is read on its own: a line that is not
  valid UTF-8, not JSON (also nesting deep enough to raise ``RecursionError``, or an integer over
  Python's digit limit), longer than :data:`MAX_LINE_BYTES`, not an object with string ``id`` and
  ``text``, or a repeat of an earlier ``(id, label)`` is **rejected**: it names ``FILE:LINE`` and what
  was expected, is counted, and the rest of the file is still scored. ``strict=True`` raises
  :class:`PredictionsError` at the first such line instead.
- Lines are read as bytes and decoded one by one, so invalid UTF-8 names its line (a text-mode read
  would fail with a byte offset for the whole file).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from typing import IO, Any

from univlm.fileio import atomic_open

# A 24x24 mask answer is a few KB; 16 MiB leaves room for very long answers and bounds memory per line.
MAX_LINE_BYTES = 16 * 1024 * 1024
MAX_LISTED_REJECTS = 20

Key = tuple[str, str | None]


class PredictionsError(ValueError):
    """A malformed predictions line (``strict=True``); the message names ``file:line`` and the field."""


class PredictionSet(dict):
    """``(id, label) -> text`` as read from a predictions file, plus what was rejected.

    Attributes:
        rejected: Number of rejected lines.
        problems: The first :data:`MAX_LISTED_REJECTS` rejections, each ``"FILE:LINE: what"``.
        head_masks: ``(id, label) -> [COCO RLE, ...]`` for lines whose masks came from a mask head.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rejected = 0
        self.problems: list[str] = []
        self.head_masks: dict[Key, list[dict[str, Any]]] = {}

    def reject(self, message: str) -> None:
        """Count one rejected line and keep its message if the list is not full."""
        self.rejected += 1
        if len(self.problems) < MAX_LISTED_REJECTS:
            self.problems.append(message)


def _lines(fh: IO[bytes]) -> Iterator[tuple[int, bytes | None]]:
    """``(line number, bytes)`` per line; ``None`` for a line over :data:`MAX_LINE_BYTES` (skipped whole)."""
    lineno = 0
    while True:
        raw = fh.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        lineno += 1
        if len(raw) > MAX_LINE_BYTES:
            while raw and not raw.endswith(b"\n"):  # drain the rest of the over-long line
                raw = fh.readline(MAX_LINE_BYTES)
            yield lineno, None
            continue
        yield lineno, raw


def _head_masks(obj: Mapping[str, Any]) -> list[dict[str, Any]] | None | str:
    """A line's head masks (None when it has none), or the reason the line is rejected."""
    masks, decoder = obj.get("masks"), obj.get("mask_decoder")
    if decoder is not None and decoder not in ("head", "text"):
        return f"mask_decoder: expected 'head' or 'text', got {decoder!r:.40}"
    if masks is None:
        return None
    if decoder == "text":
        return "masks: given with mask_decoder 'text'; masks are only read from a mask head ('head')"
    if not isinstance(masks, list):
        return f"masks: expected a list of COCO RLE objects, got {type(masks).__name__}"
    for k, rle in enumerate(masks):
        size = rle.get("size") if isinstance(rle, dict) else None
        if (
            not isinstance(size, list)
            or len(size) != 2
            or not all(isinstance(v, int) and v > 0 for v in size)
            or not isinstance(rle.get("counts"), (str, list))
        ):
            return f"masks[{k}]: expected a COCO RLE object {{'size': [H, W], 'counts': ...}}"
    return masks


def _parse_line(raw: bytes | None) -> tuple[Key, str, list[dict[str, Any]] | None] | str:
    """The ``((id, label), text, head masks or None)`` of one line, or the reason it is rejected."""
    if raw is None:
        return f"line longer than {MAX_LINE_BYTES} bytes"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"invalid UTF-8 at byte {exc.start} of the line"
    try:
        obj = json.loads(text)
    except RecursionError:
        return "JSON nested too deeply"
    except ValueError as exc:  # JSONDecodeError, and int() over sys.get_int_max_str_digits()
        return f"invalid JSON: {str(exc)[:120]}"
    if not isinstance(obj, dict):
        return f"expected a JSON object, got {type(obj).__name__}"
    for key in ("id", "text"):
        if not isinstance(obj.get(key), str):
            return f"{key}: expected a string, got {type(obj.get(key)).__name__}"
    label = obj.get("label")
    if label is not None and not isinstance(label, str):
        return f"label: expected a string or null, got {type(label).__name__}"
    masks = _head_masks(obj)
    if isinstance(masks, str):
        return masks
    return (obj["id"], label), obj["text"], masks


def read_predictions(path: str | os.PathLike[str], *, strict: bool = False) -> PredictionSet:
    """Read a predictions JSONL file, rejecting bad lines one by one (see the module docstring).

    Args:
        path: The file.
        strict: Raise at the first bad line instead of rejecting and counting it.

    Returns:
        A :class:`PredictionSet`: ``(id, label) -> text`` (``label`` None for one-answer-per-record
        lines), with ``rejected`` and ``problems``.

    Raises:
        PredictionsError: With ``strict=True``, naming ``FILE:LINE`` of the first bad line.
        FileNotFoundError: If the file does not exist.
    """
    out = PredictionSet()
    with open(path, "rb") as fh:
        for lineno, raw in _lines(fh):
            if raw is not None and not raw.strip():
                continue
            parsed = _parse_line(raw)
            if isinstance(parsed, tuple) and parsed[0] in out:
                parsed = f"id: duplicate prediction for {parsed[0]}"
            if isinstance(parsed, str):
                message = f"{path}:{lineno}: {parsed}"
                if strict:
                    raise PredictionsError(message)
                out.reject(message)
                continue
            key, text, masks = parsed
            out[key] = text
            if masks is not None:
                out.head_masks[key] = masks
    return out


def as_prediction_map(predictions: Any) -> PredictionSet:
    """Accept a path, a ``{id: text}`` / ``{(id, label): text}`` mapping, or a list of row dicts.

    Returns:
        A :class:`PredictionSet` (``rejected`` counts bad lines of a file; 0 for in-memory inputs).
    """
    if isinstance(predictions, PredictionSet):
        return predictions
    if isinstance(predictions, (str, os.PathLike)):
        return read_predictions(predictions)
    if isinstance(predictions, Mapping):
        return PredictionSet({(k if isinstance(k, tuple) else (k, None)): v for k, v in predictions.items()})
    rows = list(predictions)
    out = PredictionSet({(row["id"], row.get("label")): row["text"] for row in rows})
    for row in rows:
        if row.get("masks") is not None and row.get("mask_decoder", "head") == "head":
            out.head_masks[(row["id"], row.get("label"))] = list(row["masks"])
    return out


def write_predictions(path: str | os.PathLike[str], rows: Iterable[Mapping[str, Any]]) -> int:
    """Write prediction rows as JSONL atomically.

    Args:
        path: Destination file.
        rows: Dicts with at least ``id`` and ``text`` (and ``label`` for per-class tasks).

    Returns:
        The number of rows written.
    """
    count = 0
    with atomic_open(path, "w") as fh:
        for row in rows:
            fh.write(json.dumps(dict(row), ensure_ascii=False) + "\n")
            count += 1
    return count
