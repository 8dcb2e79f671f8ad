"""The converter framework: one :class:`Converter` per public dataset, one :func:`convert` for all.

Design choices:
- A converter is data, not a class hierarchy: a frozen :class:`Converter` holds the dataset's
  :class:`DatasetCard` (name, title, link, citation, human-readable native layout, notes), its tasks
  and splits, the paths that must exist under ``--src`` and a ``parse(ctx)`` generator. Family
  modules (``data_converters/families``) take a card plus the family's own parameters and build the
  ``parse`` function; per-dataset modules only fill in the facts.
- ``parse`` yields finished records (dicts in the schema of docs/DATA.md) or :class:`Skip` markers.
  :func:`convert` counts both, so a missing or corrupt file is reported, never silently dropped.
- Record paths are relative to ``images_root`` (default: the output file's folder), so the JSONL and
  ``univlm data validate FILE --root IMAGES_ROOT`` agree. Files a converter derives (crops, masks)
  go to ``ctx.derived_dir`` (default ``<out stem>_files/`` next to the output), written atomically.
- The JSONL is written to a temporary file in the output folder and renamed at the end: a failed or
  interrupted run leaves no partial output file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import warnings
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from univlm.data.templates import user_content
from univlm.data.validate import check_record
from univlm.fileio import atomic_open
from univlm.tasks import TASK_GRANULARITY, TASKS

logger = logging.getLogger(__name__)

Record = dict[str, Any]
# Images are usually revisited close together (all questions of one image); bound the memory anyway.
IMAGE_CACHE_SIZE = 65536


class LayoutError(FileNotFoundError):
    """``--src`` does not look like the dataset's native layout; the message names what is missing."""


@dataclass(frozen=True)
class Skip:
    """One source item that could not be converted.

    Attributes:
        reason: Short, stable reason used as the counting key, e.g. ``"corrupt image"``.
        path: The offending file (or annotation entry), for the report.
        detail: Optional longer explanation (the underlying error message).
    """

    reason: str
    path: str = ""
    detail: str = ""


@dataclass(frozen=True)
class ImageInfo:
    """A readable source image: its path relative to ``images_root`` and its size in pixels."""

    rel: str
    width: int
    height: int

    @property
    def size(self) -> tuple[int, int]:
        return (self.width, self.height)


@dataclass
class ConvertContext:
    """Everything a ``parse`` function needs; created by :func:`convert`.

    Attributes:
        src: The dataset folder as downloaded (``--src``).
        split: The requested split (one of the converter's ``splits``).
        images_root: Record image/mask paths are written relative to this folder.
        derived_dir: Folder for files the converter creates (crops, masks); made on first write.
        tasks: Tasks to emit (a subset of the converter's ``tasks``).
        verify_images: Decode every image fully (catches truncated files); header only when False.
    """

    src: Path
    split: str
    images_root: Path
    derived_dir: Path
    tasks: tuple[str, ...]
    verify_images: bool = True
    _image_cache: OrderedDict[str, ImageInfo | Skip] = field(default_factory=OrderedDict, repr=False)

    def rel(self, path: str | os.PathLike[str]) -> str:
        """``path`` relative to ``images_root``, POSIX separators (``..`` when outside it)."""
        return Path(os.path.relpath(os.path.abspath(path), os.path.abspath(self.images_root))).as_posix()

    def image(self, path: str | os.PathLike[str]) -> ImageInfo | Skip:
        """Open one source image (cached per path) and return its size, or a :class:`Skip`.

        Args:
            path: Absolute path or path relative to ``src``.

        Returns:
            :class:`ImageInfo` for a readable image; ``Skip("missing image")`` or
            ``Skip("corrupt image")`` otherwise.
        """
        full = Path(path) if os.path.isabs(path) else self.src / path
        key = str(full)
        if key in self._image_cache:
            self._image_cache.move_to_end(key)
            return self._image_cache[key]
        result: ImageInfo | Skip
        if not full.is_file():
            result = Skip("missing image", key)
        else:
            try:
                # PIL warns before it raises on truncated TIFFs; the raise is what we report.
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    with Image.open(full) as im:
                        if self.verify_images:
                            im.load()
                        result = ImageInfo(self.rel(full), im.width, im.height)
            except Image.DecompressionBombError as err:
                result = Skip("image too large for PIL", key, str(err))
            except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
                # PIL raises OSError for truncated data, SyntaxError for some broken headers.
                result = Skip("corrupt image", key, str(err))
        self._image_cache[key] = result
        if len(self._image_cache) > IMAGE_CACHE_SIZE:
            self._image_cache.popitem(last=False)  # least recently used
        return result

    def save_derived(self, relpath: str, image: Any) -> str:
        """Write a derived PIL image (crop, mask) under ``derived_dir`` atomically.

        Args:
            relpath: Path inside ``derived_dir``, e.g. ``"masks/0001.png"``; its suffix picks the format.
            image: A ``PIL.Image.Image``.

        Returns:
            The written file's path relative to ``images_root`` (what records store).
        """
        target = self.derived_dir / relpath
        with atomic_open(target, "wb") as fh:
            image.save(fh, format=_pil_format(target.suffix))
        return self.rel(target)


