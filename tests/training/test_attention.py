"""``sdpa_packed``: per-example causal attention over a flattened batch, forward and backward."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from univlm.training.attention import packed_sdpa_attention_forward


class _Module(torch.nn.Module):
    is_causal = True
    num_key_value_groups = 2


def _inputs(lengths, heads=4, kv_heads=2, dim=8, seed=0):
    gen = torch.Generator().manual_seed(seed)
    n = sum(lengths)
    q = torch.randn(1, heads, n, dim, generator=gen, requires_grad=True)
    k = torch.randn(1, kv_heads, n, dim, generator=gen, requires_grad=True)
    v = torch.randn(1, kv_heads, n, dim, generator=gen, requires_grad=True)
    cu = torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], dtype=torch.int32)
    return q, k, v, cu


def test_packed_equals_each_example_alone_in_values_and_gradients():
    lengths = [5, 1, 0, 9]  # an empty example (cu repeats a bound) is allowed
    q, k, v, cu = _inputs(lengths)
    out, _ = packed_sdpa_attention_forward(_Module(), q, k, v, None, cu_seq_lens_q=cu, cu_seq_lens_k=cu)
    assert out.shape == (1, sum(lengths), 4, 8)  # (1, N, H, d)
    grad = torch.randn_like(out)
    got = torch.autograd.grad(out, (q, k, v), grad)

    expected, start = [], 0
    for n in lengths:
        sl = slice(start, start + n)
        kk = k[:, :, sl].repeat_interleave(2, dim=1)  # (1, H, n, d): grouped query heads
        vv = v[:, :, sl].repeat_interleave(2, dim=1)
        expected.append(F.scaled_dot_product_attention(q[:, :, sl], kk, vv, is_causal=True))  # (1, H, n, d)
        start += n
    ref = torch.cat(expected, dim=2).transpose(1, 2)  # (1, N, H, d)
    want = torch.autograd.grad(ref, (q, k, v), grad)
    torch.testing.assert_close(out, ref)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b)


def test_bounds_must_cover_the_row():
    q, k, v, _ = _inputs([3, 4])
    with pytest.raises(ValueError, match="cu_seq_lens_q ends at 6 but the packed row has 7 tokens"):
        packed_sdpa_attention_forward(_Module(), q, k, v, None, cu_seq_lens_q=torch.tensor([0, 3, 6]))


def test_without_bounds_it_is_stock_sdpa():
    q, k, v, _ = _inputs([6])
    out, _ = packed_sdpa_attention_forward(_Module(), q, k, v, None, is_causal=True)
    kk, vv = k.repeat_interleave(2, dim=1), v.repeat_interleave(2, dim=1)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, kk, vv, is_causal=True).transpose(1, 2))
