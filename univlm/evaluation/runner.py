"""Score predictions under a task's protocol (:func:`score`), and generate-and-score a mixed set (:func:`evaluate_model`).

The flow of ``univlm eval`` is :func:`~univlm.evaluation.requests.build_requests` (one prompt per
record, or per record and class for per-class tasks) -> :func:`~univlm.evaluation.requests.generate`
(any object with ``predict(images, prompt) -> .text``) ->
:func:`~univlm.evaluation.predictions.write_predictions` -> :func:`score` ->
:func:`~univlm.evaluation.report.write_results`.

Design choices:
- Scoring is a pure function of (task, predictions, records, data root); generation never scores and
  scoring never generates, so ``--predictions`` scores any model's output the same way.
- Every record a task does not apply to is counted under ``skipped`` with the reason; every rejected
  line of a predictions file under ``rejected_predictions`` with its ``FILE:LINE``.
- :func:`evaluate_model` reports each SEG record kind under its own protocol (issue #14): referring
  records under RRSIS-D (``seg_miou``) and LISA (``seg_giou``), semantic records under mmseg
  (``semseg_miou``), multi-referring under GeoPix (``mref_miou``) and change pairs under the change
  confusion (``cd_f1``). A headline figure never mixes protocols.

The module re-exports the public names of the modules it was split into, so
``from univlm.evaluation.runner import read_predictions`` keeps working.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from univlm.evaluation.ground_truth import SEG_KINDS, ClassListError, seg_kind, skip_reason
from univlm.evaluation.predictions import (
    PredictionsError,
    PredictionSet,
    as_prediction_map,
    read_predictions,
    write_predictions,
)
from univlm.evaluation.registry import TaskSpec, get_task
from univlm.evaluation.report import results_markdown, write_results
from univlm.evaluation.requests import Request, build_requests, generate, render_prompt
from univlm.evaluation.scorers import SCORERS, Tally

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_TASKS",
    "SEG_TASKS",
    "PredictionSet",
    "PredictionsError",
    "Request",
    "build_requests",
    "evaluate_model",
    "generate",
    "read_predictions",
    "render_prompt",
    "results_markdown",
    "score",
    "write_predictions",
    "write_results",
]

# Default task per record task for evaluate_model (mixed-task validation sets); SEG is split by kind.
DEFAULT_TASKS: dict[str, str] = {
    "CLS": "scene_cls",
    "VQA": "vqa",
    "VG": "vg_pixel",
    "SEG": "refseg_rrsisd",
    "CAP": "caption_levircc",
    "CCD": "change_caption_levircc",
    "REF": "caption_levircc",
}
# SEG record kind -> its protocol's task in evaluate_model.
SEG_TASKS: dict[str, str] = {
    "referring": "refseg_rrsisd",
    "semantic": "semseg_mmseg_single",
    "multi_referring": "multiref_geopix",
    "change": "change_detection",
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
        predictions: A predictions JSONL path, a mapping ``id -> text`` (or ``(id, label) -> text``), a
            list of prediction rows, or a :class:`PredictionSet` (its rejected lines are reported).
        records: The ground-truth records (schema of docs/DATA.md).
        root: Data root for images and mask files.

    Returns:
        ``{"task", "metric", "protocol", "description", "scores": {name: float|None}, "details": {...},
        "counts": {"records", "scored", "missing", "unparsable", "skipped", "unused_predictions",
        "rejected_predictions"}, "skipped": {reason: count}, "missing_ids": [...], "rejected": [...],
        "problems": {kind: count}}``. Scores are in 0..1 (CIDEr 0..10).

    Raises:
        KeyError: If the task name is unknown.
        univlm.evaluation.ground_truth.ClassListError: For semantic records without one class list.
        univlm.evaluation.metrics.caption.JavaNotFoundError: For COCO caption protocols without Java.
    """
    spec = get_task(task)
    preds = as_prediction_map(predictions)
    records = list(records)
    tally = Tally(records=len(records))
    selected = []
    for rec in records:
        reason = skip_reason(spec, rec)
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
            "rejected_predictions": preds.rejected,
        },
        "skipped": dict(tally.skipped),
        "missing_ids": tally.missing_ids,
        "rejected": list(preds.problems),
        "problems": dict(tally.problems),
    }


