"""Tests of univlm.models.conversion on tiny state dicts that carry the real checkpoints' key names."""

from __future__ import annotations

import json
import re

import pytest
import torch
from safetensors.torch import save_file

from univlm.models import get_preset
from univlm.models.conversion import (
    STOCK_IMAGE_MODE,
    config_from_rsunivlm,
    convert_llava_onevision_state_dict,
    convert_rsunivlm_state_dict,
    dense_state_dict,
    export_dense,
    llava_onevision_config,
    llava_onevision_inputs,
    load_llava_onevision_checkpoint,
    load_rsunivlm_checkpoint,
    stock_image_mode,
)
from univlm.models.modeling_univlm import UniVLMForConditionalGeneration, upcycle_to_gmoe

IMAGE = 1000
N_IMG = 65


def _inputs():
    ids = torch.tensor([[5, 6] + [IMAGE] * N_IMG + [7, 8, 9], [5] + [IMAGE] * N_IMG + [9, 10, 11, 12]])
    pixel_values = torch.randn(2, 1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    return {"input_ids": ids, "pixel_values": pixel_values, "image_sizes": torch.tensor([[64, 64]] * 2)}


def _to_old_hub_naming(state_dict, tied):
    """llava-hf's hub files (written by transformers 4.x): `language_model.model.*`, `vision_tower.vision_model.*`."""
    out = {}
    for key, value in state_dict.items():
        if key == "lm_head.weight":
            if not tied:
                out["language_model.lm_head.weight"] = value
            continue
        key = re.sub(r"^model\.language_model\.", "language_model.model.", key)
        key = re.sub(r"^model\.vision_tower\.", "vision_tower.vision_model.", key)
        key = re.sub(r"^model\.", "", key)  # multi_modal_projector.*, image_newline
        out[key] = value.clone()
    return out


def _write(directory, state_dict, config_dict):
    directory.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in state_dict.items()}, str(directory / "model.safetensors"))
    (directory / "config.json").write_text(json.dumps(config_dict))


@pytest.fixture(scope="module")
def dense():
    torch.manual_seed(0)
    return UniVLMForConditionalGeneration(get_preset("tiny")).eval()


@pytest.mark.parametrize("tied", [True, False], ids=["tied", "untied"])
def test_llava_onevision_hub_naming_loads(dense, tmp_path, tied):
    source = dense
    if not tied:
        source = UniVLMForConditionalGeneration(get_preset("tiny", tie_word_embeddings=False)).eval()
        source.load_state_dict({**dense.state_dict(), "lm_head.weight": torch.randn(1024, 128)})
    hub = _to_old_hub_naming(source.state_dict(), tied)
    assert "language_model.model.layers.0.mlp.gate_proj.weight" in hub
    assert "vision_tower.vision_model.encoder.layers.0.self_attn.q_proj.weight" in hub
    assert "multi_modal_projector.linear_2.bias" in hub and "image_newline" in hub
    assert ("language_model.lm_head.weight" in hub) is not tied
    _write(tmp_path, hub, llava_onevision_config(source.config).to_dict())
    model, report = load_llava_onevision_checkpoint(tmp_path)
    assert report.ok, report.summary()
    assert not report.unmapped and not model.config.use_gmoe and model.config.image_mode == "pad"
    with torch.no_grad():
        assert torch.equal(model(**_inputs()).logits, source(**_inputs()).logits)


def test_in_memory_naming_passes_through(dense):
    renamed, unmapped = convert_llava_onevision_state_dict(dense.state_dict())
    assert not unmapped and renamed.keys() == dense.state_dict().keys()


def test_stock_transformers_checkpoint_loads(tmp_path):
    from transformers import LlavaOnevisionForConditionalGeneration

    torch.manual_seed(1)
    stock = LlavaOnevisionForConditionalGeneration(llava_onevision_config(get_preset("tiny"))).eval()
    stock.save_pretrained(tmp_path)
    model, report = load_llava_onevision_checkpoint(tmp_path)
    assert report.ok, report.summary()
    with torch.no_grad():
        theirs = stock(**llava_onevision_inputs(_inputs())).logits
        ours = model(**_inputs()).logits
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-5)


