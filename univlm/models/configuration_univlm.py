"""Configuration of the UniVLM model: LLaVA-OneVision plus a training-free granularity MoE.

Design choices and their sources:

- ``UniVLMConfig`` subclasses transformers' ``LlavaOnevisionConfig`` so that the vision tower (SigLIP),
  the projector (2-layer GELU MLP), the image newline and the placeholder scattering keep their
  LLaVA-OneVision meaning and names; a dense univlm checkpoint is a LLaVA-OneVision checkpoint plus a
  few extra fields.
- The G-MoE fields follow RSUniVLM (arXiv 2412.05679): ``num_experts`` copies of each decoder FFN
  (image / region / pixel), chosen per sample by the task tag of the prompt. ``use_gmoe`` is False for
  the dense stage-1 model and becomes True after :func:`univlm.models.modeling_univlm.upcycle_to_gmoe`.
- ``router_table``, ``default_expert`` and ``router_mode`` live in the config, and only there, so a
  checkpoint carries its own routing and editing ``config.json`` changes it; every caller routes with
  :func:`univlm.models.router.route_from_config`. ``router_mode="precedence"`` is RSUniVLM's rule
  (``[SEG]`` anywhere -> pixel, else ``[VG]``/``[REF]`` -> region, else image); ``"first"`` takes the
  first known tag in text order.
- ``image_mode="pad"`` is RSUniVLM's setting (pad to square, one crop, ``(S/p)^2`` tokens + 1 newline);
  ``"anyres_max_N"`` selects LLaVA-OneVision's AnyRes packing unchanged.
"""

from __future__ import annotations

import re

from huggingface_hub.dataclasses import strict
from transformers import LlavaOnevisionConfig

from univlm.models.configuration_mask_head import MASK_HEAD_KINDS, MaskHeadSettings
from univlm.models.router import (
    DEFAULT_EXPERT,
    DEFAULT_ROUTER_MODE,
    DEFAULT_ROUTER_TABLE,
    EXPERT_NAMES,
    ROUTER_MODES,
)

_ANYRES_RE = re.compile(r"^anyres_max_(\d+)$")


@strict
class UniVLMConfig(LlavaOnevisionConfig):
    r"""Configuration of :class:`~univlm.models.modeling_univlm.UniVLMForConditionalGeneration`.

    All ``LlavaOnevisionConfig`` arguments apply (``vision_config``, ``text_config``, ``image_token_id``,
    ``vision_feature_layer``, ...). Extra arguments:

    Args:
        num_experts: Number of expert FFNs per G-MoE decoder layer.
        expert_names: Name of each expert, in id order (default ``["image", "region", "pixel"]``).
        moe_layers: Indices of the decoder layers that hold experts; None means all layers.
        use_gmoe: Whether the decoder FFNs are G-MoE experts (True after upcycling) or dense.
        router_table: Task tag -> expert name (default :data:`univlm.models.router.DEFAULT_ROUTER_TABLE`).
        default_expert: Expert for prompts without a known task tag.
        router_mode: ``"precedence"`` (RSUniVLM: the finest expert any tag names wins) or ``"first"``
            (the first known tag in text order).
        image_mode: ``"pad"`` (one square crop per image) or ``"anyres_max_N"`` (LLaVA-OneVision AnyRes).
        mask_head: ``"none"`` (default: text masks only) or ``"clm"`` (the ``[SEG]``-token mask head of
            :mod:`univlm.models.mask_head`, saved under the ``mask_head.`` key prefix).
        mask_head_config: The head's settings, a dict of
            :class:`univlm.models.configuration_mask_head.MaskHeadSettings` fields (defaults when None).

    Raises:
        ValueError: If the expert names, routing table, MoE layers or image mode are inconsistent.
    """

    model_type = "univlm"

    num_experts: int = 3
    expert_names: list | None = None
    moe_layers: list | None = None
    use_gmoe: bool = False
    router_table: dict | None = None
    default_expert: str = DEFAULT_EXPERT
    router_mode: str = DEFAULT_ROUTER_MODE
    image_mode: str = "pad"
    mask_head: str = "none"
    mask_head_config: dict | None = None

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        if self.expert_names is None:
            self.expert_names = list(EXPERT_NAMES[: self.num_experts])
        self.expert_names = list(self.expert_names)
        if self.router_table is None:
            self.router_table = dict(DEFAULT_ROUTER_TABLE)
        self.router_table = dict(self.router_table)
        if self.moe_layers is not None:
            self.moe_layers = sorted({int(i) for i in self.moe_layers})
        self._check_gmoe_fields()
        self._check_mask_head_fields()

    def _check_mask_head_fields(self) -> None:
        if self.mask_head not in MASK_HEAD_KINDS:
            raise ValueError(f"mask_head must be one of {list(MASK_HEAD_KINDS)}, got {self.mask_head!r}")
        if self.mask_head == "none":
            return
        if self.image_mode != "pad":
            raise ValueError(f"mask_head {self.mask_head!r} needs image_mode 'pad', got {self.image_mode!r}")
        settings = MaskHeadSettings.from_dict(self.mask_head_config)
        self.mask_head_config = settings.to_dict()
        num_states = self.vision_config.num_hidden_layers + 1
        bad = [i for i in settings.vision_layers if not -num_states <= i < num_states]
        if bad:
            raise ValueError(
                f"mask_head_config.vision_layers {bad} out of range for a vision tower with {num_states} hidden states"
            )

    @property
    def mask_head_settings(self) -> MaskHeadSettings | None:
        """The mask head's settings, or None when ``mask_head`` is ``"none"``."""
        if self.mask_head == "none":
            return None
        return MaskHeadSettings.from_dict(self.mask_head_config)

    def _check_gmoe_fields(self) -> None:
        if self.num_experts < 1:
            raise ValueError(f"num_experts must be >= 1, got {self.num_experts}")
        if len(self.expert_names) != self.num_experts:
            raise ValueError(
                f"expert_names has {len(self.expert_names)} names, expected num_experts={self.num_experts}: "
                f"{self.expert_names}"
            )
        if self.default_expert not in self.expert_names:
            raise ValueError(f"default_expert {self.default_expert!r} is not one of {self.expert_names}")
        unknown = {tag: name for tag, name in self.router_table.items() if name not in self.expert_names}
        if unknown:
            raise ValueError(f"router_table names unknown experts {unknown}; expected one of {self.expert_names}")
        if self.router_mode not in ROUTER_MODES:
            raise ValueError(f"router_mode must be one of {list(ROUTER_MODES)}, got {self.router_mode!r}")
        num_layers = self.text_config.num_hidden_layers
        if self.moe_layers is not None:
            bad = [i for i in self.moe_layers if not 0 <= i < num_layers]
            if bad:
                raise ValueError(f"moe_layers {bad} out of range for {num_layers} decoder layers")
        if self.image_mode != "pad" and not _ANYRES_RE.match(self.image_mode):
            raise ValueError(f"image_mode must be 'pad' or 'anyres_max_N', got {self.image_mode!r}")

    @property
    def gmoe_layer_indices(self) -> list[int]:
        """Decoder layers that hold experts (all layers when ``moe_layers`` is None)."""
        if self.moe_layers is None:
            return list(range(self.text_config.num_hidden_layers))
        return list(self.moe_layers)

    def expert_id(self, name: str) -> int:
        """Return the id of the expert called ``name``.

        Raises:
            ValueError: If no expert has that name.
        """
        try:
            return self.expert_names.index(name)
        except ValueError:
            raise ValueError(f"unknown expert {name!r}; expected one of {self.expert_names}") from None


__all__ = ["UniVLMConfig"]
