"""Tests of ``univlm export-dense``: a stock llava_onevision checkpoint, stock processor configs, image modes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from univlm.cli.export_dense import main
from univlm.models import get_preset
from univlm.models.conversion import llava_onevision_inputs
from univlm.models.modeling_univlm import UniVLMForConditionalGeneration, upcycle_to_gmoe

TINY_PINPOINTS = [[64 * i, 64 * j] for i in range(1, 4) for j in range(1, 4)]


def _perturbed_gmoe(config):
    torch.manual_seed(0)
    model = UniVLMForConditionalGeneration(config).eval()
    upcycle_to_gmoe(model)
    with torch.no_grad():
        for layer in model.model.language_model.layers:
            layer.mlp.experts[1].up_proj.weight.mul_(2.0)
            layer.mlp.experts[2].down_proj.weight.mul_(-1.5)
    return model


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A saved tiny pad-mode G-MoE model whose three experts differ, plus its model object."""
    model = _perturbed_gmoe(get_preset("tiny"))
    path = tmp_path_factory.mktemp("gmoe")
    model.save_pretrained(path)
    (path / "tokenizer_config.json").write_text("{}")
    return path, model


def _save_with_processor(path, tokenizer_dir, image_mode):
    """A saved tiny G-MoE model in ``image_mode`` with its univlm processor (tokenizer included)."""
    from transformers import AutoTokenizer

    from tokenizer_ext import resize_embeddings_for
    from univlm.models import UniVLMProcessor

    config = get_preset("tiny", image_mode=image_mode, image_grid_pinpoints=TINY_PINPOINTS)
    processor = UniVLMProcessor.from_config(AutoTokenizer.from_pretrained(tokenizer_dir), config)
    resize_embeddings_for(UniVLMForConditionalGeneration(config), processor.tokenizer)  # sizes the config
    model = _perturbed_gmoe(config)
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path, model, processor


@pytest.fixture(scope="module")
def anyres_checkpoint(tmp_path_factory, tiny_tokenizer_dir):
    return _save_with_processor(tmp_path_factory.mktemp("anyres"), tiny_tokenizer_dir, "anyres_max_9")


@pytest.fixture(scope="module")
def pad_checkpoint(tmp_path_factory, tiny_tokenizer_dir):
    return _save_with_processor(tmp_path_factory.mktemp("pad"), tiny_tokenizer_dir, "pad")


