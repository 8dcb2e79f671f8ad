"""Parsing answers into Result fields, without a model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from univlm.codecs.masks import encode_mask
from univlm.inference.result import Result, parse_answer


def test_box_answer_in_grid_and_pixels():
    parsed = parse_answer("[10, 20, 50, 100]", task="VG", image_size=(200, 50))
    assert parsed["boxes"] == [(10, 20, 50, 100)]
    assert parsed["boxes_px"] == [pytest.approx((20.0, 10.0, 100.0, 50.0))]
    assert parsed["problems"] == []


def test_missing_box_is_a_problem_only_for_vg():
    assert parse_answer("a river", task="VG", image_size=(10, 10))["problems"]
    assert parse_answer("a river", task="CAP", image_size=(10, 10))["problems"] == []


def test_mask_answer_upsampled_to_original_size():
    mask = np.zeros((24, 24), dtype=np.int64)
    mask[:12, :6] = 1
    text = encode_mask(mask, ["others", "building"], grid=24)
    parsed = parse_answer(text, task="SEG", image_size=(48, 96), labels=["others", "building"], grid=24)
    (decoded,) = parsed["masks"]
    assert parsed["problems"] == [] and decoded.labels == ["others", "building"]
    full = parsed["mask_arrays"][0]
    assert full.shape == (96, 48) and full[:48, :12].all() and not full[48:].any() and not full[:, 12:].any()


def test_repaired_mask_and_missing_mask_are_problems():
    short = "<seg>others *20\n" + "others *24\n " * 23 + "</seg>"
    parsed = parse_answer(short, task="SEG", image_size=(24, 24), grid=24)
    assert parsed["masks"] and any("mask 0" in p for p in parsed["problems"])
    assert parse_answer("no idea", task="SEG", image_size=(24, 24))["problems"] == [
        "expected a <seg>...</seg> mask in the answer, found none"
    ]


def test_to_dict_is_json_serialisable():
    text = encode_mask(np.eye(4, dtype=np.int64), ["others", "road"], grid=4)
    parsed = parse_answer(text, task="SEG", image_size=(8, 8), grid=4)
    result = Result(
        text=text, prompt="[SEG] road", task="SEG", expert="pixel", expert_id=2, image_size=(8, 8), **parsed
    )
    data = json.loads(json.dumps(result.to_dict()))
    assert data["masks"][0]["indices"] == np.eye(4, dtype=int).tolist()
    assert data["masks"][0]["counts"] == {"others": 12, "road": 4}
