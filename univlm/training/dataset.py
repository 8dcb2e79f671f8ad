"""JSONL records -> training examples: checking, offline length filtering and on-the-fly encoding.

Design choices:

- Records are checked by the one record checker, :func:`univlm.data.validate.iter_checked`, with
  ``targets=False`` (training needs trainable records, not scorable ones). A bad record is reported
  through the same :class:`~univlm.data.schema.Problem` s, in the same words, as ``univlm data
  validate``: every field is type- and range-checked before use (a ``"task": ["CLS"]`` list, a NaN box,
  an image over the pixel limit, a path outside the data root are located problems, not exceptions).
- Records stay conversational (``messages`` + ``images``), the format TRL's ``SFTTrainer`` recognises
  as a vision dataset; they are encoded into ``input_ids``/``labels``/``pixel_values`` by
  :class:`RecordEncoder` (:func:`univlm.training.conversation.encode_conversation`) inside the collator, as TRL does for VLMs, so pixel tensors never sit in an
  Arrow table. Images load through :func:`univlm.imaging.load_image` (pixel limit, 16-bit and float
  images stretched by their real range, never silently clipped).
- ``max_length=None`` in the trainer: over-long records are filtered *offline* here, once, with a report
  naming each dropped record and its length, instead of being truncated mid-image or mid-mask.
- A bad record stops the run with ``FILE:LINE: field: reason``; with ``skip_bad`` it is counted,
  skipped and listed in the report. Nothing is dropped silently. A record the processor cannot encode
  is a problem of kind ``encode``.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets

from univlm.data.schema import Problem
from univlm.data.validate import iter_checked
from univlm.imaging import ImageLoadError, load_image
from univlm.training.conversation import encode_conversation

logger = logging.getLogger(__name__)


class BadRecordError(ValueError):
    """A training record that cannot be used; the message names ``FILE:LINE: field: reason``.

    Attributes:
        problems: The record's problems.
    """

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        super().__init__("; ".join(p.format() for p in self.problems))


@dataclass
class DatasetReport:
    """What :func:`load_training_records` kept and dropped, and why."""

    file: str
    total: int = 0
    kept: int = 0
    num_bad: int = 0
    bad: list[Problem] = field(default_factory=list)
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
        if self.num_bad:
            lines.append(f"  {self.num_bad} bad records (skipped), {len(self.bad)} problems:")
            lines += [f"    {p.format()}" for p in self.bad]
        return "\n".join(lines)


class RecordEncoder:
    """Encode one record (``messages``, absolute ``images`` paths) with the processor.

    With a ``[SEG]``-token mask head (``config.mask_head == "clm"``), a one-image SEG record with
    instance or two-label targets answers ``"Sure: G and G."`` instead of its text mask and carries
    ``mask_targets`` ``(K, R, R)`` / ``mask_classes`` ``(K,)``
    (:func:`univlm.models.mask_head_targets.head_training_example`); the collators keep them with their
    example, packed or padded. Other SEG records keep their text answer; both sets of ids are kept in
    ``head_ids`` / ``text_mask_ids`` for the run's report.

    Args:
        processor: A ``UniVLMProcessor``.
        cache: Keep encoded examples in memory by record id (for small datasets re-read every epoch),
            and process each distinct image list once: the records that share a scene (its caption,
            questions, boxes and masks) then share one pixel tensor, in time and in memory.
        config: The model config whose routing table gives each record's expert (``model.config``);
            None uses univlm's default routing, with a warning.
        root: Data root that ``targets.mask`` paths are relative to (mask-head targets only).

    Raises (from ``__call__``):
        BadRecordError: When an image cannot be read or the processor rejects the record.
    """

    def __init__(self, processor: Any, cache: bool = False, config: Any = None, root: str | os.PathLike | None = None):
        self.processor = processor
        self.config = config
        self.cache: dict[str, dict] | None = {} if cache else None
        # (image paths) -> processor.process_images output; a scene's image is behind ~9 records.
        self.image_cache: dict[tuple[str, ...], tuple[dict, list[int]]] | None = {} if cache else None
        self.root = root
        self.mask_settings = getattr(config, "mask_head_settings", None) if config is not None else None
        self.mask_resolution = 0
        if self.mask_settings is not None:
            from univlm.models.mask_head import head_resolution  # torch model code, only for head models

            self.mask_resolution = head_resolution(config)
        self.head_ids: set[str] = set()
        self.text_mask_ids: set[str] = set()

    def __call__(self, record: Mapping[str, Any]) -> dict:
        key = record.get("id")
        if self.cache is not None and key in self.cache:
            return self.cache[key]
        file, line = record.get("file", ""), record.get("line", 0)
        paths = tuple(str(path) for path in record["images"])
        processed = self.image_cache.get(paths) if self.image_cache is not None else None
        images: list[Any] = []
        if processed is not None:
            images = list(paths)  # already processed: encode_conversation only counts them
        else:
            for i, path in enumerate(paths):
                try:
                    images.append(load_image(path))
                except (FileNotFoundError, ImageLoadError) as err:
                    raise BadRecordError([Problem(f"images[{i}]", "image", str(err), line, file)]) from None
        head = self._head_example(record)
        if head is not None:
            record = head[0]
        try:
            if processed is None and images:
                processed = self.processor.process_images([images])
                if self.image_cache is not None:
                    self.image_cache[paths] = processed
            encoded = encode_conversation(
                self.processor, list(record["messages"]), images, config=self.config, processed_images=processed
            )
        except (ValueError, KeyError, IndexError, TypeError) as err:
            raise BadRecordError(
                [Problem("messages", "encode", f"the processor rejected record {key}: {err}", line, file)]
            ) from None
        encoded["task"] = record.get("task")
        if head is not None:
            encoded["mask_targets"], encoded["mask_classes"] = head[1], head[2]  # (K, R, R), (K,)
        if self.cache is not None:
            self.cache[key] = encoded
        return encoded

    def _head_example(self, record: Mapping[str, Any]):
        """``(record, masks, classes)`` for mask-head training, or None (no head, or not a head record)."""
        if self.mask_settings is None or record.get("task") != "SEG":
            return None
        from univlm.models.mask_head_targets import head_training_example  # torch code: head models only

        try:
            head = head_training_example(record, self.mask_settings, self.mask_resolution, self.root)
        except (OSError, ValueError, KeyError, TypeError) as err:
            problem = Problem("targets", "mask_head", f"record {record.get('id')}: {err}", record.get("line", 0),
                              record.get("file", ""))  # fmt: skip
            raise BadRecordError([problem]) from None
        (self.head_ids if head is not None else self.text_mask_ids).add(str(record.get("id")))
        return head


def load_training_records(
    path: str | os.PathLike,
    root: str | os.PathLike,
    skip_bad: bool = False,
    allow_outside_root: bool = False,
) -> tuple[list[dict], DatasetReport]:
    """Read and check the records of one JSONL file (no encoding; see :func:`encode_and_filter`).

    Args:
        path: The JSONL file.
        root: Data root that ``images`` are relative to; returned records carry absolute paths.
        skip_bad: Count and skip bad records instead of raising.
        allow_outside_root: Permit image paths that leave ``root`` (absolute or ``..``).

    Returns:
        The usable records (``id``, ``images``, ``messages``, ``task``, ``granularity``, ``file``,
        ``line``, ``num_tokens`` = 0 until measured) and a :class:`DatasetReport`.

    Raises:
        BadRecordError: On the first bad record, naming its file, line and field, unless ``skip_bad``.
        FileNotFoundError: If ``path`` does not exist.
    """
    path, root = Path(path), Path(root)
    report = DatasetReport(file=str(path))
    kept: list[dict] = []
    checked = iter_checked(path, root, targets=False, allow_outside_root=allow_outside_root)
    for lineno, rec, problems in checked:
        report.total += 1
        if problems:
            _reject(report, problems, skip_bad)
            continue
        kept.append(
            {
                "id": rec["id"],
                "images": [str(root / p) for p in rec["images"]],
                "messages": [{"role": m["role"], "content": m["content"]} for m in rec["messages"]],
                "task": rec["task"],
                "granularity": rec["granularity"],
                # JSON text: targets differ in shape between tasks, which an Arrow column cannot hold.
                "targets": json.dumps(rec["targets"]) if rec.get("targets") else None,
                "file": str(path),
                "line": lineno,
                "num_tokens": 0,
            }
        )
    _finish(report, kept)
    return kept, report


def _reject(report: DatasetReport, problems: Sequence[Problem], skip_bad: bool) -> None:
    if not skip_bad:
        raise BadRecordError(problems)
    report.num_bad += 1
    report.bad.extend(problems)


def _finish(report: DatasetReport, kept: list[dict]) -> None:
    report.kept = len(kept)
    report.tasks = Counter(r["task"] for r in kept)
    report.total_tokens = sum(r["num_tokens"] for r in kept)
    report.max_tokens = max((r["num_tokens"] for r in kept), default=0)
    if report.num_bad:
        logger.warning("%s: skipped %d bad records", report.file, report.num_bad)
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
            _reject(report, err.problems, skip_bad)
            continue
        if max_length is not None and rec["num_tokens"] > max_length:
            report.over_length.append((rec["id"], rec["num_tokens"]))
            continue
        kept.append(rec)
    _finish(report, kept)
    return kept


def to_hf_dataset(records: list[dict]) -> datasets.Dataset:
    """The kept records as a ``datasets.Dataset`` (what ``SFTTrainer`` requires).

    Raises:
        ValueError: If there is no record to train on.
    """
    if not records:
        raise ValueError("no training records left after filtering; see the dataset report")
    columns = ("id", "images", "messages", "task", "granularity", "file", "line", "num_tokens", "targets")
    return datasets.Dataset.from_dict({c: [r.get(c) for r in records] for c in columns})
