"""Stage 2 with the [SEG]-token CLM mask head (recipes/configs/stage2_clm_cpu.yaml) end to end on the tiny
model: the builder adds the head, the head trains next to the experts on packed mask-token answers, and the
saved model reloads with its head."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    from univlm.data.synth import ensure_synthetic

    root = tmp_path_factory.mktemp("data") / "synthetic"
    ensure_synthetic(root, n=6, size=64, seed=0)
    return root


@pytest.fixture(scope="module")
def stage1_dir(tmp_path_factory, data_root):
    from univlm.data.schema import read_records
    from univlm.training.config import parse_args
    from univlm.training.stages import build_stage1

    out = tmp_path_factory.mktemp("stage1")
    args, train = parse_args(["--model_overrides", '{"vision_config": {"patch_size": 16}}'])
    model, processor = build_stage1(args, read_records(data_root / "train.jsonl"), seed=train.seed)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


def _stage2_recipe():
    spec = importlib.util.spec_from_file_location("recipe_stage2_clm", ROOT / "recipes" / "stage2_gmoe.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_head_records_get_mask_token_answers_and_targets(stage1_dir, data_root):
    from transformers import AutoProcessor

    from univlm.models import UniVLMForConditionalGeneration
    from univlm.models.mask_head import add_mask_head, find_mask_instances
    from univlm.training.dataset import RecordEncoder, load_training_records

    model = UniVLMForConditionalGeneration.from_pretrained(stage1_dir)
    processor = AutoProcessor.from_pretrained(stage1_dir)
    add_mask_head(model, processor.tokenizer, {"vision_layers": [-1, -2], "feature_grid": 8, "dim": 32,
                                               "num_heads": 2, "mlp_dim": 32, "decoder_depth": 1,
                                               "memory_size": 4, "memory_dim": 8})  # fmt: skip
    records, _ = load_training_records(data_root / "train.jsonl", data_root)
    encoder = RecordEncoder(processor, config=model.config, root=data_root)
    by_id = {r["id"]: r for r in records}
    mref = encoder(by_id["synth-train-000002-mref"])
    instances = len(json.loads(by_id["synth-train-000002-mref"]["targets"])["instances"])
    assert mref["mask_targets"].shape == (instances, 32, 32) and mref["mask_classes"].tolist() == [0] * instances
    ids = torch.as_tensor(mref["input_ids"])[None]
    assert find_mask_instances(ids, model.mask_head.settings.token_ids).rows.numel() == instances
    assert mref["mask_targets"].sum() > 0
    semantic = encoder(by_id["synth-train-000001-seg"])
    assert semantic["mask_targets"].shape == (1, 32, 32)
    pair = encoder(by_id["synth-train-000001-cd"])  # a change pair keeps its text mask
    assert "mask_targets" not in pair
    assert "synth-train-000001-cd" in encoder.text_mask_ids and "synth-train-000002-mref" in encoder.head_ids
    assert "mask_targets" not in encoder(by_id["synth-train-000001-vg"])


def test_stage2_clm_trains_saves_and_reloads_with_its_head(stage1_dir, data_root, tmp_path):
    from univlm.models import UniVLMForConditionalGeneration
    from univlm.training.callbacks import read_loss_history

    out = tmp_path / "stage2_clm"
    argv = [
        "--config", str(ROOT / "recipes/configs/stage2_clm_cpu.yaml"), "--init_from", str(stage1_dir),
        "--data_root", str(data_root), "--synthesize", "false", "--output_dir", str(out), "--max_steps", "3",
        "--per_device_train_batch_size", "4", "--logging_steps", "1", "--save_steps", "100",
        "--evaluate", "false", "--disable_tqdm", "true", "--num_threads", "1",
        "--resample.ratios", "{SEG: 0.9, VG: 0.1}",
    ]  # fmt: skip
    assert _stage2_recipe().main(argv) == 0
    history = read_loss_history(out)
    assert [rec["step"] for rec in history] == [1, 2, 3]
    assert any("mask_bce" in rec for rec in history)  # the mask loss ran on packed batches
    dense = dict(UniVLMForConditionalGeneration.from_pretrained(stage1_dir).named_parameters())
    model = UniVLMForConditionalGeneration.from_pretrained(out)
    assert model.config.mask_head == "clm" and model.config.use_gmoe
    assert model.mask_head.settings.token_ids and model.mask_head.resolution == 32
    # The head trained (its weights are not a fresh init of the same seed: they moved and were saved) ...
    fresh = UniVLMForConditionalGeneration.from_pretrained(out)
    torch.testing.assert_close(fresh.mask_head.scale_weights, model.mask_head.scale_weights)
    assert not torch.equal(model.mask_head.scale_weights, torch.full_like(model.mask_head.scale_weights, 0.5))
    # ... and the non-expert, non-head weights stayed frozen.
    for name, param in model.named_parameters():
        if name.startswith("mask_head.") or ".experts." in name or name not in dense:
            continue
        if dense[name].shape == param.shape:
            assert torch.equal(param, dense[name]), f"frozen parameter {name} changed"
