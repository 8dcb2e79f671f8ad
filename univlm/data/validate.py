"""The one record checker: ``univlm data validate``, training's record loading and ``load_hf_dataset``.

:func:`check_record` returns located :class:`~univlm.data.schema.Problem` s (file, line, field, what
was expected) for one record and never raises on content. Checks, each a problem kind:

- ``json``: the line is UTF-8, valid JSON (bounded nesting and integer size) and an object;
- ``limit``: the line, each message and each whitespace-free word stay within :class:`RecordLimits`;
- ``schema``: required fields and their types, a known task (a string, not a list), granularity
  matching the task, unique ids within a file;
- ``path``: image and mask paths stay under the data root unless ``allow_outside_root``;
- ``image``: image files exist, open, are within the pixel limit and have a supported mode (only
  when a data root is given and ``files`` is True);
- ``placeholder``: the number of ``<image>`` placeholders equals the number of images;
- ``tag``: the first user turn's task tag is ``[task]`` and no later user turn names another task;
- ``answer``: answers parse: boxes through the box codec, masks through the strict mask decoder;
- ``targets``: targets are well formed (every number finite, every size positive and bounded) and
  agree with the answer (CLS label, VQA answer, caption in references, VG/REF boxes within 1 unit of
  ``normalize_box``, SEG grid equal to the downsampled target mask).

Design choices:
- One checker for every reader (issue #13 §3): ``univlm data validate``, training and
  ``load_hf_dataset`` report the same problems in the same words. Training passes
  ``targets=False`` (it needs trainable records, not scorable ones).
- Every field is type- and range-checked before use (issue #15 §9): a NaN box, an RLE ``size`` of
  strings or of 200000 x 200000 and ``"task": ["CLS"]`` are problems, not exceptions. Sizes are
  bounded by ``RecordLimits.max_pixels`` before anything is allocated.
- Limits on text length keep the tiny tokenizer fit and the mask decoder linear-time (issue #15
  §10); they are documented in docs/DATA.md and can be raised per call.
- ``targets`` describe the first user/assistant exchange; later turns of a multi-turn record are only
  checked for schema, limits, placeholders and tags.
- One bad field never hides the others: checks continue wherever the data they need is intact.
- Image sizes are cached per path, so the nine records of one synthetic scene open its image once.
- This module imports :mod:`univlm.data.schema`, never the reverse, and no model code. The
  answer/target checks (``answer`` and ``targets`` kinds) live in :mod:`univlm.data.validate_targets`.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from univlm.data.schema import (
    GRANULARITIES,
    REQUIRED_KEYS,
    ROLES,
    TASK_GRANULARITY,
    TASKS,
    Problem,
    RecordError,
    parse_line,
)
from univlm.data.validate_targets import TargetChecks
from univlm.imaging import (
    DEFAULT_MAX_PIXELS,
    SUPPORTED_MODES,
    ImageLoadError,
    is_outside_root,
    open_image,
)
from univlm.tasks import IMAGE_TOKEN, TASK_TAGS

__all__ = [
    "DEFAULT_LIMITS",
    "PROBLEM_KINDS",
    "Problem",
    "RecordLimits",
    "ValidationReport",
    "check_record",
    "iter_checked",
    "load_hf_dataset",
    "validate_file",
    "validate_record",
]

PROBLEM_KINDS: tuple[str, ...] = (
    "json", "limit", "schema", "path", "image", "placeholder", "tag", "answer", "targets",
)
# Same tag shape as the router's (an upper-case word in brackets, so "[SEG0]" is not "[SEG]"); kept
# here so that validation does not import the model package.
_TAG_RE = re.compile(r"\[[A-Z]{2,5}\]")
_WORD_RE = re.compile(r"\S+")


@dataclass(frozen=True)
class RecordLimits:
    """Documented bounds on one record (docs/DATA.md, "Limits"); raise them per call if needed.

    Attributes:
        max_line_bytes: Bytes of one JSONL line (the whole record).
        max_message_chars: Characters of one message's content.
        max_word_chars: Characters of one whitespace-free run in a message (BPE fitting and
            tokenising are quadratic in word length).
        max_messages: Messages in one record.
        max_instances: Instances of one multi-referring SEG record.
        max_pixels: Width x height of an image, a mask file, an RLE mask or ``targets.image_size``.
    """

    max_line_bytes: int = 1_000_000
    max_message_chars: int = 100_000
    max_word_chars: int = 256
    max_messages: int = 64
    max_instances: int = 256
    max_pixels: int = DEFAULT_MAX_PIXELS


DEFAULT_LIMITS = RecordLimits()


def _tags(text: str) -> list[str]:
    return [t for t in _TAG_RE.findall(text) if t in TASK_TAGS]


class _Checker(TargetChecks):
    """Collects problems of one record (schema, limits, paths, files, placeholders, tags; targets mixed in)."""

    def __init__(self, record: Mapping[str, Any], root: Path | None, line: int, cache: dict, file: str,
                 allow_outside_root: bool, limits: RecordLimits):
        self.rec, self.root, self.line, self.cache, self.file = record, root, line, cache, file
        self.allow_outside_root, self.limits = allow_outside_root, limits
        self.problems: list[Problem] = []
        self.image_sizes: list[tuple[int, int] | None] = []

    def add(self, field_: str, kind: str, message: str) -> None:
        self.problems.append(Problem(field_, kind, message, self.line, self.file))

    # ---------------------------------------------------------------------------------- schema
    def _messages(self, msgs: Any) -> bool:
        if not isinstance(msgs, list) or not msgs:
            self.add("messages", "schema", "expected a non-empty list of {role, content} objects")
            return False
        if len(msgs) > self.limits.max_messages:
            self.add("messages", "limit", f"{len(msgs)} messages, more than the limit of {self.limits.max_messages}")
            return False
        ok = True
        for i, m in enumerate(msgs):
            if not isinstance(m, dict):
                self.add(f"messages[{i}]", "schema", f"expected an object, got {type(m).__name__}")
                ok = False
                continue
            role, content = m.get("role"), m.get("content")
            if not isinstance(role, str) or role not in ROLES:
                self.add(f"messages[{i}].role", "schema", f"expected one of {list(ROLES)}, got {role!r:.60}")
                ok = False
            if not isinstance(content, str):
                self.add(f"messages[{i}].content", "schema", f"expected a string, got {content!r:.60}")
                ok = False
            elif not self._text_limits(f"messages[{i}].content", content):
                ok = False
        if ok:
            roles = [m["role"] for m in msgs if m["role"] != "system"]
            if not roles or roles[0] != "user" or "assistant" not in roles:
                self.add("messages", "schema", f"expected a user turn first and an assistant turn, got roles {roles}")
                ok = False
            elif any(a == b for a, b in zip(roles, roles[1:])):
                self.add("messages", "schema", f"expected alternating user/assistant turns, got roles {roles}")
                ok = False
            elif not any(m["role"] == "assistant" and m["content"].strip() for m in msgs):
                self.add("messages", "schema", "expected a non-empty assistant turn to train on")
                ok = False
        return ok

    def _text_limits(self, field_: str, text: str) -> bool:
        if len(text) > self.limits.max_message_chars:
            self.add(field_, "limit", f"{len(text)} characters, more than the limit of {self.limits.max_message_chars}")
            return False
        longest = max((m.end() - m.start() for m in _WORD_RE.finditer(text)), default=0)
        if longest > self.limits.max_word_chars:
            self.add(field_, "limit", f"a {longest}-character word without whitespace, more than the limit of "
                     f"{self.limits.max_word_chars}")
            return False
        return True

    def schema(self) -> bool:
        rec = self.rec
        missing = [key for key in REQUIRED_KEYS if key not in rec]
        for key in missing:
            self.add(key, "schema", "missing required field")
        if missing:
            return False
        ok = True
        if not isinstance(rec["id"], str) or not rec["id"]:
            self.add("id", "schema", f"expected a non-empty string, got {rec['id']!r:.60}")
        images = rec["images"]
        if not isinstance(images, list) or not 1 <= len(images) <= 2 or not all(
            isinstance(p, str) and p for p in images
        ):
            self.add("images", "schema", f"expected a list of 1 or 2 path strings, got {images!r:.80}")
            ok = False
        ok = self._messages(rec["messages"]) and ok
        task = rec["task"]
        if not isinstance(task, str) or task not in TASKS:
            self.add("task", "schema", f"expected one of {list(TASKS)} (a string), got {task!r:.60}")
            ok = False
        gran = rec["granularity"]
        if not isinstance(gran, str) or gran not in GRANULARITIES:
            self.add("granularity", "schema", f"expected one of {list(GRANULARITIES)}, got {gran!r:.60}")
        elif isinstance(task, str) and task in TASKS and gran != TASK_GRANULARITY[task]:
            self.add("granularity", "schema", f"task {task} has granularity {TASK_GRANULARITY[task]!r}, got {gran!r}")
        if not isinstance(rec["source"], str) or not rec["source"]:
            self.add("source", "schema", f"expected a non-empty string, got {rec['source']!r:.60}")
        if not isinstance(rec["targets"], dict):
            self.add("targets", "schema", f"expected an object, got {type(rec['targets']).__name__}")
            ok = False
        return ok

    # ---------------------------------------------------------------------------------- files
    def _path(self, field_: str, rel: str) -> Path | None:
        """The file ``rel`` names, or None (with a ``path`` problem) when it leaves the root.

        Without a root there is nothing to stay inside, so nothing is checked.
        """
        if self.root is None:
            return Path(rel)
        root = self.root
        if not self.allow_outside_root and is_outside_root(rel, root):
            self.add(field_, "path", f"{rel!r:.120} leaves the data root (absolute or '..'); expected a path "
                     "under it (--allow-outside-root permits it)")
            return None
        return root / rel

    def _open_size(self, path: Path) -> tuple[tuple[int, int] | None, str | None]:
        key = str(path)
        if key not in self.cache:
            try:
                with open_image(path, self.limits.max_pixels) as im:
                    size, mode = im.size, im.mode
                    im.verify()
                error = None if mode in SUPPORTED_MODES else (
                    f"{path}: image mode {mode!r} is not supported; expected one of {list(SUPPORTED_MODES)}")
                self.cache[key] = (size, error)
            except FileNotFoundError:
                self.cache[key] = (None, f"file not found: {path}")
            except ImageLoadError as exc:
                self.cache[key] = (None, str(exc))
            except (OSError, SyntaxError, ValueError) as exc:  # PIL's verify() on corrupt data
                self.cache[key] = (None, f"cannot read {path}: {exc}")
        return self.cache[key]

    def images(self, files: bool) -> None:
        for i, rel in enumerate(self.rec["images"]):
            path = self._path(f"images[{i}]", rel)
            if path is None or self.root is None or not files:
                self.image_sizes.append(None)
                continue
            size, error = self._open_size(path)
            if error:
                self.add(f"images[{i}]", "image", error)
            self.image_sizes.append(size)

    def placeholders(self) -> None:
        count = sum(m["content"].count(IMAGE_TOKEN) for m in self.rec["messages"])
        if count != len(self.rec["images"]):
            self.add("messages", "placeholder", f"{count} {IMAGE_TOKEN} placeholders for {len(self.rec['images'])} "
                     "images")

    def tags(self) -> None:
        want = f"[{self.rec['task']}]"
        first = True
        for i, m in enumerate(self.rec["messages"]):
            if m["role"] != "user":
                continue
            tags = _tags(m["content"])
            if not tags and first:
                self.add(f"messages[{i}].content", "tag", f"no task tag; expected {want}")
            elif tags and tags[0] != want:
                self.add(f"messages[{i}].content", "tag", f"task tag {tags[0]} disagrees with task {want[1:-1]}")
            first = False


def check_record(
    record: Any,
    root: str | os.PathLike[str] | None = None,
    line: int = 0,
    cache: dict | None = None,
    *,
    file: str | os.PathLike[str] = "",
    files: bool = True,
    targets: bool = True,
    allow_outside_root: bool = False,
    limits: RecordLimits = DEFAULT_LIMITS,
) -> list[Problem]:
    """All problems of one record (see module docstring); never raises on bad data.

    Args:
        record: A decoded JSON value.
        root: Data root for image and mask files; when None, files are not opened and paths are
            not checked for leaving the root.
        line: 1-based line number stamped on problems.
        cache: Optional dict reused across calls to cache image sizes by path.
        file: JSONL path stamped on problems.
        files: Open image and mask files (when ``root`` is given).
        targets: Check answers against targets; False checks schema, limits, paths, images,
            placeholders and tags only (what training needs).
        allow_outside_root: Permit absolute paths and ``..`` that leave ``root``.
        limits: Size bounds (see :class:`RecordLimits`).

    Returns:
        The problems found, in check order.
    """
    file = os.fspath(file)
    if not isinstance(record, dict):
        return [Problem("record", "json", f"expected a JSON object, got {type(record).__name__}", line, file)]
    checker = _Checker(record, Path(root) if root is not None else None, line, {} if cache is None else cache,
                       file, allow_outside_root, limits)
    if not checker.schema():
        return checker.problems
    checker.images(files)
    checker.placeholders()
    checker.tags()
    if targets:
        checker.task_checks(files)
    return checker.problems


def validate_record(
    record: Any, root: str | os.PathLike[str] | None = None, line: int = 0, *, allow_outside_root: bool = False
) -> list[Problem]:
    """Check one record against the schema, its files and its answers; see :func:`check_record`."""
    return check_record(record, root=root, line=line, allow_outside_root=allow_outside_root)


def iter_checked(
    path: str | os.PathLike[str],
    root: str | os.PathLike[str] | None = None,
    *,
    files: bool = True,
    targets: bool = True,
    allow_outside_root: bool = False,
    limits: RecordLimits = DEFAULT_LIMITS,
) -> Iterator[tuple[int, dict | None, list[Problem]]]:
    """Check every non-blank line of a JSONL file, including duplicate ids; never raises on content.

    Args:
        path: The JSONL file.
        root: Data root; the file's directory when None.
        files, targets, allow_outside_root, limits: See :func:`check_record`.

    Yields:
        ``(line, record, problems)``; ``record`` is None when the line is not UTF-8, too long or not
        valid JSON (then ``problems`` holds one ``json`` or ``limit`` problem).

    Raises:
        FileNotFoundError: If the file does not exist.
    """
    name = os.fspath(path)
    root = Path(path).parent if root is None else Path(root)
    cache: dict = {}
    seen: dict[str, int] = {}
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if len(raw) > limits.max_line_bytes:
                yield lineno, None, [Problem("record", "limit", f"line of {len(raw)} bytes, more than the limit of "
                                             f"{limits.max_line_bytes}", lineno, name)]
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield lineno, None, [Problem("encoding", "json", f"invalid UTF-8 at byte {exc.start + 1} of the "
                                             f"line: {exc.reason}", lineno, name)]
                continue
            if not text.strip():
                continue
            try:
                record = parse_line(name, lineno, text)
            except RecordError as exc:
                yield lineno, None, [Problem(exc.field, "json", exc.reason, lineno, name)]
                continue
            problems = check_record(record, root=root, line=lineno, cache=cache, file=name, files=files,
                                    targets=targets, allow_outside_root=allow_outside_root, limits=limits)
            rid = record.get("id") if isinstance(record, dict) else None
            if isinstance(rid, str) and rid:
                if rid in seen:
                    problems.append(Problem("id", "schema", f"duplicate id {rid!r:.80} (first on line {seen[rid]})",
                                            lineno, name))
                else:
                    seen[rid] = lineno
            yield lineno, record if isinstance(record, dict) else None, problems


@dataclass
class ValidationReport:
    """Outcome of validating one JSONL file."""

    file: str
    records: int = 0
    bad: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def by_kind(self) -> dict[str, int]:
        counts = Counter(p.kind for p in self.problems)
        return {k: counts[k] for k in PROBLEM_KINDS if counts[k]}

    def summary(self) -> str:
        kinds = ", ".join(f"{k}={v}" for k, v in self.by_kind.items()) or "none"
        return (f"{self.file}: {self.records} records read, {self.bad} bad, {len(self.problems)} problems "
                f"(by kind: {kinds})")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: counts and every problem as ``{file, line, field, kind, message}``."""
        return {"file": self.file, "records": self.records, "bad": self.bad, "by_kind": self.by_kind,
                "problems": [{"file": p.file or self.file, "line": p.line, "field": p.field, "kind": p.kind,
                              "message": p.message} for p in self.problems]}


