"""Decode-speed options for :class:`~univlm.inference.predictor.Predictor`: int8 weights, static cache, compile.

Decoding one token at batch 1 reads every weight once, so on a CPU (and on a GPU at small batch)
its speed is set by bytes read per token, not by arithmetic. The options here either read fewer
bytes or run fewer Python steps per token; each is off by default and none changes the model
files on disk.

Design choices and sources:
- **int8 weight-only** (``quantize="int8"``): every ``nn.Linear`` of the language model (attention,
  each expert FFN, the LM head) keeps its weight as int8 with one fp scale per output channel
  (symmetric, absmax / 127, as GPT-Fast and torchao's ``Int8WeightOnlyConfig`` do) and multiplies
  with PyTorch's own fused CPU/GPU kernel ``torch.ops.aten._weight_int8pack_mm``, which reads the
  int8 weights directly: 4x fewer bytes than fp32. Activations run in bfloat16 (the kernel's fast
  path). The vision tower and projector stay in bfloat16: they run once per image, at prefill.
  Outputs are close to, not identical with, fp32; ``docs/INFERENCE.md`` lists the effect on the
  default model's validation figures.
- **static KV cache** (``cache="static"``): transformers' ``StaticCache``, preallocated for the
  prompt plus the answer budget, so no tensor grows or is reallocated per token.
- **torch.compile** (``compile=True``): compiles the model's forward once per input shape (first
  calls are slow; worthwhile for long sessions). Needs a C++ compiler on CPU.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn

logger = logging.getLogger(__name__)

__all__ = ["CACHE_KINDS", "QUANTIZE_KINDS", "Int8WeightOnlyLinear", "make_cache", "quantize_int8_weight_only"]

QUANTIZE_KINDS = ("none", "int8")
CACHE_KINDS = ("dynamic", "static")


class Int8WeightOnlyLinear(nn.Module):
    """``nn.Linear`` with int8 weights and a per-output-channel scale; activations in ``compute_dtype``.

    Args:
        linear: The layer to quantize (its weight is read once and not kept).
        compute_dtype: Activation dtype (bfloat16: the fused kernel's fast path on CPU).
    """

    def __init__(self, linear: nn.Linear, compute_dtype: torch.dtype = torch.bfloat16) -> None:
        super().__init__()
        weight = linear.weight.detach().float()  # (N, K)
        scale = weight.abs().amax(dim=1).clamp(min=1e-8) / 127.0  # (N,)
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.compute_dtype = compute_dtype
        self.register_buffer("weight_int8", torch.round(weight / scale[:, None]).clamp(-127, 127).to(torch.int8))
        self.register_buffer("scale", scale.to(compute_dtype))
        bias = linear.bias.detach().to(compute_dtype) if linear.bias is not None else None
        self.register_buffer("bias", bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        flat = x.reshape(-1, self.in_features).to(self.compute_dtype)  # (B*T, K)
        out = torch.ops.aten._weight_int8pack_mm(flat, self.weight_int8, self.scale)  # (B*T, N)
        if self.bias is not None:
            out = out + self.bias
        return out.reshape(*shape[:-1], self.out_features)  # (..., N)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, weights=int8"


def quantize_int8_weight_only(model: nn.Module, compute_dtype: torch.dtype = torch.bfloat16) -> int:
    """Replace the language model's and LM head's ``nn.Linear`` layers by :class:`Int8WeightOnlyLinear`.

    The whole model is first cast to ``compute_dtype``. Tied input embeddings stay untouched (they
    are gathered, not multiplied).

    Args:
        model: A univlm (or LLaVA-OneVision) model for inference.
        compute_dtype: Activation dtype.

    Returns:
        The number of layers replaced.

    Raises:
        ValueError: If the model has no language model to quantize.
    """
    model.to(compute_dtype)
    roots = [name for name, _ in model.named_modules() if name.endswith("language_model") or name == "lm_head"]
    if not roots:
        raise ValueError("model has no 'language_model' or 'lm_head' module to quantize")
    replaced = 0
    for name, module in list(model.named_modules()):
        if not isinstance(module, nn.Linear) or not any(name == r or name.startswith(r + ".") for r in roots):
            continue
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, Int8WeightOnlyLinear(module, compute_dtype))
        replaced += 1
    logger.info("int8 weight-only: %d linear layers quantized, activations in %s", replaced, compute_dtype)
    return replaced


def make_cache(model: nn.Module, kind: str, max_len: int) -> Any:
    """A fresh KV cache of ``kind`` for one sequence of at most ``max_len`` tokens.

    Args:
        model: The model whose (text) config sizes the cache.
        kind: ``"dynamic"`` (None: the model creates one) or ``"static"``.
        max_len: Prompt plus answer budget, in tokens.

    Returns:
        A ``StaticCache``, or None for ``"dynamic"``.

    Raises:
        ValueError: If ``kind`` is unknown.
    """
    if kind == "dynamic":
        return None
    if kind != "static":
        raise ValueError(f"cache must be one of {CACHE_KINDS}, got {kind!r}")
    from transformers import StaticCache

    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    return StaticCache(config=config, max_cache_len=max_len)