def _prompt_inputs():
    ids = torch.tensor([[5, 6] + [1000] * 65 + [7, 8, 9]])
    pixel_values = torch.randn(1, 1, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    return {"input_ids": ids, "pixel_values": pixel_values, "image_sizes": torch.tensor([[64, 64]])}


def _stock_processor(out):
    """transformers' LlavaOnevisionProcessor configured from the exported files.

    Its constructor insists on a video processor, which needs torchvision (not a univlm dependency);
    image-only calls never touch it, so the instance is assembled from the exported configs instead.
    """
    from transformers import AutoTokenizer, LlavaOnevisionImageProcessorPil, LlavaOnevisionProcessor

    settings = json.loads((out / "processor_config.json").read_text())
    assert settings["processor_class"] == "LlavaOnevisionProcessor"
    stock = object.__new__(LlavaOnevisionProcessor)
    stock.image_processor = LlavaOnevisionImageProcessorPil.from_pretrained(out)
    stock.tokenizer = AutoTokenizer.from_pretrained(out)
    stock.chat_template = None
    stock.num_image_tokens = settings["num_image_tokens"]
    stock.vision_feature_select_strategy = settings["vision_feature_select_strategy"]
    stock.vision_aspect_ratio = settings["vision_aspect_ratio"]
    stock.image_token, stock.video_token = settings["image_token"], "<video>"
    stock.image_token_id = stock.tokenizer.convert_tokens_to_ids(stock.image_token)
    stock.video_token_id = None
    return stock


@pytest.mark.parametrize(("expert", "expert_id"), [("region", 1), ("pixel", 2)])
def test_stock_transformers_reproduces_the_expert(checkpoint, tmp_path, capsys, expert, expert_id):
    from transformers import LlavaOnevisionForConditionalGeneration

    path, model = checkpoint
    out = tmp_path / "dense"
    assert main(["--model", str(path), "--expert", expert, "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert "llava_onevision" in captured.out and "image mode: pad" in captured.out
    assert "warning:" in captured.err and "'anyres_max_9'" in captured.err  # pad: name the stock-compatible mode
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "llava_onevision" and "num_experts" not in config and "router_mode" not in config
    assert (out / "tokenizer_config.json").is_file() and (out / "preprocessor_config.json").is_file()
    stock = LlavaOnevisionForConditionalGeneration.from_pretrained(out).eval()
    batch = _prompt_inputs()
    with torch.no_grad():
        theirs = stock(**llava_onevision_inputs(batch)).logits
        ours = model(**batch, expert_ids=torch.tensor([expert_id])).logits
        other = model(**batch, expert_ids=torch.tensor([0])).logits
    torch.testing.assert_close(theirs, ours, rtol=0, atol=1e-5)
    assert not torch.allclose(theirs, other, atol=1e-3)


def test_all_writes_every_expert_a_routing_manifest_and_grammars(checkpoint, tmp_path, capsys):
    from transformers import LlavaOnevisionForConditionalGeneration

    from univlm.models.router import route_from_config

    path, model = checkpoint
    out = tmp_path / "serve"
    assert main(["--model", str(path), "--all", "-o", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert [e["expert"] for e in summary["experts"]] == ["image", "region", "pixel"]
    manifest = json.loads((out / "routing.json").read_text())
    assert manifest["experts"] == {"image": "image", "region": "region", "pixel": "pixel"}
    assert manifest["router_table"] == dict(model.config.router_table)
    assert (out / manifest["grammars"]["box"]).read_text().startswith("# box")
    # A client routes with the manifest as it would with the model config, then loads that expert stock.
    routed = route_from_config(type("Manifest", (), manifest)(), "[VG] the car [SEG] it")
    assert routed.expert == "pixel"
    stock = LlavaOnevisionForConditionalGeneration.from_pretrained(out / manifest["experts"][routed.expert]).eval()
    batch = _prompt_inputs()
    with torch.no_grad():
        theirs = stock(**llava_onevision_inputs(batch)).logits
        ours = model(**batch, expert_ids=torch.tensor([routed.expert_id])).logits
    torch.testing.assert_close(theirs, ours, rtol=0, atol=1e-5)
    assert main(["--model", str(path), "--all", "--expert", "image", "-o", str(tmp_path / "x")]) == 2


def test_anyres_stock_processor_and_model_reproduce_univlm_on_one_image(anyres_checkpoint, tmp_path, capsys):
    from transformers import LlavaOnevisionForConditionalGeneration

    path, model, processor = anyres_checkpoint
    out = tmp_path / "region"
    assert main(["--model", str(path), "--expert", "region", "-o", str(out), "--json"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert summary["image_mode"] == "anyres_max_9" and summary["lone_image_stock_compatible"]
    assert summary["expert"] == "region" and not captured.err  # no warning, no progress bar
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 130, 3), dtype=np.uint8))
    prompt = processor.build_prompt("[VG] the long building", 1)
    ours_inputs = processor(prompt, images=image, config=model.config)
    assert ours_inputs["expert_ids"].tolist() == [1]
    theirs_inputs = _stock_processor(out)(text=prompt, images=image, return_tensors="pt")
    assert torch.equal(theirs_inputs["input_ids"], ours_inputs["input_ids"])
    stock = LlavaOnevisionForConditionalGeneration.from_pretrained(out).eval()
    with torch.no_grad():
        theirs = stock(**theirs_inputs).logits
        ours = model(**ours_inputs).logits
        other = model(**{**ours_inputs, "expert_ids": torch.tensor([0])}).logits
    torch.testing.assert_close(theirs, ours, rtol=0, atol=1e-5)
    assert not torch.allclose(theirs, other, atol=1e-3)


def test_usage_and_input_errors_exit_2_with_one_line(checkpoint, tmp_path, capsys):
    path, _ = checkpoint
    cases = [
        (["--model", str(path), "--expert", "scene", "-o", str(tmp_path / "a")], "expected one of image, region"),
        (["--model", str(tmp_path / "nowhere"), "--expert", "image", "-o", str(tmp_path / "b")], "no config.json"),
        (["--model", str(path), "--expert", "image"], "--model, -o/--out"),
        (["--model", str(path), "-o", str(tmp_path / "c")], "--expert"),
    ]
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    cases.append((["--model", str(path), "--expert", "0", "-o", str(tmp_path / "full")], "not an empty directory"))
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("univlm export-dense: error: ") and message in err and err.count("\n") == 1, err


def test_deprecated_positional_form_still_works(checkpoint, tmp_path, capsys):
    path, _ = checkpoint
    assert main(["--expert", "image", str(path), str(tmp_path / "old"), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "deprecated" in captured.err and not captured.out
    assert (tmp_path / "old" / "config.json").is_file()


def test_failed_export_exits_1(checkpoint, tmp_path, capsys):
    path, _ = checkpoint
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text((path / "config.json").read_text())
    (broken / "model.safetensors").write_bytes(b"not safetensors")
    assert main(["--model", str(broken), "--expert", "image", "-o", str(tmp_path / "x")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("univlm export-dense: error: ") and err.count("\n") == 1


def _image(height, width, seed=0):
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8))


def test_pad_mode_is_stock_compatible_for_two_images_but_not_for_one(pad_checkpoint, tmp_path, capsys):
    from transformers import LlavaOnevisionForConditionalGeneration

    path, model, processor = pad_checkpoint
    out = tmp_path / "pixel"
    assert main(["--model", str(path), "--expert", "pixel", "-o", str(out), "--quiet"]) == 0
    assert "'anyres_max_9'" in capsys.readouterr().err
    stock_processor = _stock_processor(out)
    stock = LlavaOnevisionForConditionalGeneration.from_pretrained(out).eval()
    pair = [_image(40, 90), _image(70, 30, 1)]
    prompt = processor.build_prompt("[SEG] the buildings that changed", 2)
    ours_inputs = processor(prompt, images=pair, config=model.config)
    theirs_inputs = stock_processor(text=prompt, images=[pair], return_tensors="pt")
    assert torch.equal(theirs_inputs["input_ids"], ours_inputs["input_ids"])
    with torch.no_grad():
        theirs = stock(**theirs_inputs).logits
        ours = model(**ours_inputs).logits
    torch.testing.assert_close(theirs, ours, rtol=0, atol=1e-5)
    # A lone image: the stock processor tiles it (AnyRes), so its inputs differ from pad mode's.
    one = processor.build_prompt("[SEG] the buildings", 1)
    ours_one = processor(one, images=_image(40, 90), config=model.config)
    theirs_one = stock_processor(text=one, images=_image(40, 90), return_tensors="pt")
    assert theirs_one["input_ids"].shape[1] > ours_one["input_ids"].shape[1]
