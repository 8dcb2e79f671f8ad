"""Folder-per-class scene classification (UCM, NWPU-RESISC45, AID, WHU-RS19, SIRI-WHU).

Layout: ``<root>/<class folder>/<image>``; the folder name is the label. Design choices:
- Labels are written in plain words (``"dense residential"``), one fixed candidate list per dataset,
  in the order the dataset documents; the prompt lists them all (RSUniVLM's CLS prompt).
- These datasets ship without an official split. When a split list such as torchgeo's
  ``uc_merced-train.txt`` (one file name per line) lies in ``--src`` it is honoured; otherwise each
  image is assigned by a hash of its ``class/file`` name (70 / 10 / 20 %, stable across runs and
  machines). ``--split all`` takes every image.
- Files with other extensions (``Thumbs.db``, ``.txt``) are ignored; unreadable images are skipped
  and counted.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from data_converters.base import (
    ConvertContext,
    Converter,
    DatasetCard,
    Record,
    Skip,
    make_record,
    slug,
    stable_split,
)
from univlm.data.templates import cls_prompt

IMAGE_EXTENSIONS: tuple[str, ...] = (".tif", ".tiff", ".jpg", ".jpeg", ".png", ".bmp")
CLASSIFICATION_SPLITS: tuple[str, ...] = ("train", "val", "test", "all")
DEFAULT_NOTES = (
    "No official split: a split list in --src is honoured when present, otherwise a stable "
    "hash of class/file assigns 70/10/20 % to train/val/test; --split all takes everything."
)


def folder_to_label(folder: str) -> str:
    """Default label for a class folder: ``"storage_tanks"`` / ``"storageTanks"`` -> ``"storage tanks"``."""
    out = []
    for i, ch in enumerate(folder):
        if ch in "_-":
            out.append(" ")
        elif ch.isupper() and i > 0 and folder[i - 1].islower():
            out.append(" " + ch.lower())
        else:
            out.append(ch.lower())
    return " ".join("".join(out).split())


def _read_split_list(path: Path) -> set[str]:
    return {Path(line.strip()).name for line in path.read_text(encoding="utf-8").splitlines() if line.strip()}


def folder_per_class(
    card: DatasetCard,
    *,
    root: str,
    folders: Sequence[str],
    labels: Mapping[str, str] | None = None,
    split_list: str | None = None,
) -> Converter:
    """Build the converter of a folder-per-class dataset.

    Args:
        card: The dataset's facts; its notes default to :data:`DEFAULT_NOTES` (the split rule).
        root: Folder under ``--src`` holding the class folders (``"."`` for ``--src`` itself).
        folders: Class folder names in the dataset's documented order.
        labels: Label of a folder whose :func:`folder_to_label` spelling is wrong (glued words).
        split_list: Optional split-list file name under ``--src`` with ``{split}``, e.g.
            ``"uc_merced-{split}.txt"``; used when present.

    Returns:
        The :class:`Converter`.
    """
    name = card.name
    overrides = labels or {}
    classes = [(f, overrides.get(f, folder_to_label(f))) for f in folders]
    candidates = [label for _, label in classes]

    def parse(ctx: ConvertContext) -> Iterator[Record | Skip]:
        base = ctx.src / root
        listed: set[str] | None = None
        if split_list and ctx.split != "all":
            candidate = ctx.src / split_list.format(split=ctx.split)
            if candidate.is_file():
                listed = _read_split_list(candidate)
        # Re-packaged copies change the case of folder names ("airport" vs "Airport"): match loosely.
        present = {p.name.lower(): p for p in base.iterdir() if p.is_dir()}
        for extra in sorted(set(present) - {f.lower() for f, _ in classes}):
            yield Skip("unknown class folder", str(present[extra]))
        for folder, label in classes:
            class_dir = present.get(folder.lower())
            if class_dir is None:
                yield Skip("missing class folder", str(base / folder))
                continue
            for path in sorted(class_dir.iterdir()):
                if path.suffix.lower() not in IMAGE_EXTENSIONS:
                    continue
                if listed is not None:
                    if path.name not in listed:
                        continue
                elif ctx.split != "all" and stable_split(f"{folder}/{path.name}") != ctx.split:
                    continue
                info = ctx.image(path)
                if isinstance(info, Skip):
                    yield info
                    continue
                yield make_record(
                    rid=f"{name}-{ctx.split}-{slug(folder)}-{slug(path.stem)}-cls",
                    images=[info.rel],
                    task="CLS",
                    prompt=cls_prompt(candidates),
                    answer=label,
                    source=f"{name}/{ctx.split}",
                    targets={"label": label, "classes": candidates},
                )

    return Converter(
        card if card.notes else replace(card, notes=DEFAULT_NOTES),
        tasks=("CLS",),
        splits=CLASSIFICATION_SPLITS,
        required=(f"{root}/", f"{root}/{folders[0]}/") if root != "." else (f"{folders[0]}/",),
        parse=parse,
    )
