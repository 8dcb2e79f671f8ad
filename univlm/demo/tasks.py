"""What the demo page does, without Gradio: task picker -> tagged prompts, uploads -> images, results -> views.

Design choices and sources:
- The page offers task names instead of raw tags (issue #18); each builds its tagged prompt(s) with
  the training templates of :mod:`univlm.data.templates` (RSUniVLM's phrasing), so the demo asks
  questions the way the model was taught. The prompts are one per line in an editable "advanced"
  box, which is what actually runs.
- Several classes are segmented at once as one ``[SEG]`` prompt per class through
  :meth:`~univlm.inference.Predictor.predict_many` (the image prefix is encoded once per expert, as
  in :meth:`~univlm.inference.Predictor.segment_classes`) and merged into one label map, the first
  class keeping a cell claimed twice.
- Uploads go through :func:`univlm.imaging.load_image` (pixel limit, honest conversion of 16-bit
  and float images); every failure becomes one line naming the uploaded file, shown in the page.
- Nothing here imports Gradio, torch or transformers, so it is unit-testable on the core install.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from univlm.codecs.boxes import parse_boxes
from univlm.codecs.masks import BACKGROUND
from univlm.data import templates

__all__ = [
    "DEFAULT_MODEL_DIR",
    "TASKS",
    "TRAIN_HINT",
    "DemoInputError",
    "DemoTask",
    "ResultView",
    "build_prompts",
    "device_note",
    "load_upload",
    "merge_masks",
    "resolve_model_dir",
    "run_prompts",
]

DEFAULT_MODEL_DIR = Path("outputs") / "stage1"
# The README's first command: it trains the tiny model into outputs/stage1.
TRAIN_HINT = 'pip install -e ".[train]" && accelerate launch recipes/stage1_sft.py'


class DemoInputError(ValueError):
    """An upload or task input the demo cannot use; the message is one line shown in the page."""


def _split_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _box_prompt(text: str) -> list[str]:
    body = text.strip()
    parsed = parse_boxes(body if body.startswith("[") else f"[{body}]")
    if not parsed.boxes:
        raise DemoInputError(f"region description needs a box x1, y1, x2, y2 (integers 0..100), got {text!r}")
    return [templates.ref_prompt([int(round(v)) for v in parsed.boxes[0].box])]


@dataclass(frozen=True)
class DemoTask:
    """One entry of the task picker.

    Attributes:
        name: What the picker shows.
        images: How many images the task takes (1, or 2 for change tasks).
        input_label: Label of the free-text input ("" when the task takes none).
        default: A sensible first value of that input.
        build: Free text -> tagged prompts (one per line in the advanced box).
    """

    name: str
    images: int
    input_label: str
    default: str
    build: Callable[[str], list[str]] = field(repr=False)


TASKS: dict[str, DemoTask] = {
    task.name: task
    for task in (
        DemoTask(
            "scene class", 1, "candidate classes (comma-separated)", "residential, forest, farmland, river",
            lambda text: [templates.cls_prompt(_split_list(text))],
        ),
        DemoTask("question", 1, "question", "How many buildings are there?", lambda t: [templates.vqa_prompt(t.strip())]),
        DemoTask("caption", 1, "", "", lambda _text: [templates.cap_prompt()]),
        DemoTask("grounding", 1, "phrase to find", "the largest building", lambda t: [templates.vg_prompt(t.strip())]),
        DemoTask("region description", 1, "box x1, y1, x2, y2 (0..100)", "20, 20, 60, 60", _box_prompt),
        DemoTask(
            "segmentation", 1, "classes (comma-separated; one prompt each)", "building, road",
            lambda text: [templates.seg_prompt(c) for c in _split_list(text)],
        ),
        DemoTask("change caption", 2, "", "", lambda _text: [templates.ccd_prompt()]),
        DemoTask(
            "change detection", 2, "changed classes (comma-separated)", "building",
            lambda text: [templates.change_seg_prompt(c) for c in _split_list(text)],
        ),
    )
}


def build_prompts(task: str, text: str) -> str:
    """The tagged prompt(s) of a picker choice, one per line, as the advanced box shows them.

    Args:
        task: A key of :data:`TASKS`.
        text: The task's free-text input.

    Returns:
        The prompts joined by newlines ("" when the input is still empty).

    Raises:
        DemoInputError: If the task is unknown or its input cannot be turned into a prompt.
    """
    if task not in TASKS:
        raise DemoInputError(f"unknown task {task!r}; expected one of {list(TASKS)}")
    spec = TASKS[task]
    if spec.input_label and not text.strip():
        return ""
    return "\n".join(spec.build(text))


def resolve_model_dir(model: str | None, cwd: str | os.PathLike[str] = ".") -> Path:
    """The model directory to serve: ``--model``, else ``outputs/stage1`` when it exists.

    Args:
        model: The ``--model`` value, or None.
        cwd: Directory ``outputs/stage1`` is looked for in.

    Returns:
        The directory.

    Raises:
        DemoInputError: If neither is a directory; the message says how to train a model.
    """
    if model is not None:
        if not os.path.isdir(model):
            raise DemoInputError(f"model directory not found: {model}")
        return Path(model)
    default = Path(cwd) / DEFAULT_MODEL_DIR
    if default.is_dir():
        return default
    raise DemoInputError(
        f"no --model given and no trained model in {DEFAULT_MODEL_DIR}; train one first with: {TRAIN_HINT}"
    )


def load_upload(path: str | os.PathLike[str] | None, max_bytes: int, what: str = "image") -> Any:
    """An uploaded file as an RGB ``PIL.Image``, or a one-line error naming it.

    Args:
        path: Where Gradio stored the upload (None when nothing was uploaded).
        max_bytes: Largest accepted file size.
        what: How the page calls the slot ("image", "second image").

    Returns:
        The RGB image.

    Raises:
        DemoInputError: If nothing was uploaded, the file is too large or is not a readable image.
    """
    from univlm.imaging import ImageLoadError, load_image

    if not path:
        raise DemoInputError(f"upload an {what} first")
    name = os.path.basename(os.fspath(path))
    size = os.path.getsize(path)
    if size > max_bytes:
        raise DemoInputError(f"{name}: {size / 2**20:.1f} MB is over the upload limit of {max_bytes / 2**20:.0f} MB")
    try:
        return load_image(path)
    except (ImageLoadError, OSError) as err:
        # The message names Gradio's temporary path; the user knows the file by its own name.
        raise DemoInputError(str(err).replace(os.fspath(path), name)) from None


def device_note(info: dict[str, Any], cuda_available: bool) -> str:
    """The visible line naming the device and dtype (and saying when it is a CPU fallback)."""
    device, dtype = info.get("device", "?"), info.get("dtype", "?")
    note = f"device: **{device}**, dtype: **{dtype}**"
    if str(device).startswith("cpu") and not cuda_available:
        note += " (no CUDA GPU found: running on the CPU, answers take longer)"
    return note


def merge_masks(results: Sequence[Any], size: tuple[int, int]) -> tuple[np.ndarray, list[str], int]:
    """Merge the masks of several ``[SEG]`` results into one label map (first result wins a pixel).

    Args:
        results: :class:`~univlm.inference.Result` objects with ``mask_arrays`` at the image size.
        size: ``(width, height)`` of the image.

    Returns:
        The ``(height, width)`` label map, its label names (``others`` first) and the number of
        pixels claimed by more than one result.
    """
    width, height = size
    merged = np.zeros((height, width), dtype=np.int64)  # (H, W) merged label indices
    claims = np.zeros((height, width), dtype=np.int64)  # (H, W) results claiming each pixel
    names = [BACKGROUND]
    for result in results:
        for array, mask in zip(result.mask_arrays, result.masks):
            for index, label in enumerate(mask.labels):
                if label == BACKGROUND:
                    continue
                where = array == index  # (H, W)
                if not where.any():
                    continue
                if label not in names:
                    names.append(label)
                merged[(merged == 0) & where] = names.index(label)
                claims += where
    return merged, names, int((claims > 1).sum())


@dataclass
class ResultView:
    """What the result panel shows.

    Attributes:
        overlay: The first image with boxes and masks drawn on it and a legend (PIL).
        boxes: One line per box, 0..100 and pixel coordinates ("" when there is none).
        answer: The raw answer text (one block per prompt).
        problems: The codec's problems, one per line.
        status: A one-line summary (task, expert, tokens).
    """

    overlay: Any
    boxes: str
    answer: str
    problems: str
    status: str


def run_prompts(predictor: Any, images: Sequence[Any], prompts: Sequence[str]) -> ResultView:
    """Answer the prompts about the images and build the result panel.

    One prompt goes through :meth:`~univlm.inference.Predictor.predict`; several through
    :meth:`~univlm.inference.Predictor.predict_many` (shared image prefix), their masks merged into
    one overlay.

    Args:
        predictor: A :class:`~univlm.inference.Predictor`.
        images: One or two RGB images.
        prompts: Tagged prompts.

    Returns:
        The :class:`ResultView`.

    Raises:
        DemoInputError: If there is no prompt.
    """
    from univlm.inference.overlay import render_overlay, result_overlay

    if not prompts:
        raise DemoInputError("the prompt is empty: fill in the task input or the advanced box")
    overlaps = 0
    if len(prompts) == 1:
        results = [predictor.predict(list(images), prompts[0])]
        overlay = result_overlay(images[0], results[0])
    else:
        results = predictor.predict_many(list(images), list(prompts))
        merged, names, overlaps = merge_masks(results, images[0].size)
        boxes_px = [box for r in results for box in r.boxes_px]
        overlay = render_overlay(images[0], mask_arrays=[merged], mask_labels=[names], boxes_px=boxes_px)
    box_lines = []
    for result in results:
        for k, (box, px) in enumerate(zip(result.boxes, result.boxes_px), start=1):
            grid = ", ".join(str(int(v)) for v in box)
            pixels = ", ".join(f"{v:.0f}" for v in px)
            box_lines.append(f"box {k}: [{grid}] (0..100); pixels [{pixels}]")
    answers = [r.text if len(results) == 1 else f"{r.prompt}\n{r.text}" for r in results]
    problems = [p if len(results) == 1 else f"{r.prompt}: {p}" for r in results for p in r.problems]
    if len(results) > 1 and overlaps:
        problems.append(f"{overlaps} pixels were claimed by several prompts; the first prompt kept them")
    first = results[0]
    task = first.task or "no tag (default expert)"
    tokens = sum(int(r.stats.get("new_tokens", 0)) for r in results)
    status = f"{len(results)} prompt(s), task {task}, expert {first.expert}, {tokens} new tokens"
    return ResultView(overlay, "\n".join(box_lines), "\n\n".join(answers), "\n".join(problems), status)
