"""``univlm_decode_sdpa``: grouped-query attention for one decode token, without ``enable_gqa``.

Why: a decode step attends one query token to the whole KV cache. Qwen2-0.5B has 14 query heads
sharing 2 key/value heads. With no attention mask (batch 1), transformers' ``sdpa`` passes
``enable_gqa=True``, and PyTorch's CPU kernel then runs 14 heads over the cache: 206 us per layer
for an 800-token cache on one thread, against 125 us when the 7 query heads of each group are
given to one key/value head as 7 query rows (measured with ``torch.nn.functional``; 3x at 4000
tokens). transformers itself packs the query this way (``pack_gqa``) only when a mask is present.

The rows of one group attend to the same keys and values, and a decode step needs no causal mask,
so the packed call computes the same attention; only float summation order can differ.

Registered as ``"univlm_decode_sdpa"`` through transformers' documented extension point
(``AttentionInterface.register`` / ``AttentionMaskInterface.register``), as
:mod:`univlm.training.attention` does for packed training. Everything that is not a maskless
single-token step with grouped heads (prefill, padded batches, the vision tower) goes to the stock
``sdpa_attention_forward`` unchanged.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers.integrations.sdpa_attention import sdpa_attention_forward

DECODE_SDPA = "univlm_decode_sdpa"


def decode_sdpa_attention_forward(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """Attention for one layer; the signature and return value of transformers' ``sdpa_attention_forward``.

    Args:
        module: The attention module (its ``num_key_value_groups`` says how many query heads share a
            key/value head).
        query: ``(B, H, T, d)``.
        key, value: ``(B, KV, S, d)``.
        attention_mask: None or a mask as ``sdpa`` takes it.
        dropout: Dropout probability (0 at inference).
        scaling: Score scale (None: ``1/sqrt(d)``).
        **kwargs: Passed to the stock function when it handles the call.

    Returns:
        ``(attn_output (B, T, H, d), None)``.
    """
    groups = getattr(module, "num_key_value_groups", 1)
    batch, heads, length, dim = query.shape
    simple = attention_mask is None and dropout == 0.0 and kwargs.get("position_bias") is None
    if length != 1 or groups <= 1 or not simple or kwargs.get("output_attentions", False):
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs)
    packed = query.reshape(batch, heads // groups, groups, dim)  # (B, KV, G, d): a group's heads as query rows
    out = torch.nn.functional.scaled_dot_product_attention(packed, key, value, scale=scaling)  # (B, KV, G, dv)
    return out.reshape(batch, 1, heads, value.shape[-1]), None  # (B, 1, H, dv); head h = kv * G + g, as repeat_kv


def use_decode_attention(model: torch.nn.Module) -> bool:
    """Register ``univlm_decode_sdpa`` and switch ``model`` to it if it uses ``sdpa`` (idempotent).

    Args:
        model: A transformers model (a univlm or LLaVA-OneVision model) for inference.

    Returns:
        Whether the model now uses it (False if it runs another implementation, e.g. flash-attention).
    """
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(DECODE_SDPA, decode_sdpa_attention_forward)
    AttentionMaskInterface.register(DECODE_SDPA, sdpa_mask)
    current = getattr(model.config, "_attn_implementation", None)
    if current == DECODE_SDPA:
        return True
    if current != "sdpa":
        return False
    model.set_attn_implementation(DECODE_SDPA)
    return True
