"""Join predictions to records, score them under a task's protocol, and generate predictions.

The flow of ``univlm eval`` is :func:`build_requests` (one prompt per record, or per record and class
for per-class tasks) -> :func:`generate` (any object with ``predict(images, prompt) -> .text``) ->
:func:`write_predictions` -> :func:`score` -> :func:`write_results`.

Predictions file (JSONL, one object per line)::

    {"id": "<record id>", "text": "<model answer>"}                 # one answer per record
    {"id": "<record id>", "label": "building", "text": "<answer>"}   # per-class tasks: one per label

Extra fields are allowed and ignored. Predictions are joined to records by ``id`` (and ``label``).
A record without a prediction counts as wrong (IoU 0, empty caption) and is reported under
``counts.missing`` with its id listed; predictions that match no record are counted as ``unused``.

Design choices:
- Scoring is a pure function of (task, predictions, records, data root); generation never scores and
  scoring never generates, so ``--predictions`` scores any model's output the same way.
- Ground truth comes from each record's ``targets`` (schema in docs/DATA.md); where a target key is
  absent, classification/VQA/caption fall back to the reference assistant turn, other tasks skip the
  record and count it under ``counts.skipped`` with the reason.
- Masks are compared at the ground truth's full resolution (the decoded 24x24 grid is upsampled with
  the codec's nearest-neighbour rule), as LISA/Text4Seg do.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from univlm.evaluation.registry import TaskSpec, get_task

logger = logging.getLogger(__name__)

IMAGE_PLACEHOLDER = "<image>"
MAX_LISTED_IDS = 20

# Default task per record task for evaluate_model (mixed-task validation sets).
DEFAULT_TASKS: dict[str, str] = {
    "CLS": "scene_cls",
    "VQA": "vqa",
    "VG": "vg_pixel",
    "SEG": "refseg_rrsisd",
    "CAP": "caption_levircc",
    "CCD": "change_caption_levircc",
    "REF": "caption_levircc",
}


class PredictionsError(ValueError):
    """A malformed predictions file; the message names ``file:line`` and the field."""


@dataclass(frozen=True)
class Request:
    """One prompt to send to a model.

    Attributes:
        id: Record id.
        label: Class asked about (per-class tasks), else None.
        images: Image paths relative to the data root.
        prompt: The user prompt, with one ``<image>`` line per image.
    """

    id: str
    label: str | None
    images: tuple[str, ...]
    prompt: str

    def key(self) -> tuple[str, str | None]:
        """The join key ``(id, label)``."""
        return (self.id, self.label)


@dataclass
class _Tally:
    """Bookkeeping shared by every scorer."""

    records: int = 0
    scored: int = 0
    missing: int = 0
    unparsable: int = 0
    skipped: Counter = field(default_factory=Counter)
    missing_ids: list[str] = field(default_factory=list)
    problems: Counter = field(default_factory=Counter)

    def miss(self, rid: str) -> None:
        self.missing += 1
        if len(self.missing_ids) < MAX_LISTED_IDS:
            self.missing_ids.append(rid)

    def count_problems(self, problems: Iterable[str]) -> None:
        """Count parse/repair problems by kind (the text before the first ``:``)."""
        for problem in problems:
            self.problems[problem.split(":")[0]] += 1


# ----------------------------------------------------------------------------------- predictions I/O


def read_predictions(path: str | os.PathLike[str]) -> dict[tuple[str, str | None], str]:
    """Read a predictions JSONL file.

    Args:
        path: The file (format in the module docstring).

    Returns:
        ``(id, label) -> text``; ``label`` is None for one-answer-per-record lines.

    Raises:
        PredictionsError: If a line is not a JSON object with string ``id`` and ``text``, or a key repeats.
        FileNotFoundError: If the file does not exist.
    """
    from univlm.data.schema import RecordError, read_jsonl

    out: dict[tuple[str, str | None], str] = {}
    try:
        for lineno, obj in read_jsonl(path):
            for key in ("id", "text"):
                if not isinstance(obj.get(key), str):
                    raise PredictionsError(f"{path}:{lineno}: {key}: expected a string, got {obj.get(key)!r}")
            label = obj.get("label")
            if label is not None and not isinstance(label, str):
                raise PredictionsError(f"{path}:{lineno}: label: expected a string or null, got {label!r}")
            key_ = (obj["id"], label)
            if key_ in out:
                raise PredictionsError(f"{path}:{lineno}: id: duplicate prediction for {key_}")
            out[key_] = obj["text"]
    except RecordError as exc:
        # read_jsonl reports malformed lines in the same ``file:line: field:`` form; one exception
        # type for every defect of a predictions file keeps callers simple.
        raise PredictionsError(str(exc)) from None
    return out


def _as_prediction_map(predictions: Any) -> dict[tuple[str, str | None], str]:
    """Accept a path, a ``{id: text}`` / ``{(id, label): text}`` mapping, or a list of row dicts."""
    if isinstance(predictions, (str, os.PathLike)):
        return read_predictions(predictions)
    if isinstance(predictions, Mapping):
        return {(k if isinstance(k, tuple) else (k, None)): v for k, v in predictions.items()}
    out: dict[tuple[str, str | None], str] = {}
    for row in predictions:
        out[(row["id"], row.get("label"))] = row["text"]
    return out


def _atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_predictions(path: str | os.PathLike[str], rows: Iterable[Mapping[str, Any]]) -> int:
    """Write prediction rows as JSONL atomically.

    Args:
        path: Destination file.
        rows: Dicts with at least ``id`` and ``text`` (and ``label`` for per-class tasks).

    Returns:
        The number of rows written.
    """
    lines = [json.dumps(dict(row), ensure_ascii=False) for row in rows]
    _atomic_write_text(Path(path), "".join(line + "\n" for line in lines))
    return len(lines)


# ------------------------------------------------------------------------------------------ requests


def _user_turn(record: Mapping[str, Any]) -> str:
    for message in record.get("messages", []):
        if message.get("role") == "user":
            return str(message.get("content", ""))
    return ""


def _reference_answer(record: Mapping[str, Any]) -> str | None:
    for message in record.get("messages", []):
        if message.get("role") == "assistant":
            return str(message.get("content", ""))
    return None


def _skip_reason(spec: TaskSpec, record: Mapping[str, Any]) -> str | None:
    if record.get("task") != spec.record_task:
        return f"task {record.get('task')!r} is not {spec.record_task}"
    if spec.num_images is not None and len(record.get("images", [])) != spec.num_images:
        return f"{len(record.get('images', []))} image(s), task expects {spec.num_images}"
    return None


def _class_labels(record: Mapping[str, Any]) -> list[str]:
    labels = list(record.get("targets", {}).get("labels", []))
    return [name for i, name in enumerate(labels) if i > 0 and name != "others"]


def render_prompt(spec: TaskSpec, record: Mapping[str, Any], label: str | None = None) -> str:
    """The prompt a task sends for one record (and one class for per-class tasks).

    Args:
        spec: The task.
        record: The record.
        label: The class name for per-class tasks.

    Returns:
        The prompt; one ``<image>`` line per image is prepended when the template has none.
    """
    prompt = spec.prompt.replace("{user}", _user_turn(record))
    if label is not None:
        prompt = prompt.replace("{label}", label)
    if IMAGE_PLACEHOLDER not in prompt:
        prompt = f"{IMAGE_PLACEHOLDER}\n" * len(record.get("images", [])) + prompt
    return prompt


def build_requests(
    spec: TaskSpec | str, records: Iterable[Mapping[str, Any]]
) -> tuple[list[Request], Counter]:
    """All prompts a task sends for a set of records.

    Args:
        spec: The task (or its name / YAML path).
        records: Records in the schema of docs/DATA.md.

    Returns:
        ``(requests, skipped)``: the requests in record order, and skip reasons with counts for records
        the task does not apply to.
    """
    spec = get_task(spec)
    requests: list[Request] = []
    skipped: Counter = Counter()
    for record in records:
        reason = _skip_reason(spec, record)
        if reason is not None:
            skipped[reason] += 1
            continue
        images = tuple(record.get("images", []))
        if spec.per_class:
            for label in _class_labels(record):
                requests.append(Request(record["id"], label, images, render_prompt(spec, record, label)))
        else:
            requests.append(Request(record["id"], None, images, render_prompt(spec, record)))
    return requests, skipped


# ---------------------------------------------------------------------------------------- generation


def _resolve(path: str | os.PathLike[str], root: str | os.PathLike[str] | None) -> Path:
    """``path`` under the data root, unless it is absolute or there is no root."""
    path = Path(path)
    return path if root is None or path.is_absolute() else Path(root) / path


def _load_images(paths: Sequence[str], root: str | os.PathLike[str] | None) -> list[Any]:
    from PIL import Image

    images = []
    for p in paths:
        with Image.open(_resolve(p, root)) as im:
            images.append(im.convert("RGB"))
    return images


def _chunks(
    requests: Sequence[Request], step: int, share_prefix: bool
) -> Iterable[tuple[bool, list[Request]]]:
    """Split requests into ``(same_images, chunk)``: per-class runs of one record, else batches of ``step``."""
    i = 0
    while i < len(requests):
        j = i + 1
        if share_prefix and requests[i].label is not None:
            while j < len(requests) and requests[j].id == requests[i].id and requests[j].label is not None:
                j += 1
            if j - i > 1:
                yield True, list(requests[i:j])
                i = j
                continue
        j = i
        while (
            j < len(requests)
            and j - i < step
            and not (share_prefix and requests[j].label is not None and j > i)
        ):
            j += 1
        yield False, list(requests[i:j])
        i = j


def generate(
    predictor: Any,
    requests: Sequence[Request],
    root: str | os.PathLike[str] | None,
    batch_size: int = 1,
    progress: bool = False,
    **gen: Any,
) -> list[dict[str, Any]]:
    """Run a predictor over requests.

    Args:
        predictor: Object with ``predict(images, prompt, **gen) -> Result`` (``.text``), and optionally
            ``predict_batch(items, **gen)`` and ``predict_many(images, prompts, labels=..., **gen)``,
            e.g. :class:`univlm.inference.Predictor`. The per-class prompts of one record go through
            ``predict_many`` when it exists, so the image prefix is encoded once (same outputs).
        requests: The prompts.
        root: Data root the image paths are relative to.
        batch_size: Requests per ``predict_batch`` call (``predict`` is used for 1 or when absent).
        progress: Show a tqdm progress bar.
        **gen: Generation options passed through.

    Returns:
        Prediction rows ``{"id", "text"}`` (plus ``"label"`` for per-class requests), in request order.
    """
    from tqdm.auto import tqdm

    rows: list[dict[str, Any]] = []
    batched = batch_size > 1 and hasattr(predictor, "predict_batch")
    share_prefix = hasattr(predictor, "predict_many")
    with tqdm(total=len(requests), desc="generating", unit="prompt", disable=not progress) as bar:
        for same_images, chunk in _chunks(requests, batch_size if batched else 1, share_prefix):
            if same_images:
                images = _load_images(chunk[0].images, root)
                labels = [[r.label] for r in chunk]
                results = predictor.predict_many(images, [r.prompt for r in chunk], labels=labels, **gen)
            else:
                items = [(_load_images(r.images, root), r.prompt) for r in chunk]
                if batched:
                    results = predictor.predict_batch(items, **gen)
                else:
                    results = [predictor.predict(images, prompt, **gen) for images, prompt in items]
            for req, result in zip(chunk, results):
                row: dict[str, Any] = {"id": req.id, "text": getattr(result, "text", str(result))}
                if req.label is not None:
                    row["label"] = req.label
                rows.append(row)
            bar.update(len(chunk))
    return rows


# --------------------------------------------------------------------------------- ground-truth access


def _image_size(record: Mapping[str, Any], root: str | os.PathLike[str] | None) -> tuple[int, int]:
    size = record.get("targets", {}).get("image_size")
    if size is not None:
        return int(size[0]), int(size[1])
    from PIL import Image

    with Image.open(_resolve(record["images"][0], root)) as im:
        return im.size


def _load_label_mask(record: Mapping[str, Any], root: str | os.PathLike[str] | None) -> np.ndarray:
    """(H, W) int label map of a SEG record: label-index PNG, binary COCO RLE, or union of instances."""
    targets = record.get("targets", {})
    if "mask" in targets:
        from PIL import Image

        with Image.open(_resolve(targets["mask"], root)) as im:
            return np.asarray(im, dtype=np.int64)
    from univlm.codecs import coco_rle_to_mask

    if "mask_rle" in targets:
        return coco_rle_to_mask(targets["mask_rle"]).astype(np.int64)
    if targets.get("instances"):
        union = None
        for inst in targets["instances"]:
            m = coco_rle_to_mask(inst["rle"])
            union = m if union is None else union | m
        return np.asarray(union, dtype=np.int64)
    raise KeyError("targets has none of 'mask', 'mask_rle', 'instances'")


def _ground_truth_mask(
    record: Mapping[str, Any], root: str | os.PathLike[str] | None, tally: _Tally
) -> np.ndarray | None:
    """:func:`_load_label_mask`, or None (the record counted as skipped) when it cannot be read."""
    try:
        return _load_label_mask(record, root)
    except (KeyError, OSError) as exc:
        tally.skipped[f"ground truth unreadable: {exc}"] += 1
        return None


def _answer(
    preds: Mapping[tuple[str, str | None], str], tally: _Tally, rid: str, label: str | None = None
) -> str | None:
    """The prediction for ``(rid, label)``, or None (counted as missing) when there is none."""
    text = preds.get((rid, label))
    if text is None:
        tally.miss(rid if label is None else f"{rid}|{label}")
    return text


def _answer_masks(
    preds: Mapping[tuple[str, str | None], str],
    tally: _Tally,
    rid: str,
    label: str | None = None,
    labels: Sequence[str] | None = None,
) -> list[Any] | None:
    """Decode every mask of the prediction for ``(rid, label)``, counting its repairs in ``tally``.

    Returns None when there is no prediction (counted as missing) and an empty list when it holds no
    mask (counted as unparsable).
    """
    from univlm.codecs import decode_masks

    text = _answer(preds, tally, rid, label)
    if text is None:
        return None
    masks = decode_masks(text, labels=labels)
    tally.count_problems(str(r) for m in masks for r in m.repairs)
    if not masks:
        tally.unparsable += 1
    return masks


def _upsample(indices: np.ndarray, height: int, width: int) -> np.ndarray:
    from univlm.codecs import upsample_grid

    return upsample_grid(np.asarray(indices, dtype=np.int64), height, width)


def _foreground(mask: Any, height: int, width: int) -> np.ndarray:
    return _upsample(mask.binary().astype(np.int64), height, width) != 0


# ----------------------------------------------------------------------------------------- scorers

Scorer = Callable[[TaskSpec, list[Mapping[str, Any]], dict, Any, _Tally], tuple[dict, dict]]


def _score_classification(spec, records, preds, root, tally):
    from univlm.evaluation.metrics.classification import classification_accuracy

    answers, labels, classes = [], [], set(spec.options.get("classes", []))
    per_record_classes = []
    for rec in records:
        targets = rec.get("targets", {})
        label = targets.get("label") or _reference_answer(rec)
        if not label:
            tally.skipped["no targets.label and no reference answer"] += 1
            continue
        answers.append(_answer(preds, tally, rec["id"]))
        labels.append(label)
        per_record_classes.append(targets.get("classes"))
        classes.update(targets.get("classes") or [])
    classes.update(labels)
    result = classification_accuracy(answers, labels, sorted(classes))
    tally.scored += len(labels)
    tally.unparsable += result["unmatched"] - sum(a is None for a in answers)
    return {"accuracy": result["accuracy"]}, {"per_class": result["per_class"], "classes": len(classes)}


def _score_vqa(spec, records, preds, root, tally):
    from univlm.evaluation.metrics.vqa import vqa_accuracy

    answers, targets_, types = [], [], []
    for rec in records:
        targets = rec.get("targets", {})
        answer = targets.get("answer", _reference_answer(rec))
        if answer is None:
            tally.skipped["no targets.answer and no reference answer"] += 1
            continue
        answers.append(_answer(preds, tally, rec["id"]))
        targets_.append(str(answer))
        types.append(targets.get("answer_type"))
    result = vqa_accuracy(answers, targets_, types, exclude=spec.options.get("exclude", ()))
    tally.scored += result["total"]
    scores = {"accuracy": result["accuracy"], "mean_type_accuracy": result["mean_type_accuracy"]}
    scores.update({f"{t}_accuracy": v["accuracy"] for t, v in result["per_type"].items()})
    details = {
        "per_type": result["per_type"],
        "excluded_types": list(spec.options.get("exclude", ())),
        "excluded_questions": result["excluded"],
    }
    return scores, details


def _score_grounding(spec, records, preds, root, tally):
    from univlm.codecs import denormalize_box, normalize_box, parse_boxes
    from univlm.evaluation.metrics.grounding import (
        box_iou,
        box_iou_inclusive,
        first_four_ints,
        grounding_summary,
    )

    thresholds = tuple(spec.options.get("thresholds", (0.5, 0.7)))
    ious: list[float] = []
    multi_gt = 0
    for rec in records:
        targets = rec.get("targets", {})
        if not targets.get("boxes"):
            tally.skipped["no targets.boxes"] += 1
            continue
        if len(targets["boxes"]) > 1:
            multi_gt += 1
        width, height = _image_size(rec, root)
        gt = targets["boxes"][0]
        tally.scored += 1
        text = _answer(preds, tally, rec["id"])
        if text is None:
            ious.append(0.0)
            continue
        if spec.protocol == "vrsbench":
            pred = first_four_ints(text)
            if pred is None:
                tally.unparsable += 1
                ious.append(0.0)
                continue
            ious.append(box_iou_inclusive(pred, normalize_box(gt, width, height)))
        else:
            parsed = parse_boxes(text)
            if not parsed.boxes:
                tally.unparsable += 1
                ious.append(0.0)
                continue
            tally.count_problems(parsed.problems)
            ious.append(box_iou(denormalize_box(parsed.boxes[0].box, width, height), gt))
    summary = grounding_summary(ious, thresholds)
    scores = {k: v for k, v in summary.items() if k != "total"}
    details = {"thresholds": list(thresholds)}
    if multi_gt:
        details["records_with_several_gt_boxes"] = multi_gt
        details["note"] = "only the first ground-truth box and the first predicted box are compared"
    return scores, details


def _score_referring(spec, records, preds, root, tally):
    from univlm.evaluation.metrics.segmentation import (
        PRECISION_THRESHOLDS,
        binary_intersection_union,
        lisa_scores,
        missing_sample,
        rrsisd_scores,
    )

    ignore = spec.options.get("ignore_index", 255)
    samples = []
    for rec in records:
        gt = _ground_truth_mask(rec, root, tally)
        if gt is None:
            continue
        tally.scored += 1
        masks = _answer_masks(preds, tally, rec["id"])
        if not masks:
            samples.append(missing_sample(gt, ignore))
            continue
        pred = _foreground(masks[0], *gt.shape)
        samples.append(binary_intersection_union(pred, gt, ignore))
    if spec.protocol == "lisa":
        result = lisa_scores(samples)
    else:
        result = rrsisd_scores(samples, tuple(spec.options.get("thresholds", PRECISION_THRESHOLDS)))
    return {k: v for k, v in result.items() if k != "total"}, {"ignore_index": ignore}


def _score_multi_referring(spec, records, preds, root, tally):
    from univlm.codecs import coco_rle_to_mask
    from univlm.evaluation.metrics.segmentation import hungarian_match, multi_referring_scores

    per_sample = []
    for rec in records:
        instances = rec.get("targets", {}).get("instances")
        if not instances:
            tally.skipped["no targets.instances"] += 1
            continue
        gts = [coco_rle_to_mask(inst["rle"]) for inst in instances]
        height, width = gts[0].shape
        tally.scored += 1
        pred_masks = []
        for mask in _answer_masks(preds, tally, rec["id"]) or []:
            full = _upsample(mask.indices, height, width)  # (H, W) label indices of this block
            for index in range(1, len(mask.labels)):
                if np.any(mask.indices == index):
                    pred_masks.append(full == index)
        per_sample.append(hungarian_match(pred_masks, gts))
    result = multi_referring_scores(per_sample)
    return {"miou": result["miou"], "ciou": result["ciou"]}, {"masks": result["masks"]}


def _score_semantic(spec, records, preds, root, tally):
    from univlm.evaluation.metrics.segmentation import intersect_and_union, semantic_scores

    ignore = spec.options.get("ignore_index", 255)
    # The class list is fixed by options.classes, else by the first scored record; records with a
    # different list are skipped and counted (per-class areas cannot be summed across class lists).
    class_names: list[str] | None = list(spec.options["classes"]) if "classes" in spec.options else None
    totals = None if class_names is None else [np.zeros(len(class_names), dtype=np.int64) for _ in range(3)]
    for rec in records:
        labels = list(rec.get("targets", {}).get("labels", []))
        gt = _ground_truth_mask(rec, root, tally)
        if gt is None:
            continue
        if not labels:
            tally.skipped["no targets.labels"] += 1
            continue
        if class_names is None:
            class_names = labels
            totals = [np.zeros(len(labels), dtype=np.int64) for _ in range(3)]
        elif labels != class_names:
            tally.skipped["targets.labels differ from the task's class list"] += 1
            continue
        tally.scored += 1
        height, width = gt.shape
        if spec.per_class:
            pred = np.zeros((height, width), dtype=np.int64)
            got_any = False
            for index, name in enumerate(labels):
                if index == 0 or name == "others":
                    continue
                masks = _answer_masks(preds, tally, rec["id"], label=name)
                got_any = got_any or masks is not None
                if not masks:
                    continue
                fg = _foreground(masks[0], height, width)
                pred[fg & (pred == 0)] = index  # earlier classes keep contested pixels
            if not got_any:
                pred[:] = -1  # no answer at all: no pixel earns credit
        else:
            masks = _answer_masks(preds, tally, rec["id"], labels=labels)
            if not masks:
                pred = np.full((height, width), -1, dtype=np.int64)
            else:
                lookup = np.array([labels.index(n) if n in labels else -1 for n in masks[0].labels])
                pred = lookup[_upsample(masks[0].indices, height, width)]
        area_i, area_u, _, area_l = intersect_and_union(pred, gt, len(labels), ignore)
        totals[0] += area_i
        totals[1] += area_u
        totals[2] += area_l
    if totals is None:
        return {"aAcc": 0.0, "mIoU": 0.0, "mAcc": 0.0}, {"per_class": {}}
    result = semantic_scores(totals[0], totals[1], totals[2], class_names)
    return (
        {"aAcc": result["aAcc"], "mIoU": result["mIoU"], "mAcc": result["mAcc"]},
        {
            "per_class": result["per_class"],
            "ignore_index": ignore,
            "prompting": "one prompt per class" if spec.per_class else "one answer per image",
        },
    )


def _score_change(spec, records, preds, root, tally):
    from univlm.evaluation.metrics.change import ChangeConfusion, change_scores

    ignore = spec.options.get("ignore_index", 255)
    conf = ChangeConfusion()
    for rec in records:
        gt = _ground_truth_mask(rec, root, tally)
        if gt is None:
            continue
        tally.scored += 1
        masks = _answer_masks(preds, tally, rec["id"])
        if not masks:
            conf.update_missing(gt, ignore)
            continue
        conf.update(_foreground(masks[0], *gt.shape), gt, ignore)
    result = change_scores(conf)
    counts = {k: result.pop(k) for k in ("tp", "fp", "fn", "tn")}
    return result, {"confusion": counts, "ignore_index": ignore}


def _score_caption(spec, records, preds, root, tally):
    from univlm.evaluation.metrics.caption import caption_scores

    hyps, refs = [], []
    for rec in records:
        references = rec.get("targets", {}).get("references")
        if not references:
            answer = _reference_answer(rec)
            references = [answer] if answer else None
        if not references:
            tally.skipped["no targets.references and no reference answer"] += 1
            continue
        hyps.append(_answer(preds, tally, rec["id"]))
        refs.append(list(references))
    tally.scored += len(hyps)
    result = caption_scores(hyps, refs, protocol=spec.protocol, meteor=bool(spec.options.get("meteor", True)))
    notes = result.pop("notes")
    result.pop("total")
    return result, {"notes": notes}


SCORERS: dict[str, Scorer] = {
    "classification": _score_classification,
    "vqa": _score_vqa,
    "grounding": _score_grounding,
    "referring_seg": _score_referring,
    "multi_referring_seg": _score_multi_referring,
    "semantic_seg": _score_semantic,
    "change_detection": _score_change,
    "caption": _score_caption,
}


def score(
    task: TaskSpec | str,
    predictions: Any,
    records: Iterable[Mapping[str, Any]],
    root: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Score predictions of one task.

    Args:
        task: Task name, YAML path or :class:`TaskSpec`.
        predictions: A predictions JSONL path, a mapping ``id -> text`` (or ``(id, label) -> text``), or
            a list of prediction rows.
        records: The ground-truth records (schema of docs/DATA.md).
        root: Data root for images and mask files.

    Returns:
        ``{"task", "metric", "protocol", "description", "scores": {name: float|None}, "details": {...},
        "counts": {"records", "scored", "missing", "unparsable", "skipped", "unused_predictions"},
        "skipped": {reason: count}, "missing_ids": [...], "problems": {kind: count}}``. Scores are in
        0..1 (CIDEr 0..10).

    Raises:
        KeyError: If the task name is unknown.
        univlm.evaluation.metrics.caption.JavaNotFoundError: For COCO caption protocols without Java.
    """
    spec = get_task(task)
    preds = _as_prediction_map(predictions)
    records = list(records)
    tally = _Tally(records=len(records))
    selected = []
    for rec in records:
        reason = _skip_reason(spec, rec)
        if reason is None:
            selected.append(rec)
        else:
            tally.skipped[reason] += 1
    scores, details = SCORERS[spec.metric](spec, selected, preds, root, tally)
    known_ids = {rec.get("id") for rec in records}
    unused = sum(1 for rid, _ in preds if rid not in known_ids)
    return {
        "task": spec.name,
        "metric": spec.metric,
        "protocol": spec.protocol,
        "description": spec.description,
        "scores": scores,
        "details": details,
        "counts": {
            "records": tally.records,
            "scored": tally.scored,
            "missing": tally.missing,
            "unparsable": tally.unparsable,
            "skipped": sum(tally.skipped.values()),
            "unused_predictions": unused,
        },
        "skipped": dict(tally.skipped),
        "missing_ids": tally.missing_ids,
        "problems": dict(tally.problems),
    }


