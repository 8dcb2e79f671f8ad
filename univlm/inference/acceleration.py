"""Decode-speed options for :class:`~univlm.inference.predictor.Predictor`: weight layout, int8/int4, cache, compile.

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
- **int4 weight-only** (``quantize="int4"``, CPU): the same layers with 4-bit weights in groups of
  ``group_size`` input channels (default 64), asymmetric with one bf16 scale and zero point per group,
  as GPT-Fast and torchao's ``Int4WeightOnlyConfig`` quantize them (``q = round((w - min) / s)`` in
  0..15, ``w ~ (q - 8) * s + zero``). PyTorch's own CPU kernel
  ``torch.ops.aten._weight_int4pack_mm_for_cpu`` reads the packed nibbles directly: 8x fewer bytes
  than fp32. Its fast path needs bf16 activations (fp32 activations measured 25x slower). A layer
  whose shape the kernel cannot take (output features not a multiple of 16, input features not a
  multiple of the group size) falls back to int8 (input features a multiple of 16) or else stays a
  bf16 ``nn.Linear``; the log says how many did.
- **single-expert fast path** (always on at inference): when a whole batch routes to one expert,
  each G-MoE layer calls that expert directly (``modeling_univlm.GMoEMLP``), with no gather, no
  device sync and no calls on empty slices, so a G-MoE decode step costs what a dense one does.
- **input-major fp32 weights** (``transpose_weights=True``; :meth:`Predictor.from_pretrained`'s
  default on a CPU in fp32): every linear of the language model and the LM head stores its weight as
  ``(in_features, out_features)`` and computes ``x @ W_t``: the same products, summed in another
  order. At batch 1 on a CPU, MKL's fp32 matrix-vector product reads this layout 1.2x to 1.4x faster
  than ``nn.Linear``'s ``(out, in)`` (``benchmarks/bench_decode_fp32.py``: both bare matvec ceilings,
  interleaved). A tied input embedding gathers its rows from the same tensor, so no weight is copied.
- **decode attention** (``decode_attention=True``; ``from_pretrained``'s default on a CPU): lives in
  :mod:`univlm.inference.decode_attention`.
- **static KV cache** (``cache="static"``): transformers' ``StaticCache``, preallocated for the
  prompt plus the answer budget, so no tensor grows or is reallocated per token.
- **torch.compile** (``compile=True``): compiles the model's forward once per input shape (first
  calls are slow). Needs a C++ compiler on CPU; on a 2-core CPU it measured no gain over eager int4
  with the static cache (docs/INFERENCE.md), so it is for GPUs and long sessions.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn

logger = logging.getLogger(__name__)

__all__ = [
    "CACHE_KINDS",
    "QUANTIZE_KINDS",
    "Int4WeightOnlyLinear",
    "Int8WeightOnlyLinear",
    "TransposedEmbedding",
    "TransposedLinear",
    "make_cache",
    "quantize_int4_weight_only",
    "quantize_int8_weight_only",
    "quantize_weight_only",
    "transpose_linear_weights",
]

QUANTIZE_KINDS = ("none", "int8", "int4")
INT4_GROUP_SIZES = (32, 64, 128, 256)
CACHE_KINDS = ("dynamic", "static")


class Int8WeightOnlyLinear(nn.Module):
    """``nn.Linear`` with int8 weights and a per-output-channel scale; activations in ``compute_dtype``.

    Args:
        linear: The layer to quantize (its weight is read once and not kept).
        compute_dtype: Activation dtype (bfloat16: the fused kernel's fast path on CPU).
    """

    def __init__(self, linear: nn.Linear, compute_dtype: torch.dtype = torch.bfloat16) -> None:
        super().__init__()
        if not self.fits(linear):
            # The kernel does not check this itself: it crashes the process.
            raise ValueError(f"int8 needs in_features % 16 == 0, got {linear.in_features}")
        weight = linear.weight.detach().float()  # (N, K)
        scale = weight.abs().amax(dim=1).clamp(min=1e-8) / 127.0  # (N,)
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.compute_dtype = compute_dtype
        self.register_buffer("weight_int8", torch.round(weight / scale[:, None]).clamp(-127, 127).to(torch.int8))
        self.register_buffer("scale", scale.to(compute_dtype))
        bias = linear.bias.detach().to(compute_dtype) if linear.bias is not None else None
        self.register_buffer("bias", bias)

    @staticmethod
    def fits(linear: nn.Linear) -> bool:
        """Whether the kernel takes this layer: in_features % 16 == 0."""
        return linear.in_features % 16 == 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        flat = x.reshape(-1, self.in_features).to(self.compute_dtype)  # (B*T, K)
        out = torch.ops.aten._weight_int8pack_mm(flat, self.weight_int8, self.scale)  # (B*T, N)
        if self.bias is not None:
            out = out + self.bias
        return out.reshape(*shape[:-1], self.out_features)  # (..., N)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, weights=int8"


class Int4WeightOnlyLinear(nn.Module):
    """``nn.Linear`` with group-wise asymmetric 4-bit weights, for PyTorch's CPU int4 kernel.

    Args:
        linear: The layer to quantize (its weight is read once and not kept).
        group_size: Input channels sharing one scale and zero point (32, 64, 128 or 256).

    Raises:
        ValueError: If the layer's shape does not suit the kernel (see :meth:`fits`).
    """

    def __init__(self, linear: nn.Linear, group_size: int = 64) -> None:
        super().__init__()
        if not self.fits(linear, group_size):
            raise ValueError(
                f"int4 needs out_features % 16 == 0 and in_features % group_size == 0, got "
                f"({linear.out_features}, {linear.in_features}) with group_size {group_size}"
            )
        n, k = linear.out_features, linear.in_features
        weight = linear.weight.detach().float()  # (N, K)
        groups = weight.reshape(n, k // group_size, group_size)  # (N, K/g, g)
        low, high = groups.amin(dim=-1, keepdim=True), groups.amax(dim=-1, keepdim=True)  # (N, K/g, 1)
        scale = (high - low).clamp(min=1e-6) / 15.0
        zero = low + 8.0 * scale  # the kernel dequantizes (q - 8) * scale + zero
        q = torch.round((groups - low) / scale).clamp(0, 15).to(torch.int32).reshape(n, k)  # (N, K)
        self.in_features, self.out_features, self.group_size = k, n, group_size
        self.register_buffer("weight_int4", torch.ops.aten._convert_weight_to_int4pack_for_cpu(q, 1))  # (N, K/2)
        scales_zeros = torch.cat([scale, zero], dim=-1).transpose(0, 1).contiguous()  # (K/g, N, 2)
        self.register_buffer("scales_and_zeros", scales_zeros.to(torch.bfloat16))
        bias = linear.bias.detach().to(torch.bfloat16) if linear.bias is not None else None
        self.register_buffer("bias", bias)

    @staticmethod
    def fits(linear: nn.Linear, group_size: int) -> bool:
        """Whether the CPU kernel takes this layer: out_features % 16 == 0, in_features % group_size == 0."""
        return linear.out_features % 16 == 0 and linear.in_features % group_size == 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        flat = x.reshape(-1, self.in_features).to(torch.bfloat16)  # (B*T, K)
        out = torch.ops.aten._weight_int4pack_mm_for_cpu(
            flat, self.weight_int4, self.group_size, self.scales_and_zeros
        )  # (B*T, N)
        if self.bias is not None:
            out = out + self.bias
        return out.reshape(*shape[:-1], self.out_features)  # (..., N)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, weights=int4/g{self.group_size}"


class TransposedLinear(nn.Module):
    """``nn.Linear`` whose weight is stored input-major, ``(in_features, out_features)``, for inference.

    It computes ``x @ W_t + b``, the same products as ``nn.Linear`` summed in a different order, so
    outputs match to float rounding. The reason is speed: at batch 1 (a decode step) MKL's fp32
    matrix-vector product streams this layout 1.2x to 1.4x faster on a CPU than ``(out, in)``.

    Args:
        linear: The layer to convert (its weight is copied once, transposed, and not kept).
    """

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        weight_t = linear.weight.detach().t().contiguous()  # (K, N)
        self.weight_t = nn.Parameter(weight_t, requires_grad=False)
        self.bias = None if linear.bias is None else nn.Parameter(linear.bias.detach(), requires_grad=False)

    @property
    def weight(self) -> torch.Tensor:
        """The ``(out_features, in_features)`` weight ``nn.Linear`` would hold: a view, not a copy."""
        return self.weight_t.t()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, self.in_features)  # (B*T, K)
        if self.bias is None:
            out = flat @ self.weight_t  # (B*T, N)
        else:
            out = torch.addmm(self.bias, flat, self.weight_t)  # (B*T, N)
        return out.reshape(*x.shape[:-1], self.out_features)  # (..., N)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}, layout=in-out"


class TransposedEmbedding(nn.Module):
    """An embedding that gathers its rows from a tied :class:`TransposedLinear` LM head's ``weight_t``.

    Tied input and output embeddings (Qwen2-0.5B ties them) stay one tensor: the lookup reads the
    ``(vocab, hidden)`` view of the head's ``(hidden, vocab)`` weight, a strided gather that costs
    microseconds per token, instead of keeping a second 0.5 GB copy.

    Args:
        embedding: The input embedding being replaced (for its sizes and padding index).
        head: The LM head, already converted, that shares its weight.

    Raises:
        ValueError: If the head's shape is not the embedding's, transposed.
    """

    def __init__(self, embedding: nn.Embedding, head: TransposedLinear) -> None:
        super().__init__()
        expected = (embedding.embedding_dim, embedding.num_embeddings)
        if tuple(head.weight_t.shape) != expected:
            raise ValueError(f"tied LM head weight_t must be {expected}, got {tuple(head.weight_t.shape)}")
        self.num_embeddings, self.embedding_dim = embedding.num_embeddings, embedding.embedding_dim
        self.padding_idx = embedding.padding_idx
        self.weight_t = head.weight_t  # the same Parameter: one tensor, as before

    @property
    def weight(self) -> torch.Tensor:
        """The ``(num_embeddings, embedding_dim)`` table: a view of the shared tensor."""
        return self.weight_t.t()

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return nn.functional.embedding(input_ids, self.weight_t.t(), self.padding_idx)  # (..., D)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}, tied to the LM head's input-major weight"


def transpose_linear_weights(model: nn.Module) -> int:
    """Store every linear weight of the language model and LM head input-major (:class:`TransposedLinear`).

    For inference only: the new weights do not require grad, and ``save_pretrained`` would write
    ``weight_t`` keys no loader reads. A tied input embedding becomes a :class:`TransposedEmbedding` on
    the same tensor.

    Args:
        model: A univlm (or LLaVA-OneVision) model with plain ``nn.Linear`` layers (not quantized).

    Returns:
        The number of linear layers converted.

    Raises:
        ValueError: If the model has no language model.
    """
    embeddings = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    tied = (
        isinstance(embeddings, nn.Embedding)
        and isinstance(head, nn.Linear)
        and embeddings.weight.data_ptr() == head.weight.data_ptr()
    )
    converted = 0
    for name, module in _language_linears(model):
        _replace(model, name, TransposedLinear(module))
        converted += 1
    if tied:
        model.set_input_embeddings(TransposedEmbedding(embeddings, model.get_output_embeddings()))
    logger.info("input-major fp32 weights: %d linear layers%s", converted, " (input embedding tied)" if tied else "")
    return converted


def _language_linears(model: nn.Module) -> list[tuple[str, nn.Linear]]:
    """The ``nn.Linear`` layers of the language model and LM head, by qualified name."""
    roots = [name for name, _ in model.named_modules() if name.endswith("language_model") or name == "lm_head"]
    if not roots:
        raise ValueError("model has no 'language_model' or 'lm_head' module to quantize")
    return [
        (name, module)
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear) and any(name == r or name.startswith(r + ".") for r in roots)
    ]


def _replace(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, child, module)


def quantize_int4_weight_only(model: nn.Module, group_size: int = 64) -> tuple[int, int]:
    """Replace the language model's and LM head's linears by :class:`Int4WeightOnlyLinear` (CPU).

    The whole model is first cast to bfloat16 (the kernel's activation dtype). Layers the kernel
    cannot take are quantized to int8 instead.

    Args:
        model: A univlm (or LLaVA-OneVision) model for inference, on the CPU.
        group_size: Input channels per scale and zero point: 32, 64, 128 or 256.

    Returns:
        ``(int4 layers, int8 fallback layers)``; layers neither kernel takes stay bf16 linears.

    Raises:
        ValueError: If the model is not on the CPU, ``group_size`` is not supported, or the model has
            no language model.
    """
    if group_size not in INT4_GROUP_SIZES:
        raise ValueError(f"int4 group_size must be one of {INT4_GROUP_SIZES}, got {group_size}")
    device = next(model.parameters()).device
    if device.type != "cpu":
        raise ValueError(
            f"int4 weight-only runs on the CPU kernel; the model is on {device}. On a GPU use bfloat16 or "
            "quantize='int8'"
        )
    model.to(torch.bfloat16)
    counts = [0, 0, 0]
    for name, module in _language_linears(model):
        if Int4WeightOnlyLinear.fits(module, group_size):
            _replace(model, name, Int4WeightOnlyLinear(module, group_size))
            counts[0] += 1
        elif Int8WeightOnlyLinear.fits(module):
            _replace(model, name, Int8WeightOnlyLinear(module, torch.bfloat16))
            counts[1] += 1
        else:
            counts[2] += 1  # stays a bf16 nn.Linear
    logger.info(
        "int4 weight-only (group %d): %d linear layers; by shape, %d as int8 and %d left in bf16",
        group_size, *counts,
    )  # fmt: skip
    return counts[0], counts[1]


def quantize_weight_only(model: nn.Module, kind: str) -> None:
    """Apply the weight-only quantization ``kind`` (one of :data:`QUANTIZE_KINDS`) in place.

    Args:
        model: The model to quantize.
        kind: ``"none"``, ``"int8"`` or ``"int4"``.

    Raises:
        ValueError: If ``kind`` is unknown, or as the chosen quantizer raises.
    """
    if kind not in QUANTIZE_KINDS:
        raise ValueError(f"quantize must be one of {QUANTIZE_KINDS}, got {kind!r}")
    if kind == "int8":
        quantize_int8_weight_only(model)
    elif kind == "int4":
        quantize_int4_weight_only(model)


def quantize_int8_weight_only(model: nn.Module, compute_dtype: torch.dtype = torch.bfloat16) -> int:
    """Replace the language model's and LM head's ``nn.Linear`` layers by :class:`Int8WeightOnlyLinear`.

    The whole model is first cast to ``compute_dtype``. Tied input embeddings stay untouched (they
    are gathered, not multiplied). A layer whose input features are not a multiple of 16 (the
    kernel's requirement) stays an ``nn.Linear`` in ``compute_dtype``.

    Args:
        model: A univlm (or LLaVA-OneVision) model for inference.
        compute_dtype: Activation dtype.

    Returns:
        The number of layers replaced.

    Raises:
        ValueError: If the model has no language model to quantize.
    """
    model.to(compute_dtype)
    replaced = 0
    for name, module in _language_linears(model):
        if Int8WeightOnlyLinear.fits(module):  # otherwise it stays an nn.Linear in compute_dtype
            _replace(model, name, Int8WeightOnlyLinear(module, compute_dtype))
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
