"""Tests for the optional [SEG]-token CLM mask head (univlm.models.mask_head and its losses)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.inference._tiny import one_torch_thread, tiny_image

TINY_HEAD = {
    "dim": 32,
    "num_heads": 2,
    "mlp_dim": 64,
    "decoder_depth": 1,
    "vision_layers": [-1, -3],
    "memory_classes": ["building", "vehicle", "water"],
    "memory_slots": 2,
    "memory_dim": 8,
    "memory_size": 4,
}

_thread = pytest.fixture(scope="module", autouse=True)(one_torch_thread)


def _build(seed: int = 0, head: dict | None = TINY_HEAD):
    from tokenizer_ext import resize_embeddings_for
    from univlm.models import UniVLMForConditionalGeneration, UniVLMProcessor, get_preset
    from univlm.models.mask_head import add_mask_head
    from univlm.testing import build_tiny_qwen2_tokenizer

    processor = UniVLMProcessor.from_tokenizer(build_tiny_qwen2_tokenizer(), image_size=64, patch_size=8)
    torch.manual_seed(seed)
    model = UniVLMForConditionalGeneration(get_preset("tiny"))
    resize_embeddings_for(model, processor.tokenizer)
    if head is not None:
        add_mask_head(model, processor.tokenizer, head)
    return model.eval(), processor


@pytest.fixture(scope="module")
def built():
    return _build()


def _example(processor, settings, n_instances: int, seed: int):
    from univlm.models.mask_head import mask_group_text

    group = mask_group_text(settings)
    answer = "Sure: " + " and ".join([group] * n_instances) + "."
    messages = [
        {"role": "user", "content": "<image>\n[SEG] segment the objects"},
        {"role": "assistant", "content": answer},
    ]
    enc = processor.encode_conversation(messages, [tiny_image(64, 64, seed=seed)])
    enc["task"] = "SEG"
    return enc


def _targets(n: int, resolution: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(n, resolution, resolution, generator=gen) > 0.7).float()


def _head_inputs(model, processor, n_instances=2, seed=0):
    """Conditions, vision features and image index for one example, from a real backbone forward."""
    from univlm.models.mask_head import find_mask_instances

    enc = _example(processor, model.mask_head.settings, n_instances, seed)
    ids = torch.as_tensor(enc["input_ids"])[None]
    with torch.no_grad():
        out = model.model(input_ids=ids, pixel_values=enc["pixel_values"])
    found = find_mask_instances(ids, model.mask_head.settings.token_ids)
    conditions = out.last_hidden_state[found.rows[:, None], found.positions]  # (K, L*N, H)
    return conditions, out["vision_hidden_states"], torch.zeros(found.rows.numel(), dtype=torch.long)


# ----------------------------------------------------------------------------------------- config


def test_off_by_default_and_unchanged():
    from univlm.models import get_preset

    config = get_preset("tiny")
    assert config.mask_head == "none"
    assert config.mask_head_settings is None
    model, _ = _build(head=None)
    assert not hasattr(model, "mask_head")
    assert not any(name.startswith("mask_head.") for name in model.state_dict())


def test_config_rejects_bad_fields():
    from univlm.models import get_preset
    from univlm.models.configuration_univlm import UniVLMConfig

    base = get_preset("tiny").to_dict()
    with pytest.raises(ValueError, match="mask_head must be one of"):
        UniVLMConfig.from_dict({**base, "mask_head": "sam"})
    with pytest.raises(ValueError, match="unknown fields \\['depth'\\]"):
        UniVLMConfig.from_dict({**base, "mask_head": "clm", "mask_head_config": {"depth": 2}})
    # The tiny tower has 2 layers (3 hidden states): the default layer -11 does not exist.
    with pytest.raises(ValueError, match="vision_layers \\[-11\\] out of range"):
        UniVLMConfig.from_dict({**base, "mask_head": "clm", "mask_head_config": {}})
    with pytest.raises(ValueError, match="vision_layers has 1 entries, expected num_scales=2"):
        UniVLMConfig.from_dict({**base, "mask_head": "clm", "mask_head_config": {"vision_layers": [-1]}})


def test_default_memory_is_a_few_million_parameters():
    from univlm.models.configuration_mask_head import MaskHeadSettings

    s = MaskHeadSettings()
    size = s.num_classes * s.num_scales * s.memory_slots * s.memory_dim * s.memory_size**2
    assert 1_000_000 <= size <= 5_000_000
    assert (s.num_scales, s.tokens_per_scale, s.dim, s.vision_layers) == (2, 3, 256, (-2, -11))
    assert (s.bce_weight, s.dice_weight, s.refine_alpha) == (2.0, 0.5, 2.0)


# ------------------------------------------------------------------------------------ the 5 tests


def test_memory_changes_the_masks(built):
    model, processor = built
    head = model.mask_head
    conditions, vision, image_index = _head_inputs(model, processor)
    classes = torch.tensor([0, 1])
    with torch.no_grad():
        before = head(conditions, vision, image_index, classes).logits
        saved = head.memory.bank.detach().clone()
        head.memory.bank.zero_()
        try:
            after = head(conditions, vision, image_index, classes).logits
        finally:
            head.memory.bank.copy_(saved)
    assert (before - after).abs().max() > 1e-4


def test_gradients_reach_only_the_sample_class_rows(built):
    model, processor = built
    head = model.mask_head
    conditions, vision, image_index = _head_inputs(model, processor)
    head.zero_grad()
    out = head(conditions, vision, image_index, torch.tensor([2, 2]))
    out.logits.sigmoid().sum().backward()
    grad = head.memory.bank.grad.abs().flatten(1).sum(1)  # (C,)
    head.zero_grad()
    assert grad[2] > 0
    assert grad[0] == 0 and grad[1] == 0


def test_class_query_is_never_a_constant(built):
    model, processor = built
    head = model.mask_head
    conditions, vision, image_index = _head_inputs(model, processor)
    last = head.classifier[-1]
    saved = last.bias.detach().clone()
    used = []
    try:
        with torch.no_grad():
            for forced in range(head.settings.num_classes):
                last.bias.copy_(saved)
                last.bias[forced] += 1e4  # the classifier now predicts `forced` for every instance
                out = head(conditions, vision, image_index)  # no classes given: predicted
                used.append(out.classes.tolist())
                # A given class overrides the prediction; -1 falls back to it.
                mixed = head(conditions, vision, image_index, torch.tensor([(forced + 1) % 3, -1]))
                assert mixed.classes.tolist() == [(forced + 1) % 3, forced]
    finally:
        with torch.no_grad():
            last.bias.copy_(saved)
    assert used == [[c, c] for c in range(head.settings.num_classes)]
    with torch.no_grad():
        masks = [head(conditions, vision, image_index, torch.tensor([c, c])).logits for c in range(3)]
    assert not torch.equal(masks[0], masks[1]) and not torch.equal(masks[1], masks[2])


def test_save_load_reproduces_masks_exactly(built, tmp_path):
    from safetensors import safe_open

    from univlm.models import UniVLMForConditionalGeneration

    model, processor = built
    conditions, vision, image_index = _head_inputs(model, processor)
    model.save_pretrained(tmp_path)
    with safe_open(str(tmp_path / "model.safetensors"), "pt") as fh:
        keys = list(fh.keys())
    assert "mask_head.memory.bank" in keys
    assert json.loads((tmp_path / "config.json").read_text())["mask_head"] == "clm"
    loaded = UniVLMForConditionalGeneration.from_pretrained(tmp_path).eval()
    for name, param in model.state_dict().items():
        assert torch.equal(param, loaded.state_dict()[name]), name
    again = _head_inputs(loaded, processor)
    with torch.no_grad():
        a = model.mask_head(conditions, vision, image_index, torch.tensor([0, 1])).logits
        b = loaded.mask_head(*again, torch.tensor([0, 1])).logits
    assert torch.equal(a, b)


def test_packed_loss_equals_padded_loss(built):
    from univlm.models.mask_head_losses import mask_head_loss
    from univlm.training.collator import MASK_KEYS, PaddedCollator, PaddingFreeCollator

    model, processor = built
    settings = model.mask_head.settings
    resolution = model.mask_head.resolution
    features = []
    for i, (n, classes) in enumerate([(2, [0, -1]), (1, [2])]):
        enc = _example(processor, settings, n, seed=i)
        enc["mask_targets"] = _targets(n, resolution, seed=i)
        enc["mask_classes"] = classes
        features.append(enc)
    losses = []
    for collator in (PaddingFreeCollator(), PaddedCollator(processor.tokenizer.pad_token_id)):
        batch = collator(features)
        assert batch["mask_counts"].tolist() == [2, 1]
        packed = "attention_mask" not in batch
        forward = {k: v for k, v in batch.items() if k not in (*MASK_KEYS, "task_index", "labels")}
        with torch.no_grad():
            out = model.model(**forward, use_cache=False)
        loss = mask_head_loss(
            model,
            out,
            batch["input_ids"],
            batch["mask_targets"],
            batch["mask_counts"],
            batch["mask_classes"],
            position_ids=batch["position_ids"] if packed else None,
        )
        assert loss.num_instances == 3
        losses.append(loss.total)
    torch.testing.assert_close(losses[0], losses[1], rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------------------------ pieces


def test_find_mask_instances_groups_and_counts_incomplete():
    from univlm.models.mask_head import find_mask_instances

    seg = [50, 51, 52]
    ids = torch.tensor([[1, 2, *seg, 3, 50, 51, 4, *seg], [9, *seg, 0, 0, 0, 0, 0, 0, 0, 0]])
    found = find_mask_instances(ids, seg)
    assert found.rows.tolist() == [0, 0, 1]
    assert found.positions.tolist() == [[1, 2, 3], [8, 9, 10], [0, 1, 2]]
    assert found.examples.tolist() == [0, 0, 1]
    assert found.incomplete == 2
    packed = torch.tensor([[1, *seg, 2, 1, 2, *seg]])
    positions = torch.tensor([[0, 1, 2, 3, 4, 0, 1, 2, 3, 4]])
    assert find_mask_instances(packed, seg, positions).examples.tolist() == [0, 1]


def test_mask_loss_rejects_mismatched_targets(built):
    from univlm.models.mask_head_losses import mask_head_loss

    model, processor = built
    enc = _example(processor, model.mask_head.settings, 2, seed=0)
    ids = torch.as_tensor(enc["input_ids"])[None]
    with torch.no_grad():
        out = model.model(input_ids=ids, pixel_values=enc["pixel_values"])
    targets = _targets(3, model.mask_head.resolution, 0)
    with pytest.raises(ValueError, match=r"groups per example \[2\] do not match the targets per example \[3\]"):
        mask_head_loss(model, out, ids, targets, [3])


def test_refinement_weights_only_where_masks_of_one_image_overlap():
    from univlm.models.mask_head_losses import refinement_weights

    logits = torch.full((3, 2, 2), -5.0)
    logits[0, 0, 0] = logits[1, 0, 0] = 5.0  # instances 0 and 1 (same image) overlap at (0, 0)
    logits[2, 0, 0] = 5.0  # instance 2 is in another image
    weights = refinement_weights(logits, torch.tensor([0, 0, 1]), alpha=2.0)
    assert weights[0, 0, 0] == 2 and weights[1, 0, 0] == 2
    assert weights[2, 0, 0] == 1 and weights[0, 1, 1] == 1


def test_pad_and_restore_mask_round_trip():
    from univlm.models.mask_head import pad_mask_to_square, restore_mask

    mask = torch.zeros(40, 80, dtype=torch.bool)
    mask[10:30, 20:60] = True
    square = pad_mask_to_square(mask, 32)  # the 40-row image sits in rows 8..24 of the 32-row square
    assert square[:8].sum() == 0 and square[24:].sum() == 0
    back = restore_mask(square * 20 - 10, width=80, height=40)
    assert back.shape == (40, 80)
    iou = (back & mask).sum() / (back | mask).sum()
    assert iou > 0.9


def test_head_predicts_finer_than_text_grid(built):
    model, _ = built
    # 64 px / 8 px patches = 8 x 8 grid -> masks at 32 x 32.
    assert model.mask_head.resolution == 4 * 8
    assert np.prod(model.mask_head.scale_weights.shape) == model.mask_head.settings.num_scales
    assert model.mask_head.scale_weights.requires_grad
    assert model.mask_head.condition.token_logits.requires_grad


def test_trainer_adds_the_mask_loss_to_the_text_loss(tmp_path):
    from datasets import Dataset
    from trl import SFTConfig

    from univlm.models.mask_head_losses import mask_head_loss
    from univlm.training.collator import MASK_KEYS, PaddingFreeCollator
    from univlm.training.trainer import UniVLMSFTTrainer

    model, processor = _build(seed=1)
    settings = model.mask_head.settings
    features = []
    for i, n in enumerate((1, 2)):
        enc = _example(processor, settings, n, seed=i)
        enc["mask_targets"] = _targets(n, model.mask_head.resolution, seed=i)
        enc["mask_classes"] = [1] * n
        features.append(enc)
    batch = PaddingFreeCollator()(features)
    args = SFTConfig(
        output_dir=str(tmp_path), report_to=[], use_cpu=True, remove_unused_columns=False,
        dataset_kwargs={"skip_prepare_dataset": True}, max_length=None,
    )  # fmt: skip
    trainer = UniVLMSFTTrainer(
        model=model, args=args, train_dataset=Dataset.from_list([{"id": "a"}]), processing_class=processor,
        data_collator=lambda rows: rows,
    )  # fmt: skip
    model.train()
    torch.manual_seed(0)
    loss = trainer.compute_loss(model, dict(batch))
    forward = {k: v for k, v in batch.items() if k not in (*MASK_KEYS, "task_index", "labels")}
    with torch.no_grad():
        text = model(**forward, labels=batch["labels"], use_cache=False).loss
        out = model.model(**forward, use_cache=False)
        mask = mask_head_loss(
            model, out, batch["input_ids"], batch["mask_targets"], batch["mask_counts"], batch["mask_classes"],
            position_ids=batch["position_ids"],
        )  # fmt: skip
    torch.testing.assert_close(loss.detach(), settings.text_weight * text + mask.total, rtol=1e-4, atol=1e-4)
    assert mask.total > 0
    loss.backward()
    bank_grad = model.mask_head.memory.bank.grad.abs().flatten(1).sum(1)  # (C,)
    assert bank_grad[1] > 0 and bank_grad[0] == 0 and bank_grad[2] == 0
    assert model.mask_head.scale_weights.grad.abs().sum() > 0
    # A batch without mask targets still reaches every head parameter (zero gradients: DDP-safe).
    model.zero_grad(set_to_none=True)
    plain = {k: v for k, v in batch.items() if k not in MASK_KEYS}
    trainer.compute_loss(model, plain).backward()
    assert all(p.grad is not None and not p.grad.any() for p in model.mask_head.parameters())


def test_predict_head_masks_at_the_original_size(built):
    from univlm.models.mask_head import predict_head_masks

    model, processor = built
    enc = processor(text=["<image>\n[SEG] segment"], images=[[tiny_image(80, 50)]])
    from univlm.models.mask_head import mask_group_text

    group = mask_group_text(model.mask_head.settings)
    answer = processor.tokenizer.encode(f"Sure: {group} and {group}[SEG0].", add_special_tokens=False)
    ids = torch.cat([enc["input_ids"], torch.tensor([answer])], dim=1)
    masks, classes, problems = predict_head_masks(model, ids, enc["pixel_values"], (80, 50))
    assert [tuple(m.shape) for m in masks] == [(50, 80), (50, 80)] and masks[0].dtype == torch.bool
    assert all(c in model.mask_head.settings.memory_classes for c in classes)
    assert problems == ["1 mask tokens are outside a complete [SEG0]..[SEG5] group and were ignored"]
    _, given, _ = predict_head_masks(model, ids, enc["pixel_values"], (80, 50), classes=["water"])
    assert given == ["water", "water"]
    with pytest.raises(ValueError, match="expected 1 or 2 names"):
        predict_head_masks(model, ids, enc["pixel_values"], (80, 50), classes=["lake"])


def test_predictor_fills_result_head_masks(built, tmp_path):
    from univlm.inference import Predictor
    from univlm.inference.result import Result
    from univlm.models.mask_head import mask_group_text

    model, processor = built
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    predictor = Predictor.from_pretrained(tmp_path)
    enc = predictor.processor(text=["<image>\n[SEG] segment"], images=[[tiny_image(80, 50)]])
    group = mask_group_text(model.mask_head.settings)
    answer = predictor.processor.tokenizer.encode(f"Sure: {group}.", add_special_tokens=False)
    result = Result(text="Sure:", task="SEG", image_size=(80, 50), problems=["expected a <seg>...</seg> mask"])
    predictor._add_head_masks(result, enc["input_ids"], answer, enc["pixel_values"], torch.tensor([2]))
    assert len(result.head_masks) == 1 and result.head_masks[0].shape == (50, 80)
    assert result.problems == [] and result.mask_decoder == "head"
    assert json.loads(json.dumps(result.to_dict()))["head_masks"][0]["class"] in model.mask_head.settings.memory_classes


def test_dense_export_drops_the_head_and_says_so(built, tmp_path, caplog):
    from safetensors import safe_open
    from transformers import LlavaOnevisionForConditionalGeneration

    from univlm.models.export import export_dense

    model, _ = built
    head_keys = [k for k in model.state_dict() if k.startswith("mask_head.")]
    with caplog.at_level("WARNING", logger="univlm.models.export"):
        report = export_dense(model, "image", tmp_path / "stock")
    assert report.dropped == len(head_keys) > 0 and "dropped the [SEG]-token mask head" in report.note
    assert any("mask head" in r.getMessage() for r in caplog.records)
    with safe_open(str(tmp_path / "stock" / "model.safetensors"), framework="pt") as f:
        keys = set(f.keys())
    assert not any(k.startswith("mask_head.") for k in keys)
    config = json.loads((tmp_path / "stock" / "config.json").read_text())
    assert "mask_head" not in config and "mask_head_config" not in config
    stock = LlavaOnevisionForConditionalGeneration.from_pretrained(tmp_path / "stock")
    ids = torch.tensor([[5, 6, 7]])
    with torch.no_grad():
        torch.testing.assert_close(stock(input_ids=ids).logits, model(input_ids=ids).logits)
