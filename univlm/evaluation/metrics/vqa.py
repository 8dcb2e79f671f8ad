"""RSVQA-LR / RSVQA-HR exact-match accuracy, per question type and averaged.

Protocol ``rsvqa`` (as reported by GeoChat and RSUniVLM):

* answer and ground truth are lowercased and stripped of surrounding whitespace and of a trailing
  period (instruction-tuned models answer ``"Yes."``), then compared for exact equality;
* question types listed in ``exclude`` are left out of every number: ``count`` for RSVQA-LR and
  ``count`` and ``area`` for RSVQA-HR, as GeoChat's and RSUniVLM's tables do (their free-form counts
  are not comparable with a classifier's answer set). Excluded samples are counted and reported;
* ``accuracy`` is the overall accuracy over the included questions (GeoChat's "Avg. Accuracy" column),
  ``mean_type_accuracy`` the unweighted mean of the per-type accuracies.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence


def normalize_answer(text: str) -> str:
    """Lowercase ``text`` and strip whitespace and one trailing period.

    Args:
        text: An answer or a ground-truth string.

    Returns:
        The normalised string.
    """
    text = text.strip().lower()
    if text.endswith("."):
        text = text[:-1].rstrip()
    return text


def vqa_accuracy(
    answers: Sequence[str | None],
    targets: Sequence[str],
    types: Sequence[str | None] | None = None,
    exclude: Iterable[str] = (),
) -> dict:
    """Exact-match VQA accuracy.

    Args:
        answers: One answer per question; None means the prediction is missing (counted wrong).
        targets: Ground-truth answers.
        types: Question type of each sample (``presence``, ``count``, ...); None or a None entry means
            ``"other"``.
        exclude: Question types left out of the score.

    Returns:
        ``{"accuracy", "mean_type_accuracy", "correct", "total", "excluded", "per_type": {type:
        {"accuracy", "correct", "total"}}}``; accuracies are 0.0 when nothing is scored.

    Raises:
        ValueError: If the sequences differ in length.
    """
    if len(answers) != len(targets) or (types is not None and len(types) != len(targets)):
        raise ValueError(
            f"answers ({len(answers)}), targets ({len(targets)}) and types "
            f"({'-' if types is None else len(types)}) must have one entry per question"
        )
    excluded_types = {t.lower() for t in exclude}
    per_total: Counter[str] = Counter()
    per_correct: Counter[str] = Counter()
    excluded = 0
    for i, (answer, target) in enumerate(zip(answers, targets)):
        qtype = (types[i] if types is not None else None) or "other"
        if qtype.lower() in excluded_types:
            excluded += 1
            continue
        per_total[qtype] += 1
        if answer is not None and normalize_answer(answer) == normalize_answer(target):
            per_correct[qtype] += 1
    total = sum(per_total.values())
    correct = sum(per_correct.values())
    per_type = {
        t: {"accuracy": per_correct[t] / per_total[t], "correct": per_correct[t], "total": per_total[t]}
        for t in sorted(per_total)
    }
    type_accs = [v["accuracy"] for v in per_type.values()]
    return {
        "accuracy": correct / total if total else 0.0,
        "mean_type_accuracy": sum(type_accs) / len(type_accs) if type_accs else 0.0,
        "correct": correct,
        "total": total,
        "excluded": excluded,
        "per_type": per_type,
    }
