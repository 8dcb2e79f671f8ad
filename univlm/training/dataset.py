"""JSONL records -> training examples: checking, offline length filtering and on-the-fly encoding.

Design choices:

- Records stay conversational (``messages`` + ``images``), the format TRL's ``SFTTrainer`` recognises
  as a vision dataset; they are encoded into ``input_ids``/``labels``/``pixel_values`` by
  :class:`RecordEncoder` (``processor.encode_conversation``) inside the collator, as TRL does for VLMs,
  so pixel tensors never sit in an Arrow table.
- ``max_length=None`` in the trainer: over-long records are filtered *offline* here, once, with a report
  naming each dropped record and its length, instead of being truncated mid-image or mid-mask.
- A bad record (malformed JSON, missing field, placeholder/image count mismatch, unreadable image,
  encoding failure) stops the run with ``FILE:LINE (id): reason``; with ``skip_bad`` it is counted,
  skipped and listed in the report. Nothing is dropped silently.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

IMAGE_PLACEHOLDER = "<image>"


class BadRecordError(ValueError):
    """A training record that cannot be used; the message names ``file:line (id)`` and the reason."""


@dataclass
class BadRecord:
    """One skipped record."""

    file: str
    line: int
    record_id: str | None
    reason: str

    def format(self) -> str:
        return f"{self.file}:{self.line} ({self.record_id or 'no id'}): {self.reason}"


@dataclass
class DatasetReport:
    """What :func:`load_training_records` kept and dropped, and why."""

    file: str
    total: int = 0
    kept: int = 0
    bad: list[BadRecord] = field(default_factory=list)
    over_length: list[tuple[str, int]] = field(default_factory=list)
    max_length: int | None = None
    tasks: Counter = field(default_factory=Counter)
    max_tokens: int = 0
    total_tokens: int = 0

    def format(self) -> str:
        """A human-readable multi-line summary listing every dropped record."""
        lines = [
            f"{self.file}: {self.kept}/{self.total} records kept, {self.total_tokens} tokens "
            f"(longest {self.max_tokens}); tasks: {dict(sorted(self.tasks.items()))}"
        ]
        if self.over_length:
            lines.append(f"  {len(self.over_length)} over max_length={self.max_length} (dropped):")
            lines += [f"    {rid}: {n} tokens" for rid, n in self.over_length]
        if self.bad:
            lines.append(f"  {len(self.bad)} bad records (skipped):")
            lines += [f"    {b.format()}" for b in self.bad]
        return "\n".join(lines)


def _check_record(rec: Any) -> str | None:
    """Return why ``rec`` cannot be trained on, or None when it can."""
    if not isinstance(rec, dict):
        return f"expected a JSON object, got {type(rec).__name__}"
    for key in ("id", "images", "messages"):
        if key not in rec:
            return f"missing required field {key!r}"
    images, messages = rec["images"], rec["messages"]
    if not isinstance(images, list) or not all(isinstance(p, str) for p in images):
        return "field 'images': expected a list of relative paths"
    if not isinstance(messages, list) or not messages:
        return "field 'messages': expected a non-empty list"
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict) or msg.get("role") not in ("system", "user", "assistant"):
            return f"field 'messages[{i}]': expected {{'role': system|user|assistant, 'content': str}}"
        if not isinstance(msg.get("content"), str):
            return f"field 'messages[{i}].content': expected a string"
    if not any(m["role"] == "assistant" and m["content"] for m in messages):
        return "field 'messages': no non-empty assistant turn to train on"
    placeholders = sum(m["content"].count(IMAGE_PLACEHOLDER) for m in messages)
    if placeholders != len(images):
        return f"field 'messages': {placeholders} {IMAGE_PLACEHOLDER} placeholders but {len(images)} images"
    return None


class RecordEncoder:
    """Encode one record (``messages``, absolute ``images`` paths) with the processor.

    Args:
        processor: A ``UniVLMProcessor`` (needs ``encode_conversation(messages, images)``).
        cache: Keep encoded examples in memory by record id (for small datasets re-read every epoch).

    Raises (from ``__call__``):
        BadRecordError: When an image cannot be read or the processor rejects the record.
    """

    def __init__(self, processor: Any, cache: bool = False):
        self.processor = processor
        self.cache: dict[str, dict] | None = {} if cache else None

    def __call__(self, record: Mapping[str, Any]) -> dict:
        key = record.get("id")
        if self.cache is not None and key in self.cache:
            return self.cache[key]
        from PIL import Image

        images = []
        for path in record["images"]:
            try:
                with Image.open(path) as im:
                    images.append(im.convert("RGB"))
            except (OSError, ValueError) as err:
                raise BadRecordError(f"record {key}: cannot read image {path}: {err}") from None
        try:
            encoded = dict(self.processor.encode_conversation(list(record["messages"]), images))
        except (ValueError, KeyError, IndexError, TypeError) as err:
            raise BadRecordError(f"record {key}: the processor rejected it: {err}") from None
        encoded["task"] = record.get("task")
        if self.cache is not None:
            self.cache[key] = encoded
        return encoded


def load_training_records(
    path: str | os.PathLike, root: str | os.PathLike, skip_bad: bool = False
) -> tuple[list[dict], DatasetReport]:
    """Read and check the records of one JSONL file (no encoding; see :func:`encode_and_filter`).

    Args:
        path: The JSONL file.
        root: Data root that ``images`` are relative to; returned records carry absolute paths.
        skip_bad: Count and skip bad records instead of raising.

    Returns:
        The usable records (``id``, ``images``, ``messages``, ``task``, ``granularity``, ``line``,
        ``num_tokens`` = 0 until measured) and a :class:`DatasetReport`.

    Raises:
        BadRecordError: On the first bad record, naming its file, line and id, unless ``skip_bad``.
        FileNotFoundError: If ``path`` does not exist.
    """
    path, root = Path(path), Path(root)
    report = DatasetReport(file=str(path))
    kept: list[dict] = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            report.total += 1
            rec: Any = None
            try:
                rec = json.loads(line)
                reason = _check_record(rec)
            except json.JSONDecodeError as err:
                reason = f"invalid JSON: {err.msg} at column {err.colno}"
            if reason is not None:
                _reject(
                    report,
                    BadRecord(str(path), lineno, rec.get("id") if isinstance(rec, dict) else None, reason),
                    skip_bad,
                )
                continue
            kept.append(
                {
                    "id": str(rec["id"]),
                    "images": [str(root / p) for p in rec["images"]],
                    "messages": [{"role": m["role"], "content": m["content"]} for m in rec["messages"]],
                    "task": rec.get("task") or "",
                    "granularity": rec.get("granularity") or "",
                    "line": lineno,
                    "num_tokens": 0,
                }
            )
    _finish(report, kept)
    return kept, report


def _reject(report: DatasetReport, bad: BadRecord, skip_bad: bool) -> None:
    if not skip_bad:
        raise BadRecordError(f"bad training record {bad.format()} (use --skip-bad to skip and list them)")
    report.bad.append(bad)


def _finish(report: DatasetReport, kept: list[dict]) -> None:
    report.kept = len(kept)
    report.tasks = Counter(r["task"] for r in kept)
    report.total_tokens = sum(r["num_tokens"] for r in kept)
    report.max_tokens = max((r["num_tokens"] for r in kept), default=0)
    if report.bad:
        logger.warning("%s: skipped %d bad records", report.file, len(report.bad))
    if report.over_length:
        logger.warning(
            "%s: dropped %d records over max_length=%s",
            report.file,
            len(report.over_length),
            report.max_length,
        )


def encode_and_filter(
    records: list[dict],
    report: DatasetReport,
    encoder: RecordEncoder,
    max_length: int | None = None,
    skip_bad: bool = False,
) -> list[dict]:
    """Encode every record once: reject those the processor cannot encode, drop those over ``max_length``.

    Args:
        records: Output of :func:`load_training_records`.
        report: Its report, updated in place (bad records, over-length records, token counts).
        encoder: The :class:`RecordEncoder` the collator will use.
        max_length: Drop (and report) records with more tokens; None keeps all.
        skip_bad: Count and skip bad records instead of raising.

    Returns:
        The kept records with ``num_tokens`` filled in.

    Raises:
        BadRecordError: On the first record that fails to encode, unless ``skip_bad``.
    """
    report.max_length = max_length
    kept = []
    for rec in records:
        try:
            rec["num_tokens"] = int(len(encoder(rec)["input_ids"]))
        except BadRecordError as err:
            _reject(report, BadRecord(report.file, rec.get("line", 0), rec["id"], str(err)), skip_bad)
            continue
        if max_length is not None and rec["num_tokens"] > max_length:
            report.over_length.append((rec["id"], rec["num_tokens"]))
            continue
        kept.append(rec)
    _finish(report, kept)
    return kept


def to_hf_dataset(records: list[dict]):
    """The kept records as a ``datasets.Dataset`` (what ``SFTTrainer`` requires).

    Raises:
        ValueError: If there is no record to train on.
    """
    import datasets

    if not records:
        raise ValueError("no training records left after filtering; see the dataset report")
    columns = ("id", "images", "messages", "task", "granularity", "line", "num_tokens")
    return datasets.Dataset.from_dict({c: [r[c] for r in records] for c in columns})
