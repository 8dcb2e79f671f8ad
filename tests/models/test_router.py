import logging

import pytest

from univlm.models.router import DEFAULT_ROUTER_TABLE, EXPERT_NAMES, find_task_tag, route, route_batch


@pytest.mark.parametrize(
    ("prompt", "expert"),
    [
        ("<image>\n[SEG] Please segment the building in this image.", "pixel"),
        ("<image>\n[VG] the largest building", "region"),
        ("[REF] [10, 20, 30, 40]", "region"),
        ("[CAP] describe", "image"),
        ("[CLS] Choose the best category", "image"),
        ("[VQA] how many cars?", "image"),
        ("<image><image>[CCD] What changed?", "image"),
    ],
)
def test_default_table_follows_rsunivlm(prompt, expert):
    assert EXPERT_NAMES[route(prompt)] == expert


def test_mask_token_is_not_the_seg_tag():
    assert find_task_tag("[SEG0][SEG1] answer") is None
    assert find_task_tag("[SEG0] then [VG] x") == "[VG]"


def test_untagged_prompt_goes_to_default_with_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="univlm.models.router"):
        assert route("what is this?", default_expert="region") == 1
    assert "no task tag" in caplog.text


def test_custom_table_and_unknown_expert():
    table = dict(DEFAULT_ROUTER_TABLE, **{"[CCD]": "pixel"})
    assert route_batch(["[CCD] x", "[VG] y"], table) == [2, 1]
    with pytest.raises(ValueError, match="expected one of"):
        route("[VG] y", {"[VG]": "nowhere"})
