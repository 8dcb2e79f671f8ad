#!/usr/bin/env python3
"""Write a tiny fake RSVQA-LR copy next to this script.

``LR_split_{train,val,test}_{questions,answers,images}.json`` and ``Images_LR/<id>.tif``. The train
split has two active images with three questions, one withdrawn (inactive) question and one
inactive image holding one question. val/test hold one question each.
Run: ``python tests/data/rsvqa_lr/data.py``.
"""

import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
PREFIX, IMAGE_DIR = "LR", "Images_LR"
# split -> list of (img_id, image active, [(question, type, answer, question active)])
SPLITS = {
    "train": [
        (0, True, [("Is it a rural or an urban area", "rural_urban", "rural", True),
                   ("Is there a road?", "presence", "yes", True),
                   ("How many buildings are there?", "count", "3", False)]),
        (1, True, [("Are there more water areas than buildings?", "comp", "no", True)]),
        (2, False, [("Is there a farmland?", "presence", "yes", True)]),
    ],
    "val": [(3, True, [("How many roads are there?", "count", "0", True)])],
    "test": [(4, True, [("Is there a building?", "presence", "no", True)])],
}  # fmt: skip


def main() -> None:
    rng = np.random.default_rng(0)
    shutil.rmtree(HERE / IMAGE_DIR, ignore_errors=True)
    (HERE / IMAGE_DIR).mkdir()
    qid = 0
    expected = {}
    for split, images in SPLITS.items():
        qs, ans, imgs, exp = [], [], [], []
        for img_id, img_active, questions in images:
            pixels = np.broadcast_to(rng.integers(0, 256, size=3), (32, 32, 3)).astype(np.uint8)
            Image.fromarray(pixels).save(HERE / IMAGE_DIR / f"{img_id}.tif", compression="tiff_deflate")
            ids = []
            for question, qtype, answer, q_active in questions:
                qs.append({"id": qid, "date_added": 0.0, "img_id": img_id, "people_id": 0, "type": qtype,
                           "question": question, "answers_ids": [qid], "active": q_active})  # fmt: skip
                ans.append(
                    {
                        "id": qid,
                        "date_added": 0.0,
                        "question_id": qid,
                        "people_id": 0,
                        "answer": answer,
                        "active": True,
                    }
                )
                if img_active and q_active:
                    exp.append([question, answer, qtype])
                ids.append(qid)
                qid += 1
            imgs.append(
                {"id": img_id, "date_added": 0.0, "people_id": 0, "questions_ids": ids, "active": img_active}
            )
        for kind, items in (("questions", qs), ("answers", ans), ("images", imgs)):
            (HERE / f"{PREFIX}_split_{split}_{kind}.json").write_text(json.dumps({kind: items}) + "\n")
        expected[split] = exp
    expected["inactive"] = {"train": 2}
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    main()