def _pil_format(suffix: str) -> str:
    formats = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF"}
    try:
        return formats[suffix.lower()]
    except KeyError:
        raise ValueError(
            f"derived file suffix {suffix!r} not supported; expected one of {sorted(formats)}"
        ) from None


ParseFn = Callable[[ConvertContext], Iterable[Record | Skip]]
Item = TypeVar("Item")


def parse_items(
    items: Callable[[ConvertContext], Iterable[Item | Skip]],
    convert_item: Callable[[ConvertContext, Item], Iterable[Record | Skip]],
) -> ParseFn:
    """A ``parse`` function for families whose datasets list their items (image/label pairs, ...).

    Args:
        items: ``items(ctx)`` yields the split's items, or a :class:`Skip` for one it cannot list.
        convert_item: The records (and skips) of one item.

    Returns:
        ``parse(ctx)``: the items' skips passed through, every other item converted.
    """

    def parse(ctx: ConvertContext) -> Iterator[Record | Skip]:
        for item in items(ctx):
            if isinstance(item, Skip):
                yield item
            else:
                yield from convert_item(ctx, item)

    return parse


@dataclass(frozen=True)
class DatasetCard:
    """What users need to know about one public dataset, whatever its annotation family.

    Every family factory takes one; the :class:`Converter` it builds shows these facts in
    ``convert-data --list``, in layout errors and in the docs.

    Attributes:
        name: Registry name, lower-case with hyphens (``"nwpu-resisc45"``); also the record-id prefix.
        title: Human-readable dataset name.
        url: Where users download the dataset.
        citation: BibTeX (or a one-line reference) of the dataset paper.
        layout: The native folder layout under ``--src``, as a small tree (shown in errors).
        notes: Conventions worth knowing (box coordinates, split rules), shown by ``--list -v``.
        eval_classes: Semantic segmentation only: the class list its mmseg (or official) protocol
            scores, in record label names (``"others"`` where the dataset's catch-all class is scored).
            ``univlm eval`` reads it by the records' ``source``; the family factory fills it in.
    """

    name: str
    title: str
    url: str
    citation: str
    layout: str
    notes: str = ""
    eval_classes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Converter:
    """One public dataset and how to turn it into instruction records.

    The card's facts are readable directly on the converter (``conv.name``, ``conv.url``, ...).

    Attributes:
        card: The dataset's :class:`DatasetCard`.
        tasks: Tasks the converter can emit (``"CLS"``, ``"VG"``, ...).
        splits: Splits ``--split`` accepts; the first is the default.
        required: Paths relative to ``--src`` that must exist; ``{split}`` is substituted, and
            ``"a|b"`` accepts either alternative. A trailing ``/`` means a folder. May also be a
            function ``split -> tuple of such paths`` when the files differ per split.
        parse: Generator ``parse(ctx) -> records | Skip``.
        default_tasks: Tasks emitted when the caller does not choose; all ``tasks`` when empty.
    """

    card: DatasetCard
    tasks: tuple[str, ...]
    splits: tuple[str, ...]
    required: tuple[str, ...] | Callable[[str], tuple[str, ...]]
    parse: ParseFn
    default_tasks: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The card's registry name."""
        return self.card.name

    @property
    def title(self) -> str:
        """The card's human-readable dataset name."""
        return self.card.title

    @property
    def url(self) -> str:
        """The card's download link."""
        return self.card.url

    @property
    def citation(self) -> str:
        """The card's citation."""
        return self.card.citation

    @property
    def layout(self) -> str:
        """The card's native layout tree."""
        return self.card.layout

    @property
    def notes(self) -> str:
        """The card's conventions."""
        return self.card.notes

    def __post_init__(self) -> None:
        unknown = [t for t in self.tasks if t not in TASKS]
        if unknown:
            raise ValueError(
                f"converter {self.name!r}: unknown tasks {unknown}, expected a subset of {TASKS}"
            )
        if not self.splits:
            raise ValueError(f"converter {self.name!r}: needs at least one split")

    def check_layout(self, src: str | os.PathLike[str], split: str | None = None) -> None:
        """Raise :class:`LayoutError` naming the first expected file or folder missing under ``src``.

        Args:
            src: The dataset folder.
            split: The split whose files are required; the default split when None.

        Raises:
            LayoutError: When ``src`` or a required path is missing.
        """
        src = Path(src)
        split = split or self.splits[0]
        if not src.is_dir():
            raise LayoutError(f"{self.name}: --src {src} is not a folder")
        required = self.required(split) if callable(self.required) else self.required
        for entry in required:
            options = [opt.format(split=split) for opt in entry.split("|")]
            if not any(_exists(src / opt, opt.endswith("/")) for opt in options):
                what = " or ".join(f"{'folder' if o.endswith('/') else 'file'} '{o}'" for o in options)
                raise LayoutError(
                    f"{self.name}: expected {what} under {src}, but it is missing.\n"
                    f"Expected native layout of {self.title}:\n{self.layout.rstrip()}"
                )

    def iter_records(self, ctx: ConvertContext) -> Iterator[Record | Skip]:
        """Yield the records (and skips) of ``ctx.split``, keeping only ``ctx.tasks``."""
        for item in self.parse(ctx):
            if isinstance(item, Skip) or item["task"] in ctx.tasks:
                yield item


