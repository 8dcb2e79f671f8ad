"""Settings of the optional ``[SEG]``-token mask head (``UniVLMConfig.mask_head = "clm"``).

Design choices and their sources:

- The settings are a plain frozen dataclass stored in the model config as a dict
  (``UniVLMConfig.mask_head_config``), so ``config.json`` stays flat JSON and a model without a head
  carries nothing new. The module imports neither torch nor transformers.
- Defaults follow GeoPix (arXiv 2501.06828) and PixelLM (arXiv 2312.02228): ``L = 2`` scales with
  ``N = 3`` mask tokens each, condition width ``D = 256``, SigLIP layers ``-2`` (coarse, semantic) and
  ``-11`` (fine), loss weights text CE 1, mask BCE 2, Dice 0.5, PixelLM's target refinement with
  ``alpha = 2``.
- The class-wise memory is sized for a 0.5B model: 16 classes x 2 scales x 4 slots x 64 channels x
  16 x 16 = 2.1M parameters (GeoPix's released bank is 629M).
- ``memory_classes`` names the memory rows; the class query is that row's index. It comes from the
  training sample, from the user, or from the head's classifier; no index is ever fixed in code
  (GeoPix's release hard-codes 74).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

MASK_HEAD_KINDS: tuple[str, ...] = ("none", "clm")

DEFAULT_MEMORY_CLASSES: tuple[str, ...] = (
    "building",
    "road",
    "water",
    "vegetation",
    "tree",
    "vehicle",
    "bare land",
    "ship",
    "airplane",
    "storage tank",
    "bridge",
    "harbor",
    "farmland",
    "parking lot",
    "sports field",
    "others",
)


@dataclasses.dataclass(frozen=True)
class MaskHeadSettings:
    """Sizes, switches and loss weights of :class:`univlm.models.mask_head.CLMMaskHead`.

    Attributes:
        num_scales: ``L``, mask scales (one SigLIP layer, projector, neck and decoder each).
        tokens_per_scale: ``N``, mask tokens per scale; one instance is ``L * N`` tokens ``[SEG0]``...
        dim: ``D``, the head's channel width.
        vision_layers: SigLIP hidden-state index per scale, coarse first (``hidden_states[i]``).
        feature_grid: Side of the fixed feature grid the necks resample to; None keeps the patch grid.
            Masks are predicted at 4x this side.
        decoder_depth: Two-way transformer blocks per scale.
        num_heads: Attention heads in the decoder and the memory attention.
        mlp_dim: Hidden width of the decoder's MLPs.
        use_memory: Run the class-wise learnable memory (False: the head without CLM).
        memory_classes: Names of the memory rows (the class query is an index into them).
        memory_slots: ``N_mem``, memory slots per class and scale.
        memory_dim: ``D_mem``, channels of one memory slot.
        memory_size: ``h = w``, spatial side of one memory slot.
        memory_scale_init: Initial value of the learnable scale on the memory attention's residual
            (not 0: at 0 the memory would get no gradient on the first step).
        text_weight: Weight of the text cross-entropy.
        bce_weight: Weight of the mask binary cross-entropy.
        dice_weight: Weight of the mask Dice loss.
        refine_weight: Weight of PixelLM's target-refinement loss.
        refine_alpha: Pixel weight of the refinement BCE where at least 2 predicted masks of one image
            overlap (1 elsewhere).
        class_weight: Weight of the class-query classifier's cross-entropy.
        token_ids: Ids of ``[SEG0]`` .. ``[SEG{L*N-1}]`` in the model's tokenizer (set by
            :func:`univlm.models.mask_head.add_mask_head`); empty until then.
    """

    num_scales: int = 2
    tokens_per_scale: int = 3
    dim: int = 256
    vision_layers: tuple[int, ...] = (-2, -11)
    feature_grid: int | None = None
    decoder_depth: int = 2
    num_heads: int = 8
    mlp_dim: int = 1024
    use_memory: bool = True
    memory_classes: tuple[str, ...] = DEFAULT_MEMORY_CLASSES
    memory_slots: int = 4
    memory_dim: int = 64
    memory_size: int = 16
    memory_scale_init: float = 0.1
    text_weight: float = 1.0
    bce_weight: float = 2.0
    dice_weight: float = 0.5
    refine_weight: float = 1.0
    refine_alpha: float = 2.0
    class_weight: float = 0.1
    token_ids: tuple[int, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "vision_layers", tuple(int(i) for i in self.vision_layers))
        object.__setattr__(self, "memory_classes", tuple(str(c) for c in self.memory_classes))
        object.__setattr__(self, "token_ids", tuple(int(i) for i in self.token_ids))
        for name in ("num_scales", "tokens_per_scale", "dim", "decoder_depth", "num_heads", "mlp_dim",
                     "memory_slots", "memory_dim", "memory_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"mask_head_config.{name} must be >= 1, got {getattr(self, name)}")
        if len(self.vision_layers) != self.num_scales:
            raise ValueError(
                f"mask_head_config.vision_layers has {len(self.vision_layers)} entries, expected "
                f"num_scales={self.num_scales}: {list(self.vision_layers)}"
            )
        if self.dim % (2 * self.num_heads) or self.dim % 8:
            raise ValueError(
                f"mask_head_config.dim={self.dim} must be a multiple of 8 and of 2 * num_heads={2 * self.num_heads}"
            )
        if self.token_ids and len(self.token_ids) != self.num_mask_tokens:
            raise ValueError(
                f"mask_head_config.token_ids has {len(self.token_ids)} ids, expected "
                f"num_scales * tokens_per_scale = {self.num_mask_tokens}"
            )
        if self.feature_grid is not None and self.feature_grid < 1:
            raise ValueError(f"mask_head_config.feature_grid must be None or >= 1, got {self.feature_grid}")
        if not self.memory_classes or len(set(self.memory_classes)) != len(self.memory_classes):
            raise ValueError(f"mask_head_config.memory_classes must be non-empty and unique: {self.memory_classes}")
        for name in ("text_weight", "bce_weight", "dice_weight", "refine_weight", "class_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"mask_head_config.{name} must be >= 0, got {getattr(self, name)}")

    @property
    def num_mask_tokens(self) -> int:
        """Mask tokens per instance, ``L * N``."""
        return self.num_scales * self.tokens_per_scale

    @property
    def num_classes(self) -> int:
        """Rows of the memory bank."""
        return len(self.memory_classes)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None) -> MaskHeadSettings:
        """Build settings from a config dict, naming any unknown field.

        Raises:
            ValueError: On an unknown field or an invalid value.
        """
        values = dict(values or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"mask_head_config has unknown fields {unknown}; expected some of {sorted(known)}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (tuples become lists)."""
        out = dataclasses.asdict(self)
        out["vision_layers"] = list(self.vision_layers)
        out["memory_classes"] = list(self.memory_classes)
        out["token_ids"] = list(self.token_ids)
        return out


