"""The optional ``[SEG]``-token mask head with a class-wise learnable memory (CLM), GeoPix-style.

Design choices and their sources:

- Mask tokens (GeoPix, arXiv 2501.06828; PixelLM, arXiv 2312.02228): an instance is one group of
  ``L * N`` consecutive tokens ``[SEG0]`` .. ``[SEG{L*N-1}]`` (``L`` scales, ``N`` tokens per scale).
  Its condition is the LLM's last-layer hidden states that *predict* those tokens (position ``p - 1``
  for the token at ``p``, as LISA's ``seg_token_mask`` shift), projected by Linear(H, H) -> ReLU ->
  Linear(H, D) and fused over ``N`` with registered learnable weights (softmax over ``N``) into
  ``(K, L, D)``.
- Multi-scale visual features: ``L`` SigLIP hidden states (default layers -2 and -11), each through its
  own projector and conv neck (SAM's neck: 1x1 conv, LayerNorm2d, 3x3 conv, LayerNorm2d) onto a fixed
  ``G x G`` grid; GeoPix found independent projectors better than a shared one.
- Mask predictor: per scale a SAM two-way transformer decoder (Kirillov et al. 2023) with one mask
  token and the scale's condition as the prompt token, SAM's 4x transposed-conv upscaling and
  hypernetwork MLP. The coarse scale's logits gate the next scale's features by
  ``sigmoid(prev) + 1`` (PixelLM); the scale logits are summed with registered learnable weights
  (PixelLM's release kept them as a plain Python list, so they never trained).
- CLM (GeoPix): a bank ``[K_classes, L, N_mem, D_mem, h, w]``; the class query picks one row. Per
  scale: decode an initial mask; a SAM2-style memory encoder encodes it with the visual features;
  a Conv3D fuses the ``N_mem`` slots; memory attention runs self-attention on the visual features,
  then cross-attention to [encoded mask; fused memory], and its output is added back with a learnable
  scale; the decoder then runs again on the updated features. GeoPix's release discarded the
  attention outputs and fed ``nn.MultiheadAttention`` a (batch, seq) layout it read as (seq, batch),
  so its memory did nothing; every attention here is batch-first and its result is used.
- Class query: the sample's class in training (``classes``), the user's class at inference, else
  the argmax of a small classifier on the condition; an entry of -1 also means "predict". Never a
  constant.
- Masks are predicted on the processor's padded square at ``4 G`` pixels a side;
  :func:`restore_mask` crops the centred padding away and resizes to the original image.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import initialization as init

from univlm.models.configuration_mask_head import MaskHeadSettings
from univlm.models.mask_head_layers import (
    MASK_UPSCALE,
    Attention,
    LayerNorm2d,
    ScaleMaskDecoder,
    VisionNeck,
    mlp_stack,
)
from univlm.models.modeling_univlm import sincos_2d_table

logger = logging.getLogger(__name__)



class ConditionProjector(nn.Module):
    """Hidden states of the ``L * N`` mask tokens -> one condition per scale, ``(K, L, D)``."""

    def __init__(self, hidden_size: int, dim: int, num_scales: int, tokens_per_scale: int):
        super().__init__()
        self.num_scales, self.tokens_per_scale = num_scales, tokens_per_scale
        self.mlp = mlp_stack([hidden_size, hidden_size, dim], act=nn.ReLU)
        self.token_logits = nn.Parameter(torch.zeros(num_scales, tokens_per_scale))

    def _init_own_parameters(self) -> None:
        init.zeros_(self.token_logits)  # uniform fusion at start

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """``(K, L*N, H)`` -> ``(K, L, D)``."""
        k = hidden.shape[0]
        x = self.mlp(hidden).reshape(k, self.num_scales, self.tokens_per_scale, -1)  # (K, L, N, D)
        weights = self.token_logits.softmax(dim=-1)  # (L, N)
        return (x * weights[None, :, :, None]).sum(dim=2)  # (K, L, D)


class MemoryEncoder(nn.Module):
    """SAM2-style: downsample the mask, add projected features, one ConvNeXt block, project."""

    def __init__(self, dim: int):
        super().__init__()
        self.mask_down = nn.Sequential(
            nn.Conv2d(1, dim // 4, kernel_size=2, stride=2),
            LayerNorm2d(dim // 4),
            nn.GELU(),
            nn.Conv2d(dim // 4, dim, kernel_size=2, stride=2),
        )
        self.pix_proj = nn.Conv2d(dim, dim, kernel_size=1)
        self.block = nn.Sequential(
            nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim),
            LayerNorm2d(dim),
            nn.Conv2d(dim, dim, kernel_size=1),
            nn.GELU(),
            nn.Conv2d(dim, dim, kernel_size=1),
        )
        self.out_proj = nn.Conv2d(dim, dim, kernel_size=1)

    def forward(self, features: torch.Tensor, mask_logits: torch.Tensor) -> torch.Tensor:
        """``features (K, D, G, G)``, ``mask_logits (K, 4G, 4G)`` -> ``(K, D, G, G)``."""
        x = self.pix_proj(features) + self.mask_down(mask_logits.sigmoid()[:, None])  # (K, D, G, G)
        return self.out_proj(x + self.block(x))


class MemoryAttention(nn.Module):
    """Self-attention on the visual features, cross-attention to the memory, MLP; returns the update."""

    def __init__(self, dim: int, num_heads: int, mlp_dim: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.self_attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim)
        self.cross_attn = Attention(dim, num_heads)
        self.norm3 = nn.LayerNorm(dim)
        self.mlp = mlp_stack([dim, mlp_dim, dim])

    def forward(self, features, positions, memory, memory_pe) -> torch.Tensor:
        """``features (K, D, G, G)``, ``positions (G*G, D)``, ``memory``/``memory_pe (K, M, D)`` -> ``(K, D, G, G)``."""
        k, dim, grid, _ = features.shape
        x = features.flatten(2).transpose(1, 2)  # (K, G*G, D)
        start = x
        h = self.norm1(x)
        x = x + self.self_attn(h + positions, h + positions, h)
        h = self.norm2(x)
        x = x + self.cross_attn(h + positions, memory + memory_pe, memory)
        x = x + self.mlp(self.norm3(x))
        return (x - start).transpose(1, 2).reshape(k, dim, grid, grid)  # (K, D, G, G)


class ClasswiseMemory(nn.Module):
    """GeoPix's class-wise learnable memory, with its attention output actually used."""

    def __init__(self, settings: MaskHeadSettings):
        super().__init__()
        s = settings
        self.init_scale = s.memory_scale_init
        self.bank = nn.Parameter(
            torch.zeros(s.num_classes, s.num_scales, s.memory_slots, s.memory_dim, s.memory_size, s.memory_size)
        )  # (C, L, N_mem, D_mem, h, w)
        self.fuser = nn.Conv3d(s.memory_dim, s.dim, kernel_size=(s.memory_slots, 1, 1))
        self.encoder = MemoryEncoder(s.dim)
        self.attention = MemoryAttention(s.dim, s.num_heads, s.mlp_dim)
        self.kind = nn.Embedding(2, s.dim)  # 0: encoded-mask token, 1: memory token
        self.scales = nn.Parameter(torch.full((s.num_scales,), float(s.memory_scale_init)))
        self._init_own_parameters()

    def _init_own_parameters(self) -> None:
        # Unit scale, like nn.Embedding rows: at 0.02 the fused memory is ~ the Conv3D bias and the memory
        # barely moves the masks until it has trained for a while.
        init.normal_(self.bank, mean=0.0, std=1.0)
        init.constant_(self.scales, float(self.init_scale))

    def forward(self, scale, features, positions, mask_logits, classes) -> torch.Tensor:
        """Update ``features (K, D, G, G)`` with the memory rows ``classes (K,)`` of ``scale``."""
        k, dim, grid, _ = features.shape
        slots = self.bank[classes, scale]  # (K, N_mem, D_mem, h, w)
        fused = self.fuser(slots.transpose(1, 2)).squeeze(2)  # (K, D, h, w): Conv3D over the N_mem slots
        side = fused.shape[-1]
        encoded = self.encoder(features, mask_logits).flatten(2).transpose(1, 2)  # (K, G*G, D)
        memory = torch.cat(
            [encoded + self.kind.weight[0], fused.flatten(2).transpose(1, 2) + self.kind.weight[1]], dim=1
        )  # (K, G*G + h*w, D)
        mem_positions = sincos_2d_table(side, dim, fit_grid=True).to(features)  # (h*w, D)
        memory_pe = torch.cat([positions, mem_positions], dim=0)[None].expand(k, -1, -1)  # (K, G*G + h*w, D)
        update = self.attention(features, positions, memory, memory_pe)  # (K, D, G, G)
        return features + self.scales[scale] * update


