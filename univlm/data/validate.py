"""Record validation behind ``univlm data validate`` and :func:`univlm.data.schema.validate_record`.

Checks, each reported as a :class:`~univlm.data.schema.Problem` of one kind:

- ``json``: the line is valid JSON and an object;
- ``schema``: required fields, their types, known task, granularity matching the task, unique ids
  within a file;
- ``image``: image files exist and open (only when a data root is given);
- ``placeholder``: the number of ``<image>`` placeholders equals the number of images;
- ``tag``: the first user turn's task tag is ``[task]`` and no later user turn names another task;
- ``answer``: answers parse: boxes through the box codec, masks through the strict mask decoder;
- ``targets``: targets are well formed and agree with the answer (CLS label, VQA answer, caption in
  references, VG/REF boxes within 1 unit of ``normalize_box``, SEG grid equal to the downsampled
  target mask).

Design choices:
- ``targets`` describe the first user/assistant exchange; later turns of a multi-turn record are only
  checked for schema, placeholders and tags.
- One bad field never hides the others: checks continue wherever the data they need is intact.
- Image sizes are cached per path, so the nine records of one synthetic scene open its image once.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from univlm.data.schema import (
    GRANULARITIES,
    REQUIRED_KEYS,
    ROLES,
    TASK_GRANULARITY,
    TASKS,
    VQA_ANSWER_TYPES,
    Problem,
    assistant_turns,
    user_turns,
)
from univlm.models.router import find_task_tag

PROBLEM_KINDS: tuple[str, ...] = ("json", "schema", "image", "placeholder", "tag", "answer", "targets")
MASK_GRID = 24
BOX_TOLERANCE = 1


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


class _Checker:
    """Collects problems of one record."""

    def __init__(self, record: Mapping[str, Any], root: Path | None, line: int, cache: dict):
        self.rec, self.root, self.line, self.cache = record, root, line, cache
        self.problems: list[Problem] = []
        self.image_sizes: list[tuple[int, int] | None] = []

    def add(self, field_: str, kind: str, message: str) -> None:
        self.problems.append(Problem(field_, kind, message, self.line))

    # ---------------------------------------------------------------------------------- schema
    def schema(self) -> bool:
        rec = self.rec
        ok = True
        for key in REQUIRED_KEYS:
            if key not in rec:
                self.add(key, "schema", "missing required field")
                ok = False
        if not ok:
            return False
        if not isinstance(rec["id"], str) or not rec["id"]:
            self.add("id", "schema", f"expected a non-empty string, got {rec['id']!r:.60}")
        images = rec["images"]
        if not isinstance(images, list) or not 1 <= len(images) <= 2 or not all(
            isinstance(p, str) and p for p in images
        ):
            self.add("images", "schema", f"expected a list of 1 or 2 path strings, got {images!r:.80}")
            ok = False
        msgs = rec["messages"]
        if not isinstance(msgs, list) or not msgs:
            self.add("messages", "schema", "expected a non-empty list of {role, content} objects")
            ok = False
        else:
            for i, m in enumerate(msgs):
                if not isinstance(m, dict):
                    self.add(f"messages[{i}]", "schema", f"expected an object, got {type(m).__name__}")
                    ok = False
                    continue
                if m.get("role") not in ROLES:
                    self.add(f"messages[{i}].role", "schema", f"expected one of {list(ROLES)}, got {m.get('role')!r}")
                    ok = False
                if not isinstance(m.get("content"), str):
                    self.add(f"messages[{i}].content", "schema", f"expected a string, got {m.get('content')!r:.60}")
                    ok = False
            if ok:
                roles = [m["role"] for m in msgs if m["role"] != "system"]
                if not roles or roles[0] != "user" or "assistant" not in roles:
                    self.add("messages", "schema", f"expected a user turn first and an assistant turn, got roles {roles}")
                    ok = False
                elif any(a == b for a, b in zip(roles, roles[1:])):
                    self.add("messages", "schema", f"expected alternating user/assistant turns, got roles {roles}")
                    ok = False
        task = rec["task"]
        if task not in TASKS:
            self.add("task", "schema", f"expected one of {list(TASKS)}, got {task!r}")
            ok = False
        gran = rec["granularity"]
        if gran not in GRANULARITIES:
            self.add("granularity", "schema", f"expected one of {list(GRANULARITIES)}, got {gran!r}")
        elif task in TASKS and gran != TASK_GRANULARITY[task]:
            self.add("granularity", "schema", f"task {task} has granularity {TASK_GRANULARITY[task]!r}, got {gran!r}")
        if not isinstance(rec["source"], str) or not rec["source"]:
            self.add("source", "schema", f"expected a non-empty string, got {rec['source']!r:.60}")
        if not isinstance(rec["targets"], dict):
            self.add("targets", "schema", f"expected an object, got {type(rec['targets']).__name__}")
            ok = False
        return ok

    # ---------------------------------------------------------------------------------- files
    def _open_size(self, rel: str) -> tuple[tuple[int, int] | None, str | None]:
        from PIL import Image, UnidentifiedImageError

        path = Path(rel) if os.path.isabs(rel) else self.root / rel
        key = str(path)
        if key not in self.cache:
            try:
                with Image.open(path) as im:
                    size = im.size
                    im.verify()
                self.cache[key] = (size, None)
            except FileNotFoundError:
                self.cache[key] = (None, f"file not found: {path}")
            except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
                self.cache[key] = (None, f"cannot open {path}: {exc}")
        return self.cache[key]

    def images(self) -> None:
        for i, rel in enumerate(self.rec["images"]):
            if self.root is None:
                self.image_sizes.append(None)
                continue
            size, error = self._open_size(rel)
            if error:
                self.add(f"images[{i}]", "image", error)
            self.image_sizes.append(size)

    def placeholders(self) -> None:
        count = sum(m["content"].count("<image>") for m in self.rec["messages"])
        if count != len(self.rec["images"]):
            self.add("messages", "placeholder", f"{count} <image> placeholders for {len(self.rec['images'])} images")

    def tags(self) -> None:
        task = self.rec["task"]
        want = f"[{task}]"
        for i, m in enumerate(self.rec["messages"]):
            if m["role"] != "user":
                continue
            tag = find_task_tag(m["content"])
            first = i == next(k for k, mm in enumerate(self.rec["messages"]) if mm["role"] == "user")
            if tag is None and first:
                self.add(f"messages[{i}].content", "tag", f"no task tag; expected {want}")
            elif tag is not None and tag != want:
                self.add(f"messages[{i}].content", "tag", f"task tag {tag} disagrees with task {task}")

    # ---------------------------------------------------------------------------------- targets
    def _image_size(self, targets: Mapping[str, Any]) -> tuple[int, int] | None:
        size = targets.get("image_size")
        if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size)):
            self.add("targets.image_size", "targets", f"expected [W, H] positive ints, got {size!r:.60}")
            return None
        actual = self.image_sizes[0] if self.image_sizes else None
        if actual is not None and tuple(size) != tuple(actual):
            self.add("targets.image_size", "targets", f"{size} disagrees with image size {list(actual)}")
        return int(size[0]), int(size[1])

    def _boxes(self, targets: Mapping[str, Any], size: tuple[int, int] | None) -> list[list[float]] | None:
        boxes = targets.get("boxes")
        if not (isinstance(boxes, list) and boxes and all(
            isinstance(b, list) and len(b) == 4 and all(_is_number(v) for v in b) for b in boxes
        )):
            self.add("targets.boxes", "targets", f"expected a non-empty list of [x1, y1, x2, y2], got {boxes!r:.80}")
            return None
        for k, b in enumerate(boxes):
            if b[0] > b[2] or b[1] > b[3]:
                self.add(f"targets.boxes[{k}]", "targets", f"expected x1 <= x2 and y1 <= y2, got {b}")
                return None
            if size is not None and (min(b) < 0 or b[2] > size[0] or b[3] > size[1]):
                self.add(f"targets.boxes[{k}]", "targets", f"{b} lies outside the {size[0]}x{size[1]} image")
                return None
        return boxes

    def _compare_boxes(self, field_: str, got: list, boxes: list, size: tuple[int, int]) -> None:
        from univlm.codecs.boxes import normalize_box

        if len(got) != len(boxes):
            self.add(field_, "targets", f"{len(got)} boxes in the text, {len(boxes)} in targets.boxes")
            return
        for k, (g, b) in enumerate(zip(got, boxes)):
            want = normalize_box(b, size[0], size[1])
            if max(abs(float(x) - y) for x, y in zip(g, want)) > BOX_TOLERANCE:
                self.add(field_, "targets", f"box {k} {list(g)} differs from normalize_box(targets.boxes[{k}]) "
                         f"= {list(want)} by more than {BOX_TOLERANCE}")

    def _parse_boxes(self, field_: str, text: str) -> list | None:
        from univlm.codecs.boxes import parse_boxes

        result = parse_boxes(text)
        if result.problems:
            self.add(field_, "answer", "box text does not parse cleanly: " + "; ".join(result.problems))
            return None
        if not result.boxes:
            self.add(field_, "answer", f"no box found in {text!r:.80}")
            return None
        return [p.box for p in result.boxes]

    def _references(self, targets: Mapping[str, Any], answer: str, required: bool) -> None:
        refs = targets.get("references")
        if refs is None and not required:
            return
        if not (isinstance(refs, list) and refs and all(isinstance(r, str) and r.strip() for r in refs)):
            self.add("targets.references", "targets", f"expected a non-empty list of strings, got {refs!r:.80}")
            return
        if answer.strip() not in {r.strip() for r in refs}:
            self.add("targets.references", "targets", f"answer {answer.strip()!r:.60} is not one of the references")

    def _target_mask(self, targets: Mapping[str, Any]) -> tuple[np.ndarray, list[str]] | None:
        labels = targets.get("labels")
        if "instances" in targets:
            instances = targets["instances"]
            if not (isinstance(instances, list) and instances and all(
                isinstance(i, dict) and isinstance(i.get("description"), str) and isinstance(i.get("rle"), dict)
                for i in instances
            )):
                self.add("targets.instances", "targets", "expected a list of {description, rle} objects")
                return None
            if labels is None:
                labels = ["others", *(i["description"] for i in instances)]
            index = None
            for k, inst in enumerate(instances, start=1):
                binary = self._rle(f"targets.instances[{k - 1}].rle", inst["rle"])
                if binary is None:
                    return None
                index = np.zeros(binary.shape, dtype=np.int64) if index is None else index
                if index.shape != binary.shape:
                    self.add(f"targets.instances[{k - 1}].rle", "targets", f"size {list(binary.shape)} differs "
                             f"from instance 0's {list(index.shape)}")
                    return None
                index[binary] = k
            if not self._labels(labels, len(instances) + 1):
                return None
            return index, labels
        if not self._labels(labels, None):
            return None
        if "mask" in targets:
            rel = targets["mask"]
            if not isinstance(rel, str):
                self.add("targets.mask", "targets", f"expected a path string, got {rel!r:.60}")
                return None
            if self.root is None:
                return None
            from PIL import Image, UnidentifiedImageError

            path = Path(rel) if os.path.isabs(rel) else self.root / rel
            try:
                with Image.open(path) as im:
                    if im.mode not in ("L", "P", "I", "I;16", "1"):
                        self.add("targets.mask", "targets", f"expected a label-index image (mode L/P/I), got {im.mode}")
                        return None
                    index = np.asarray(im).astype(np.int64)
            except FileNotFoundError:
                self.add("targets.mask", "image", f"file not found: {path}")
                return None
            except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
                self.add("targets.mask", "image", f"cannot open {path}: {exc}")
                return None
            if index.size and int(index.max()) >= len(labels):
                self.add("targets.mask", "targets", f"mask value {int(index.max())} has no label ({len(labels)} labels)")
                return None
            return index, labels
        if "mask_rle" in targets:
            binary = self._rle("targets.mask_rle", targets["mask_rle"])
            if binary is None:
                return None
            if len(labels) != 2:
                self.add("targets.labels", "targets", f"a binary mask_rle needs 2 labels, got {len(labels)}")
                return None
            return binary.astype(np.int64), labels
        self.add("targets", "targets", "SEG targets need one of mask, mask_rle or instances")
        return None

    def _labels(self, labels: Any, count: int | None) -> bool:
        if not (isinstance(labels, list) and len(labels) >= 2 and all(isinstance(x, str) and x for x in labels)):
            self.add("targets.labels", "targets", f"expected a list of >= 2 label names, got {labels!r:.80}")
            return False
        if labels[0] != "others":
            self.add("targets.labels", "targets", f"labels[0] must be 'others', got {labels[0]!r}")
            return False
        if count is not None and len(labels) != count:
            self.add("targets.labels", "targets", f"expected {count} labels (others + one per instance), got {len(labels)}")
            return False
        return True

    def _rle(self, field_: str, rle: Any) -> np.ndarray | None:
        if not (isinstance(rle, dict) and isinstance(rle.get("size"), list) and len(rle["size"]) == 2):
            self.add(field_, "targets", f"expected COCO RLE {{size: [H, W], counts}}, got {rle!r:.60}")
            return None
        h, w = (int(v) for v in rle["size"])
        counts = rle.get("counts")
        if isinstance(counts, list):
            if not all(isinstance(c, int) and c >= 0 for c in counts) or sum(counts) != h * w:
                self.add(field_, "targets", f"uncompressed counts must be ints summing to H*W = {h * w}")
                return None
            values = np.repeat(np.arange(len(counts)) % 2 == 1, counts)  # (H*W,) column-major
            binary = values.reshape((w, h)).T
        else:
            from univlm.codecs.masks import coco_rle_to_mask

            try:
                binary = coco_rle_to_mask(rle)
            except ValueError as exc:
                self.add(field_, "targets", f"bad COCO RLE: {exc}")
                return None
        size = self.rec["targets"].get("image_size")
        if isinstance(size, list) and len(size) == 2 and [w, h] != list(size):
            self.add(field_, "targets", f"RLE size [H, W] = {[h, w]} disagrees with image_size [W, H] = {size}")
            return None
        return binary

    def task_checks(self) -> None:
        task, targets = self.rec["task"], self.rec["targets"]
        users, answers = user_turns(self.rec), assistant_turns(self.rec)
        prompt, answer = users[0], answers[0]
        a_field = f"messages[{next(i for i, m in enumerate(self.rec['messages']) if m['role'] == 'assistant')}].content"
        if task == "CLS":
            label, classes = targets.get("label"), targets.get("classes")
            if not isinstance(label, str) or not label:
                self.add("targets.label", "targets", f"expected a class name, got {label!r:.60}")
                return
            if classes is not None and not (isinstance(classes, list) and label in classes):
                self.add("targets.classes", "targets", f"label {label!r} is not among classes {classes!r:.80}")
            if answer.strip() != label:
                self.add(a_field, "targets", f"answer {answer.strip()!r:.60} differs from targets.label {label!r}")
        elif task == "VQA":
            want, kind = targets.get("answer"), targets.get("answer_type")
            if not isinstance(want, str):
                self.add("targets.answer", "targets", f"expected a string, got {want!r:.60}")
            elif answer.strip() != want.strip():
                self.add(a_field, "targets", f"answer {answer.strip()!r:.60} differs from targets.answer {want!r:.60}")
            if kind is not None and kind not in VQA_ANSWER_TYPES:
                self.add("targets.answer_type", "targets", f"expected one of {list(VQA_ANSWER_TYPES)}, got {kind!r}")
        elif task in ("CAP", "CCD"):
            self._references(targets, answer, required=True)
        elif task == "VG":
            got = self._parse_boxes(a_field, answer)
            size = self._image_size(targets)
            boxes = self._boxes(targets, size)
            if got is not None and boxes is not None and size is not None:
                self._compare_boxes(a_field, got, boxes, size)
        elif task == "REF":
            u_field = f"messages[{next(i for i, m in enumerate(self.rec['messages']) if m['role'] == 'user')}].content"
            got = self._parse_boxes(u_field, prompt.replace("<image>", ""))
            size = self._image_size(targets)
            boxes = self._boxes(targets, size)
            if got is not None and boxes is not None and size is not None:
                self._compare_boxes(u_field, got[:1], boxes[:1], size)
            self._references(targets, answer, required=False)
        elif task == "SEG":
            self._seg(a_field, answer, targets)

    def _seg(self, a_field: str, answer: str, targets: Mapping[str, Any]) -> None:
        from univlm.codecs.masks import decode_mask, downsample_mask

        decoded = None
        try:
            decoded = decode_mask(answer, strict=True)
        except ValueError as exc:  # MaskDecodeError and NoMaskFound are ValueErrors
            self.add(a_field, "answer", f"mask text does not decode strictly: {exc}")
        if decoded is not None and decoded.grid_size != MASK_GRID:
            self.add(a_field, "answer", f"mask grid is {decoded.grid_size}x{decoded.grid_size}, expected {MASK_GRID}")
            decoded = None
        size = self._image_size(targets)
        target = self._target_mask(targets)
        if target is None:
            return
        index, labels = target
        if size is not None and (index.shape[1], index.shape[0]) != size:
            self.add("targets.mask" if "mask" in targets else "targets", "targets",
                     f"mask size {index.shape[1]}x{index.shape[0]} disagrees with image_size {list(size)}")
            return
        if decoded is None:
            return
        want = np.asarray(labels, dtype=object)[downsample_mask(index, MASK_GRID)]  # (G, G) names
        got = np.asarray(decoded.names(), dtype=object)
        wrong = int((want != got).sum())
        if wrong:
            self.add(a_field, "targets", f"answer mask differs from the downsampled target mask in {wrong} of "
                     f"{want.size} cells")


def check_record(
    record: Any, root: str | os.PathLike[str] | None = None, line: int = 0, cache: dict | None = None
) -> list[Problem]:
    """All problems of one record (see module docstring); never raises on bad data.

    Args:
        record: A decoded JSON value.
        root: Data root for image and mask files; file checks are skipped when None.
        line: Line number stamped on problems.
        cache: Optional dict reused across calls to cache image sizes by path.

    Returns:
        The problems found, in check order.
    """
    if not isinstance(record, dict):
        return [Problem("record", "json", f"expected a JSON object, got {type(record).__name__}", line)]
    checker = _Checker(record, Path(root) if root is not None else None, line, {} if cache is None else cache)
    if not checker.schema():
        return checker.problems
    checker.images()
    checker.placeholders()
    checker.tags()
    checker.task_checks()
    return checker.problems


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


def validate_file(path: str | os.PathLike[str], root: str | os.PathLike[str] | None = None) -> ValidationReport:
    """Validate every line of a JSONL file; bad JSON lines are reported and skipped, not fatal.

    Args:
        path: The JSONL file.
        root: Data root; the file's directory when None.

    Returns:
        A :class:`ValidationReport` (problems carry 1-based line numbers).

    Raises:
        FileNotFoundError: If the file does not exist.
    """
    root = Path(path).parent if root is None else Path(root)
    report = ValidationReport(str(path))
    cache: dict = {}
    seen: dict[str, int] = {}
    with open(path, encoding="utf-8") as fh:
        for lineno, text in enumerate(fh, start=1):
            if not text.strip():
                continue
            report.records += 1
            try:
                record = json.loads(text)
            except json.JSONDecodeError as exc:
                problems = [Problem("json", "json", f"invalid JSON: {exc.msg} at column {exc.colno}", lineno)]
            else:
                problems = check_record(record, root=root, line=lineno, cache=cache)
                rid = record.get("id") if isinstance(record, dict) else None
                if isinstance(rid, str) and rid:
                    if rid in seen:
                        problems.append(Problem("id", "schema", f"duplicate id {rid!r} (first on line {seen[rid]})",
                                                lineno))
                    else:
                        seen[rid] = lineno
            if problems:
                report.bad += 1
                report.problems.extend(problems)
    return report