def mask_token_names(num_mask_tokens: int) -> list[str]:
    """The mask tokens of one instance, ``["[SEG0]", "[SEG1]", ...]``."""
    return [f"[SEG{i}]" for i in range(num_mask_tokens)]


def mask_token_answer_text(num_instances: int, num_mask_tokens: int) -> str:
    """The head-mode answer for ``num_instances`` instances: ``"Sure: G."``, ``"Sure: G and G."``, ``"Sure: G, G and G."``.

    The one definition of the answer form, shared by the training targets
    (:func:`univlm.models.mask_head_targets.mask_token_answer`) and the decoding grammar
    (:class:`univlm.inference.grammars.MaskTokenGrammar`), so both see the same tokens.

    Raises:
        ValueError: If ``num_instances < 1``.
    """
    if num_instances < 1:
        raise ValueError(f"a mask-token answer needs at least 1 instance, got {num_instances}")
    group = "".join(mask_token_names(num_mask_tokens))
    groups = [group] * num_instances
    body = groups[0] if num_instances == 1 else ", ".join(groups[:-1]) + " and " + groups[-1]
    return f"Sure: {body}."


__all__ = [
    "DEFAULT_MEMORY_CLASSES",
    "MASK_HEAD_KINDS",
    "MaskHeadSettings",
    "mask_token_answer_text",
    "mask_token_names",
]