def validate_file(
    path: str | os.PathLike[str],
    root: str | os.PathLike[str] | None = None,
    *,
    allow_outside_root: bool = False,
    limits: RecordLimits = DEFAULT_LIMITS,
) -> ValidationReport:
    """Validate every line of a JSONL file; bad lines are reported and skipped, never fatal.

    Args:
        path: The JSONL file.
        root: Data root; the file's directory when None.
        allow_outside_root: Permit image and mask paths that leave ``root``.
        limits: Size bounds (see :class:`RecordLimits`).

    Returns:
        A :class:`ValidationReport` (problems carry the file and 1-based line numbers).

    Raises:
        FileNotFoundError: If the file does not exist.
    """
    report = ValidationReport(os.fspath(path))
    for _, _, problems in iter_checked(path, root, allow_outside_root=allow_outside_root, limits=limits):
        report.records += 1
        if problems:
            report.bad += 1
            report.problems.extend(problems)
    return report


def load_hf_dataset(
    path: str | os.PathLike[str],
    root: str | os.PathLike[str] | None = None,
    targets_as_json: bool = True,
    *,
    allow_outside_root: bool = False,
    limits: RecordLimits = DEFAULT_LIMITS,
):
    """Load a JSONL file as a ``datasets.Dataset`` with the record columns, after checking every record.

    Records are checked with :func:`check_record` (schema, limits, paths, placeholders and tags; no
    file opening and no target agreement), so a bad line fails with the same located problem that
    ``univlm data validate`` prints. ``targets`` is stored as a JSON string by default: targets differ
    per task, and one Arrow struct for all of them would pad every row with nulls for keys it never had.

    Args:
        path: The JSONL file.
        root: When given, ``images`` become paths under ``root`` (checked to stay under it);
            otherwise they stay as written.
        targets_as_json: Keep ``targets`` as a JSON string (decode with ``json.loads``). When False,
            Arrow infers one struct for all rows (missing keys become None).
        allow_outside_root: Permit image paths that leave ``root``.
        limits: Size bounds (see :class:`RecordLimits`).

    Returns:
        A ``datasets.Dataset`` with columns id, images, messages, task, granularity, source, targets.

    Raises:
        RecordError: On the first bad line, naming ``FILE:LINE: field: what was expected``.
        FileNotFoundError: If the file does not exist.
    """
    import datasets  # heavy (pyarrow); only this loader needs it

    rows: dict[str, list[Any]] = {key: [] for key in REQUIRED_KEYS}
    # Without a root, image paths stay as written and are joined to nothing, so they are not checked.
    for lineno, rec, problems in iter_checked(path, root, files=False, targets=False,
                                              allow_outside_root=allow_outside_root or root is None, limits=limits):
        if problems:
            first = problems[0]
            raise RecordError(path, lineno, first.field, first.message)
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
