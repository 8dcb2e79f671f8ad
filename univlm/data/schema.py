"""The instruction-record schema shared by training and evaluation (see docs/DATA.md).

One JSON object per line::

    {"id": "synth-train-000123-vg", "images": ["images/train/000123.png"],
     "messages": [{"role": "user", "content": "<image>\\n[VG] the largest building"},
                  {"role": "assistant", "content": "[12, 30, 45, 61]"}],
     "task": "VG", "granularity": "region", "source": "synthetic/train", "targets": {...}}

Design choices:
- ``messages`` is TRL's conversational format, so the same rows feed ``SFTTrainer`` directly.
- Line numbers are 1-based and blank lines are skipped (but counted), so ``FILE:LINE`` in every
  error points at the line an editor shows.
- Writing is atomic (temp file in the same directory + ``os.replace``): a reader never sees half a
  file, and a crashed writer leaves the previous file intact.
- Lines are decoded one at a time, so invalid UTF-8 is an error naming ``FILE:LINE`` rather than a
  ``UnicodeDecodeError`` with a byte offset.
- This module only reads and writes; checking lives in :mod:`univlm.data.validate`, which imports
  this one (never the reverse). It imports no model code, numpy, torch or transformers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from univlm.fileio import atomic_open
from univlm.tasks import TASK_GRANULARITY, TASKS

GRANULARITIES: tuple[str, ...] = ("image", "region", "pixel")
REQUIRED_KEYS: tuple[str, ...] = ("id", "images", "messages", "task", "granularity", "source", "targets")
ROLES: tuple[str, ...] = ("system", "user", "assistant")
VQA_ANSWER_TYPES: tuple[str, ...] = ("presence", "count", "comparison", "rural_urban", "area", "other")

__all__ = [
    "GRANULARITIES",
    "REQUIRED_KEYS",
    "TASKS",
    "TASK_GRANULARITY",
    "VQA_ANSWER_TYPES",
    "Problem",
    "RecordError",
    "assistant_turns",
    "dumps_record",
    "parse_line",
    "read_jsonl",
    "read_lines",
    "read_records",
    "user_turns",
    "write_jsonl_atomic",
]


@dataclass(frozen=True)
class Problem:
    """One defect of one record.

    Attributes:
        field: Dotted path of the offending field, e.g. ``targets.boxes`` or ``messages[1].content``.
        kind: Defect class, one of ``univlm.data.validate.PROBLEM_KINDS`` (``json``, ``schema``,
            ``limit``, ``path``, ``image``, ``placeholder``, ``tag``, ``answer``, ``targets``).
        message: What was expected and what was found.
        line: 1-based line number in the JSONL file (0 when unknown).
        file: The JSONL file ("" when unknown).
    """

    field: str
    kind: str
    message: str
    line: int = 0
    file: str = ""

    def format(self, file: str | os.PathLike[str] | None = None) -> str:
        """Render as ``FILE:LINE: field: message`` (``file`` overrides the stored one)."""
        name = os.fspath(file) if file is not None else (self.file or "<record>")
        return f"{name}:{self.line}: {self.field}: {self.message}"


class RecordError(ValueError):
    """A JSONL line that is not a JSON object; the message names ``file:line:field``."""

    def __init__(self, file: str | os.PathLike[str], line: int, field: str, message: str):
        self.file, self.line, self.field, self.reason = os.fspath(file), line, field, message
        super().__init__(f"{file}:{line}: {field}: {message}")


def read_jsonl(path: str | os.PathLike[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, record)`` for every non-blank line of a JSONL file.

    Args:
        path: The JSONL file.

    Yields:
        1-based line numbers and the decoded objects, in file order.

    Raises:
        RecordError: If a line is not UTF-8, not valid JSON or not a JSON object.
        FileNotFoundError: If the file does not exist.
    """
    for lineno, line in read_lines(path):
        obj = parse_line(path, lineno, line)
        if not isinstance(obj, dict):
            raise RecordError(path, lineno, "json", f"expected a JSON object, got {type(obj).__name__}")
        yield lineno, obj


def read_lines(path: str | os.PathLike[str]) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` for every non-blank line, decoded as UTF-8 one line at a time.

    Raises:
        RecordError: On a line that is not valid UTF-8 (naming ``FILE:LINE`` and the byte column).
        FileNotFoundError: If the file does not exist.
    """
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise RecordError(path, lineno, "encoding",
                                  f"invalid UTF-8 at byte {exc.start + 1} of the line: {exc.reason}") from None
            if line.strip():
                yield lineno, line


def parse_line(path: str | os.PathLike[str], lineno: int, line: str) -> Any:
    """Decode one JSONL line.

    Raises:
        RecordError: If the line is not valid JSON, nests too deeply or holds an over-long integer.
    """
    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        raise RecordError(path, lineno, "json", f"invalid JSON: {exc.msg} at column {exc.colno}") from None
    except RecursionError:
        raise RecordError(path, lineno, "json", "JSON nested too deeply") from None
    except ValueError as exc:  # e.g. an integer over Python's digit limit
        raise RecordError(path, lineno, "json", f"invalid JSON value: {exc}") from None


def read_records(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """All records of a JSONL file as a list (see :func:`read_jsonl`)."""
    return [rec for _, rec in read_jsonl(path)]


def dumps_record(record: Mapping[str, Any]) -> str:
    """The canonical one-line JSON form of a record (key order kept, UTF-8 text, no trailing newline)."""
    return json.dumps(record, ensure_ascii=False)


def write_jsonl_atomic(path: str | os.PathLike[str], records: Iterable[Mapping[str, Any]]) -> int:
    """Write records as JSONL through a temp file and ``os.replace``.

    Args:
        path: Destination file; its directory is created if missing.
        records: Records to write, one per line.

    Returns:
        The number of records written.
    """
    count = 0
    with atomic_open(path, "w") as fh:
        for rec in records:
            fh.write(dumps_record(rec))
            fh.write("\n")
            count += 1
    return count


def _turns(record: Mapping[str, Any], role: str) -> list[str]:
    messages = record.get("messages")
    if not isinstance(messages, list):
        return []
    return [m["content"] for m in messages
            if isinstance(m, dict) and m.get("role") == role and isinstance(m.get("content"), str)]


def user_turns(record: Mapping[str, Any]) -> list[str]:
    """Contents of the user messages of a record, in order (malformed messages are left out)."""
    return _turns(record, "user")


def assistant_turns(record: Mapping[str, Any]) -> list[str]:
    """Contents of the assistant messages of a record, in order (malformed messages are left out)."""
    return _turns(record, "assistant")
