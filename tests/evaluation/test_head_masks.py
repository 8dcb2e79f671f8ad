"""Masks from a [SEG]-token mask head in predictions: read, preferred over text masks by the referring and
multi-referring scorers (which say which decoder produced each mask), and written by generate()."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.evaluation import minidata
from univlm.codecs import mask_to_coco_rle
from univlm.evaluation.predictions import read_predictions
from univlm.evaluation.runner import score

S = minidata.SIZE


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("headmasks")
    _, records = minidata.build(root)
    return root, records


def _box(y0, y1, x0, x1, size=S):
    mask = np.zeros((size, size), bool)
    mask[y0:y1, x0:x1] = True
    return mask


def _head_row(rid, masks):
    return {"id": rid, "text": "Sure: [SEG0][SEG1][SEG2][SEG3][SEG4][SEG5].",
            "masks": [mask_to_coco_rle(m) for m in masks], "mask_decoder": "head"}  # fmt: skip


def test_predictions_file_keeps_head_masks_and_rejects_bad_ones(tmp_path):
    rle = mask_to_coco_rle(_box(0, 4, 0, 4))
    lines = [
        _head_row("a", [_box(0, 4, 0, 4)]),
        {"id": "b", "text": "x", "masks": {"size": [4, 4]}},
        {"id": "c", "text": "x", "masks": [{"size": [4], "counts": "0"}]},
        {"id": "d", "text": "x", "masks": [rle], "mask_decoder": "text"},
        {"id": "e", "text": "x", "mask_decoder": "sam"},
        {"id": "f", "text": "<seg>..</seg>"},
    ]
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    preds = read_predictions(path)
    assert set(preds) == {("a", None), ("f", None)} and preds.rejected == 4
    assert preds.head_masks == {("a", None): [rle]}
    assert "masks: expected a list of COCO RLE objects" in preds.problems[0]
    assert "masks[0]: expected a COCO RLE object" in preds.problems[1]


def test_referring_scorers_prefer_head_masks_and_name_the_decoder(dataset):
    root, records = dataset
    wrong_text = minidata.reference_answers(records)["sem-1"]  # a text mask of another record
    # ref-1's red roof is the top-left 24 x 24 quarter: the two head instances cover it together.
    head = {**_head_row("ref-1", [_box(0, 24, 0, 12), _box(0, 24, 12, 24)]), "text": wrong_text}
    for task in ("refseg_lisa", "refseg_rrsisd"):
        res = score(task, [head], records, root)
        assert res["details"]["mask_decoder"] == {"head": 1}
        assert res["scores"]["miou" if task == "refseg_rrsisd" else "giou"] == pytest.approx(1.0)  # union of both
        text = score(task, [{"id": "ref-1", "text": wrong_text}], records, root)
        assert text["details"]["mask_decoder"] == {"text": 1}
        assert text["scores"]["miou" if task == "refseg_rrsisd" else "giou"] < 0.9


def test_multi_referring_matches_head_masks_per_instance(dataset):
    root, records = dataset
    roof, pool = _box(0, 16, 0, 16), _box(32, S, 32, S)
    res = score("multiref_geopix", [_head_row("multi-1", [pool, roof])], records, root)
    assert res["scores"]["miou"] == pytest.approx(1.0) and res["details"]["mask_decoder"] == {"head": 1}
    half = score("multiref_geopix", [_head_row("multi-1", [roof])], records, root)  # one instance missed
    assert half["scores"]["miou"] == pytest.approx(0.5)
    # A head mask at another size is resampled to the ground truth's and counted.
    small = roof[::2, ::2]
    resized = score("multiref_geopix", [_head_row("multi-1", [small, pool])], records, root)
    assert resized["scores"]["miou"] == pytest.approx(1.0) and resized["problems"]["head mask resized"] == 1


def test_generate_writes_head_masks_of_results():
    from univlm.evaluation.requests import Request, generate, head_mask_fields
    from univlm.inference.result import Result

    mask = _box(2, 5, 1, 3, size=8)

    class HeadPredictor:
        def predict(self, images, prompt, **_):
            return Result(text="Sure: G.", task="SEG", image_size=(8, 8), head_masks=[mask],
                          head_mask_classes=["building"])  # fmt: skip

    rows = generate(HeadPredictor(), [Request("r", None, (), "[SEG] x")], root=None)
    assert rows[0]["mask_decoder"] == "head" and rows[0]["masks"] == [mask_to_coco_rle(mask)]
    assert head_mask_fields(Result(text="<seg>...</seg>")) == {}