@dataclass
class MaskHeadOutput:
    """What :class:`CLMMaskHead` returns for ``K`` instances.

    Attributes:
        logits: ``(K, R, R)`` combined mask logits on the padded square, ``R = 4 G``.
        scale_logits: One ``(K, R, R)`` per scale, coarse first.
        class_logits: ``(K, num_classes)`` the class classifier's logits.
        classes: ``(K,)`` the memory row used by each instance.
    """

    logits: torch.Tensor
    scale_logits: tuple[torch.Tensor, ...]
    class_logits: torch.Tensor
    classes: torch.Tensor


class CLMMaskHead(nn.Module):
    """The mask head: conditions, multi-scale necks, per-scale decoders, CLM and the class classifier.

    Args:
        settings: The head's :class:`MaskHeadSettings`.
        hidden_size: The LLM's hidden width ``H``.
        vision_hidden_size: SigLIP's width ``C``.
        patch_grid: SigLIP's patches per side (the default feature grid).
    """

    def __init__(self, settings: MaskHeadSettings, hidden_size: int, vision_hidden_size: int, patch_grid: int):
        super().__init__()
        s = self.settings = settings
        self.grid = s.feature_grid or patch_grid
        self.condition = ConditionProjector(hidden_size, s.dim, s.num_scales, s.tokens_per_scale)
        self.necks = nn.ModuleList([VisionNeck(vision_hidden_size, s.dim, self.grid) for _ in range(s.num_scales)])
        self.decoders = nn.ModuleList(
            [ScaleMaskDecoder(s.dim, s.num_heads, s.mlp_dim, s.decoder_depth) for _ in range(s.num_scales)]
        )
        self.scale_weights = nn.Parameter(torch.full((s.num_scales,), 1.0 / s.num_scales))
        self.classifier = mlp_stack([s.num_scales * s.dim, s.dim, s.num_classes], act=nn.ReLU)
        self.memory = ClasswiseMemory(s) if s.use_memory else None

    def _init_own_parameters(self) -> None:
        init.constant_(self.scale_weights, 1.0 / self.settings.num_scales)
        # The model-wide N(0, 0.02) init (sized for a 896-wide LLM) leaves this deep, narrow head's logits
        # near 0 and its gradients ~1e-10; PyTorch's default fan-in init (SAM's) trains from step one.
        # Runs after the children's generic init (post-order); loaded weights are flagged and kept.
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d)):
                init.kaiming_uniform_(module.weight, a=math.sqrt(5))
                if module.bias is not None:
                    bound = 1.0 / math.sqrt(module.weight[0].numel())
                    init.uniform_(module.bias, -bound, bound)

    @property
    def resolution(self) -> int:
        """Side of the predicted masks, ``4 G``."""
        return MASK_UPSCALE * self.grid

    def forward(
        self,
        conditions: torch.Tensor,
        vision_hidden_states: Sequence[torch.Tensor],
        image_index: torch.Tensor,
        classes: torch.Tensor | None = None,
    ) -> MaskHeadOutput:
        """Predict one mask per instance.

        Args:
            conditions: ``(K, L*N, H)`` hidden states predicting each instance's mask tokens.
            vision_hidden_states: ``L`` SigLIP hidden states ``(num_images, P, C)``, coarse first.
            image_index: ``(K,)`` the image each instance is segmented in.
            classes: ``(K,)`` memory row per instance (-1: predict it), or None to predict all.

        Returns:
            A :class:`MaskHeadOutput`.

        Raises:
            ValueError: If the counts of scales or tokens do not match the settings.
        """
        s = self.settings
        if len(vision_hidden_states) != s.num_scales:
            raise ValueError(f"got {len(vision_hidden_states)} vision feature maps, expected num_scales={s.num_scales}")
        if conditions.dim() != 3 or conditions.shape[1] != s.num_mask_tokens:
            raise ValueError(
                f"conditions of shape {tuple(conditions.shape)}; expected (K, {s.num_mask_tokens}, hidden_size)"
            )
        cond = self.condition(conditions)  # (K, L, D)
        class_logits = self.classifier(cond.flatten(1))  # (K, C)
        predicted = class_logits.detach().argmax(dim=-1)  # (K,)
        if classes is None:
            classes = predicted
        else:
            classes = classes.to(predicted.device).long()
            if classes.shape != predicted.shape:
                raise ValueError(f"classes has shape {tuple(classes.shape)}, expected ({predicted.shape[0]},)")
            if classes.numel() and int(classes.max()) >= s.num_classes:
                raise ValueError(f"class index {int(classes.max())} out of range for {s.num_classes} memory classes")
            classes = torch.where(classes >= 0, classes, predicted)
        positions = sincos_2d_table(self.grid, s.dim, fit_grid=True).to(cond)  # (G*G, D)
        image_index = image_index.to(cond.device).long()
        outputs, previous = [], None
        for scale in range(s.num_scales):
            features = self.necks[scale](vision_hidden_states[scale].to(cond)).index_select(0, image_index)  # (K, D, G, G)
            if previous is not None:
                gate = F.interpolate(previous[:, None], size=(self.grid, self.grid), mode="bilinear", align_corners=False)
                features = features * (gate.sigmoid() + 1.0)  # (K, D, G, G): the coarse mask gates the next scale
            logits = self.decoders[scale](features, positions, cond[:, scale])  # (K, R, R)
            if self.memory is not None:
                features = self.memory(scale, features, positions, logits, classes)
                logits = self.decoders[scale](features, positions, cond[:, scale])  # (K, R, R)
            outputs.append(logits)
            previous = logits
        combined = torch.einsum("l,lkhw->khw", self.scale_weights, torch.stack(outputs))  # (K, R, R)
        return MaskHeadOutput(combined, tuple(outputs), class_logits, classes)


