"""One scorer per metric family, and the answer parsers a task's ``parser:`` field names.

A scorer takes ``(spec, records, predictions, root, tally)`` and returns ``(scores, details)``; it
counts what it skips, what is missing and what cannot be parsed in the shared :class:`Tally`.

Design choices:
- ``parser:`` is dispatched through :data:`PARSERS` (name -> function of the answer text), so a task
  file's parser is what reads its answers: ``first_four_ints`` (VRSBench's regex) and ``boxes`` (the
  box codec) both give a box on the 0..100 grid, which the grounding protocol then scores.
- A record without a prediction counts as wrong (IoU 0, empty caption) and is listed under
  ``missing_ids``; an answer without a box or mask counts as unparsable.
- Masks are compared at the ground truth's full resolution (the decoded grid is upsampled with the
  codec's nearest-neighbour rule), as LISA/Text4Seg do. Ground-truth pixels equal to the ignore value
  are never scored (mmseg's ``ignore_index``); see :mod:`univlm.evaluation.ground_truth`.
- Masks of a ``[SEG]``-token mask head (prediction lines with ``masks``, see
  :mod:`univlm.evaluation.predictions`) are scored instead of the answer's text masks by the referring
  (union of the instances) and multi-referring (one mask per instance) scorers; their ``details`` count
  the records scored per decoder under ``mask_decoder`` (``{"head": n, "text": m}``).
- Semantic segmentation follows mmseg's ``IoUMetric``: every record is scored, the class list is
  fixed before any record is read (:func:`~univlm.evaluation.ground_truth.semantic_class_list`), and a
  predicted name outside it belongs to no class.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from univlm.codecs import (
    BACKGROUND,
    coco_rle_to_mask,
    decode_masks,
    denormalize_box,
    normalize_box,
    parse_boxes,
    upsample_grid,
)
from univlm.evaluation.ground_truth import (
    ignore_value,
    image_size,
    load_label_mask,
    reference_answer,
    semantic_class_list,
)
from univlm.evaluation.metrics.caption import caption_scores
from univlm.evaluation.metrics.change import ChangeConfusion, change_scores
from univlm.evaluation.metrics.classification import classification_accuracy
from univlm.evaluation.metrics.grounding import box_iou, box_iou_inclusive, first_four_ints, grounding_summary
from univlm.evaluation.metrics.segmentation import (
    PRECISION_THRESHOLDS,
    binary_intersection_union,
    hungarian_match,
    intersect_and_union,
    lisa_scores,
    missing_sample,
    multi_referring_scores,
    rrsisd_scores,
    semantic_scores,
)
from univlm.evaluation.metrics.vqa import vqa_accuracy
from univlm.evaluation.registry import TaskSpec

MAX_LISTED_IDS = 20
# Remapped ground truth: pixels no class of the protocol scores (never a class position).
_NO_CLASS = -1

Preds = Mapping[tuple[str, str | None], str]


@dataclass
class Tally:
    """Bookkeeping shared by every scorer."""

    records: int = 0
    scored: int = 0
    missing: int = 0
    unparsable: int = 0
    skipped: Counter = field(default_factory=Counter)
    missing_ids: list[str] = field(default_factory=list)
    problems: Counter = field(default_factory=Counter)

    def miss(self, rid: str) -> None:
        """Count a record (or record|label) without a prediction."""
        self.missing += 1
        if len(self.missing_ids) < MAX_LISTED_IDS:
            self.missing_ids.append(rid)

    def count_problems(self, problems: Iterable[str]) -> None:
        """Count parse/repair problems by kind (the text before the first ``:``)."""
        for problem in problems:
            self.problems[str(problem).split(":")[0]] += 1


# ------------------------------------------------------------------------------------------ parsers


def _parse_text(text: str, **_: Any) -> tuple[str, list[str]]:
    return text, []


def _parse_first_four_ints(text: str, **_: Any) -> tuple[Any, list[str]]:
    return first_four_ints(text), []


def _parse_boxes(text: str, **_: Any) -> tuple[Any, list[str]]:
    parsed = parse_boxes(text)
    return (tuple(parsed.boxes[0].box) if parsed.boxes else None), list(parsed.problems)


def _parse_masks(text: str, labels: Sequence[str] | None = None, **_: Any) -> tuple[Any, list[str]]:
    masks = decode_masks(text, labels=labels)
    return (masks or None), [str(r) for m in masks for r in m.repairs]


# parser name (a task's ``parser:``) -> answer text -> (parsed value or None, problems)
PARSERS: dict[str, Callable[..., tuple[Any, list[str]]]] = {
    "class_name": _parse_text,  # matched against the class names by the classification metric
    "text": _parse_text,
    "first_four_ints": _parse_first_four_ints,
    "boxes": _parse_boxes,
    "masks": _parse_masks,
}


def answer(preds: Preds, tally: Tally, rid: str, label: str | None = None) -> str | None:
    """The prediction for ``(rid, label)``, or None (counted as missing) when there is none."""
    text = preds.get((rid, label))
    if text is None:
        tally.miss(rid if label is None else f"{rid}|{label}")
    return text


def parsed_answer(spec: TaskSpec, preds: Preds, tally: Tally, rid: str, label: str | None = None, **kw: Any):
    """``(found, value)``: whether a prediction exists, and the task parser's value (None = unparsable)."""
    text = answer(preds, tally, rid, label)
    if text is None:
        return False, None
    value, problems = PARSERS[spec.parser](text, **kw)
    tally.count_problems(problems)
    if value is None:
        tally.unparsable += 1
    return True, value


