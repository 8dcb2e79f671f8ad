"""A tiny hand-made evaluation set (every task family) with perfect reference answers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from univlm.codecs import encode_mask, mask_to_coco_rle

SIZE = 48


def _record(rid, task, images, prompt, answer, targets):
    content = "<image>\n" * len(images) + prompt
    return {
        "id": rid,
        "images": images,
        "messages": [{"role": "user", "content": content}, {"role": "assistant", "content": answer}],
        "task": task,
        "granularity": {"VG": "region", "SEG": "pixel"}.get(task, "image"),
        "source": "test",
        "targets": targets,
    }


def build(root: Path) -> tuple[Path, list[dict]]:
    """Write images, masks and ``data.jsonl`` under ``root``; return the data path and the records."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rng = np.random.default_rng(0)
    for name, size in (("a", SIZE), ("b", SIZE), ("vg", 100)):
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(
            root / f"images/{name}.png"
        )

    ref = np.zeros((SIZE, SIZE), np.uint8)
    ref[:24, :24] = 1
    ref[40:, 40:] = 255  # ignored pixels
    Image.fromarray(ref).save(root / "masks/ref.png")
    sem = np.zeros((SIZE, SIZE), np.uint8)
    sem[:, 24:] = 1
    sem[32:, :16] = 2
    Image.fromarray(sem).save(root / "masks/sem.png")
    change = np.zeros((SIZE, SIZE), np.uint8)
    change[8:24, 8:40] = 1
    Image.fromarray(change).save(root / "masks/change.png")
    roof = np.zeros((SIZE, SIZE), bool)
    roof[:16, :16] = True
    pool = np.zeros((SIZE, SIZE), bool)
    pool[32:, 32:] = True
    seg_labels = ["others", "building", "water"]

    records = [
        _record(
            "cls-1",
            "CLS",
            ["images/a.png"],
            "[CLS] Choose from: airport, forest.",
            "airport",
            {"label": "airport", "classes": ["airport", "forest"]},
        ),
        _record(
            "vqa-1",
            "VQA",
            ["images/a.png"],
            "[VQA] Is there a road?",
            "yes",
            {"answer": "yes", "answer_type": "presence"},
        ),
        _record(
            "vqa-2",
            "VQA",
            ["images/a.png"],
            "[VQA] How many cars?",
            "3",
            {"answer": "3", "answer_type": "count"},
        ),
        _record(
            "vg-1",
            "VG",
            ["images/vg.png"],
            "[VG] the small tank",
            "[11, 11, 16, 16]",
            {"boxes": [[11, 11, 16, 16]], "image_size": [100, 100]},
        ),
        _record(
            "ref-1",
            "SEG",
            ["images/a.png"],
            "[SEG] Please segment the red roof in this image.",
            encode_mask(ref == 1, ["others", "red roof"]),
            {"mask": "masks/ref.png", "labels": ["others", "red roof"], "image_size": [SIZE, SIZE]},
        ),
        _record(
            "sem-1",
            "SEG",
            ["images/b.png"],
            "[SEG] Please segment the building and water.",
            encode_mask(sem, seg_labels),
            {"mask": "masks/sem.png", "labels": seg_labels, "image_size": [SIZE, SIZE]},
        ),
        _record(
            "multi-1",
            "SEG",
            ["images/a.png"],
            "[SEG] Please segment the roof and the pool in this image.",
            encode_mask(roof.astype(int) + 2 * pool, ["others", "the roof", "the pool"]),
            {
                "instances": [
                    {"description": "the roof", "rle": mask_to_coco_rle(roof)},
                    {"description": "the pool", "rle": mask_to_coco_rle(pool)},
                ],
                "image_size": [SIZE, SIZE],
            },
        ),
        _record(
            "cd-1",
            "SEG",
            ["images/a.png", "images/b.png"],
            "[SEG] Please segment the building area in the images that have changed in the second image.",
            encode_mask(change, ["others", "building"]),
            {"mask": "masks/change.png", "labels": ["others", "building"], "image_size": [SIZE, SIZE]},
        ),
        _record(
            "cap-1",
            "CAP",
            ["images/a.png"],
            "[CAP] Describe this image briefly.",
            "a green forest next to a road",
            {"references": ["a green forest next to a road"]},
        ),
    ]
    data = root / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return data, records


def reference_answers(records: list[dict]) -> dict[str, str]:
    """Record id -> the reference assistant answer."""
    return {r["id"]: r["messages"][1]["content"] for r in records}


def per_class_answers(root: Path, record: dict) -> dict[tuple[str, str], str]:
    """Perfect per-class answers ``(id, label) -> text`` for a semantic record."""
    sem = np.asarray(Image.open(root / record["targets"]["mask"]))
    labels = record["targets"]["labels"]
    return {
        (record["id"], name): encode_mask(sem == i, ["others", name]) for i, name in enumerate(labels) if i
    }
