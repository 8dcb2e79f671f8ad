"""Prompt templates: task tag first, seeded variants, image placeholders."""

from __future__ import annotations

import random

import pytest

from univlm.data import templates as T
from univlm.models.router import find_task_tag


def test_fixed_prompts():
    assert T.cls_prompt(["a", "b"]) == (
        "[CLS] Choose the best category describe the image from: a, b. Only output the category."
    )
    assert T.vqa_prompt("How many?") == "[VQA] How many?"
    assert T.vg_prompt("the largest building") == "[VG] the largest building"
    assert T.ref_prompt((1, 2, 30, 40)) == "[REF] [1, 2, 30, 40]"
    assert T.change_seg_prompt("building") == (
        "[SEG] Please segment the building area in the images that have changed in the second image."
    )
    assert T.seg_prompt("road") == "[SEG] Can you segment the road in this image?"
    assert T.ccd_prompt() == "[CCD] Please briefly describe the changes in these two images."
    assert T.multi_seg_prompt(["a", "b", "c"]) == "[SEG] Please segment the a, the b and the c in this image."


@pytest.mark.parametrize(("make", "variants", "tag"), [
    (lambda rng: T.seg_prompt("water", rng), T.SEG_TEMPLATES, "[SEG]"),
    (T.ccd_prompt, T.CCD_TEMPLATES, "[CCD]"),
    (T.cap_prompt, T.CAP_TEMPLATES, "[CAP]"),
])
def test_seeded_variants_cover_all_and_repeat(make, variants, tag):
    seen = [make(random.Random(i)) for i in range(60)]
    assert len(set(seen)) == len(variants)
    assert seen == [make(random.Random(i)) for i in range(60)]
    assert all(s.startswith(tag) and find_task_tag(s) == tag for s in seen)


def test_cls_shuffle_is_seeded_and_keeps_classes():
    classes = ["residential", "industrial", "farmland", "waterfront"]
    a, b = T.cls_prompt(classes, random.Random(5)), T.cls_prompt(classes, random.Random(5))
    assert a == b
    listed = a.split("from: ")[1].split(". Only")[0].split(", ")
    assert sorted(listed) == sorted(classes)
    assert classes == ["residential", "industrial", "farmland", "waterfront"]


def test_user_content_follows_rsunivlm():
    # RSUniVLM's demo: '<image>\n' + message for one image, '<image> <image>\n' + message for two.
    assert T.user_content("[CAP] x", 1) == "<image>\n[CAP] x"
    assert T.user_content("[CCD] x", 2) == "<image> <image>\n[CCD] x"
    assert T.image_prefix(0) == "" and T.image_prefix(2, "<im>") == "<im> <im>\n"
    with pytest.raises(ValueError, match="1 or 2 images, got 3"):
        T.user_content("x", 3)
