"""Building blocks of the ``[SEG]``-token mask head: SAM-style two-way decoder and conv neck.

Design choices and sources (details in :mod:`univlm.models.mask_head`):
- :class:`TwoWayBlock` / :class:`ScaleMaskDecoder` follow SAM's two-way transformer (Kirillov et al.,
  2023): token self-attention, token-to-image and image-to-token cross-attention, with positional
  encodings added to queries and keys; one decoder per scale, as PixelLM does.
- :class:`VisionNeck` projects one SigLIP layer to the head's width on a fixed grid (a conv neck, as
  SAM's image encoder ends), one neck per layer, as GeoPix found independent projectors better.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

MASK_UPSCALE = 4  # SAM's two stride-2 transposed convolutions

class LayerNorm2d(nn.Module):
    """LayerNorm over the channels of a ``(B, C, H, W)`` map (SAM's ``LayerNorm2d``)."""

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(1, keepdim=True)  # (B, 1, H, W)
        var = (x - mean).pow(2).mean(1, keepdim=True)  # (B, 1, H, W)
        x = (x - mean) / torch.sqrt(var + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class Attention(nn.Module):
    """Batch-first multi-head attention with SAM's optional internal down-projection.

    Args:
        dim: Token width.
        num_heads: Heads.
        downsample: Internal width is ``dim // downsample`` (SAM uses 2 for the cross-attentions).
    """

    def __init__(self, dim: int, num_heads: int, downsample: int = 1):
        super().__init__()
        inner = dim // downsample
        if inner % num_heads:
            raise ValueError(f"attention width {inner} is not divisible by num_heads={num_heads}")
        self.num_heads = num_heads
        self.q_proj = nn.Linear(dim, inner)
        self.k_proj = nn.Linear(dim, inner)
        self.v_proj = nn.Linear(dim, inner)
        self.out_proj = nn.Linear(inner, dim)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, width = x.shape
        return x.reshape(batch, tokens, self.num_heads, width // self.num_heads).transpose(1, 2)  # (B, h, T, d)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """``(B, Tq, D)``, ``(B, Tk, D)``, ``(B, Tk, D)`` -> ``(B, Tq, D)``."""
        out = F.scaled_dot_product_attention(
            self._split(self.q_proj(q)), self._split(self.k_proj(k)), self._split(self.v_proj(v))
        )  # (B, h, Tq, d)
        batch, _, tokens, _ = out.shape
        return self.out_proj(out.transpose(1, 2).reshape(batch, tokens, -1))  # (B, Tq, D)


def mlp_stack(dims: Sequence[int], act: type[nn.Module] = nn.GELU) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(dims) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


class TwoWayBlock(nn.Module):
    """SAM's two-way block: token self-attn, token->image, token MLP, image->token."""

    def __init__(self, dim: int, num_heads: int, mlp_dim: int, skip_first_pe: bool):
        super().__init__()
        self.skip_first_pe = skip_first_pe
        self.self_attn = Attention(dim, num_heads)
        self.norm1 = nn.LayerNorm(dim)
        self.token_to_image = Attention(dim, num_heads, downsample=2)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = mlp_stack([dim, mlp_dim, dim])
        self.norm3 = nn.LayerNorm(dim)
        self.image_to_token = Attention(dim, num_heads, downsample=2)
        self.norm4 = nn.LayerNorm(dim)

    def forward(self, queries, keys, query_pe, key_pe):
        """``queries (K, T, D)``, ``keys (K, G*G, D)`` and their positions -> updated both."""
        if self.skip_first_pe:
            queries = self.self_attn(queries, queries, queries)
        else:
            q = queries + query_pe
            queries = queries + self.self_attn(q, q, queries)
        queries = self.norm1(queries)
        queries = self.norm2(queries + self.token_to_image(queries + query_pe, keys + key_pe, keys))
        queries = self.norm3(queries + self.mlp(queries))
        keys = self.norm4(keys + self.image_to_token(keys + key_pe, queries + query_pe, queries))
        return queries, keys


class ScaleMaskDecoder(nn.Module):
    """One scale's SAM-style decoder: two-way transformer, 4x upscaling, hypernetwork dot product."""

    def __init__(self, dim: int, num_heads: int, mlp_dim: int, depth: int):
        super().__init__()
        self.mask_token = nn.Embedding(1, dim)
        self.blocks = nn.ModuleList([TwoWayBlock(dim, num_heads, mlp_dim, skip_first_pe=i == 0) for i in range(depth)])
        self.final_attn = Attention(dim, num_heads, downsample=2)
        self.final_norm = nn.LayerNorm(dim)
        self.upscale = nn.Sequential(
            nn.ConvTranspose2d(dim, dim // 4, kernel_size=2, stride=2),
            LayerNorm2d(dim // 4),
            nn.GELU(),
            nn.ConvTranspose2d(dim // 4, dim // 8, kernel_size=2, stride=2),
            nn.GELU(),
        )
        self.hypernet = mlp_stack([dim, dim, dim, dim // 8], act=nn.ReLU)

    def forward(self, features: torch.Tensor, positions: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        """``features (K, D, G, G)``, ``positions (G*G, D)``, ``condition (K, D)`` -> logits ``(K, 4G, 4G)``."""
        k, dim, grid, _ = features.shape
        tokens = torch.cat([self.mask_token.weight.expand(k, 1, dim), condition[:, None]], dim=1)  # (K, 2, D)
        keys = features.flatten(2).transpose(1, 2)  # (K, G*G, D)
        key_pe = positions[None]  # (1, G*G, D)
        queries = tokens
        for block in self.blocks:
            queries, keys = block(queries, keys, tokens, key_pe)
        queries = self.final_norm(queries + self.final_attn(queries + tokens, keys + key_pe, keys))
        image = keys.transpose(1, 2).reshape(k, dim, grid, grid)  # (K, D, G, G)
        upscaled = self.upscale(image)  # (K, D/8, 4G, 4G)
        weights = self.hypernet(queries[:, 0])  # (K, D/8)
        return torch.einsum("kc,kchw->khw", weights, upscaled)  # (K, 4G, 4G)


class VisionNeck(nn.Module):
    """One scale's projector (Linear, GELU, Linear) and SAM conv neck onto a fixed ``G x G`` grid."""

    def __init__(self, vision_dim: int, dim: int, grid: int):
        super().__init__()
        self.grid = grid
        self.proj = mlp_stack([vision_dim, dim, dim])
        self.neck = nn.Sequential(
            nn.Conv2d(dim, dim, kernel_size=1, bias=False),
            LayerNorm2d(dim),
            nn.Conv2d(dim, dim, kernel_size=3, padding=1, bias=False),
            LayerNorm2d(dim),
        )

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """SigLIP hidden states ``(M, P, C)`` -> ``(M, D, G, G)``.

        Raises:
            ValueError: If ``P`` is not a square number of patches.
        """
        m, patches, _ = hidden.shape
        side = math.isqrt(patches)
        if side * side != patches:
            raise ValueError(f"the mask head needs a square patch grid, got {patches} vision tokens per image")
        x = self.proj(hidden)  # (M, P, D)
        x = x.transpose(1, 2).reshape(m, -1, side, side)  # (M, D, s, s)
        if side != self.grid:
            x = F.interpolate(x, size=(self.grid, self.grid), mode="bilinear", align_corners=False)  # (M, D, G, G)
        return self.neck(x)
