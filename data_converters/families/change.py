"""Bi-temporal change pairs: ``A/`` (before), ``B/`` (after) and ``label/`` change masks (LEVIR-MCI, WHU-CD).

Design choices:
- Change detection is a ``[SEG]`` task on the image pair: one record **per change class and pair**,
  ``[SEG] Please segment the {class} area in the images that have changed in the second image.``,
  answered with a binary 24 x 24 mask (labels ``["others", class]``); the full-resolution ground
  truth is kept as ``targets.mask_rle``. Pairs where that class did not change are kept too (the
  answer is all ``others``): "nothing changed" is half of what a change detector must learn, and
  the datasets' own F1/IoU evaluation counts those pairs.
- Change masks are decoded with :class:`~data_converters.families.semantic_seg.LabelFormat` (index or
  colour-coded), class 0 = unchanged (``"others"``); values the label map does not name are ignored
  (255): kept apart in ``targets.ignore_rle`` and never scored.
- Change captions (LEVIR-MCI's ``LevirCCcaptions.json``) become ``[CCD]`` records on the same pair:
  one per sentence for ``train`` (RSUniVLM's CCD prompt variants from a seeded RNG), one per pair with
  the first sentence for ``val``/``test`` (canonical prompt); ``targets.references`` keeps all.
- A, B and label must share one size; a missing or unreadable file is skipped and counted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from data_converters.base import (
    ConvertContext,
    Converter,
    DatasetCard,
    ImageInfo,
    Record,
    Skip,
    make_record,
    parse_items,
    slug,
)
from data_converters.families.captions import unique_sentences
from data_converters.families.semantic_seg import (
    BACKGROUND,
    GRID,
    LabelFormat,
    binary_targets,
    load_label,
    record_rng,
)
from univlm.codecs import encode_mask
from univlm.data.templates import ccd_prompt, change_seg_prompt


@dataclass(frozen=True)
class ChangeItem:
    """One bi-temporal pair.

    Attributes:
        key: Unique, id-safe key within the split.
        before: The first (earlier) image.
        after: The second (later) image.
        label: The change mask, or None when the pair only has captions.
        captions: Change captions (may be empty).
    """

    key: str
    before: Path
    after: Path
    label: Path | None
    captions: Sequence[str] = field(default_factory=tuple)


def change_records(
    *,
    name: str,
    ctx: ConvertContext,
    item: ChangeItem,
    before: ImageInfo,
    after: ImageInfo,
    index: np.ndarray | None,
    classes: Sequence[str],
) -> Iterator[Record]:
    """The change-detection ``[SEG]`` and change-captioning ``[CCD]`` records of one pair."""
    images = [before.rel, after.rel]
    size = [before.width, before.height]
    source = f"{name}/{ctx.split}"
    if index is not None:
        for k, cls in enumerate(classes, start=1):
            yield make_record(
                rid=f"{name}-{ctx.split}-{item.key}-cd-{slug(cls.replace(' ', '_'))}",
                images=images,
                task="SEG",
                prompt=change_seg_prompt(cls),
                answer=encode_mask(index == k, [BACKGROUND, cls], grid=GRID),
                source=source,
                targets=binary_targets(index, k, cls, size),
            )
    refs = list(item.captions)
    if refs:
        answers = refs if ctx.split == "train" else refs[:1]
        for i, answer in enumerate(answers):
            rid = f"{name}-{ctx.split}-{item.key}-ccd" + (f"-{i}" if ctx.split == "train" else "")
            yield make_record(
                rid=rid,
                images=images,
                task="CCD",
                prompt=ccd_prompt(record_rng(rid) if ctx.split == "train" else None),
                answer=answer,
                source=source,
                targets={"references": refs},
            )


def convert_pair(*, name: str, ctx: ConvertContext, item: ChangeItem, labels: LabelFormat) -> Iterator[Record | Skip]:
    """Records of one pair, or the reason it was skipped."""
    want_seg = "SEG" in ctx.tasks and item.label is not None
    infos = [ctx.image(item.before), ctx.image(item.after)]
    for info in infos:
        if isinstance(info, Skip):
            yield info
            return
    before, after = infos
    if before.size != after.size:
        yield Skip("image sizes differ", str(item.after), f"A {before.width}x{before.height}, B {after.width}x{after.height}")
        return
    index = None
    if want_seg:
        index = load_label(item.label, labels)
        if isinstance(index, Skip):
            yield index
            return
        if (index.shape[1], index.shape[0]) != before.size:
            yield Skip(
                "label size differs from image",
                str(item.label),
                f"label {index.shape[1]}x{index.shape[0]}, image {before.width}x{before.height}",
            )
            return
    yield from change_records(
        name=name, ctx=ctx, item=item, before=before, after=after, index=index, classes=labels.classes
    )


def change_pairs(
    card: DatasetCard,
    *,
    splits: tuple[str, ...],
    required: tuple[str, ...] | Callable[[str], tuple[str, ...]],
    labels: LabelFormat,
    items: Callable[[ConvertContext], Iterable[ChangeItem | Skip]],
    tasks: tuple[str, ...] = ("SEG",),
) -> Converter:
    """Build the converter of a change-detection (and optionally change-captioning) dataset.

    Args:
        card: The dataset's facts (name, link, citation, layout, notes).
        splits: Splits.
        required: Paths under ``--src`` that must exist.
        labels: How change masks encode classes (0 = unchanged).
        items: ``items(ctx)`` yields the split's :class:`ChangeItem` (or :class:`Skip`).
        tasks: ``("SEG",)`` or ``("SEG", "CCD")``.

    Returns:
        The :class:`Converter`.
    """

    def convert_one(ctx: ConvertContext, item: ChangeItem) -> Iterator[Record | Skip]:
        return convert_pair(name=card.name, ctx=ctx, item=item, labels=labels)

    parse = parse_items(items, convert_one)
    return Converter(card, tasks=tasks, splits=splits, required=required, parse=parse)


def abl_items(
    base: Path, names: Iterable[str], captions: dict[str, list[str]] | None = None, label_dir: str = "label"
) -> Iterator[ChangeItem | Skip]:
    """Items of an ``A/``, ``B/``, ``label/`` folder triple for the given file names.

    Args:
        base: Folder holding ``A``, ``B`` and ``label``.
        names: File names (same in the three folders).
        captions: Optional captions per file name.
        label_dir: Name of the change-mask folder.

    Yields:
        A :class:`ChangeItem` per name; ``Skip("missing image")`` when A or B is absent.
    """
    for fname in names:
        a, b = base / "A" / fname, base / "B" / fname
        missing = next((p for p in (a, b) if not p.is_file()), None)
        if missing is not None:
            yield Skip("missing image", str(missing))
            continue
        label = base / label_dir / fname
        caps = unique_sentences((captions or {}).get(fname, []))
        yield ChangeItem(slug(Path(fname).stem), a, b, label, tuple(caps))
