"""Prompts a task sends (:func:`build_requests`) and generation over them (:func:`generate`).

Design choices:
- One request per record, or per record and class for per-class tasks (``{label}`` in the prompt).
  The class list of a per-class record is its ``targets.labels`` without ``others``.
- A task template without ``<image>`` gets the images' placeholders from
  :func:`univlm.data.templates.user_content`, the one place the prompt form is defined (RSUniVLM's
  ``<image> <image>\\n`` for a pair).
- Generation never mixes experts in one batch (issue #19): requests are grouped by the expert the
  model's own router picks (:func:`univlm.models.router.route_from_config` on ``model.config``), each
  group is batched on its own, and rows come back in input order. In memory-bound decoding a mixed
  batch reads every expert's FFN weights at every step.
- The per-class prompts of one record go through ``predict_many`` when the predictor has it, so the
  shared image prefix is encoded once (same outputs).
- Images load through :func:`univlm.imaging.load_image` (pixel limit, real-range conversion, paths
  kept under the data root unless ``allow_outside_root``). A request whose image cannot be loaded is
  not generated: it is reported in ``failures`` and its record is then scored as missing.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tqdm.auto import tqdm

from univlm.codecs import BACKGROUND
from univlm.data.templates import user_content
from univlm.evaluation.ground_truth import skip_reason, user_turn
from univlm.evaluation.registry import TaskSpec, get_task
from univlm.imaging import ImageLoadError, load_image
from univlm.tasks import IMAGE_TOKEN


@dataclass(frozen=True)
class Request:
    """One prompt to send to a model.

    Attributes:
        id: Record id.
        label: Class asked about (per-class tasks), else None.
        images: Image paths relative to the data root.
        prompt: The user prompt, with the images' ``<image>`` placeholders.
    """

    id: str
    label: str | None
    images: tuple[str, ...]
    prompt: str

    def key(self) -> tuple[str, str | None]:
        """The join key ``(id, label)``."""
        return (self.id, self.label)


def class_labels(record: Mapping[str, Any]) -> list[str]:
    """The classes a per-class task asks about for one record: ``targets.labels`` without ``others``."""
    labels = list(record.get("targets", {}).get("labels", []))
    return [name for i, name in enumerate(labels) if i > 0 and name != BACKGROUND]


def render_prompt(spec: TaskSpec, record: Mapping[str, Any], label: str | None = None) -> str:
    """The prompt a task sends for one record (and one class for per-class tasks).

    Args:
        spec: The task.
        record: The record.
        label: The class name for per-class tasks.

    Returns:
        The prompt; the images' placeholder prefix is prepended when the template has none.
    """
    prompt = spec.prompt.replace("{user}", user_turn(record))
    if label is not None:
        prompt = prompt.replace("{label}", label)
    if IMAGE_TOKEN not in prompt:
        prompt = user_content(prompt, len(record.get("images", [])))
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
        reason = skip_reason(spec, record)
        if reason is not None:
            skipped[reason] += 1
            continue
        images = tuple(record.get("images", []))
        if spec.per_class:
            for label in class_labels(record):
                requests.append(Request(record["id"], label, images, render_prompt(spec, record, label)))
        else:
            requests.append(Request(record["id"], None, images, render_prompt(spec, record)))
    return requests, skipped


def load_images(
    paths: Sequence[str], root: str | os.PathLike[str] | None, allow_outside_root: bool = False
) -> list[Any]:
    """The RGB PIL images of a request.

    Raises:
        FileNotFoundError: If an image is missing.
        univlm.imaging.ImageLoadError: If an image is unreadable, too large, or outside the root.
    """
    return [load_image(p, root=root, allow_outside_root=allow_outside_root) for p in paths]


def expert_of(predictor: Any, prompt: str) -> int:
    """The expert id the predictor's model routes a prompt to (its config's table and mode)."""
    # univlm.models imports transformers; scoring alone (``eval --predictions``) must not load it.
    from univlm.models.router import route_from_config

    config = getattr(getattr(predictor, "model", None), "config", None)
    return route_from_config(config, prompt).expert_id


def group_by_expert(predictor: Any, requests: Sequence[Request]) -> list[list[int]]:
    """Indices of ``requests`` grouped by expert (expert id order), input order kept inside a group."""
    groups: dict[int, list[int]] = {}
    for i, req in enumerate(requests):
        groups.setdefault(expert_of(predictor, req.prompt), []).append(i)
    return [groups[k] for k in sorted(groups)]


def _chunks(requests: Sequence[Request], step: int, share_prefix: bool) -> Iterator[tuple[bool, list[int]]]:
    """Split positions into ``(same_images, chunk)``: per-class runs of one record, else batches of ``step``."""
    i = 0
    while i < len(requests):
        j = i + 1
        if share_prefix and requests[i].label is not None:
            while j < len(requests) and requests[j].id == requests[i].id and requests[j].label is not None:
                j += 1
            if j - i > 1:
                yield True, list(range(i, j))
                i = j
                continue
        j = i
        while (
            j < len(requests)
            and j - i < step
            and not (share_prefix and requests[j].label is not None and j > i)
        ):
            j += 1
        yield False, list(range(i, j))
        i = j


def head_mask_fields(result: Any) -> dict[str, Any]:
    """``{"masks": [COCO RLE, ...], "mask_decoder": "head"}`` for a result with mask-head masks, else ``{}``.

    The masks are the result's full-resolution ``head_masks`` (one per ``[SEG0]``.. group), so a
    predictions file scores them without the model (:mod:`univlm.evaluation.predictions`).
    """
    masks = getattr(result, "head_masks", None)
    if not masks:
        return {}
    from univlm.codecs.coco_rle import mask_to_coco_rle

    return {"masks": [mask_to_coco_rle(m) for m in masks], "mask_decoder": "head"}


def generate(
    predictor: Any,
    requests: Sequence[Request],
    root: str | os.PathLike[str] | None,
    batch_size: int = 1,
    progress: bool = False,
    *,
    allow_outside_root: bool = False,
    failures: list[str] | None = None,
    **gen: Any,
) -> list[dict[str, Any]]:
    """Run a predictor over requests, one expert per batch, rows in input order.

    Args:
        predictor: Object with ``predict(images, prompt, **gen) -> Result`` (``.text``), and optionally
            ``predict_batch(items, **gen)``, ``predict_many(images, prompts, labels=..., **gen)`` and
            ``model.config`` (its routing fields group the requests), e.g.
            :class:`univlm.inference.Predictor`.
        requests: The prompts.
        root: Data root the image paths are relative to.
        batch_size: Requests per ``predict_batch`` call (``predict`` is used for 1 or when absent).
        progress: Show a tqdm progress bar.
        allow_outside_root: Permit image paths that leave ``root``.
        failures: When given, receives one ``"<id>: <why>"`` per request whose images could not be
            loaded (those requests get no row); otherwise such an error is raised.
        **gen: Generation options passed through.

    Returns:
        Prediction rows ``{"id", "text"}`` (plus ``"label"`` for per-class requests), in request order.

    Raises:
        FileNotFoundError: If an image is missing and ``failures`` is None.
        univlm.imaging.ImageLoadError: If an image cannot be loaded and ``failures`` is None.
    """
    rows: list[dict[str, Any] | None] = [None] * len(requests)
    batched = batch_size > 1 and hasattr(predictor, "predict_batch")
    share_prefix = hasattr(predictor, "predict_many")

    def load(req: Request) -> list[Any] | None:
        try:
            return load_images(req.images, root, allow_outside_root)
        except (ImageLoadError, FileNotFoundError) as exc:
            if failures is None:
                raise
            failures.append(f"{req.id if req.label is None else f'{req.id}|{req.label}'}: {exc}")
            return None

    with tqdm(total=len(requests), desc="generating", unit="prompt", disable=not progress) as bar:
        for group in group_by_expert(predictor, requests):
            subset = [requests[i] for i in group]
            for same_images, positions in _chunks(subset, batch_size if batched else 1, share_prefix):
                chunk = [subset[p] for p in positions]
                done, results = [], []
                if same_images:
                    images = load(chunk[0])
                    if images is not None:
                        labels = [[r.label] for r in chunk]
                        results = predictor.predict_many(
                            images, [r.prompt for r in chunk], labels=labels, **gen
                        )
                        done = positions
                    else:  # the run shares the image that failed: every prompt of it fails
                        failures.extend(f"{r.id}|{r.label}: image not loaded" for r in chunk[1:])
                else:
                    kept = [(p, im) for p, im in ((p, load(subset[p])) for p in positions) if im is not None]
                    items = [(im, subset[p].prompt) for p, im in kept]
                    done = [p for p, _ in kept]
                    if items and batched:
                        results = predictor.predict_batch(items, **gen)
                    else:
                        results = [predictor.predict(images, prompt, **gen) for images, prompt in items]
                for p, result in zip(done, results):
                    req = subset[p]
                    row: dict[str, Any] = {"id": req.id, "text": getattr(result, "text", str(result))}
                    if req.label is not None:
                        row["label"] = req.label
                    row.update(head_mask_fields(result))
                    rows[group[p]] = row
                bar.update(len(positions))
    return [row for row in rows if row is not None]