@dataclass
class MaskInstances:
    """Where the mask-token groups sit in a batch.

    Attributes:
        rows: ``(K,)`` batch row of each instance.
        positions: ``(K, L*N)`` positions of the hidden states predicting its tokens.
        examples: ``(K,)`` example index (the row when padded; the packed example otherwise).
        incomplete: Mask tokens that belong to no complete group.
    """

    rows: torch.Tensor
    positions: torch.Tensor
    examples: torch.Tensor
    incomplete: int


def find_mask_instances(
    input_ids: torch.Tensor, mask_token_ids: Sequence[int], position_ids: torch.Tensor | None = None
) -> MaskInstances:
    """Find each complete ``[SEG0]`` .. ``[SEG{L*N-1}]`` group, in token order.

    Args:
        input_ids: ``(B, T)`` tokens, padded rows or packed rows.
        mask_token_ids: The ``L * N`` token ids, in order.
        position_ids: ``(B, T)`` positions; when given, a restart at 0 starts a new example (packing).

    Returns:
        A :class:`MaskInstances`.
    """
    ids = torch.as_tensor(list(mask_token_ids), device=input_ids.device)
    width = ids.numel()
    is_mask = torch.isin(input_ids, ids)  # (B, T)
    rows, starts, examples = [], [], []
    incomplete, offset = 0, 0
    for b in range(input_ids.shape[0]):
        row = input_ids[b]
        if position_ids is not None:
            example_of = torch.cumsum((position_ids[b] == 0).long(), 0) - 1 + offset  # (T,)
            offset = int(example_of[-1]) + 1
        covered = 0
        for p in is_mask[b].nonzero().flatten().tolist():
            if p < covered:
                continue
            if p >= 1 and p + width <= row.numel() and torch.equal(row[p : p + width], ids):
                rows.append(b)
                starts.append(p - 1)
                examples.append(int(example_of[p]) if position_ids is not None else b)
                covered = p + width
            else:
                incomplete += 1
    base = torch.as_tensor(starts, dtype=torch.long).reshape(-1, 1)  # (K, 1)
    return MaskInstances(
        rows=torch.as_tensor(rows, dtype=torch.long),
        positions=base + torch.arange(width)[None],  # (K, L*N)
        examples=torch.as_tensor(examples, dtype=torch.long),
        incomplete=incomplete,
    )