def test_wrong_model_type_is_an_error(tmp_path):
    _write(tmp_path, {"x": torch.zeros(1)}, {"model_type": "llava"})
    with pytest.raises(ValueError, match="expected 'llava_onevision'"):
        load_llava_onevision_checkpoint(tmp_path)


def _to_rsunivlm_naming(state_dict):
    """RSUniVLM's llava_qwen_gmoe (LLaVA-NeXT) names for a UniVLM G-MoE state dict."""
    rules = [
        (r"^model\.language_model\.layers\.(\d+)\.mlp\.experts\.(\d+)\.", r"model.layers.\1.mlp.\2."),
        (r"^model\.language_model\.", "model."),
        (r"^model\.multi_modal_projector\.linear_1\.", "model.mm_projector.0."),
        (r"^model\.multi_modal_projector\.linear_2\.", "model.mm_projector.2."),
        (r"^model\.vision_tower\.", "model.vision_tower.vision_tower.vision_model."),
    ]
    out = {}
    for key, value in state_dict.items():
        for pattern, repl in rules:
            if re.search(pattern, key):
                key = re.sub(pattern, repl, key, count=1)
                break
        out[key] = value.clone()
    return out


@pytest.fixture(scope="module")
def gmoe(dense):
    model = UniVLMForConditionalGeneration(get_preset("tiny")).eval()
    model.load_state_dict(dense.state_dict())
    upcycle_to_gmoe(model)
    with torch.no_grad():
        for layer in model.model.language_model.layers:
            layer.mlp.experts[1].down_proj.weight.mul_(2.0)
            layer.mlp.experts[2].gate_proj.weight.mul_(-1.0)
    return model


def test_rsunivlm_checkpoint_loads(gmoe, tmp_path):
    released = _to_rsunivlm_naming(gmoe.state_dict())
    for key in (
        "model.layers.0.mlp.2.down_proj.weight",
        "model.embed_tokens.weight",
        "model.norm.weight",
        "model.mm_projector.0.bias",
        "model.vision_tower.vision_tower.vision_model.encoder.layers.1.mlp.fc1.weight",
        "model.image_newline",
        "lm_head.weight",
    ):
        assert key in released, key
    _write(tmp_path, released, {"model_type": "llava_qwen_gmoe"})
    model, report = load_rsunivlm_checkpoint(tmp_path, config=gmoe.config)
    assert report.ok and not report.unmapped, report.summary()
    with torch.no_grad():
        for expert in range(3):
            routing = torch.tensor([expert, (expert + 1) % 3])
            assert torch.equal(model(**_inputs(), expert_ids=routing).logits, gmoe(**_inputs(), expert_ids=routing).logits)


def test_rsunivlm_report_names_missing_and_unexpected_keys(gmoe, tmp_path):
    released = _to_rsunivlm_naming(gmoe.state_dict())
    del released["model.layers.3.mlp.1.up_proj.weight"]
    released["model.vision_resampler.dummy"] = torch.zeros(2)
    released["model.layers.0.mlp.3.up_proj.weight"] = torch.zeros(256, 128)  # a 4th expert the config lacks
    _write(tmp_path, released, {"model_type": "llava_qwen_gmoe"})
    _, report = load_rsunivlm_checkpoint(tmp_path, config=gmoe.config)
    assert not report.ok
    assert report.missing == ["model.language_model.layers.3.mlp.experts.1.up_proj.weight"]
    assert sorted(report.unexpected) == [
        "model.language_model.layers.0.mlp.experts.3.up_proj.weight",
        "model.vision_resampler.dummy",
    ]
    assert report.unmapped == ["model.vision_resampler.dummy"]
    assert "model.vision_resampler.dummy" in report.summary()


