"""Pieces shared by the fake-dataset scripts (``tests/data/<dataset>/data.py``).

Datasets of one annotation family are faked the same way; the scripts keep only what differs (folder
and file names, the items themselves). Every helper draws from the caller's seeded generator in a
fixed order, so rerunning a script rewrites byte-identical files.

The scripts run directly (``python tests/data/<dataset>/data.py``): they put the repository root on
``sys.path`` and import this module as ``tests.data._fake``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

# RSVQA: split -> [(img_id, image active, [(question, type, answer, question active), ...]), ...]
RsvqaSplits = Mapping[str, Sequence[tuple[int, bool, Sequence[tuple[str, str, str, bool]]]]]
# Karpathy captions: [(file name, split, raw sentences), ...]
CaptionImages = Sequence[tuple[str, str, Sequence[str]]]
# A labelled rectangle: (class, x1, y1, x2, y2), later rectangles painting over earlier ones.
Rect = tuple[str, int, int, int, int]


def solid_rgb(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A single-colour ``(height, width, 3)`` uint8 image; draws three values from ``rng``."""
    return np.broadcast_to(rng.integers(0, 256, size=3), (height, width, 3)).astype(np.uint8)


def write_expected(folder: Path, expected: Any) -> None:
    """Write the ground truth the converter tests compare against to ``folder/expected.json``."""
    (folder / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")


def class_folders(
    root: Path,
    folders: Sequence[str],
    file_name: Callable[[str], str],
    size: int,
    rng: np.random.Generator,
    **save: Any,
) -> list[str]:
    """Recreate ``root`` with one solid-colour image per class folder (the folder-per-class layout).

    Args:
        root: The folder holding the class folders; deleted first.
        folders: Class folder names, in the order the colours are drawn.
        file_name: Image file name inside a class folder.
        size: Image side in pixels.
        rng: Seeded generator.
        **save: Options of ``PIL.Image.save`` (JPEG quality, TIFF compression).

    Returns:
        ``"<folder>/<file name>"`` of every image, in ``folders`` order.
    """
    shutil.rmtree(root, ignore_errors=True)
    paths = []
    for folder in folders:
        (root / folder).mkdir(parents=True)
        name = file_name(folder)
        Image.fromarray(solid_rgb(rng, size, size)).save(root / folder / name, **save)
        paths.append(f"{folder}/{name}")
    return paths


def rsvqa_splits(typed: tuple[str, str, str], **extra_splits: Any) -> dict[str, Any]:
    """The fake RSVQA scenario both RSVQA copies share, around one question of a dataset-specific type.

    train: image 0 holds ``typed`` (question, type, answer), a presence question and a withdrawn
    (inactive) count question; image 1 a comparison question; image 2 is inactive and holds one
    question. val and test hold one question each. ``extra_splits`` follow (RSVQA-HR's ``test_phili``).

    Args:
        typed: ``(question, type, answer)`` of the question only this dataset asks.
        **extra_splits: Further splits, in :data:`RsvqaSplits` form.

    Returns:
        The splits, for :func:`write_rsvqa`.
    """
    question, qtype, answer = typed
    return {
        "train": [
            (0, True, [(question, qtype, answer, True),
                       ("Is there a road?", "presence", "yes", True),
                       ("How many buildings are there?", "count", "3", False)]),
            (1, True, [("Are there more water areas than buildings?", "comp", "no", True)]),
            (2, False, [("Is there a farmland?", "presence", "yes", True)]),
        ],
        "val": [(3, True, [("How many roads are there?", "count", "0", True)])],
        "test": [(4, True, [("Is there a building?", "presence", "no", True)])],
        **extra_splits,
    }  # fmt: skip


def write_rsvqa(
    folder: Path, prefix: str, image_dir: str, splits: RsvqaSplits, rng: np.random.Generator
) -> None:
    """Write an RSVQA copy: ``<prefix>_split_<split>_{questions,answers,images}.json`` and 32x32 TIFFs.

    Question ids run across splits, each question has one (active) answer with the same id, and
    ``expected.json`` lists per split the ``[question, answer, type]`` of the active questions on
    active images, plus under ``"inactive"`` how many questions per split were withdrawn.

    Args:
        folder: The dataset folder.
        prefix: File prefix (``"LR"``, ``"USGS"``).
        image_dir: Image folder, recreated.
        splits: The images and questions of each split.
        rng: Seeded generator.
    """
    shutil.rmtree(folder / image_dir, ignore_errors=True)
    (folder / image_dir).mkdir()
    qid = 0
    expected: dict[str, Any] = {}
    inactive: dict[str, int] = {}
    for split, images in splits.items():
        qs, ans, imgs, exp = [], [], [], []
        for img_id, img_active, questions in images:
            image = Image.fromarray(solid_rgb(rng, 32, 32))
            image.save(folder / image_dir / f"{img_id}.tif", compression="tiff_deflate")
            ids = []
            for question, qtype, answer, q_active in questions:
                qs.append({"id": qid, "date_added": 0.0, "img_id": img_id, "people_id": 0, "type": qtype,
                           "question": question, "answers_ids": [qid], "active": q_active})  # fmt: skip
                ans.append({"id": qid, "date_added": 0.0, "question_id": qid, "people_id": 0,
                            "answer": answer, "active": True})  # fmt: skip
                if img_active and q_active:
                    exp.append([question, answer, qtype])
                else:
                    inactive[split] = inactive.get(split, 0) + 1
                ids.append(qid)
                qid += 1
            imgs.append({"id": img_id, "date_added": 0.0, "people_id": 0, "questions_ids": ids,
                         "active": img_active})  # fmt: skip
        for kind, items in (("questions", qs), ("answers", ans), ("images", imgs)):
            (folder / f"{prefix}_split_{split}_{kind}.json").write_text(json.dumps({kind: items}) + "\n")
        expected[split] = exp
    expected["inactive"] = inactive
    write_expected(folder, expected)


def write_karpathy(
    folder: Path,
    json_file: str,
    dataset: str,
    image_dir: str,
    images: CaptionImages,
    rng: np.random.Generator,
    **save: Any,
) -> None:
    """Write a Karpathy-style caption copy: ``json_file`` and one solid 32x32 image per entry.

    Each image gets five sentences (fewer are repeated to fill five, as RSICD does); ``expected.json``
    maps each split to the raw sentences with their detached final period re-attached.

    Args:
        folder: The dataset folder.
        json_file: Annotation file name, e.g. ``"dataset_rsicd.json"``.
        dataset: The file's ``"dataset"`` field.
        image_dir: Image folder, recreated.
        images: ``(file name, split, raw sentences)`` per image.
        rng: Seeded generator.
        **save: Options of ``PIL.Image.save``.
    """
    shutil.rmtree(folder / image_dir, ignore_errors=True)
    (folder / image_dir).mkdir()
    entries, sent_id = [], 0
    for img_id, (name, split, sentences) in enumerate(images):
        Image.fromarray(solid_rgb(rng, 32, 32)).save(folder / image_dir / name, **save)
        sents = []
        for raw in (list(sentences) * 5)[:5]:
            sents.append({"tokens": raw.rstrip(" .").split(), "raw": raw, "imgid": img_id, "sentid": sent_id})
            sent_id += 1
        entries.append({"filename": name, "imgid": img_id, "sentences": sents, "split": split,
                        "sentids": [s["sentid"] for s in sents]})  # fmt: skip
    (folder / json_file).write_text(json.dumps({"images": entries, "dataset": dataset}) + "\n")
    expected = {split: [s.replace(" .", ".") for s in sentences] for _, split, sentences in images}
    write_expected(folder, expected)


def write_src_gt(
    folder: Path,
    images: Mapping[tuple[str, str], Sequence[Rect]],
    values: Mapping[str, int],
    width: int,
    height: int,
    rng: np.random.Generator,
) -> None:
    """Write a drone-dataset copy in UDD's layout: ``<split>/src/<name>.JPG`` + ``<split>/gt/<name>.png``.

    Args:
        folder: The dataset folder; each split's folder is recreated.
        images: ``(split, name) -> rectangles`` painted (in order) into the index label.
        values: Label value of each class name.
        width: Image width.
        height: Image height.
        rng: Seeded generator (noise images).
    """
    for split in dict.fromkeys(split for split, _ in images):
        shutil.rmtree(folder / split, ignore_errors=True)
        (folder / split / "src").mkdir(parents=True)
        (folder / split / "gt").mkdir(parents=True)
    expected = {}
    for (split, name), rects in images.items():
        index = np.zeros((height, width), dtype=np.uint8)
        for cls, x1, y1, x2, y2 in rects:
            index[y1:y2, x1:x2] = values[cls]
        Image.fromarray(rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)).save(
            folder / split / "src" / f"{name}.JPG", format="JPEG", quality=80
        )
        Image.fromarray(index, mode="L").save(folder / split / "gt" / f"{name}.png")
        expected[name] = {"split": split, "size": [width, height], "rects": rects}
    write_expected(folder, expected)