# ------------------------------------------------------------------------------------------ reports


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value * 100:.2f}"
    return str(value)


def results_markdown(results: Sequence[Mapping[str, Any]]) -> str:
    """Render results of :func:`score` as a markdown report (every score shown x100, as papers do).

    Args:
        results: One result dict per task.

    Returns:
        Markdown text: one table row per task, plus missing/skipped counts and notes.
    """
    lines = ["# univlm evaluation", ""]
    for res in results:
        scores = res["scores"]
        lines.append(f"## {res['task']} — protocol `{res['protocol']}` ({res['metric']})")
        if res.get("description"):
            lines.append("")
            lines.append(res["description"])
        lines.append("")
        lines.append("| " + " | ".join(scores) + " |")
        lines.append("|" + "---|" * len(scores))
        lines.append("| " + " | ".join(_fmt(v) for v in scores.values()) + " |")
        lines.append("")
        counts = res["counts"]
        lines.append(
            f"Records {counts['records']}, scored {counts['scored']}, missing predictions {counts['missing']}, "
            f"unparsable {counts['unparsable']}, skipped {counts['skipped']}, "
            f"unused predictions {counts['unused_predictions']}."
        )
        for reason, n in res.get("skipped", {}).items():
            lines.append(f"- skipped {n}: {reason}")
        for note in res.get("details", {}).get("notes", []):
            lines.append(f"- note: {note}")
        lines.append("")
    lines.append(
        "Scores are shown x100, as in published tables (CIDEr too); results.json holds the raw values."
    )
    return "\n".join(lines) + "\n"