def test_config_from_rsunivlm_reads_text_fields_and_experts():
    data = {
        "model_type": "llava_qwen_gmoe",
        "hidden_size": 896,
        "intermediate_size": 4864,
        "num_hidden_layers": 24,
        "num_attention_heads": 14,
        "num_key_value_heads": 2,
        "vocab_size": 151936,
        "rope_theta": 1000000.0,
        "tie_word_embeddings": True,
        "image_aspect_ratio": "pad",
        "mm_vision_tower": "google/siglip-so400m-patch14-384",
    }
    keys = {f"model.layers.{i}.mlp.{e}.gate_proj.weight": torch.empty(0) for i in range(24) for e in range(3)}
    config = config_from_rsunivlm(data, keys)
    assert config.use_gmoe and config.num_experts == 3 and config.moe_layers is None
    assert config.text_config.num_hidden_layers == 24 and config.vision_config.num_hidden_layers == 26
    assert config.text_config.rope_parameters["rope_theta"] == 1000000.0 and config.image_mode == "pad"
    subset = {k: v for k, v in keys.items() if int(k.split(".")[2]) % 2 == 0}
    assert config_from_rsunivlm(data, subset).moe_layers == list(range(0, 24, 2))


def test_rsunivlm_unmapped_keys_are_reported():
    _, unmapped = convert_rsunivlm_state_dict({"model.layers.0.mlp.0.up_proj.weight": torch.zeros(1), "foo": torch.zeros(1)})
    assert unmapped == ["foo"]


def test_dense_state_dict_selects_one_expert(gmoe):
    state = dense_state_dict(gmoe, 2)
    assert "model.language_model.layers.0.mlp.gate_proj.weight" in state
    assert not any(".experts." in k for k in state)
    assert torch.equal(
        state["model.language_model.layers.0.mlp.gate_proj.weight"],
        gmoe.state_dict()["model.language_model.layers.0.mlp.experts.2.gate_proj.weight"],
    )
    with pytest.raises(ValueError, match="out of range"):
        dense_state_dict(gmoe, 3)


def test_export_dense_refuses_a_non_empty_directory(gmoe, tmp_path):
    (tmp_path / "keep.txt").write_text("x")
    with pytest.raises(FileExistsError, match="not empty"):
        export_dense(gmoe, "image", tmp_path)
    with pytest.raises(ValueError, match="unknown expert"):
        export_dense(gmoe, "scene", tmp_path / "new")


def test_rotary_inv_freq_buffers_are_dropped_not_reported(gmoe, dense, tmp_path):
    released = _to_rsunivlm_naming(gmoe.state_dict())
    for i in range(gmoe.config.text_config.num_hidden_layers):
        released[f"model.layers.{i}.self_attn.rotary_emb.inv_freq"] = torch.ones(8)
    released["model.rotary_emb.inv_freq"] = torch.ones(8)
    _write(tmp_path / "rs", released, {"model_type": "llava_qwen_gmoe"})
    _, report = load_rsunivlm_checkpoint(tmp_path / "rs", config=gmoe.config)
    assert report.ok and not report.unmapped, report.summary()
    hub = _to_old_hub_naming(dense.state_dict(), tied=True)
    hub["language_model.model.layers.0.self_attn.rotary_emb.inv_freq"] = torch.ones(8)
    renamed, unmapped = convert_llava_onevision_state_dict(hub)
    assert not unmapped and not any("inv_freq" in k for k in renamed)
    # Only the rotary cache goes: any other unknown key is still reported.
    _, unmapped = convert_rsunivlm_state_dict({"extra.rotary_emb.inv_freq_like": torch.zeros(1)})
    assert unmapped == ["extra.rotary_emb.inv_freq_like"]


def test_stock_image_mode_names_the_compatible_mode():
    pad = stock_image_mode(get_preset("tiny"))
    assert (pad.trained, pad.stock, pad.lone_image_compatible) == ("pad", STOCK_IMAGE_MODE, False)
    assert "anyres_max_9" in pad.note and "llava_onevision_inputs" in pad.note
    anyres = stock_image_mode(get_preset("tiny", image_mode="anyres_max_4"))
    assert (anyres.trained, anyres.stock, anyres.lone_image_compatible, anyres.note) == (
        "anyres_max_4", "anyres_max_4", True, ""
    )
    assert "router_mode" not in llava_onevision_config(get_preset("tiny")).to_dict()
