"""Answer and target checks of the one record checker (:mod:`univlm.data.validate`), task by task.

Kept apart from the schema, path and file checks so that each module does one job; the checker class
in :mod:`univlm.data.validate` mixes these methods in.

Design choices:
- Every value is type- and range-checked before use: numbers must be finite, sizes positive ints
  (``bool`` excluded), RLE and image sizes within ``limits.max_pixels`` *before* anything is
  allocated; a failure is one located problem and the check stops for that field.
- Boxes are compared after ``normalize_box`` with a tolerance of 1 unit (0..100 scale); masks are
  compared on the 24 x 24 Text4Seg grid after nearest downsampling, as the model sees them.
- ``targets`` describe the first user/assistant exchange of a record.
- Pixels a protocol does not score hold ``targets.ignore_index`` (default 255) in a label-index mask,
  or are given as ``targets.ignore_rle`` beside a binary ``mask_rle``. The answer may say anything
  there (Text4Seg writes ``others``), so grid cells that sample an ignored pixel are not compared.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from univlm.codecs import decode_mask, downsample_mask, normalize_box, parse_boxes
from univlm.codecs.coco_rle import coco_rle_to_mask
from univlm.data.schema import VQA_ANSWER_TYPES, assistant_turns, user_turns
from univlm.imaging import ImageLoadError, open_image
from univlm.tasks import DEFAULT_GRID, IMAGE_TOKEN

__all__ = ["BOX_TOLERANCE", "IGNORE_INDEX", "MASK_GRID", "TargetChecks"]

MASK_GRID = DEFAULT_GRID
BOX_TOLERANCE = 1
# Value of not-scored pixels in a label-index mask (no-data, boundary): mmseg's convention, the
# default of ``targets.ignore_index``; univlm.evaluation.ground_truth reads the same key and default.
IGNORE_INDEX = 255
_MASK_MODES = ("L", "P", "I", "I;16", "1")


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _is_size(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x > 0


class TargetChecks:
    """Answer/target checks, mixed into the record checker of :mod:`univlm.data.validate`.

    The host class provides ``rec`` (the record, schema already checked), ``root``, ``limits``,
    ``image_sizes`` (per image, or None), ``add(field, kind, message)`` and ``_path(field, rel)``.
    """

    def _image_size(self, targets: Mapping[str, Any]) -> tuple[int, int] | None:
        size = targets.get("image_size")
        if not (isinstance(size, list) and len(size) == 2 and all(_is_size(v) for v in size)):
            self.add("targets.image_size", "targets", f"expected [W, H] positive ints, got {size!r:.60}")
            return None
        if size[0] * size[1] > self.limits.max_pixels:
            self.add("targets.image_size", "limit", f"{size[0]}x{size[1]} exceeds the limit of "
                     f"{self.limits.max_pixels} pixels")
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
            self.add("targets.boxes", "targets", "expected a non-empty list of [x1, y1, x2, y2] finite numbers, "
                     f"got {boxes!r:.80}")
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
        if len(got) != len(boxes):
            self.add(field_, "targets", f"{len(got)} boxes in the text, {len(boxes)} in targets.boxes")
            return
        for k, (g, b) in enumerate(zip(got, boxes)):
            want = normalize_box(b, size[0], size[1])
            if max(abs(float(x) - y) for x, y in zip(g, want)) > BOX_TOLERANCE:
                self.add(field_, "targets", f"box {k} {list(g)} differs from normalize_box(targets.boxes[{k}]) "
                         f"= {list(want)} by more than {BOX_TOLERANCE}")

    def _parse_boxes(self, field_: str, text: str) -> list | None:
        try:
            result = parse_boxes(text)
        except ValueError as exc:
            self.add(field_, "answer", f"box text does not parse: {exc}")
            return None
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

    def _instances(self, targets: Mapping[str, Any], labels: Any) -> tuple[np.ndarray, list[str]] | None:
        instances = targets["instances"]
        if not (isinstance(instances, list) and instances and all(
            isinstance(i, dict) and isinstance(i.get("description"), str) and isinstance(i.get("rle"), dict)
            for i in instances
        )):
            self.add("targets.instances", "targets", "expected a non-empty list of {description, rle} objects")
            return None
        if len(instances) > self.limits.max_instances:
            self.add("targets.instances", "limit", f"{len(instances)} instances, more than the limit of "
                     f"{self.limits.max_instances}")
            return None
        if labels is None:
            labels = ["others", *(i["description"] for i in instances)]
        if not self._labels(labels, len(instances) + 1):
            return None
        index = None
        for k, inst in enumerate(instances, start=1):
            binary = self._rle(f"targets.instances[{k - 1}].rle", inst["rle"])
            if binary is None:
                return None
            index = np.zeros(binary.shape, dtype=np.int64) if index is None else index  # (H, W) instance ids
            if index.shape != binary.shape:
                self.add(f"targets.instances[{k - 1}].rle", "targets", f"size {list(binary.shape)} differs "
                         f"from instance 0's {list(index.shape)}")
                return None
            index[binary] = k
        return index, labels

    def _ignore_index(self, targets: Mapping[str, Any], n_labels: int) -> int | None:
        value = targets.get("ignore_index", IGNORE_INDEX)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
            self.add("targets.ignore_index", "targets", f"expected an int in 0..65535, got {value!r:.40}")
            return None
        if "ignore_index" in targets and value < n_labels:
            self.add("targets.ignore_index", "targets", f"{value} is also the index of labels[{value}]; expected a "
                     f"value >= {n_labels}")
            return None
        return value

    def _mask_file(self, rel: Any, labels: list[str], ignore: int, files: bool) -> np.ndarray | None:
        if not isinstance(rel, str) or not rel:
            self.add("targets.mask", "targets", f"expected a path string, got {rel!r:.60}")
            return None
        path = self._path("targets.mask", rel)
        if path is None or self.root is None or not files:
            return None
        try:
            with open_image(path, self.limits.max_pixels) as im:
                if im.mode not in _MASK_MODES:
                    self.add("targets.mask", "targets", f"expected a label-index image (mode L/P/I), got {im.mode}")
                    return None
                index = np.asarray(im).astype(np.int64)  # (H, W) label ids
        except FileNotFoundError:
            self.add("targets.mask", "image", f"file not found: {path}")
            return None
        except ImageLoadError as exc:
            self.add("targets.mask", "image", str(exc))
            return None
        except (OSError, SyntaxError, ValueError) as exc:
            self.add("targets.mask", "image", f"cannot read {path}: {exc}")
            return None
        if index.ndim != 2:
            self.add("targets.mask", "targets", f"expected a single-band (H, W) mask, got shape {list(index.shape)}")
            return None
        bad = index[(index < 0) | ((index >= len(labels)) & (index != ignore))]
        if bad.size:
            self.add("targets.mask", "targets", f"mask value {int(bad[0])} has no label ({len(labels)} labels; "
                     f"ignore value {ignore})")
            return None
        return index

    def _target_mask(
        self, targets: Mapping[str, Any], files: bool
    ) -> tuple[np.ndarray, list[str], int | None] | None:
        """``(index (H, W), labels, ignore value or None)`` of a SEG record's target, or None (problem added)."""
        labels = targets.get("labels")
        if "instances" in targets:
            found = self._instances(targets, labels)
            return None if found is None else (*found, None)
        if not self._labels(labels, None):
            return None
        ignore = self._ignore_index(targets, len(labels))
        if ignore is None:
            return None
        if "mask" in targets:
            index = self._mask_file(targets["mask"], labels, ignore, files)
            return None if index is None else (index, labels, ignore)
        if "mask_rle" in targets:
            binary = self._rle("targets.mask_rle", targets["mask_rle"])
            if binary is None:
                return None
            if len(labels) != 2:
                self.add("targets.labels", "targets", f"a binary mask_rle needs 2 labels, got {len(labels)}")
                return None
            index = binary.astype(np.int64)  # (H, W) 0/1
            if "ignore_rle" in targets:
                ignored = self._rle("targets.ignore_rle", targets["ignore_rle"])
                if ignored is None:
                    return None
                if ignored.shape != index.shape:
                    self.add("targets.ignore_rle", "targets", f"size {list(ignored.shape)} differs from mask_rle's "
                             f"{list(index.shape)}")
                    return None
                index[ignored] = ignore
            return index, labels, ignore
        self.add("targets", "targets", "SEG targets need one of mask, mask_rle or instances")
        return None

    def _labels(self, labels: Any, count: int | None) -> bool:
        if not (isinstance(labels, list) and len(labels) >= 2 and all(isinstance(x, str) and x for x in labels)):
            self.add("targets.labels", "targets", f"expected a list of >= 2 label names, got {labels!r:.80}")
            return False
        if labels[0] != "others":
            self.add("targets.labels", "targets", f"labels[0] must be 'others', got {labels[0]!r:.60}")
            return False
        if count is not None and len(labels) != count:
            self.add("targets.labels", "targets", f"expected {count} labels (others + one per instance), got {len(labels)}")
            return False
        return True

    def _rle(self, field_: str, rle: Any) -> np.ndarray | None:
        size = rle.get("size") if isinstance(rle, dict) else None
        if not (isinstance(size, list) and len(size) == 2 and all(_is_size(v) for v in size) and "counts" in rle):
            self.add(field_, "targets", f"expected COCO RLE {{size: [H, W] positive ints, counts}}, got {rle!r:.60}")
            return None
        h, w = size
        if h * w > self.limits.max_pixels:
            self.add(field_, "limit", f"RLE size {h}x{w} exceeds the limit of {self.limits.max_pixels} pixels")
            return None
        image_size = self.rec["targets"].get("image_size")
        if isinstance(image_size, list) and len(image_size) == 2 and [w, h] != image_size:
            self.add(field_, "targets", f"RLE size [H, W] = {[h, w]} disagrees with image_size [W, H] = "
                     f"{image_size!r:.40}")
            return None
        try:
            return coco_rle_to_mask(rle, max_pixels=self.limits.max_pixels)
        except ValueError as exc:
            self.add(field_, "targets", f"bad COCO RLE: {exc}")
            return None

    def task_checks(self, files: bool) -> None:
        task, targets, msgs = self.rec["task"], self.rec["targets"], self.rec["messages"]
        prompt, answer = user_turns(self.rec)[0], assistant_turns(self.rec)[0]
        a_field = f"messages[{next(i for i, m in enumerate(msgs) if m['role'] == 'assistant')}].content"
        if task == "CLS":
            label, classes = targets.get("label"), targets.get("classes")
            if not isinstance(label, str) or not label:
                self.add("targets.label", "targets", f"expected a class name, got {label!r:.60}")
                return
            if classes is not None and not (isinstance(classes, list) and label in classes):
                self.add("targets.classes", "targets", f"label {label!r:.60} is not among classes {classes!r:.80}")
            if answer.strip() != label:
                self.add(a_field, "targets", f"answer {answer.strip()!r:.60} differs from targets.label {label!r:.60}")
        elif task == "VQA":
            want, kind = targets.get("answer"), targets.get("answer_type")
            if not isinstance(want, str):
                self.add("targets.answer", "targets", f"expected a string, got {want!r:.60}")
            elif answer.strip() != want.strip():
                self.add(a_field, "targets", f"answer {answer.strip()!r:.60} differs from targets.answer {want!r:.60}")
            if kind is not None and (not isinstance(kind, str) or kind not in VQA_ANSWER_TYPES):
                self.add("targets.answer_type", "targets", f"expected one of {list(VQA_ANSWER_TYPES)}, got {kind!r:.60}")
        elif task in ("CAP", "CCD"):
            self._references(targets, answer, required=True)
        elif task in ("VG", "REF"):
            if task == "VG":
                field_, got = a_field, self._parse_boxes(a_field, answer)
            else:
                field_ = f"messages[{next(i for i, m in enumerate(msgs) if m['role'] == 'user')}].content"
                got = self._parse_boxes(field_, prompt.replace(IMAGE_TOKEN, ""))
            size = self._image_size(targets)
            boxes = self._boxes(targets, size)
            if got is not None and boxes is not None and size is not None:
                if task == "VG":
                    self._compare_boxes(field_, got, boxes, size)
                else:
                    self._compare_boxes(field_, got[:1], boxes[:1], size)
            if task == "REF":
                self._references(targets, answer, required=False)
        elif task == "SEG":
            self._seg(a_field, answer, targets, files)

    def _seg(self, a_field: str, answer: str, targets: Mapping[str, Any], files: bool) -> None:
        decoded = None
        try:
            decoded = decode_mask(answer, strict=True)
        except ValueError as exc:  # MaskDecodeError, NoMaskFound and LimitExceeded are ValueErrors
            self.add(a_field, "answer", f"mask text does not decode strictly: {exc}")
        if decoded is not None and decoded.grid_size != MASK_GRID:
            self.add(a_field, "answer", f"mask grid is {decoded.grid_size}x{decoded.grid_size}, expected {MASK_GRID}")
            decoded = None
        size = self._image_size(targets)
        target = self._target_mask(targets, files)
        if target is None:
            return
        index, labels, ignore = target
        if size is not None and (index.shape[1], index.shape[0]) != size:
            self.add("targets.mask" if "mask" in targets else "targets", "targets",
                     f"mask size {index.shape[1]}x{index.shape[0]} disagrees with image_size {list(size)}")
            return
        if decoded is None:
            return
        grid = downsample_mask(index, MASK_GRID)  # (G, G) label ids, maybe the ignore value
        scored = grid != ignore if ignore is not None else np.ones(grid.shape, dtype=bool)  # (G, G)
        want = np.asarray(labels, dtype=object)[np.where(scored, grid, 0)]  # (G, G) names
        got = np.asarray(decoded.names(), dtype=object)  # (G, G) names
        wrong = int(((want != got) & scored).sum())
        if wrong:
            self.add(a_field, "targets", f"answer mask differs from the downsampled target mask in {wrong} of "
                     f"{int(scored.sum())} scored cells")
