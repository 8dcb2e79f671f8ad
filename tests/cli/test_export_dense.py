"""Tests of ``univlm export-dense``: the output is a stock llava_onevision checkpoint."""

from __future__ import annotations

import json

import pytest
import torch

from univlm.cli.export_dense import main
from univlm.models import get_preset
from univlm.models.conversion import llava_onevision_inputs
from univlm.models.modeling_univlm import UniVLMForConditionalGeneration, upcycle_to_gmoe


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A saved tiny G-MoE model whose three experts differ, plus its model object."""
    torch.manual_seed(0)
    model = UniVLMForConditionalGeneration(get_preset("tiny")).eval()
    upcycle_to_gmoe(model)
    with torch.no_grad():
        for layer in model.model.language_model.layers:
            layer.mlp.experts[1].up_proj.weight.mul_(2.0)
            layer.mlp.experts[2].down_proj.weight.mul_(-1.5)
    path = tmp_path_factory.mktemp("gmoe")
    model.save_pretrained(path)
    (path / "tokenizer_config.json").write_text("{}")
    return path, model


def _prompt_inputs():
    ids = torch.tensor([[5, 6] + [1000] * 65 + [7, 8, 9]])
    pixel_values = torch.randn(1, 1, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    return {"input_ids": ids, "pixel_values": pixel_values, "image_sizes": torch.tensor([[64, 64]])}


@pytest.mark.parametrize(("expert", "expert_id"), [("region", 1), ("pixel", 2)])
def test_stock_transformers_reproduces_the_expert(checkpoint, tmp_path, capsys, expert, expert_id):
    from transformers import LlavaOnevisionForConditionalGeneration

    path, model = checkpoint
    out = tmp_path / "dense"
    assert main(["--expert", expert, str(path), str(out)]) == 0
    assert "llava_onevision" in capsys.readouterr().out
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "llava_onevision" and "num_experts" not in config
    assert (out / "tokenizer_config.json").is_file()
    stock = LlavaOnevisionForConditionalGeneration.from_pretrained(out).eval()
    batch = _prompt_inputs()
    with torch.no_grad():
        theirs = stock(**llava_onevision_inputs(batch)).logits
        ours = model(**batch, expert_ids=torch.tensor([expert_id])).logits
        other = model(**batch, expert_ids=torch.tensor([0])).logits
    torch.testing.assert_close(theirs, ours, rtol=0, atol=1e-5)
    assert not torch.allclose(theirs, other, atol=1e-3)


def test_bad_arguments_fail_cleanly(checkpoint, tmp_path, capsys):
    path, _ = checkpoint
    assert main(["--expert", "scene", str(path), str(tmp_path / "a")]) == 1
    assert "unknown expert" in capsys.readouterr().err
    assert main(["--expert", "image", str(tmp_path / "nowhere"), str(tmp_path / "b")]) == 1
    assert "no config.json" in capsys.readouterr().err
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    assert main(["--expert", "0", str(path), str(tmp_path / "full")]) == 1
    assert "not empty" in capsys.readouterr().err