def write_results(out_dir: str | os.PathLike[str], results: Sequence[Mapping[str, Any]]) -> tuple[Path, Path]:
    """Write ``results.json`` and ``results.md`` atomically.

    Args:
        out_dir: Output directory (created if missing).
        results: Result dicts of :func:`score`.

    Returns:
        Paths of the JSON and markdown files.
    """
    out = Path(out_dir)
    json_path, md_path = out / "results.json", out / "results.md"
    payload = {"results": list(results)}
    _atomic_write_text(json_path, json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    _atomic_write_text(md_path, results_markdown(results))
    return json_path, md_path


# ------------------------------------------------------------------------------------ evaluate_model


def evaluate_model(
    predictor: Any,
    records: Iterable[Mapping[str, Any]],
    root: str | os.PathLike[str] | None,
    tasks: Sequence[str] | None = None,
    limit: int | None = None,
    *,
    batch_size: int = 1,
    progress: bool = False,
    **gen: Any,
) -> dict[str, Any]:
    """Generate and score a mixed-task record set, one default protocol per record task.

    Used for the end-of-training check on the synthetic validation split. Record tasks map to
    :data:`DEFAULT_TASKS` (VG -> ``vg_pixel``, with ``vg_vrsbench`` computed from the same answers;
    SEG -> ``refseg_rrsisd`` on the foreground of every SEG record; captions -> ``levircc`` without
    METEOR, to avoid starting Java).

    Args:
        predictor: Object with ``predict(images, prompt) -> .text`` (e.g. ``univlm.inference.Predictor``).
        records: Records of any tasks.
        root: Data root of the images and masks.
        tasks: Record tasks to evaluate (e.g. ``["CLS", "VG"]``); all present when None.
        limit: At most this many records per record task (first ones in file order).
        batch_size: Prompts per ``predict_batch`` call.
        progress: Show a progress bar.
        **gen: Generation options passed to the predictor.

    Returns:
        Flat headline figures (keys present only for record tasks found): ``cls_accuracy``,
        ``vqa_accuracy``, ``vg_acc@0.5``, ``vg_acc@0.7``, ``vg_miou`` (pixel protocol),
        ``vg_vrsbench_acc@0.5``, ``seg_miou``, ``seg_oiou`` (RRSIS-D convention), ``seg_giou`` (LISA),
        ``cap_bleu4``, ``cap_cider``, ``ccd_cider``, ``ref_cider``; plus ``"protocols"`` (headline
        key -> protocol), ``"counts"`` (record task -> records scored, missing included) and
        ``"details"`` (task name -> full :func:`score` result).
    """
    wanted = set(tasks) if tasks is not None else None
    by_task: dict[str, list[Mapping[str, Any]]] = {}
    for rec in records:
        rtask = rec.get("task")
        if rtask not in DEFAULT_TASKS or (wanted is not None and rtask not in wanted):
            continue
        bucket = by_task.setdefault(rtask, [])
        if limit is None or len(bucket) < limit:
            bucket.append(rec)
    out: dict[str, Any] = {}
    protocols: dict[str, str] = {}
    counts: dict[str, int] = {}
    details: dict[str, Any] = {}
    for rtask, recs in sorted(by_task.items()):
        spec = get_task(DEFAULT_TASKS[rtask])
        if spec.metric == "caption":
            spec = replace(spec, record_task=rtask, options={**spec.options, "meteor": False})
        if spec.metric == "referring_seg":
            spec = replace(spec, num_images=None)
        requests, _ = build_requests(spec, recs)
        rows = generate(predictor, requests, root, batch_size=batch_size, progress=progress, **gen)
        result = score(spec, rows, recs, root)
        details[f"{rtask}:{spec.name}"] = result
        counts[rtask] = result["counts"]["scored"]
        s = result["scores"]
        if rtask == "CLS":
            out["cls_accuracy"] = s["accuracy"]
        elif rtask == "VQA":
            out["vqa_accuracy"] = s["accuracy"]
        elif rtask == "VG":
            out["vg_acc@0.5"], out["vg_acc@0.7"], out["vg_miou"] = s["acc@0.5"], s["acc@0.7"], s["miou"]
            vrs = score("vg_vrsbench", rows, recs, root)
            details[f"{rtask}:vg_vrsbench"] = vrs
            out["vg_vrsbench_acc@0.5"] = vrs["scores"]["acc@0.5"]
            protocols.update({"vg_acc@0.5": "pixel", "vg_vrsbench_acc@0.5": "vrsbench"})
        elif rtask == "SEG":
            out["seg_miou"], out["seg_oiou"] = s["miou"], s["oiou"]
            lisa = score(replace(get_task("refseg_lisa"), num_images=None), rows, recs, root)
            details[f"{rtask}:refseg_lisa"] = lisa
            out["seg_giou"] = lisa["scores"]["giou"]
            protocols.update({"seg_miou": "rrsisd", "seg_giou": "lisa"})
        else:
            prefix = {"CAP": "cap", "CCD": "ccd", "REF": "ref"}[rtask]
            if rtask == "CAP":
                out["cap_bleu4"] = s["BLEU-4"]
            out[f"{prefix}_cider"] = s["CIDEr"]
            protocols[f"{prefix}_cider"] = "levircc"
        if rtask in ("CLS", "VQA"):
            protocols[f"{rtask.lower()}_accuracy"] = spec.protocol
    out["protocols"] = protocols
    out["counts"] = counts
    out["details"] = details
    return out
