"""Overlays of [SEG]-token mask-head results: one colour and legend entry per instance, also from the CLI."""

from __future__ import annotations

import numpy as np
import pytest

from tests.inference._tiny import one_torch_thread, tiny_image

_thread = pytest.fixture(scope="module", autouse=True)(one_torch_thread)


def test_result_overlay_draws_each_head_mask():
    from univlm.inference.overlay import result_overlay
    from univlm.inference.result import Result

    image = tiny_image(80, 50, seed=1)
    first = np.zeros((50, 80), dtype=bool)
    first[5:20, 10:30] = True
    second = np.zeros((50, 80), dtype=bool)
    second[30:45, 50:70] = True
    result = Result(text="Sure:", task="SEG", image_size=(80, 50), prompt="[SEG] the buildings")
    plain = np.asarray(result_overlay(image, result))
    assert plain.shape == (50, 80, 3)  # nothing to draw, no legend
    result.head_masks, result.head_mask_classes = [first, second], ["building", "water"]
    drawn = np.asarray(result_overlay(image, result))
    assert drawn.shape[0] > 50  # a legend strip with the two instances
    top = drawn[:50]
    changed = (top != np.asarray(image)).any(-1)  # (H, W)
    assert changed[first].all() and changed[second].all() and not changed[~(first | second)].any()
    assert not np.array_equal(top[10, 20], top[40, 60])  # two instances, two colours


def test_predict_cli_saves_an_overlay_of_head_masks(tmp_path, capsys):
    import torch

    from tokenizer_ext import resize_embeddings_for
    from univlm.cli.predict import main
    from univlm.models import UniVLMForConditionalGeneration, UniVLMProcessor, get_preset
    from univlm.models.mask_head import add_mask_head
    from univlm.testing import build_tiny_qwen2_tokenizer

    processor = UniVLMProcessor.from_tokenizer(build_tiny_qwen2_tokenizer(), image_size=64, patch_size=8)
    torch.manual_seed(0)
    model = UniVLMForConditionalGeneration(get_preset("tiny"))
    resize_embeddings_for(model, processor.tokenizer)
    add_mask_head(model, processor.tokenizer, {"dim": 32, "num_heads": 2, "mlp_dim": 32, "decoder_depth": 1,
                                               "vision_layers": [-1, -2], "memory_size": 4, "memory_dim": 8})  # fmt: skip
    model.save_pretrained(tmp_path / "model")
    processor.save_pretrained(tmp_path / "model")
    tiny_image(80, 50, seed=2).save(tmp_path / "scene.png")
    out = tmp_path / "overlay.png"
    argv = ["--model", str(tmp_path / "model"), str(tmp_path / "scene.png"), "--prompt", "[SEG] the buildings",
            "--save-overlay", str(out), "--json"]  # fmt: skip
    assert main(argv) == 0
    from PIL import Image

    with Image.open(out) as im:
        assert im.size[0] == 80 and im.size[1] > 50  # the legend lists the head's instances
    assert '"mask_decoder": "head"' in capsys.readouterr().out
