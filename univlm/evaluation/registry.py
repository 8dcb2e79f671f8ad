"""Evaluation tasks declared in YAML (``univlm/evaluation/tasks/*.yaml``), in the spirit of lmms-eval.

A task file names what to ask, how to read the answer and how to score it::

    name: vg_vrsbench
    description: Visual grounding, VRSBench protocol.
    record_task: VG            # records whose "task" differs are skipped and counted
    prompt: "{user}"           # {user} = the record's first user turn (with its <image> lines)
    parser: first_four_ints    # how answers are read (univlm.evaluation.scorers.PARSERS)
    metric: grounding          # metric family (see METRICS)
    protocol: vrsbench         # one of the family's protocols; named in every result
    options: {thresholds: [0.5, 0.7]}

Design choices:
- Tasks are data, not code: a new benchmark with an existing metric is one YAML file, and
  ``--task path/to/file.yaml`` loads a file outside the package.
- Every (metric, protocol, parser) triple is checked at load time, so a typo fails before a long
  generation run rather than after it.
- Per-class prompting (zero-shot semantic segmentation) is a template holding ``{label}``: one prompt
  per non-``others`` label of the record.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from univlm.tasks import TASKS

# metric family -> (allowed protocols, allowed parsers)
METRICS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "classification": (("normalized-match",), ("class_name",)),
    "vqa": (("rsvqa-lr", "rsvqa-hr", "exact-match"), ("text",)),
    "grounding": (("vrsbench", "pixel"), ("first_four_ints", "boxes")),
    "referring_seg": (("lisa", "rrsisd"), ("masks",)),
    "multi_referring_seg": (("geopix",), ("masks",)),
    "semantic_seg": (("mmseg",), ("masks",)),
    "change_detection": (("confusion",), ("masks",)),
    "caption": (("coco", "levircc"), ("text",)),
}
PARSERS: tuple[str, ...] = ("class_name", "text", "first_four_ints", "boxes", "masks")
RECORD_TASKS: tuple[str, ...] = TASKS
_REQUIRED = ("name", "record_task", "parser", "metric", "protocol")
_KNOWN = (*_REQUIRED, "description", "prompt", "options", "num_images")


class TaskSpecError(ValueError):
    """A task YAML file that is malformed; the message names the file and the field."""


@dataclass(frozen=True)
class TaskSpec:
    """One evaluation task.

    Attributes:
        name: Task name used by ``univlm eval --task``.
        record_task: The record ``task`` value this task scores (others are skipped and counted).
        parser: How answers are read.
        metric: Metric family.
        protocol: Protocol within the family, named in every result.
        prompt: Prompt template: ``{user}`` is the record's first user turn; ``{label}`` makes the task
            per-class (one prompt per non-``others`` label, each with one ``<image>`` line per image).
        description: One line for humans.
        options: Protocol options (thresholds, excluded question types, ignore index, ...).
        num_images: When set, records with a different number of images are skipped and counted.
        source: File the task was loaded from.
    """

    name: str
    record_task: str
    parser: str
    metric: str
    protocol: str
    prompt: str = "{user}"
    description: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    num_images: int | None = None
    source: str = ""

    @property
    def per_class(self) -> bool:
        """True when the prompt asks about one label at a time (``{label}`` in the template)."""
        return "{label}" in self.prompt


def _fail(source: str, fld: str, message: str) -> TaskSpecError:
    return TaskSpecError(f"{source}: {fld}: {message}")


def parse_task(data: Any, source: str = "<task>") -> TaskSpec:
    """Validate a decoded task mapping and build its :class:`TaskSpec`.

    Args:
        data: The mapping read from YAML.
        source: File name used in error messages.

    Returns:
        The task.

    Raises:
        TaskSpecError: On a missing or unknown field, or an invalid metric/protocol/parser combination.
    """
    if not isinstance(data, Mapping):
        raise _fail(source, "<top>", f"expected a mapping, got {type(data).__name__}")
    for key in _REQUIRED:
        if not isinstance(data.get(key), str) or not data[key]:
            raise _fail(source, key, "required non-empty string is missing")
    unknown = sorted(set(data) - set(_KNOWN))
    if unknown:
        raise _fail(source, unknown[0], f"unknown field; expected one of {', '.join(_KNOWN)}")
    metric, protocol, parser = data["metric"], data["protocol"], data["parser"]
    if metric not in METRICS:
        raise _fail(source, "metric", f"unknown metric {metric!r}; expected one of {', '.join(METRICS)}")
    protocols, parsers = METRICS[metric]
    if protocol not in protocols:
        raise _fail(
            source, "protocol", f"{protocol!r} is not a {metric} protocol; expected one of {protocols}"
        )
    if parser not in parsers:
        raise _fail(source, "parser", f"{parser!r} cannot feed {metric}; expected one of {parsers}")
    if data["record_task"] not in RECORD_TASKS:
        raise _fail(source, "record_task", f"expected one of {RECORD_TASKS}, got {data['record_task']!r}")
    options = data.get("options") or {}
    if not isinstance(options, Mapping):
        raise _fail(source, "options", f"expected a mapping, got {type(options).__name__}")
    prompt = data.get("prompt", "{user}")
    if not isinstance(prompt, str) or ("{user}" not in prompt and "{label}" not in prompt):
        raise _fail(source, "prompt", "expected a string holding {user} or {label}")
    num_images = data.get("num_images")
    if num_images is not None and (not isinstance(num_images, int) or num_images < 1):
        raise _fail(source, "num_images", f"expected a positive integer, got {num_images!r}")
    return TaskSpec(
        name=data["name"],
        record_task=data["record_task"],
        parser=parser,
        metric=metric,
        protocol=protocol,
        prompt=prompt,
        description=str(data.get("description", "")),
        options=dict(options),
        num_images=num_images,
        source=source,
    )


def load_task_file(path: str | os.PathLike[str]) -> TaskSpec:
    """Load one task YAML file.

    Args:
        path: The YAML file.

    Returns:
        The task.

    Raises:
        TaskSpecError: If the file is not valid YAML or not a valid task.
        FileNotFoundError: If the file does not exist.
    """
    text = Path(path).read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise TaskSpecError(f"{path}: invalid YAML: {exc}") from None
    return parse_task(data, source=str(path))


def builtin_tasks() -> dict[str, TaskSpec]:
    """All tasks shipped in ``univlm/evaluation/tasks``, by name.

    Returns:
        Name -> task, sorted by name (a new dict per call; the files are parsed once per process).

    Raises:
        TaskSpecError: If a shipped file is invalid or two files declare the same name.
    """
    return dict(_load_builtin_tasks())


@functools.cache
def _load_builtin_tasks() -> dict[str, TaskSpec]:
    # The shipped files are package data and never change while the process runs; parsing 16 YAML
    # files costs ~5 ms, paid on every score() call before this cache.
    tasks: dict[str, TaskSpec] = {}
    folder = resources.files("univlm.evaluation") / "tasks"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".yaml"):
            continue
        with resources.as_file(entry) as path:
            spec = load_task_file(path)
        if spec.name in tasks:
            raise TaskSpecError(
                f"{entry.name}: name: {spec.name!r} is already declared by {tasks[spec.name].source}"
            )
        tasks[spec.name] = spec
    return dict(sorted(tasks.items()))


def get_task(name_or_path: str | os.PathLike[str] | TaskSpec) -> TaskSpec:
    """Resolve a task by built-in name or by YAML path.

    Args:
        name_or_path: A built-in task name, a path to a ``.yaml`` file, or a :class:`TaskSpec`.

    Returns:
        The task.

    Raises:
        KeyError: If the name is unknown (the message lists the known names).
        TaskSpecError: If a given file is invalid.
    """
    if isinstance(name_or_path, TaskSpec):
        return name_or_path
    text = str(name_or_path)
    if text.endswith((".yaml", ".yml")):
        return load_task_file(text)
    tasks = builtin_tasks()
    if text not in tasks:
        raise KeyError(f"unknown task {text!r}; known tasks: {', '.join(tasks)}")
    return tasks[text]
