"""Evaluation: task declarations (YAML), protocol-exact metrics, scoring and generation.

``score(task, predictions, records, root)`` scores existing predictions; ``evaluate_model(predictor,
records, root)`` generates and scores a mixed-task record set. The command line is ``univlm eval``;
protocols are described in docs/EVALUATION.md.
"""

from __future__ import annotations

from univlm.evaluation.registry import TaskSpec, builtin_tasks, get_task, load_task_file
from univlm.evaluation.runner import (
    build_requests,
    evaluate_model,
    generate,
    read_predictions,
    score,
    write_predictions,
    write_results,
)

__all__ = [
    "TaskSpec",
    "build_requests",
    "builtin_tasks",
    "evaluate_model",
    "generate",
    "get_task",
    "load_task_file",
    "read_predictions",
    "score",
    "write_predictions",
    "write_results",
]
