"""Evaluation: task declarations (YAML), protocol-exact metrics, scoring and generation.

``score(task, predictions, records, root)`` scores existing predictions; ``evaluate_model(predictor,
records, root)`` generates and scores a mixed-task record set. The command line is ``univlm eval``;
protocols are described in docs/EVALUATION.md.

Modules: ``registry`` (task YAML), ``predictions`` (reading and joining), ``requests`` (prompts and
generation), ``ground_truth``, ``scorers``, ``report``, ``runner`` (``score``, ``evaluate_model``).
"""

from __future__ import annotations

from univlm.evaluation.predictions import PredictionsError, PredictionSet, read_predictions, write_predictions
from univlm.evaluation.registry import TaskSpec, builtin_tasks, get_task, load_task_file
from univlm.evaluation.report import results_markdown, write_results
from univlm.evaluation.requests import Request, build_requests, generate
from univlm.evaluation.runner import evaluate_model, score

__all__ = [
    "PredictionSet",
    "PredictionsError",
    "Request",
    "TaskSpec",
    "build_requests",
    "builtin_tasks",
    "evaluate_model",
    "generate",
    "get_task",
    "load_task_file",
    "read_predictions",
    "results_markdown",
    "score",
    "write_predictions",
    "write_results",
]
