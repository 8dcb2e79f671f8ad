"""Tests of univlm.models.configuration_univlm and univlm.models.presets."""

from __future__ import annotations

import json

import pytest

from univlm.models import get_preset, preset_names
from univlm.models.configuration_univlm import UniVLMConfig
from univlm.models.presets import load_config
from univlm.models.router import DEFAULT_ROUTER_TABLE, EXPERT_NAMES


def test_defaults_follow_rsunivlm():
    config = UniVLMConfig()
    assert config.model_type == "univlm"
    assert config.num_experts == 3 and config.expert_names == list(EXPERT_NAMES)
    assert config.router_table == DEFAULT_ROUTER_TABLE and config.router_table is not DEFAULT_ROUTER_TABLE
    assert config.default_expert == "image" and config.image_mode == "pad"
    assert config.use_gmoe is False and config.moe_layers is None
    assert config.gmoe_layer_indices == list(range(config.text_config.num_hidden_layers))
    assert config.expert_id("pixel") == 2


def test_round_trip_through_save_pretrained(tmp_path):
    from transformers import AutoConfig

    config = get_preset(
        "tiny",
        moe_layers=[3, 1],
        use_gmoe=True,
        router_table={**DEFAULT_ROUTER_TABLE, "[CCD]": "pixel"},
        default_expert="region",
    )
    config.save_pretrained(tmp_path)
    data = json.loads((tmp_path / "config.json").read_text())
    assert data["model_type"] == "univlm" and data["moe_layers"] == [1, 3]
    loaded = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(loaded, UniVLMConfig)
    for name in ("num_experts", "expert_names", "moe_layers", "use_gmoe", "router_table", "default_expert"):
        assert getattr(loaded, name) == getattr(config, name), name
    assert loaded.text_config.hidden_size == 128 and loaded.vision_config.patch_size == 8


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_experts": 2}, "expert_names has 3"),
        ({"default_expert": "scene"}, "default_expert"),
        ({"router_table": {"[VG]": "box"}}, "unknown experts"),
        ({"moe_layers": [4]}, "out of range"),
        ({"image_mode": "crop"}, "image_mode"),
    ],
)
def test_inconsistent_fields_are_errors(kwargs, message):
    if "num_experts" in kwargs:
        kwargs = {**kwargs, "expert_names": ["image", "region", "pixel"]}
    with pytest.raises(ValueError, match=message):
        get_preset("tiny", **kwargs)


def test_expert_names_follow_num_experts_when_omitted():
    config = get_preset("tiny", num_experts=2, router_table={"[VG]": "region"})
    assert config.expert_names == ["image", "region"]


def test_unknown_expert_name_is_an_error():
    with pytest.raises(ValueError, match="unknown expert"):
        UniVLMConfig().expert_id("scene")


def test_presets():
    assert preset_names() == ["rsunivlm-0.5b", "tiny"]
    real = get_preset("rsunivlm-0.5b")
    vision, text = real.vision_config, real.text_config
    assert (vision.num_hidden_layers, vision.hidden_size, vision.intermediate_size) == (26, 1152, 4304)
    assert (vision.image_size, vision.patch_size, vision.num_attention_heads) == (384, 14, 16)
    assert (text.num_hidden_layers, text.hidden_size, text.intermediate_size) == (24, 896, 4864)
    assert (text.num_attention_heads, text.num_key_value_heads, text.vocab_size) == (14, 2, 151936)
    assert real.tie_word_embeddings and real.vision_feature_layer == -1
    assert real.vision_feature_select_strategy == "full" and real.num_experts == 3
    tiny = get_preset("tiny", text_config={"num_hidden_layers": 2})
    assert tiny.text_config.num_hidden_layers == 2 and tiny.text_config.hidden_size == 128
    assert get_preset("tiny").text_config.num_hidden_layers == 4  # overrides do not leak
    with pytest.raises(KeyError, match="tiny"):
        get_preset("huge")


def test_load_config_accepts_names_dirs_files_and_llava_onevision(tmp_path):
    from univlm.models.conversion import llava_onevision_config

    assert load_config("tiny").text_config.hidden_size == 128
    get_preset("tiny", use_gmoe=True).save_pretrained(tmp_path / "ours")
    assert load_config(tmp_path / "ours").use_gmoe
    assert load_config(tmp_path / "ours" / "config.json").use_gmoe
    llava_onevision_config(get_preset("tiny")).save_pretrained(tmp_path / "stock")
    stock = load_config(tmp_path / "stock")
    assert isinstance(stock, UniVLMConfig) and not stock.use_gmoe
    with pytest.raises(FileNotFoundError, match="not a preset"):
        load_config(tmp_path / "missing")