def _exists(path: Path, want_dir: bool) -> bool:
    return path.is_dir() if want_dir else path.exists()


@dataclass
class ConvertSummary:
    """What one :func:`convert` run did.

    Attributes:
        name: Converter name.
        split: Split converted.
        out: Output JSONL path.
        written: Number of records written.
        per_task: Records per task.
        skipped: Skipped items per reason.
        examples: Up to three example paths (with detail) per skip reason.
        seconds: Wall time.
    """

    name: str
    split: str
    out: Path
    written: int = 0
    per_task: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def total_skipped(self) -> int:
        return sum(self.skipped.values())

    def add_skip(self, skip: Skip) -> None:
        self.skipped[skip.reason] += 1
        shown = self.examples.setdefault(skip.reason, [])
        if len(shown) < 3:
            shown.append(f"{skip.path}: {skip.detail}" if skip.detail else skip.path)

    def format(self) -> str:
        """A multi-line, human-readable report."""
        lines = [f"{self.name} [{self.split}] -> {self.out}: {self.written} records in {self.seconds:.1f}s"]
        for task, n in sorted(self.per_task.items()):
            lines.append(f"  {task:<4} {n}")
        if self.skipped:
            lines.append(f"  skipped {self.total_skipped}:")
            for reason, n in self.skipped.most_common():
                lines.append(f"    {n} x {reason}")
                lines += [f"      e.g. {ex}" for ex in self.examples.get(reason, [])]
        else:
            lines.append("  skipped 0")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "split": self.split,
            "out": str(self.out),
            "written": self.written,
            "per_task": dict(self.per_task),
            "skipped": dict(self.skipped),
            "examples": self.examples,
            "seconds": round(self.seconds, 3),
        }


def convert(
    converter: Converter,
    src: str | os.PathLike[str],
    out: str | os.PathLike[str],
    split: str | None = None,
    limit: int | None = None,
    images_root: str | os.PathLike[str] | None = None,
    tasks: Sequence[str] | None = None,
    derived_dir: str | os.PathLike[str] | None = None,
    verify_images: bool = True,
    validate: bool = True,
    progress: bool = True,
) -> ConvertSummary:
    """Convert one dataset split to an instruction JSONL file, atomically.

    Args:
        converter: The dataset's converter (see :func:`data_converters.get_converter`).
        src: The dataset folder in its native layout.
        out: Output ``.jsonl`` path; written via a temporary file and ``os.replace``.
        split: One of ``converter.splits``; the first one when None.
        limit: Stop after this many records (skips do not count).
        images_root: Folder record paths are relative to; the output's folder when None.
        tasks: Tasks to emit; ``converter.default_tasks`` (or all its tasks) when None.
        derived_dir: Where crops/masks go; ``<out stem>_files`` next to the output when None.
        verify_images: Fully decode each source image to catch truncated files.
        validate: Check every record with ``univlm.data.validate.check_record`` (files excepted: the
            converter already opened them) and count failures as skipped ``invalid record (kind)``.
        progress: Show a tqdm progress bar (on stderr).

    Returns:
        The run's :class:`ConvertSummary`.

    Raises:
        ValueError: For an unknown split or task, or a record a converter built wrongly.
        LayoutError: When ``src`` lacks an expected file or folder (named in the message).
    """
    split = split or converter.splits[0]
    if split not in converter.splits:
        raise ValueError(
            f"{converter.name}: unknown split {split!r}, expected one of {list(converter.splits)}"
        )
    chosen = tuple(tasks) if tasks else (converter.default_tasks or converter.tasks)
    bad = [t for t in chosen if t not in converter.tasks]
    if bad:
        raise ValueError(f"{converter.name}: cannot emit tasks {bad}, it provides {list(converter.tasks)}")
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    # Absolute paths: parsers join onto ctx.src, and ctx.image treats relative paths as src-relative.
    src, out = Path(os.path.abspath(src)), Path(os.path.abspath(out))
    converter.check_layout(src, split)
    out.parent.mkdir(parents=True, exist_ok=True)
    root = Path(os.path.abspath(images_root)) if images_root is not None else out.parent
    ctx = ConvertContext(
        src=src,
        split=split,
        images_root=root,
        derived_dir=Path(os.path.abspath(derived_dir))
        if derived_dir is not None
        else out.parent / f"{out.stem}_files",
        tasks=chosen,
        verify_images=verify_images,
    )
    summary = ConvertSummary(converter.name, split, out)
    start = time.perf_counter()
    seen_ids: set[str] = set()
    with atomic_open(out, "w") as fh:
        bar = tqdm(total=limit, desc=f"{converter.name}/{split}", unit="rec", disable=not progress)
        with bar:
            for item in converter.iter_records(ctx):
                if isinstance(item, Skip):
                    summary.add_skip(item)
                    bar.set_postfix(skipped=summary.total_skipped, refresh=False)
                    continue
                _check_built_record(converter.name, item, seen_ids)
                if validate:
                    problems = check_record(item)
                    if problems:
                        first = problems[0]
                        summary.add_skip(
                            Skip(f"invalid record ({first.kind})", item["id"], first.format())
                        )
                        continue
                fh.write(json.dumps(item, ensure_ascii=False) + "\n")
                summary.written += 1
                summary.per_task[item["task"]] += 1
                bar.update(1)
                if limit is not None and summary.written >= limit:
                    break
    summary.seconds = time.perf_counter() - start
    logger.info("%s", summary.format())
    return summary


