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
- ``load_hf_dataset`` stores ``targets`` as a JSON string by default: targets differ per task, and
  one Arrow struct for all of them would pad every row with nulls for keys it never had.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    "load_hf_dataset",
    "read_jsonl",
    "read_records",
    "user_turns",
    "validate_record",
    "write_jsonl_atomic",
]


@dataclass(frozen=True)
class Problem:
    """One defect of one record.

    Attributes:
        field: Dotted path of the offending field, e.g. ``targets.boxes`` or ``messages[1].content``.
        kind: Defect class: ``json``, ``schema``, ``image``, ``placeholder``, ``tag``, ``answer`` or
            ``targets``.
        message: What was expected and what was found.
        line: 1-based line number in the JSONL file (0 when unknown).
    """

    field: str
    kind: str
    message: str
    line: int = 0

    def format(self, file: str | os.PathLike[str] = "<record>") -> str:
        """Render as ``FILE:LINE: field: message``."""
        return f"{file}:{self.line}: {self.field}: {self.message}"


class RecordError(ValueError):
    """A JSONL line that is not a JSON object; the message names ``file:line:field``."""

    def __init__(self, file: str | os.PathLike[str], line: int, field: str, message: str):
        self.file, self.line, self.field = str(file), line, field
        super().__init__(f"{file}:{line}: {field}: {message}")


def read_jsonl(path: str | os.PathLike[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, record)`` for every non-blank line of a JSONL file.

    Args:
        path: The JSONL file.

    Yields:
        1-based line numbers and the decoded objects, in file order.

    Raises:
        RecordError: If a line is not valid JSON or not a JSON object.
        FileNotFoundError: If the file does not exist.
    """
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise RecordError(path, lineno, "json", f"invalid JSON: {exc.msg} at column {exc.colno}") from None
            if not isinstance(obj, dict):
                raise RecordError(path, lineno, "json", f"expected a JSON object, got {type(obj).__name__}")
            yield lineno, obj


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
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    count = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for rec in records:
                fh.write(dumps_record(rec))
                fh.write("\n")
                count += 1
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return count


def load_hf_dataset(
    path: str | os.PathLike[str], root: str | os.PathLike[str] | None = None, targets_as_json: bool = True
):
    """Load a JSONL file as a ``datasets.Dataset`` with the record columns.

    Args:
        path: The JSONL file.
        root: When given, ``images`` become absolute paths under ``root``; otherwise they stay relative.
        targets_as_json: Keep ``targets`` as a JSON string (stable Arrow schema across tasks; decode with
            ``json.loads``). When False, Arrow infers one struct for all rows (missing keys become None).

    Returns:
        A ``datasets.Dataset`` with columns id, images, messages, task, granularity, source, targets.

    Raises:
        RecordError: On a malformed line.
    """
    import datasets

    rows: dict[str, list[Any]] = {key: [] for key in REQUIRED_KEYS}
    for lineno, rec in read_jsonl(path):
        for key in REQUIRED_KEYS:
            if key not in rec:
                raise RecordError(path, lineno, key, "missing required field")
        for key in REQUIRED_KEYS:
            value = rec[key]
            if key == "images" and root is not None:
                value = [str(Path(root) / p) for p in value]
            elif key == "targets" and targets_as_json:
                value = json.dumps(value, ensure_ascii=False)
            elif key == "messages":
                value = [{"role": m["role"], "content": m["content"]} for m in value]
            rows[key].append(value)
    return datasets.Dataset.from_dict(rows)


def user_turns(record: Mapping[str, Any]) -> list[str]:
    """Contents of the user messages of a record, in order."""
    return [m.get("content", "") for m in record.get("messages", []) if m.get("role") == "user"]


def assistant_turns(record: Mapping[str, Any]) -> list[str]:
    """Contents of the assistant messages of a record, in order."""
    return [m.get("content", "") for m in record.get("messages", []) if m.get("role") == "assistant"]


def validate_record(record: Any, root: str | os.PathLike[str] | None = None, line: int = 0) -> list[Problem]:
    """Check one record against the schema, its files and its answers (see docs/DATA.md).

    Args:
        record: A decoded JSON value (normally a dict).
        root: Data root that ``images`` and ``targets.mask`` are relative to; files are not checked
            when None.
        line: Line number to stamp on the problems.

    Returns:
        All problems found (empty when the record is good). Never raises on bad data.
    """
    from univlm.data.validate import check_record

    return check_record(record, root=root, line=line)
