"""Weight-only quantization (int8, int4), input-major fp32 weights and the single-expert fast path."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from univlm.inference.acceleration import (
    Int4WeightOnlyLinear,
    Int8WeightOnlyLinear,
    TransposedEmbedding,
    TransposedLinear,
    quantize_int4_weight_only,
    quantize_weight_only,
    transpose_linear_weights,
)


def _dequantized_int4(weight: torch.Tensor, group_size: int) -> torch.Tensor:
    """The weight int4 should represent, computed here from the min/max rule (not the module's code)."""
    n, k = weight.shape
    out = torch.empty_like(weight)
    for row in range(n):
        for start in range(0, k, group_size):
            chunk = weight[row, start : start + group_size]
            low, high = chunk.min(), chunk.max()
            step = max(float(high - low), 1e-6) / 15.0
            levels = torch.clamp(torch.round((chunk - low) / step), 0, 15)
            out[row, start : start + group_size] = low + levels * step
    return out


@pytest.mark.parametrize("group_size", [32, 64])
def test_int4_linear_computes_with_the_group_quantized_weight(group_size):
    torch.manual_seed(0)
    linear = nn.Linear(128, 48)
    x = torch.randn(3, 5, 128)
    layer = Int4WeightOnlyLinear(linear, group_size)
    expected = x @ _dequantized_int4(linear.weight.detach(), group_size).T + linear.bias.detach()
    got = layer(x)
    assert got.shape == (3, 5, 48) and got.dtype == torch.bfloat16
    # bf16 activations and bf16 scales: a few bf16 ulps of the output's magnitude.
    torch.testing.assert_close(got.float(), expected, atol=0.05 * float(expected.abs().max()), rtol=0)
    assert float((got.float() - linear(x).detach()).abs().mean()) < 0.05  # and close to the fp32 layer


class _Toy(nn.Module):
    def __init__(self):
        super().__init__()
        self.language_model = nn.Sequential(nn.Linear(64, 32), nn.Linear(32, 10))  # 10 outputs: no int4
        self.lm_head = nn.Linear(10, 16, bias=False)  # 10 inputs: neither kernel takes it
        self.vision = nn.Linear(64, 64)


def test_int4_falls_back_to_int8_then_bf16_where_the_kernels_cannot_take_the_shape():
    model = _Toy()
    assert quantize_int4_weight_only(model, group_size=32) == (1, 1)
    assert isinstance(model.language_model[0], Int4WeightOnlyLinear)
    assert isinstance(model.language_model[1], Int8WeightOnlyLinear)
    assert type(model.lm_head) is nn.Linear and model.lm_head.weight.dtype == torch.bfloat16
    assert isinstance(model.vision, nn.Linear)  # outside the language model: left alone
    out = model.lm_head(model.language_model(torch.randn(2, 64, dtype=torch.bfloat16)))
    assert out.shape == (2, 16) and out.dtype == torch.bfloat16


def test_int8_refuses_a_shape_its_kernel_would_crash_on():
    with pytest.raises(ValueError, match="in_features % 16 == 0, got 10"):
        Int8WeightOnlyLinear(nn.Linear(10, 16))


def test_int4_refuses_bad_groups_and_other_devices():
    with pytest.raises(ValueError, match="group_size must be one of"):
        quantize_int4_weight_only(_Toy(), group_size=48)
    with torch.device("meta"):
        meta = _Toy()
    with pytest.raises(ValueError, match="runs on the CPU kernel; the model is on meta"):
        quantize_int4_weight_only(meta)
    with pytest.raises(ValueError, match="quantize must be one of"):
        quantize_weight_only(_Toy(), "fp8")


def test_single_expert_fast_path_matches_the_routed_path():
    from univlm.models import UniVLMForConditionalGeneration, get_preset

    torch.manual_seed(0)
    model = UniVLMForConditionalGeneration(get_preset("tiny", use_gmoe=True)).eval()
    for layer in model.model.language_model.layers:
        for expert in layer.mlp.experts:  # distinct experts, so a wrong pick would show
            nn.init.normal_(expert.down_proj.weight, std=0.05)
    ids = torch.randint(0, 900, (2, 7))
    experts = torch.tensor([2, 2])
    calls = []
    first = model.model.language_model.layers[0].mlp.experts
    hooks = [e.register_forward_hook(lambda _m, args, _o: calls.append(args[0].shape[0])) for e in first]
    with torch.no_grad():
        fast = model(input_ids=ids, expert_ids=experts).logits
    assert calls == [2]  # the fast path calls the routed expert only, on the (B, T, D) batch
    calls.clear()
    with torch.enable_grad():
        routed = model(input_ids=ids, expert_ids=experts).logits
    assert len(calls) == 3  # the training path calls every expert (empty slices for two)
    for hook in hooks:
        hook.remove()
    torch.testing.assert_close(fast, routed.detach(), atol=1e-5, rtol=1e-5)
    with torch.no_grad():
        mixed = model(input_ids=ids, expert_ids=torch.tensor([0, 2])).logits
    torch.testing.assert_close(mixed[1], fast[1], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(mixed[0], fast[0])


@pytest.mark.parametrize("bias", [True, False])
def test_transposed_linear_computes_what_nn_linear_does(bias):
    torch.manual_seed(0)
    linear = nn.Linear(96, 40, bias=bias)
    layer = TransposedLinear(linear)
    assert layer.weight_t.shape == (96, 40) and layer.weight_t.is_contiguous()
    assert torch.equal(layer.weight, linear.weight.detach())  # the (out, in) view, no copy
    for x in (torch.randn(96), torch.randn(1, 1, 96), torch.randn(3, 5, 96)):
        torch.testing.assert_close(layer(x), linear(x).detach(), atol=1e-5, rtol=1e-5)
    assert layer(torch.randn(3, 5, 96)).shape == (3, 5, 40)


def test_transpose_linear_weights_keeps_outputs_and_one_tied_tensor():
    from univlm.models import UniVLMForConditionalGeneration, get_preset

    torch.manual_seed(0)
    model = UniVLMForConditionalGeneration(get_preset("tiny", use_gmoe=True)).eval()
    ids = torch.randint(0, 900, (2, 9))
    with torch.no_grad():
        before = model(input_ids=ids, expert_ids=torch.tensor([0, 2])).logits
    numel = sum(p.numel() for p in model.parameters())
    converted = transpose_linear_weights(model)
    text = model.model.language_model
    linears = [m for m in text.modules() if isinstance(m, nn.Linear)]
    assert converted > 0 and not linears  # every language-model linear converted
    assert isinstance(model.lm_head, TransposedLinear)
    tower = [m for m in model.model.vision_tower.modules() if isinstance(m, (nn.Linear, TransposedLinear))]
    assert tower and all(isinstance(m, nn.Linear) for m in tower)  # the vision tower is left alone
    embedding = model.get_input_embeddings()
    assert isinstance(embedding, TransposedEmbedding) and embedding.weight_t is model.lm_head.weight_t
    assert sum(p.numel() for p in model.parameters()) == numel  # the tie holds: nothing copied
    with torch.no_grad():
        after = model(input_ids=ids, expert_ids=torch.tensor([0, 2])).logits
    torch.testing.assert_close(after, before, atol=1e-5, rtol=1e-5)


def test_transposed_embedding_refuses_a_head_of_another_shape():
    with pytest.raises(ValueError, match=r"must be \(8, 20\), got \(8, 16\)"):
        TransposedEmbedding(nn.Embedding(20, 8), TransposedLinear(nn.Linear(8, 16)))