def _upsample(indices: np.ndarray, height: int, width: int) -> np.ndarray:
    return upsample_grid(np.asarray(indices, dtype=np.int64), height, width)


def _foreground(mask: Any, height: int, width: int) -> np.ndarray:
    return _upsample(mask.binary().astype(np.int64), height, width) != 0


def head_masks(preds: Preds, tally: Tally, rid: str, height: int, width: int) -> list[np.ndarray] | None:
    """The mask-head masks predicted for ``rid`` as ``(height, width)`` bool arrays; None when it has none.

    A mask of another size is brought to ``(height, width)`` by nearest-neighbour sampling (counted in
    ``problems`` as ``head mask resized``); an unreadable RLE is dropped and counted.
    """
    rles = getattr(preds, "head_masks", {}).get((rid, None))
    if rles is None:
        return None
    out = []
    for rle in rles:
        try:
            mask = coco_rle_to_mask(rle).astype(bool)  # (h, w)
        except (ValueError, TypeError, KeyError) as exc:
            tally.problems[f"head mask unreadable: {str(exc)[:60]}"] += 1
            continue
        if mask.shape != (height, width):
            tally.problems["head mask resized"] += 1
            rows = (np.arange(height) * mask.shape[0]) // height  # (H,) nearest source row
            cols = (np.arange(width) * mask.shape[1]) // width  # (W,)
            mask = mask[rows[:, None], cols[None, :]]  # (H, W)
        out.append(mask)
    return out


def _ground_truth_mask(record: Mapping[str, Any], root: Any, tally: Tally) -> np.ndarray | None:
    """:func:`load_label_mask`, or None (the record counted as skipped) when it cannot be read."""
    try:
        return load_label_mask(record, root)
    except (KeyError, OSError, ValueError) as exc:
        tally.skipped[f"ground truth unreadable: {exc}"] += 1
        return None


# ------------------------------------------------------------------------------------------ scorers

Scorer = Callable[[TaskSpec, list[Mapping[str, Any]], Preds, Any, Tally], tuple[dict, dict]]


def score_classification(spec, records, preds, root, tally):
    answers, labels, classes = [], [], set(spec.options.get("classes", []))
    for rec in records:
        targets = rec.get("targets", {})
        label = targets.get("label") or reference_answer(rec)
        if not label:
            tally.skipped["no targets.label and no reference answer"] += 1
            continue
        text = answer(preds, tally, rec["id"])
        answers.append(None if text is None else PARSERS[spec.parser](text)[0])
        labels.append(label)
        classes.update(targets.get("classes") or [])
    classes.update(labels)
    result = classification_accuracy(answers, labels, sorted(classes))
    tally.scored += len(labels)
    tally.unparsable += result["unmatched"] - sum(a is None for a in answers)
    return {"accuracy": result["accuracy"]}, {"per_class": result["per_class"], "classes": len(classes)}


def score_vqa(spec, records, preds, root, tally):
    answers, targets_, types = [], [], []
    for rec in records:
        targets = rec.get("targets", {})
        expected = targets.get("answer", reference_answer(rec))
        if expected is None:
            tally.skipped["no targets.answer and no reference answer"] += 1
            continue
        text = answer(preds, tally, rec["id"])
        answers.append(None if text is None else PARSERS[spec.parser](text)[0])
        targets_.append(str(expected))
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