def _select(
    records: Iterable[Mapping[str, Any]],
    tasks: Sequence[str] | None,
    limit: int | None,
    seg_kinds: Sequence[str] | None = None,
) -> dict:
    """Record task -> its records, file order: at most ``limit`` per task, and per kind for SEG.

    Each SEG kind has its own headline (referring records alone make ``seg_miou``), so a limit shared
    by the kinds would leave each headline a fraction of the records the limit promises.
    """
    wanted = set(tasks) if tasks is not None else None
    by_task: dict[str, list[Mapping[str, Any]]] = {}
    taken: dict[tuple[str, str], int] = {}
    for rec in records:
        rtask = rec.get("task")
        if rtask not in DEFAULT_TASKS or (wanted is not None and rtask not in wanted):
            continue
        kind = seg_kind(rec) if rtask == "SEG" else ""
        if kind and seg_kinds is not None and kind not in seg_kinds:
            continue
        bucket = by_task.setdefault(rtask, [])
        key = (rtask, kind)
        if limit is None or taken.get(key, 0) < limit:
            taken[key] = taken.get(key, 0) + 1
            bucket.append(rec)
    return by_task


def _generation_spec(rtask: str) -> TaskSpec:
    """The task whose prompts :func:`evaluate_model` sends for one record task (the record's own turn)."""
    spec = get_task(DEFAULT_TASKS[rtask])
    if spec.metric == "caption":
        # METEOR starts a JVM; the end-of-training check keeps to the Java-free figures.
        return replace(spec, record_task=rtask, options={**spec.options, "meteor": False})
    return replace(spec, num_images=None)


def _headline(rtask: str, spec: TaskSpec, s: Mapping[str, Any], out: dict, protocols: dict) -> None:
    if rtask in ("CLS", "VQA"):
        out[f"{rtask.lower()}_accuracy"] = s["accuracy"]
        protocols[f"{rtask.lower()}_accuracy"] = spec.protocol
    elif rtask == "VG":
        out["vg_acc@0.5"], out["vg_acc@0.7"], out["vg_miou"] = s["acc@0.5"], s["acc@0.7"], s["miou"]
        protocols["vg_acc@0.5"] = protocols["vg_miou"] = "pixel"
    else:
        prefix = {"CAP": "cap", "CCD": "ccd", "REF": "ref"}[rtask]
        if rtask == "CAP":
            out["cap_bleu4"] = s["BLEU-4"]
        out[f"{prefix}_cider"] = s["CIDEr"]
        protocols[f"{prefix}_cider"] = spec.protocol


def _score_seg(rows: list[dict], recs: list, root: Any, out: dict, protocols: dict, details: dict) -> int:
    """Score SEG records kind by kind, each under its own protocol; returns the records scored."""
    by_kind: dict[str, list] = {}
    for rec in recs:
        by_kind.setdefault(seg_kind(rec), []).append(rec)
    scored = 0
    for kind, subset in sorted(by_kind.items()):
        spec = replace(get_task(SEG_TASKS[kind]), num_images=None)
        try:
            result = score(spec, rows, subset, root)
        except ClassListError as exc:
            logger.warning("SEG %s records not scored: %s", kind, exc)
            details[f"SEG:{kind}"] = {"error": str(exc)}
            continue
        details[f"SEG:{spec.name}"] = result
        scored += result["counts"]["scored"]
        s = result["scores"]
        if kind == "referring":
            out["seg_miou"], out["seg_oiou"] = s["miou"], s["oiou"]
            lisa = score(replace(get_task("refseg_lisa"), num_images=None), rows, subset, root)
            details["SEG:refseg_lisa"] = lisa
            out["seg_giou"] = lisa["scores"]["giou"]
            protocols.update({"seg_miou": "rrsisd", "seg_oiou": "rrsisd", "seg_giou": "lisa"})
        elif kind == "semantic":
            out["semseg_miou"], out["semseg_aacc"] = s["mIoU"], s["aAcc"]
            protocols.update({"semseg_miou": "mmseg", "semseg_aacc": "mmseg"})
        elif kind == "multi_referring":
            out["mref_miou"], out["mref_ciou"] = s["miou"], s["ciou"]
            protocols.update({"mref_miou": "geopix", "mref_ciou": "geopix"})
        else:
            out["cd_f1"], out["cd_iou"] = s["f1"], s["iou"]
            protocols.update({"cd_f1": "confusion", "cd_iou": "confusion"})
    return scored


