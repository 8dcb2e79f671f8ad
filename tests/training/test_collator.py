"""Padding-free and padded collators: layout, and equal losses on a tiny Qwen2 and on the tiny UniVLM."""

from __future__ import annotations

import pytest
import torch

from univlm.training.collator import IGNORE_INDEX, PaddedCollator, PaddingFreeCollator


def _features(lengths, vocab=100, seed=0, experts=(0, 1, 2)):
    gen = torch.Generator().manual_seed(seed)
    feats = []
    for i, n in enumerate(lengths):
        ids = torch.randint(3, vocab, (n,), generator=gen)
        labels = ids.clone()
        labels[: n // 2] = IGNORE_INDEX  # a prompt part, as assistant-only labels have
        feats.append(
            {"input_ids": ids, "labels": labels, "expert_id": experts[i % len(experts)], "task": "VQA"}
        )
    return feats


def test_flattened_layout():
    feats = _features([4, 6, 3])
    batch = PaddingFreeCollator(return_flash_attn_kwargs=True, return_seq_idx=True)(feats)
    assert batch["input_ids"].shape == (1, 13)
    assert "attention_mask" not in batch
    assert batch["position_ids"].tolist() == [[0, 1, 2, 3, 0, 1, 2, 3, 4, 5, 0, 1, 2]]
    for start in (0, 4, 10):
        assert batch["labels"][0, start] == IGNORE_INDEX
    assert batch["expert_ids"].tolist() == [[0] * 4 + [1] * 6 + [2] * 3]
    assert batch["cu_seq_lens_q"].tolist() == [0, 4, 10, 13]
    assert batch["cu_seq_lens_q"].dtype == torch.int32
    assert batch["max_length_k"] == 6
    assert batch["seq_idx"].tolist() == [[0] * 4 + [1] * 6 + [2] * 3]
    # Labels that were not the first of an example are untouched.
    assert torch.equal(batch["labels"][0, 5:10], feats[1]["labels"][1:])


def test_padded_layout_and_errors():
    feats = _features([4, 6])
    batch = PaddedCollator(pad_token_id=0, pad_to_multiple_of=8)(feats)
    assert batch["input_ids"].shape == (2, 8)
    assert batch["attention_mask"].sum(1).tolist() == [4, 6]
    assert (batch["labels"][0, 4:] == IGNORE_INDEX).all()
    assert batch["expert_ids"].tolist() == [0, 1]
    with pytest.raises(ValueError, match="labels has"):
        PaddingFreeCollator()([{"input_ids": [1, 2, 3], "labels": [1, 2]}])
    with pytest.raises(ValueError, match="encode_fn"):
        PaddingFreeCollator()([{"messages": []}])


@pytest.mark.parametrize("weighting, exponent", [("square", 0.5), ("sample", 1.0)])
def test_loss_weights_per_sample(weighting, exponent):
    feats = _features([4, 6, 9])
    flat = PaddingFreeCollator(loss_weighting=weighting)(feats)
    padded = PaddedCollator(pad_token_id=0, loss_weighting=weighting)(feats)
    bounds = [0, 4, 10, 19]
    for i in range(3):
        labels = flat["labels"][0, bounds[i] : bounds[i + 1]]
        weights = flat["loss_weight"][0, bounds[i] : bounds[i + 1]]
        n = int((labels != IGNORE_INDEX).sum())
        assert torch.allclose(weights[labels != IGNORE_INDEX], torch.full((n,), n**-exponent))
        assert (weights[labels == IGNORE_INDEX] == 0).all()
        # Padded rows carry the same weights (their first label is not dropped, so n may be one more).
        n_pad = int((padded["labels"][i] != IGNORE_INDEX).sum())
        assert torch.allclose(padded["loss_weight"][i].max(), torch.tensor(n_pad**-exponent))
    if weighting == "sample":  # every sample then weighs 1 in total
        totals = [float(flat["loss_weight"][0, a:b].sum()) for a, b in zip(bounds[:-1], bounds[1:])]
        assert totals == pytest.approx([1.0, 1.0, 1.0])
    assert "loss_weight" not in PaddingFreeCollator()(feats)  # token weighting sends nothing
    with pytest.raises(ValueError, match="loss_weighting"):
        PaddingFreeCollator(loss_weighting="tokens")


def _qwen2(attn="sdpa"):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    cfg = Qwen2Config(
        vocab_size=100,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        attn_implementation=attn,
    )
    return Qwen2ForCausalLM(cfg).eval()


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_packed_loss_equals_padded_loss_qwen2(attn):
    model = _qwen2(attn)
    feats = _features([5, 9, 3, 12])
    flat = PaddingFreeCollator()(feats)
    padded = PaddedCollator(pad_token_id=0)(feats)
    for batch in (flat, padded):
        batch.pop("task_index")
        batch.pop("expert_ids")
    with torch.no_grad():
        loss_flat = model(**flat, use_cache=False).loss
        loss_padded = model(**padded, use_cache=False).loss
        logits_flat = model(
            input_ids=flat["input_ids"], position_ids=flat["position_ids"], use_cache=False
        ).logits
        logits_pad = model(
            input_ids=padded["input_ids"], attention_mask=padded["attention_mask"], use_cache=False
        ).logits
    assert abs(loss_flat.item() - loss_padded.item()) < 1e-5
    # Block-diagonal attention: the second example's logits do not depend on the first example.
    assert torch.allclose(logits_flat[0, 5:14], logits_pad[1, :9], atol=1e-5)


def test_flattened_with_kv_cache_would_leak_across_examples():
    """Why the trainer forwards with use_cache=False: a cache disables packed-sequence detection."""
    model = _qwen2()
    feats = _features([5, 9])
    flat = PaddingFreeCollator()(feats)
    with torch.no_grad():
        iso = model(input_ids=flat["input_ids"], position_ids=flat["position_ids"], use_cache=False).logits
        leak = model(input_ids=flat["input_ids"], position_ids=flat["position_ids"], use_cache=True).logits
    assert not torch.allclose(iso[0, 5:], leak[0, 5:], atol=1e-5)
