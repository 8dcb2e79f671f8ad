"""``univlm_decode_sdpa``: packed grouped-query attention for one decode token."""

from __future__ import annotations

from types import SimpleNamespace
from unittest import mock

import pytest
import torch
from transformers.integrations.sdpa_attention import sdpa_attention_forward

from univlm.inference import decode_attention
from univlm.inference.decode_attention import DECODE_SDPA, decode_sdpa_attention_forward, use_decode_attention
from univlm.models.compat import cache_kwarg, output_cache


def _qkv(length: int, keys: int = 11, heads: int = 8, kv_heads: int = 2, batch: int = 2):
    generator = torch.Generator().manual_seed(length)
    query = torch.randn(batch, heads, length, 16, generator=generator)
    key = torch.randn(batch, kv_heads, keys, 16, generator=generator)
    value = torch.randn(batch, kv_heads, keys, 16, generator=generator)
    return SimpleNamespace(num_key_value_groups=heads // kv_heads, is_causal=True), query, key, value


def test_one_token_with_grouped_heads_equals_stock_sdpa():
    module, query, key, value = _qkv(1)
    with mock.patch.object(decode_attention, "sdpa_attention_forward", wraps=sdpa_attention_forward) as stock:
        ours, _ = decode_sdpa_attention_forward(module, query, key, value, None, scaling=0.3)
    assert not stock.called  # the packed path, not a delegation
    expected, _ = sdpa_attention_forward(module, query, key, value, None, scaling=0.3)
    assert ours.shape == expected.shape == (2, 1, 8, 16)
    torch.testing.assert_close(ours, expected, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("case", ["prefill", "mask", "no groups"])
def test_everything_else_goes_to_stock_sdpa(case):
    module, query, key, value = _qkv(5 if case == "prefill" else 1, heads=2 if case == "no groups" else 8)
    mask = torch.ones(2, 1, query.shape[2], key.shape[2], dtype=torch.bool) if case == "mask" else None
    with mock.patch.object(decode_attention, "sdpa_attention_forward", wraps=sdpa_attention_forward) as stock:
        ours, _ = decode_sdpa_attention_forward(module, query, key, value, mask, scaling=0.25)
    assert stock.call_count == 1
    torch.testing.assert_close(ours, sdpa_attention_forward(module, query, key, value, mask, scaling=0.25)[0])


def _decode_logits(model, ids, steps: int = 4) -> torch.Tensor:
    experts = torch.tensor([1])
    with torch.no_grad():
        out = model(input_ids=ids, expert_ids=experts, use_cache=True)
        logits = [out.logits[:, -1]]
        for _ in range(steps):
            token = out.logits[:, -1:].argmax(-1)
            out = model(input_ids=token, expert_ids=experts, use_cache=True, **{cache_kwarg(): output_cache(out)})
            logits.append(out.logits[:, -1])
    return torch.cat(logits)  # (steps + 1, V)


def test_a_model_switched_to_it_decodes_the_same_logits():
    from univlm.models import UniVLMForConditionalGeneration, get_preset

    torch.manual_seed(0)
    model = UniVLMForConditionalGeneration(get_preset("tiny", use_gmoe=True)).eval()  # 4 heads on 2 KV heads
    assert model.config.text_config.num_attention_heads > model.config.text_config.num_key_value_heads
    ids = torch.randint(0, 900, (1, 9))
    before = _decode_logits(model, ids)
    assert use_decode_attention(model) and model.config.text_config._attn_implementation == DECODE_SDPA
    assert use_decode_attention(model)  # idempotent
    with mock.patch.object(decode_attention, "sdpa_attention_forward", wraps=sdpa_attention_forward) as stock:
        after = _decode_logits(model, ids)
    layers = model.config.text_config.num_hidden_layers
    assert stock.call_count == layers  # the prefill only: the 4 decode steps took the packed path
    torch.testing.assert_close(after, before, atol=1e-5, rtol=1e-5)


def test_a_model_on_another_implementation_is_left_alone():
    from univlm.models import UniVLMForConditionalGeneration, get_preset

    model = UniVLMForConditionalGeneration(get_preset("tiny", attn_implementation="eager"))
    assert not use_decode_attention(model)
    assert model.config._attn_implementation == "eager"