def evaluate_model(
    predictor: Any,
    records: Iterable[Mapping[str, Any]],
    root: str | os.PathLike[str] | None,
    tasks: Sequence[str] | None = None,
    limit: int | None = None,
    *,
    batch_size: int = 1,
    progress: bool = False,
    seg_kinds: Sequence[str] | None = None,
    **gen: Any,
) -> dict[str, Any]:
    """Generate and score a mixed-task record set, one default protocol per record task (and SEG kind).

    Used for the end-of-training check on the synthetic validation split. Record tasks map to
    :data:`DEFAULT_TASKS` (VG -> ``vg_pixel``, with ``vg_vrsbench`` computed from the same answers;
    captions -> ``levircc`` without METEOR, to avoid starting Java); SEG records map by kind to
    :data:`SEG_TASKS`. All prompts go through one :func:`generate` call, so batches never mix experts.

    Args:
        predictor: Object with ``predict(images, prompt) -> .text`` (e.g. ``univlm.inference.Predictor``).
        records: Records of any tasks.
        root: Data root of the images and masks.
        tasks: Record tasks to evaluate (e.g. ``["CLS", "VG"]``); all present when None.
        limit: At most this many records per record task, and per kind for SEG (first ones in file
            order): ``seg_miou`` is then scored on up to ``limit`` referring records.
        batch_size: Prompts per ``predict_batch`` call.
        progress: Show a progress bar.
        seg_kinds: SEG record kinds to score (of ``ground_truth.SEG_KINDS``); None scores every kind.
        **gen: Generation options passed to the predictor.

    Raises:
        ValueError: If ``seg_kinds`` names an unknown kind.

    Returns:
        Flat headline figures (keys present only for what was found): ``cls_accuracy``,
        ``vqa_accuracy``, ``vg_acc@0.5``, ``vg_acc@0.7``, ``vg_miou`` (pixel protocol),
        ``vg_vrsbench_acc@0.5``, ``seg_miou``, ``seg_oiou`` (RRSIS-D, referring records only),
        ``seg_giou`` (LISA), ``semseg_miou``, ``semseg_aacc`` (mmseg), ``mref_miou``, ``mref_ciou``
        (GeoPix), ``cd_f1``, ``cd_iou`` (change), ``cap_bleu4``, ``cap_cider``, ``ccd_cider``,
        ``ref_cider``; plus ``"protocols"`` (headline key -> protocol), ``"counts"`` (record task ->
        records scored, missing included) and ``"details"`` (task -> full :func:`score` result).
    """
    unknown = sorted(set(seg_kinds or ()) - set(SEG_KINDS))
    if unknown:
        raise ValueError(f"seg_kinds: unknown SEG kinds {unknown}; expected some of {list(SEG_KINDS)}")
    by_task = _select(records, tasks, limit, seg_kinds)
    specs = {rtask: _generation_spec(rtask) for rtask in by_task}
    # Every selected record is asked its own user turn (SEG records of every kind included, which the
    # kind-specific tasks would skip), all in one generate() call so batches never mix experts.
    requests = [
        Request(rec["id"], None, tuple(rec.get("images", [])), render_prompt(specs[rtask], rec))
        for rtask, recs in sorted(by_task.items())
        for rec in recs
    ]
    rows = generate(predictor, requests, root, batch_size=batch_size, progress=progress, **gen)
    out: dict[str, Any] = {}
    protocols: dict[str, str] = {}
    counts: dict[str, int] = {}
    details: dict[str, Any] = {}
    for rtask, recs in sorted(by_task.items()):
        if rtask == "SEG":
            counts[rtask] = _score_seg(rows, recs, root, out, protocols, details)
            continue
        spec = specs[rtask]
        result = score(spec, rows, recs, root)
        details[f"{rtask}:{spec.name}"] = result
        counts[rtask] = result["counts"]["scored"]
        _headline(rtask, spec, result["scores"], out, protocols)
        if rtask == "VG":
            vrs = score("vg_vrsbench", rows, recs, root)
            details[f"{rtask}:vg_vrsbench"] = vrs
            out["vg_vrsbench_acc@0.5"] = vrs["scores"]["acc@0.5"]
            protocols["vg_vrsbench_acc@0.5"] = "vrsbench"
    out["protocols"] = protocols
    out["counts"] = counts
    out["details"] = details
    return out