def score_grounding(spec, records, preds, root, tally):
    thresholds = tuple(spec.options.get("thresholds", (0.5, 0.7)))
    ious: list[float] = []
    multi_gt = 0
    for rec in records:
        targets = rec.get("targets", {})
        if not targets.get("boxes"):
            tally.skipped["no targets.boxes"] += 1
            continue
        try:
            width, height = image_size(rec, root)
        except (OSError, ValueError) as exc:  # no targets.image_size and the image cannot be read
            tally.skipped[f"image size unknown: {exc}"] += 1
            continue
        multi_gt += len(targets["boxes"]) > 1
        gt = targets["boxes"][0]
        tally.scored += 1
        _, box = parsed_answer(spec, preds, tally, rec["id"])  # a box on the 0..100 grid, or None
        if box is None:
            ious.append(0.0)
        elif spec.protocol == "vrsbench":
            ious.append(box_iou_inclusive(box, normalize_box(gt, width, height)))
        else:
            ious.append(box_iou(denormalize_box(box, width, height), gt))
    summary = grounding_summary(ious, thresholds)
    scores = {k: v for k, v in summary.items() if k != "total"}
    details: dict[str, Any] = {"thresholds": list(thresholds), "parser": spec.parser}
    if multi_gt:
        details["records_with_several_gt_boxes"] = multi_gt
        details["note"] = "only the first ground-truth box and the first predicted box are compared"
    return scores, details


def score_referring(spec, records, preds, root, tally):
    default_ignore = spec.options.get("ignore_index", 255)
    samples = []
    decoders: Counter = Counter()
    for rec in records:
        gt = _ground_truth_mask(rec, root, tally)
        if gt is None:
            continue
        ignore = ignore_value(rec, default_ignore)
        tally.scored += 1
        from_head = head_masks(preds, tally, rec["id"], *gt.shape)
        if from_head is not None:
            decoders["head"] += 1
            # One referring expression: the region is every instance the head found.
            union = np.logical_or.reduce(from_head) if from_head else np.zeros(gt.shape, dtype=bool)  # (H, W)
            samples.append(binary_intersection_union(union, gt, ignore))
            continue
        _, masks = parsed_answer(spec, preds, tally, rec["id"])
        if not masks:
            samples.append(missing_sample(gt, ignore))
            continue
        decoders["text"] += 1
        samples.append(binary_intersection_union(_foreground(masks[0], *gt.shape), gt, ignore))
    if spec.protocol == "lisa":
        result = lisa_scores(samples)
    else:
        result = rrsisd_scores(samples, tuple(spec.options.get("thresholds", PRECISION_THRESHOLDS)))
    details = {"ignore_index": default_ignore, "mask_decoder": dict(decoders)}
    return {k: v for k, v in result.items() if k != "total"}, details


def score_multi_referring(spec, records, preds, root, tally):
    per_sample = []
    decoders: Counter = Counter()
    for rec in records:
        instances = rec.get("targets", {}).get("instances")
        if not instances:
            tally.skipped["no targets.instances"] += 1
            continue
        gts = [coco_rle_to_mask(inst["rle"]) for inst in instances]
        height, width = gts[0].shape
        tally.scored += 1
        from_head = head_masks(preds, tally, rec["id"], height, width)
        if from_head is not None:
            decoders["head"] += 1
            per_sample.append(hungarian_match(from_head, gts))
            continue
        pred_masks = []
        text_masks = parsed_answer(spec, preds, tally, rec["id"])[1] or []
        decoders["text"] += bool(text_masks)
        for mask in text_masks:
            full = _upsample(mask.indices, height, width)  # (H, W) label indices of this block
            pred_masks.extend(
                full == index for index in range(1, len(mask.labels)) if np.any(mask.indices == index)
            )
        per_sample.append(hungarian_match(pred_masks, gts))
    result = multi_referring_scores(per_sample)
    return {"miou": result["miou"], "ciou": result["ciou"]}, {"masks": result["masks"], "mask_decoder": dict(decoders)}


def _class_lookup(labels: Sequence[str], position: Mapping[str, int]) -> np.ndarray:
    """Record label index -> class position in the protocol's list (``_NO_CLASS`` when it has none)."""
    return np.array([position.get(name, _NO_CLASS) for name in labels], dtype=np.int64)