def _check_built_record(name: str, rec: Record, seen_ids: set[str]) -> None:
    # A converter bug (not a data problem) must stop the run loudly rather than write bad lines.
    for key in ("id", "images", "messages", "task", "granularity", "source", "targets"):
        if key not in rec:
            raise ValueError(f"{name}: converter built a record without {key!r}: {rec.get('id')}")
    if rec["id"] in seen_ids:
        raise ValueError(f"{name}: converter built duplicate record id {rec['id']!r}")
    seen_ids.add(rec["id"])


def make_record(
    *,
    rid: str,
    images: Sequence[str],
    task: str,
    prompt: str,
    answer: str,
    source: str,
    targets: Mapping[str, Any],
    extra_turns: Sequence[tuple[str, str]] = (),
) -> Record:
    """Build one record of the instruction schema (docs/DATA.md).

    Args:
        rid: Unique record id, e.g. ``"ucm-train-agricultural00-cls"``.
        images: Image paths relative to ``images_root`` (1 or 2).
        task: One of ``univlm.tasks.TASKS``.
        prompt: The first user prompt, starting with the task tag (``<image>`` lines are added here).
        answer: The first assistant answer.
        source: ``"<dataset>/<split>"``.
        targets: Ground truth for scoring, keyed as docs/DATA.md specifies for ``task``.
        extra_turns: Further (user, assistant) turns of a multi-turn conversation, without ``<image>``.

    Returns:
        The record dict.

    Raises:
        ValueError: For an unknown task or an image count other than 1 or 2.
    """
    if task not in TASK_GRANULARITY:
        raise ValueError(f"unknown task {task!r}, expected one of {sorted(TASK_GRANULARITY)}")
    messages = [
        {"role": "user", "content": user_content(prompt, len(images))},
        {"role": "assistant", "content": answer},
    ]
    for user, assistant in extra_turns:
        messages += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    return {
        "id": rid,
        "images": list(images),
        "messages": messages,
        "task": task,
        "granularity": TASK_GRANULARITY[task],
        "source": source,
        "targets": dict(targets),
    }


def stable_split(key: str, ratios: tuple[float, float] = (0.7, 0.8)) -> str:
    """Deterministic train/val/test assignment of one item from a hash of ``key``.

    Used only for datasets without an official split. ``ratios`` are the cumulative train and
    train+val fractions (default 70 / 10 / 20 %).
    """
    bucket = int(hashlib.md5(key.encode("utf-8")).hexdigest()[:8], 16) / 0xFFFFFFFF
    if bucket < ratios[0]:
        return "train"
    return "val" if bucket < ratios[1] else "test"


def read_json(path: Path) -> Any:
    """Load a JSON annotation file.

    Raises:
        ValueError: Naming the file and position when it is not valid JSON.
    """
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except json.JSONDecodeError as err:
        raise ValueError(
            f"{path}: not valid JSON (line {err.lineno}, column {err.colno}): {err.msg}"
        ) from None


def slug(text: str) -> str:
    """A record-id-safe version of a file stem or key."""
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in text)
