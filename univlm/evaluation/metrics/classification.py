"""Scene classification accuracy with answers normalised against the class names.

Protocol ``normalized-match`` (after GeoChat's ``batch_geochat_scene.py``, which lowercases the answer
and removes spaces and periods before comparing it with the class folder name):

* both the answer and every class name are lowercased and stripped of everything that is not a letter
  or digit (spaces, underscores, hyphens, punctuation), so ``"Dense residential."``,
  ``"dense_residential"`` and ``"DenseResidential"`` are the same key;
* a trailing plural ``s`` is ignored on both sides (``"tennis courts"`` == ``"tennis_court"``), because
  AID/NWPU folder names mix singular and plural forms;
* an answer is correct when its key equals the key of the ground-truth class. An answer that matches
  no class (or several) is wrong and counted as ``unmatched``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

_NON_ALNUM = re.compile(r"[^0-9a-z]+")


def class_key(text: str) -> str:
    """Return the comparison key of a class name or an answer.

    Args:
        text: A class name or a model answer.

    Returns:
        Lowercase letters and digits only, with one trailing plural ``s`` removed (keys of four or more
        characters only, so short names such as ``"bus"`` are not mangled twice).
    """
    key = _NON_ALNUM.sub("", text.lower())
    if len(key) >= 4 and key.endswith("s"):
        key = key[:-1]
    return key


def match_class(answer: str, classes: Sequence[str]) -> str | None:
    """Map a free-text answer onto one of ``classes``.

    Args:
        answer: The model answer.
        classes: The class names of the benchmark.

    Returns:
        The matching class name as spelled in ``classes``, or None when the answer matches no class or
        more than one class.
    """
    key = class_key(answer)
    hits = [name for name in classes if class_key(name) == key]
    return hits[0] if len(hits) == 1 else None


def classification_accuracy(
    answers: Sequence[str | None], labels: Sequence[str], classes: Sequence[str] | None = None
) -> dict:
    """Accuracy of scene-classification answers.

    Args:
        answers: One answer per sample; None means the prediction is missing (counted wrong).
        labels: The ground-truth class name of each sample.
        classes: All class names; when None, the set of ``labels`` is used for matching.

    Returns:
        ``{"accuracy", "correct", "total", "unmatched", "per_class": {name: accuracy}}`` with accuracies
        in 0..1; ``accuracy`` is 0.0 when there are no samples.

    Raises:
        ValueError: If ``answers`` and ``labels`` differ in length.
    """
    if len(answers) != len(labels):
        raise ValueError(f"got {len(answers)} answers for {len(labels)} labels; expected one per label")
    names = list(classes) if classes else sorted(set(labels))
    correct = 0
    unmatched = 0
    per_total: Counter[str] = Counter()
    per_correct: Counter[str] = Counter()
    for answer, label in zip(answers, labels):
        per_total[label] += 1
        predicted = None if answer is None else match_class(answer, names)
        if predicted is None:
            unmatched += 1
            continue
        if class_key(predicted) == class_key(label):
            correct += 1
            per_correct[label] += 1
    total = len(labels)
    return {
        "accuracy": correct / total if total else 0.0,
        "correct": correct,
        "total": total,
        "unmatched": unmatched,
        "per_class": {name: per_correct[name] / per_total[name] for name in sorted(per_total)},
    }