def _semantic_prediction(spec, rec, labels, preds, tally, position, shape) -> np.ndarray:
    """(H, W) predicted class positions of one record (``_NO_CLASS`` where nothing is predicted)."""
    height, width = shape
    background = position.get(BACKGROUND, _NO_CLASS)
    if not spec.per_class:
        _, masks = parsed_answer(spec, preds, tally, rec["id"], labels=labels)
        if not masks:
            return np.full(shape, _NO_CLASS, dtype=np.int64)
        return _class_lookup(masks[0].labels, position)[_upsample(masks[0].indices, height, width)]
    pred = np.full(shape, background, dtype=np.int64)
    got_any = False
    for index, name in enumerate(labels):
        if index == 0 or name == BACKGROUND:
            continue
        found, masks = parsed_answer(spec, preds, tally, rec["id"], label=name)
        got_any = got_any or found
        if masks:
            # earlier classes keep contested pixels
            pred[_foreground(masks[0], height, width) & (pred == background)] = position.get(name, _NO_CLASS)
    return pred if got_any else np.full(shape, _NO_CLASS, dtype=np.int64)  # no answer: no credit


def score_semantic(spec, records, preds, root, tally):
    default_ignore = spec.options.get("ignore_index", 255)
    classes = semantic_class_list(spec, records)
    position = {name: i for i, name in enumerate(classes)}
    totals = np.zeros((3, len(classes)), dtype=np.int64)  # (intersect, union, label) x C
    for rec in records:
        labels = list(rec.get("targets", {}).get("labels", []))
        if not labels:
            tally.skipped["no targets.labels"] += 1
            continue
        gt = _ground_truth_mask(rec, root, tally)
        if gt is None:
            continue
        ignore = ignore_value(rec, default_ignore)
        unknown = (gt != ignore) & ((gt < 0) | (gt >= len(labels)))
        if unknown.any():
            tally.skipped[f"mask value has no label ({len(labels)} labels)"] += 1
            continue
        lookup = _class_lookup(labels, position)
        truth = np.where(gt == ignore, _NO_CLASS, lookup[np.where(gt == ignore, 0, gt)])  # (H, W)
        tally.scored += 1
        pred = _semantic_prediction(spec, rec, labels, preds, tally, position, gt.shape)
        area_i, area_u, _, area_l = intersect_and_union(pred, truth, len(classes), _NO_CLASS)
        totals += np.stack([area_i, area_u, area_l])
    result = semantic_scores(totals[0], totals[1], totals[2], classes)
    details = {
        "per_class": result["per_class"],
        "classes": classes,
        "ignore_index": default_ignore,
        "prompting": "one prompt per class" if spec.per_class else "one answer per image",
    }
    return {"aAcc": result["aAcc"], "mIoU": result["mIoU"], "mAcc": result["mAcc"]}, details


def score_change(spec, records, preds, root, tally):
    default_ignore = spec.options.get("ignore_index", 255)
    conf = ChangeConfusion()
    for rec in records:
        gt = _ground_truth_mask(rec, root, tally)
        if gt is None:
            continue
        ignore = ignore_value(rec, default_ignore)
        tally.scored += 1
        _, masks = parsed_answer(spec, preds, tally, rec["id"])
        if not masks:
            conf.update_missing(gt, ignore)
            continue
        conf.update(_foreground(masks[0], *gt.shape), gt, ignore)
    result = change_scores(conf)
    counts = {k: result.pop(k) for k in ("tp", "fp", "fn", "tn")}
    return result, {"confusion": counts, "ignore_index": default_ignore}


def score_caption(spec, records, preds, root, tally):
    hyps, refs = [], []
    for rec in records:
        references = rec.get("targets", {}).get("references")
        if not references:
            reference = reference_answer(rec)
            references = [reference] if reference else None
        if not references:
            tally.skipped["no targets.references and no reference answer"] += 1
            continue
        hyps.append(answer(preds, tally, rec["id"]))
        refs.append(list(references))
    tally.scored += len(hyps)
    result = caption_scores(hyps, refs, protocol=spec.protocol, meteor=bool(spec.options.get("meteor", True)))
    notes = result.pop("notes")
    result.pop("total")
    return result, {"notes": notes}


SCORERS: dict[str, Scorer] = {
    "classification": score_classification,
    "vqa": score_vqa,
    "grounding": score_grounding,
    "referring_seg": score_referring,
    "multi_referring_seg": score_multi_referring,
    "semantic_seg": score_semantic,
    "change_detection": score_change,
    "caption": score_caption,
}
