"""Router: RSUniVLM's precedence, the "first" mode, latest-user-turn routing and the config as the one source."""

from __future__ import annotations

import logging

import pytest

from univlm.models import get_preset
from univlm.models.router import (
    DEFAULT_ROUTER_TABLE,
    EXPERT_NAMES,
    find_task_tag,
    latest_user_turn,
    route,
    route_from_config,
)


@pytest.mark.parametrize(
    ("prompt", "expert"),
    [
        ("<image>\n[SEG] Please segment the building in this image.", "pixel"),
        ("<image>\n[VG] the largest building", "region"),
        ("[REF] [10, 20, 30, 40]", "region"),
        ("[CAP] describe", "image"),
        ("[CLS] Choose the best category", "image"),
        ("[VQA] how many cars?", "image"),
        ("<image> <image>\n[CCD] What changed?", "image"),
    ],
)
def test_default_table_follows_rsunivlm(prompt, expert):
    assert EXPERT_NAMES[route(prompt)] == expert


def _rsunivlm_demo_rule(question: str) -> int:
    """RSUniVLM app.py's granularity, written out: [SEG] anywhere -> 2, else [VG] or [REF] -> 1, else 0."""
    if "[SEG]" in question:
        return 2
    if "[VG]" in question or "[REF]" in question:
        return 1
    return 0


@pytest.mark.parametrize(
    "prompt",
    ["[VG] the road next to [SEG]", "[CAP] then [SEG] water", "[CLS] [VG] x", "[REF] a [CAP] b", "[VQA] [CCD] z"],
)
def test_precedence_is_rsunivlm_rule_and_first_mode_differs(prompt):
    assert route(prompt) == _rsunivlm_demo_rule(prompt)
    assert route(prompt, mode="first") == EXPERT_NAMES.index(DEFAULT_ROUTER_TABLE[find_task_tag(prompt, mode="first")])


def test_first_mode_takes_text_order():
    assert route("[VG] x [SEG] y", mode="first") == 1 and route("[VG] x [SEG] y") == 2
    assert find_task_tag("[CLS] [VG] x", mode="first") == "[CLS]" and find_task_tag("[CLS] [VG] x") == "[VG]"
    with pytest.raises(ValueError, match="router_mode must be one of"):
        route("[VG] x", mode="last")


def test_mask_token_is_not_the_seg_tag():
    assert find_task_tag("[SEG0][SEG1] answer") is None
    assert find_task_tag("[SEG0] then [VG] x") == "[VG]"


def test_untagged_prompt_goes_to_default_with_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="univlm.models.router"):
        assert route("what is this?", default_expert="region") == 1
    assert "no task tag" in caplog.text


def test_custom_table_and_unknown_expert():
    table = dict(DEFAULT_ROUTER_TABLE, **{"[CCD]": "pixel"})
    assert [route(t, table) for t in ("[CCD] x", "[VG] y", "[VG] y [CCD] x")] == [2, 1, 2]
    with pytest.raises(ValueError, match="expected one of"):
        route("[VG] y", {"[VG]": "nowhere"})


def test_latest_user_turn_of_messages_and_rendered_chat():
    messages = [
        {"role": "user", "content": "<image>\n[VG] the road"},
        {"role": "assistant", "content": "[1, 2, 3, 4]"},
        {"role": "user", "content": [{"type": "text", "text": "[SEG] now the water"}]},
    ]
    assert latest_user_turn(messages) == "[SEG] now the water"
    chat = (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n<image>\n[VG] the road"
        "<|im_end|>\n<|im_start|>assistant\n[1, 2, 3, 4]<|im_end|>\n<|im_start|>user\n[CAP] describe<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    assert latest_user_turn(chat) == "[CAP] describe"
    assert latest_user_turn("[VG] bare") == "[VG] bare"


def test_route_from_config_reads_the_config_alone():
    config = get_preset("tiny")
    history = [
        {"role": "user", "content": "[VG] the road"},
        {"role": "assistant", "content": "[1, 2, 3, 4]"},
        {"role": "user", "content": "[SEG] the road"},
    ]
    decision = route_from_config(config, history)
    assert (decision.tag, decision.expert_id, decision.expert, decision.task) == ("[SEG]", 2, "pixel", "SEG")
    assert route_from_config(config, "[CAP] a [VG] b").expert == "region"
    config.router_mode = "first"
    assert route_from_config(config, "[CAP] a [VG] b").expert == "image"
    config.router_table = {**config.router_table, "[CAP]": "pixel"}
    assert route_from_config(config, "[CAP] a [VG] b").expert_id == 2
    # A stock LLaVA-OneVision config has no routing fields: univlm's defaults apply.
    assert route_from_config(object(), "[VG] x [SEG] y").expert == "pixel"


def test_config_validates_router_mode():
    assert get_preset("tiny").router_mode == "precedence"
    with pytest.raises(ValueError, match="router_mode"):
        get_preset("tiny", router_mode="sometimes")