def first_image_of_examples(
    input_ids: torch.Tensor, image_token_id: int, num_images: int, position_ids: torch.Tensor | None = None
) -> torch.Tensor:
    """Index of each example's first image, for images concatenated example by example.

    Every image has the same number of placeholder tokens (``"pad"`` mode), so an example's image
    count is its placeholder count over the batch's tokens per image.

    Returns:
        ``(num_examples,)`` long; an example without images gets the index of the next image.

    Raises:
        ValueError: If the placeholders do not divide evenly among ``num_images`` images.
    """
    counts = []
    for b in range(input_ids.shape[0]):
        is_image = (input_ids[b] == image_token_id).long()  # (T,)
        if position_ids is None:
            counts.append(int(is_image.sum()))
            continue
        example_of = torch.cumsum((position_ids[b] == 0).long(), 0) - 1  # (T,)
        n = int(example_of[-1]) + 1
        counts.extend(torch.zeros(n, dtype=torch.long).index_add_(0, example_of, is_image).tolist())
    total = sum(counts)
    if num_images == 0 or total % num_images:
        raise ValueError(f"{total} image placeholder tokens do not split evenly into {num_images} images")
    per_image = total // num_images
    images = torch.as_tensor([c // per_image for c in counts], dtype=torch.long)
    return torch.cumsum(images, 0) - images  # (E,)


def restore_mask(logits: torch.Tensor, width: int, height: int, threshold: float = 0.0) -> torch.Tensor:
    """Bring a mask predicted on the centred padded square back to the original ``(height, width)``.

    Args:
        logits: ``(R, R)`` mask logits.
        width: Original image width.
        height: Original image height.
        threshold: Logit threshold (0 is probability 0.5).

    Returns:
        ``(height, width)`` bool.
    """
    side = max(width, height)
    square = F.interpolate(logits[None, None].float(), size=(side, side), mode="bilinear", align_corners=False)[0, 0]
    left, top = (side - width) // 2, (side - height) // 2
    return square[top : top + height, left : left + width] > threshold  # (H, W)


def pad_mask_to_square(mask: torch.Tensor, resolution: int) -> torch.Tensor:
    """A ``(H, W)`` 0/1 mask, padded to a centred square (as the processor pads images) and area-resized.

    Returns:
        ``(resolution, resolution)`` float in [0, 1].
    """
    height, width = mask.shape
    side = max(height, width)
    square = torch.zeros(side, side, dtype=torch.float32)
    left, top = (side - width) // 2, (side - height) // 2
    square[top : top + height, left : left + width] = mask.float()
    resized = F.interpolate(square[None, None], size=(resolution, resolution), mode="area")[0, 0]
    return (resized >= 0.5).float()  # (R, R)


def add_mask_head(model: Any, tokenizer: Any, settings: MaskHeadSettings | Mapping[str, Any] | None = None) -> CLMMaskHead:
    """Give ``model`` a fresh CLM mask head, in place, and the tokenizer its ``[SEG0]``.. tokens.

    Adds the ``L * N`` mask tokens (grow-only embedding resize), records their ids in the settings,
    sets ``config.mask_head = "clm"`` and initialises the head like the rest of the model.

    Args:
        model: A :class:`~univlm.models.modeling_univlm.UniVLMForConditionalGeneration`.
        tokenizer: Its tokenizer (extended in place).
        settings: :class:`MaskHeadSettings` or a dict of its fields (defaults when None).

    Returns:
        The new head (also ``model.mask_head``).

    Raises:
        ValueError: If the model already has a head or does not use ``image_mode="pad"``.
    """
    from tokenizer_ext import extend_tokenizer, mask_tokens, resize_embeddings_for

    if getattr(model, "mask_head", None) is not None:
        raise ValueError("model already has a mask head")
    if not isinstance(settings, MaskHeadSettings):
        settings = MaskHeadSettings.from_dict(settings)
    extend_tokenizer(tokenizer, num_mask_tokens=settings.num_mask_tokens, set_chat_template=False)
    resize_embeddings_for(model, tokenizer)
    vocab = tokenizer.get_vocab()
    settings = dataclasses.replace(settings, token_ids=tuple(vocab[t] for t in mask_tokens(settings.num_mask_tokens)))
    config = model.config
    config.mask_head_config = settings.to_dict()
    config.mask_head = "clm"
    config._check_mask_head_fields()
    vision = config.vision_config
    head = CLMMaskHead(
        settings,
        hidden_size=config.text_config.hidden_size,
        vision_hidden_size=vision.hidden_size,
        patch_grid=vision.image_size // vision.patch_size,
    )
    head.apply(model._init_weights)
    reference = model.get_input_embeddings().weight
    model.mask_head = head.to(device=reference.device, dtype=reference.dtype)
    return model.mask_head


@torch.no_grad()
def predict_head_masks(
    model: Any,
    input_ids: torch.Tensor,
    pixel_values: torch.Tensor,
    image_size: tuple[int, int],
    expert_ids: torch.Tensor | None = None,
    classes: Sequence[str] | None = None,
) -> tuple[list[torch.Tensor], list[str], list[str]]:
    """Masks for every complete ``[SEG0]``.. group of one sequence (prompt + generated answer).

    One extra forward over the whole sequence gives the hidden states that predicted each mask token
    (generation only kept them one step at a time) and the SigLIP layers the head reads.

    Args:
        model: A model with a ``mask_head``.
        input_ids: ``(1, T)`` prompt and answer tokens.
        pixel_values: The prompt's images; the first one is segmented.
        image_size: ``(width, height)`` of the original first image.
        expert_ids: Routing ids as for generation.
        classes: Memory class name per instance (or one for all), given by the user; None lets the
            head's classifier choose.

    Returns:
        ``(masks, class_names, problems)``: ``(height, width)`` bool masks, the class each used, and
        problems (mask tokens outside a complete group, which are ignored).

    Raises:
        ValueError: If a class name is not one of ``memory_classes``.
    """
    head = model.mask_head
    settings = head.settings
    found = find_mask_instances(input_ids, settings.token_ids)
    problems = []
    if found.incomplete:
        problems.append(
            f"{found.incomplete} mask tokens are outside a complete [SEG0]..[SEG{settings.num_mask_tokens - 1}] "
            "group and were ignored"
        )
    if found.rows.numel() == 0:
        return [], [], problems
    query = None
    if classes is not None:
        names = list(classes) * found.rows.numel() if len(classes) == 1 else list(classes)
        unknown = [c for c in names if c not in settings.memory_classes]
        if unknown or len(names) != found.rows.numel():
            raise ValueError(
                f"classes {list(classes)}: expected 1 or {found.rows.numel()} names from {list(settings.memory_classes)}"
            )
        query = torch.tensor([settings.memory_classes.index(c) for c in names])
    out = model.model(input_ids=input_ids, pixel_values=pixel_values, expert_ids=expert_ids, use_cache=False)
    conditions = out.last_hidden_state[found.rows[:, None], found.positions]  # (K, L*N, H)
    result = head(conditions, out["vision_hidden_states"], torch.zeros_like(found.rows), query)
    width, height = image_size
    masks = [restore_mask(logits, width, height).cpu() for logits in result.logits]
    return masks, [settings.memory_classes[int(c)] for c in result.classes], problems


def head_resolution(config: Any) -> int:
    """Side of the masks the head of a model with ``config`` predicts (``4 G``), without building it.

    Raises:
        ValueError: If ``config.mask_head`` is ``"none"``.
    """
    settings = config.mask_head_settings
    if settings is None:
        raise ValueError("the model config has mask_head='none'; expected 'clm'")
    vision = config.vision_config
    return MASK_UPSCALE * (settings.feature_grid or vision.image_size // vision.patch_size)


def mask_group_text(settings: MaskHeadSettings) -> str:
    """One instance's mask tokens as answer text, ``"[SEG0][SEG1]..."``."""
    return "".join(f"[SEG{i}]" for i in range(settings.num_mask_tokens))


__all__ = [
    "CLMMaskHead",
    "add_mask_head",
    "head_resolution",
    "mask_group_text",
    "predict_head_masks",
    "ClasswiseMemory",
    "MaskHeadOutput",
    "MaskInstances",
    "find_mask_instances",
    "first_image_of_examples",
    "pad_mask_to_square",
    "restore_mask",
]
