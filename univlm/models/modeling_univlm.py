"""The UniVLM model: LLaVA-OneVision (SigLIP -> 2-layer MLP -> Qwen2) with a granularity MoE (G-MoE).

Design choices and their sources:

- Everything but the decoder FFNs is transformers' LLaVA-OneVision: ``UniVLMModel`` subclasses
  ``LlavaOnevisionModel`` (vision tower, ``multi_modal_projector.linear_1/linear_2``, ``image_newline``,
  ``masked_scatter`` of image features into the ``<image>`` placeholders) and
  ``UniVLMForConditionalGeneration`` subclasses ``LlavaOnevisionForConditionalGeneration`` (LM head,
  loss, ``GenerationMixin``). Parameter names therefore match llava-hf checkpoints.
- G-MoE (RSUniVLM, arXiv 2412.05679): every selected decoder layer holds ``num_experts`` copies of the
  Qwen2 FFN (:class:`GMoEMLP`). Routing is hard and decided outside the network (a pure function of the
  prompt's task tag, :mod:`univlm.models.router`), so each token runs through exactly one expert and
  the compute per token equals the dense model's.
- Every expert is called on every forward, in id order, on an empty slice when no token is routed to
  it, so DDP never sees unused parameters and ZeRO-3 gathers parameters in a stable order.
- ``expert_ids`` travel as an explicit keyword argument: ``forward`` -> ``LlavaOnevisionModel.forward``
  ``**kwargs`` -> ``Qwen2Model.forward`` ``**kwargs`` -> each :class:`UniVLMDecoderLayer`. transformers'
  ``GradientCheckpointingLayer`` binds keyword arguments into the checkpointed call
  (``partial(forward, self, **kwargs)``), so the ids survive the backward recomputation. RSUniVLM's
  released code lost them there; no module attribute or global holds routing state here.
- ``image_mode="pad"`` (RSUniVLM's setting, also what LLaVA-OneVision does for multi-image input):
  one square crop per image, ``(S/p)^2`` tokens plus one ``image_newline`` token. ``anyres_max_N`` is
  delegated unchanged to LLaVA-OneVision's AnyRes packing.
- Attention: ``sdpa`` on CPU, ``flash_attention_2`` when CUDA and ``flash_attn`` are present
  (:func:`pick_attn_implementation`).
- A model trained from scratch (the ``tiny`` CPU demo) may start its vision tower's position embedding
  from a fixed 2-D sin-cos table (:func:`init_vision_positions_sincos`, the ``posemb="sincos2d"`` of
  big_vision's plain-ViT baselines and MAE) instead of noise, so every image token carries a position
  the LLM can read from the first step; grounding answers are absolute coordinates. Pretrained weights
  overwrite it, and the parameter stays trainable.
"""

from __future__ import annotations

import copy
import importlib.util
import logging
import math
from collections.abc import Iterable

import torch
from torch import nn
from transformers import LlavaOnevisionForConditionalGeneration, LlavaOnevisionModel
from transformers.modeling_outputs import BaseModelOutputWithPooling
from transformers.models.llava_onevision.modeling_llava_onevision import LlavaOnevisionPreTrainedModel
from transformers.models.qwen2.modeling_qwen2 import Qwen2DecoderLayer, Qwen2MLP
from transformers.utils.generic import can_return_tuple, merge_with_config_defaults
from transformers.utils.output_capturing import select_hidden_states

from univlm.models.configuration_univlm import UniVLMConfig

logger = logging.getLogger(__name__)


def pick_attn_implementation() -> str:
    """Return ``"flash_attention_2"`` when CUDA and ``flash_attn`` are available, else ``"sdpa"``."""
    if torch.cuda.is_available() and importlib.util.find_spec("flash_attn") is not None:
        return "flash_attention_2"
    return "sdpa"


def pick_dtype() -> torch.dtype:
    """Return ``torch.bfloat16`` on CUDA and ``torch.float32`` on CPU."""
    return torch.bfloat16 if torch.cuda.is_available() else torch.float32


def sincos_2d_table(side: int, dim: int, fit_grid: bool = False) -> torch.Tensor:
    """A ``(side * side, dim)`` 2-D sin-cos position table, rows in raster order (y major).

    The first half of the channels encodes y, the second x; each half is ``[sin, cos]`` over
    ``dim // 4`` frequencies ``10000 ** (-i / (dim // 4))``. Channels beyond ``4 * (dim // 4)`` are 0.

    Args:
        side: Patches per side.
        dim: Channels.
        fit_grid: Instead of MAE's frequencies, space them geometrically from ``pi`` (period 2
            patches) down to ``pi / side`` (period ``2 * side``), then centre every channel over the
            positions and scale it to unit RMS. On a small grid most MAE channels are nearly constant
            (``cos(7 * 1e-3) ~ 1``), so the table is mostly one shared offset; this one has none.

    Raises:
        ValueError: If ``dim < 4``.
    """
    if dim < 4:
        raise ValueError(f"a 2-D sin-cos table needs at least 4 channels, got {dim}")
    quarter = dim // 4
    if fit_grid:
        steps = torch.arange(quarter, dtype=torch.float32) / max(1, quarter - 1)  # (Q,) in [0, 1]
        omega = math.pi * float(side) ** (-steps)  # (Q,) from pi down to pi / side
    else:
        omega = 1.0 / 10000 ** (torch.arange(quarter, dtype=torch.float32) / quarter)  # (Q,)
    coords = torch.arange(side, dtype=torch.float32)
    ys, xs = torch.meshgrid(coords, coords, indexing="ij")  # (side, side) each

    def encode(pos: torch.Tensor) -> torch.Tensor:
        angles = pos.reshape(-1, 1) * omega.reshape(1, -1)  # (side * side, Q)
        return torch.cat([angles.sin(), angles.cos()], dim=1)  # (side * side, 2Q)

    table = torch.zeros(side * side, dim)
    table[:, : 4 * quarter] = torch.cat([encode(ys), encode(xs)], dim=1)  # (side * side, 4Q)
    if fit_grid and side > 1:
        used = table[:, : 4 * quarter]
        used = used - used.mean(dim=0, keepdim=True)
        rms = used.pow(2).mean(dim=0, keepdim=True).sqrt()
        # A channel that is 0 at every position (sin(pi * p) on integer p) stays 0.
        table[:, : 4 * quarter] = torch.where(rms > 1e-6, used / rms.clamp_min(1e-6), torch.zeros_like(used))
    return table


def init_vision_positions_sincos(model: nn.Module, fit_grid: bool = False) -> None:
    """Overwrite the SigLIP position embedding of ``model`` with :func:`sincos_2d_table`, in place.

    Args:
        model: A univlm / LLaVA-OneVision model (or anything holding one SigLIP vision embedding).

    Raises:
        ValueError: If the model has no SigLIP position embedding, or its patch count is not a square.
    """
    embeddings = [m for m in model.modules() if isinstance(getattr(m, "position_embedding", None), nn.Embedding)]
    if len(embeddings) != 1:
        raise ValueError(f"expected exactly 1 vision position embedding, found {len(embeddings)}")
    weight = embeddings[0].position_embedding.weight  # (num_patches, D)
    side = math.isqrt(weight.shape[0])
    if side * side != weight.shape[0]:
        raise ValueError(f"{weight.shape[0]} vision positions do not form a square grid")
    with torch.no_grad():
        weight.copy_(sincos_2d_table(side, weight.shape[1], fit_grid=fit_grid).to(weight.dtype))


class GMoEMLP(nn.Module):
    """Granularity MoE FFN: ``num_experts`` Qwen2 FFNs with hard, externally decided routing.

    Args:
        config: The Qwen2 text config (hidden size, intermediate size, activation).
        num_experts: Number of expert FFNs.
        experts: Ready-made expert modules (default: fresh ``Qwen2MLP``s).

    Raises:
        ValueError: If ``experts`` does not hold ``num_experts`` modules.
    """

    def __init__(self, config, num_experts: int, experts: Iterable[nn.Module] | None = None):
        super().__init__()
        experts = [Qwen2MLP(config) for _ in range(num_experts)] if experts is None else list(experts)
        if len(experts) != num_experts:
            raise ValueError(f"got {len(experts)} expert modules, expected num_experts={num_experts}")
        self.num_experts = num_experts
        self.experts = nn.ModuleList(experts)

    @classmethod
    def from_dense(cls, mlp: Qwen2MLP, num_experts: int) -> GMoEMLP:
        """Build a G-MoE FFN whose experts are exact copies of the dense ``mlp`` (upcycling)."""
        return cls(mlp.config, num_experts, [copy.deepcopy(mlp) for _ in range(num_experts)])

    def forward(self, hidden_states: torch.Tensor, expert_ids: torch.Tensor | int) -> torch.Tensor:
        """Run every token through the expert it is routed to.

        Args:
            hidden_states: ``(B, T, D)`` normalised hidden states.
            expert_ids: ``(B,)`` one expert per sample, ``(B, T)`` one per token, or an ``int``: one
                expert for every token (the inference fast path; the other experts are not called).

        Returns:
            ``(B, T, D)`` FFN outputs.
        """
        if isinstance(expert_ids, int):
            return self.experts[expert_ids](hidden_states)  # (B, T, D)
        batch, seq_len, dim = hidden_states.shape
        if expert_ids.dim() == 1:
            expert_ids = expert_ids[:, None].expand(batch, seq_len)  # (B, T)
        if tuple(expert_ids.shape) != (batch, seq_len):
            raise ValueError(
                f"expert_ids has shape {tuple(expert_ids.shape)}, expected ({batch},) or ({batch}, {seq_len})"
            )
        flat = hidden_states.reshape(batch * seq_len, dim)  # (N, D)
        ids = expert_ids.reshape(-1).to(flat.device)  # (N,)
        outputs, positions = [], []
        single_expert = None
        # Fixed order, every expert called (an empty slice when nobody is routed to it).
        for e, expert in enumerate(self.experts):
            idx = (ids == e).nonzero().squeeze(-1)  # (n_e,)
            if idx.numel() == flat.shape[0]:
                single_expert = e
                outputs.append(expert(flat))  # (N, D): no gather when the whole batch agrees
            else:
                outputs.append(expert(flat.index_select(0, idx)))  # (n_e, D)
            positions.append(idx)
        if single_expert is not None:
            # The other slices are empty; concatenating keeps them in the autograd graph (zero grads).
            out = torch.cat(outputs, dim=0)  # (N, D), already in token order
        else:
            order = torch.cat(positions)  # (N,)
            out = torch.empty_like(flat).index_copy(0, order, torch.cat(outputs, dim=0))  # (N, D)
        return out.reshape(batch, seq_len, dim)  # (B, T, D)


class UniVLMDecoderLayer(Qwen2DecoderLayer):
    """A Qwen2 decoder layer whose FFN may be a :class:`GMoEMLP`.

    Args:
        config: The Qwen2 text config.
        layer_idx: Index of the layer in the decoder.
        num_experts: 0 keeps the dense ``Qwen2MLP``; otherwise the number of experts.
    """

    def __init__(self, config, layer_idx: int, num_experts: int = 0):
        super().__init__(config, layer_idx)
        if num_experts:
            self.mlp = GMoEMLP(config, num_experts)

    @property
    def is_gmoe(self) -> bool:
        """Whether this layer's FFN is a G-MoE."""
        return isinstance(self.mlp, GMoEMLP)

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        position_embeddings: tuple[torch.Tensor, torch.Tensor] | None = None,
        expert_ids: torch.Tensor | None = None,
        **kwargs,
    ) -> torch.Tensor:
        """Qwen2's pre-norm attention + FFN block; ``expert_ids`` pick the expert FFN per sample/token.

        Raises:
            ValueError: If the layer is a G-MoE and ``expert_ids`` is None.
        """
        residual = hidden_states
        hidden_states = self.input_layernorm(hidden_states)
        hidden_states, _ = self.self_attn(
            hidden_states=hidden_states,
            attention_mask=attention_mask,
            position_ids=position_ids,
            position_embeddings=position_embeddings,
            **kwargs,
        )
        hidden_states = residual + hidden_states

        residual = hidden_states
        hidden_states = self.post_attention_layernorm(hidden_states)
        if self.is_gmoe:
            if expert_ids is None:
                raise ValueError("this G-MoE layer needs expert_ids of shape (B,) or (B, T); got None")
            hidden_states = self.mlp(hidden_states, expert_ids)
        else:
            hidden_states = self.mlp(hidden_states)
        return residual + hidden_states


def _check_expert_ids(
    expert_ids: torch.Tensor | Iterable[int],
    batch: int,
    seq_len: int,
    num_experts: int,
    device: torch.device,
    collapse_single: bool = False,
) -> torch.Tensor | int:
    """Validate routing ids once per forward and return them as a long tensor on ``device``.

    With ``collapse_single`` (inference), ids that all name one expert come back as that ``int``, so
    each G-MoE layer calls the expert directly (:meth:`GMoEMLP.forward`).
    """
    expert_ids = torch.as_tensor(expert_ids, device=device)
    if expert_ids.dtype.is_floating_point or expert_ids.dtype == torch.bool:
        raise ValueError(f"expert_ids must be an integer tensor, got dtype {expert_ids.dtype}")
    expert_ids = expert_ids.long()
    if expert_ids.dim() == 0:
        expert_ids = expert_ids.expand(batch)  # (B,)
    if expert_ids.dim() == 1:
        ok = expert_ids.shape[0] == batch
    else:
        ok = expert_ids.dim() == 2 and tuple(expert_ids.shape) == (batch, seq_len)
    if not ok:
        raise ValueError(
            f"expert_ids has shape {tuple(expert_ids.shape)}, expected ({batch},) or ({batch}, {seq_len})"
        )
    if not expert_ids.numel():
        return expert_ids
    low, high = int(expert_ids.min()), int(expert_ids.max())
    if low < 0 or high >= num_experts:
        raise ValueError(f"expert_ids must lie in [0, {num_experts}), got values in [{low}, {high}]")
    return low if collapse_single and low == high else expert_ids


class UniVLMPreTrainedModel(LlavaOnevisionPreTrainedModel):
    """Shared class attributes of the UniVLM models."""

    config: UniVLMConfig
    config_class = UniVLMConfig
    _no_split_modules = ["UniVLMDecoderLayer", "SiglipEncoderLayer"]
    _supports_flash_attn = True
    _supports_sdpa = True
    supports_gradient_checkpointing = True

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        """``PreTrainedModel.from_pretrained``; on CUDA the default attention is flash-attention 2 if installed.

        The dtype is left to the caller (training keeps float32 master weights); inference code can
        pass ``dtype=pick_dtype()`` for bf16 on CUDA.
        """
        if torch.cuda.is_available():
            kwargs.setdefault("attn_implementation", pick_attn_implementation())
        return super().from_pretrained(*args, **kwargs)

    def _init_weights(self, module):
        super()._init_weights(module)
        # Mask-head modules own raw parameters (memory bank, fusion and scale weights) that the generic
        # per-layer-type init does not know; each initialises its own.
        own = getattr(module, "_init_own_parameters", None)
        if callable(own):
            own()


class UniVLMModel(UniVLMPreTrainedModel, LlavaOnevisionModel):
    """LLaVA-OneVision's vision-language backbone with G-MoE decoder layers (no LM head).

    Args:
        config: A :class:`UniVLMConfig`.
    """

    def __init__(self, config: UniVLMConfig):
        super().__init__(config)
        # LlavaOnevisionModel built a stock Qwen2Model; swap its layers for ours (same parameter names
        # when dense, `mlp.experts.{e}.*` when G-MoE) and re-run the weight init for them.
        text_config = config.text_config
        gmoe_layers = set(config.gmoe_layer_indices) if config.use_gmoe else set()
        self.language_model.layers = nn.ModuleList(
            [
                UniVLMDecoderLayer(text_config, i, config.num_experts if i in gmoe_layers else 0)
                for i in range(text_config.num_hidden_layers)
            ]
        )
        self.post_init()

    @merge_with_config_defaults
    @can_return_tuple
    @select_hidden_states("vision_feature_layer")
    def get_image_features(
        self,
        pixel_values: torch.Tensor,
        image_sizes: torch.Tensor | None = None,
        vision_feature_layer: int | list[int] | None = None,
        vision_feature_select_strategy: str | None = None,
        vision_aspect_ratio: str | None = None,
        batch_num_images: torch.LongTensor | None = None,
        **kwargs,
    ) -> BaseModelOutputWithPooling:
        """Encode images; ``pooler_output`` is a list with one ``(tokens_i, D)`` tensor per image.

        In ``"pad"`` mode every image is one crop: ``pixel_values`` is ``(N, 1, 3, S, S)`` or
        ``(N, 3, S, S)`` and each image yields ``(S/p)^2 + 1`` tokens (features + ``image_newline``).
        Other modes are LLaVA-OneVision's AnyRes.

        Raises:
            ValueError: If ``pixel_values`` does not hold exactly one crop per image in pad mode.
        """
        if self.config.image_mode != "pad":
            return super().get_image_features(
                pixel_values,
                image_sizes,
                vision_feature_layer=vision_feature_layer,
                vision_feature_select_strategy=vision_feature_select_strategy,
                vision_aspect_ratio=self.config.image_mode,
                batch_num_images=batch_num_images,
                **kwargs,
            )
        if pixel_values.dim() == 5:
            if pixel_values.shape[1] != 1:
                raise ValueError(
                    f"image_mode 'pad' expects one crop per image, pixel_values of shape "
                    f"{tuple(pixel_values.shape)} has {pixel_values.shape[1]}; expected (num_images, 1, 3, S, S)"
                )
            pixel_values = pixel_values[:, 0]  # (N, 3, S, S)
        elif pixel_values.dim() != 4:
            raise ValueError(
                f"pixel_values of shape {tuple(pixel_values.shape)}; expected (num_images, 1, 3, S, S)"
            )
        settings = self.config.mask_head_settings
        wanted = kwargs.get("output_hidden_states")
        if settings is not None and wanted is not True:
            # Also keep the SigLIP layers the mask head reads (only the selected layers are captured).
            wanted = [wanted] if isinstance(wanted, int) and not isinstance(wanted, bool) else list(wanted or [])
            kwargs["output_hidden_states"] = list(dict.fromkeys([*wanted, *settings.vision_layers]))
        image_outputs = self.vision_tower(pixel_values, return_dict=True, **kwargs)
        if isinstance(vision_feature_layer, int):
            selected = image_outputs.hidden_states[vision_feature_layer]  # (N, L, C)
        else:
            selected = torch.cat([image_outputs.hidden_states[i] for i in vision_feature_layer], dim=-1)
        if vision_feature_select_strategy == "default":
            selected = selected[:, 1:]  # drop the CLS position (CLIP towers)
        image_features = self.multi_modal_projector(selected)  # (N, L, D)
        per_image = list(image_features[:, None])  # N x (1, L, D): one crop each
        packed, _ = self.pack_image_features(per_image, image_sizes, image_newline=self.image_newline)
        image_outputs.pooler_output = packed  # N x (L + 1, D)
        return image_outputs

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        pixel_values: torch.Tensor | None = None,
        image_sizes: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        expert_ids: torch.Tensor | None = None,
        **kwargs,
    ):
        """LLaVA-OneVision's forward with routing ids.

        Args:
            input_ids: ``(B, T)`` token ids with one ``<image>`` placeholder per image feature token.
            pixel_values: ``(num_images, 1, 3, S, S)`` in pad mode, images ordered sample by sample.
            image_sizes: ``(num_images, 2)`` original (H, W); used by AnyRes only.
            attention_mask: ``(B, T)`` padding mask.
            position_ids: ``(B, T)`` positions (packed sequences restart them).
            inputs_embeds: ``(B, T, D)`` instead of ``input_ids``.
            expert_ids: ``(B,)`` or ``(B, T)`` expert per sample / token; required by G-MoE models
                (defaults to ``config.default_expert`` with a warning), ignored by dense ones.
            **kwargs: Passed to ``LlavaOnevisionModel.forward``.

        Returns:
            ``LlavaOnevisionModelOutputWithPast``.

        Raises:
            ValueError: On malformed ``expert_ids`` or image/placeholder count mismatches.
        """
        if self.config.use_gmoe:
            ref = input_ids if input_ids is not None else inputs_embeds
            batch, seq_len = ref.shape[:2]
            if expert_ids is None:
                logger.warning(
                    "G-MoE model called without expert_ids; routing every token to the default expert %r",
                    self.config.default_expert,
                )
                expert_ids = torch.full((batch,), self.config.expert_id(self.config.default_expert))
            # At inference a batch on one expert (what the predictor's expert grouping produces) becomes
            # an int: each layer calls that expert directly, with no per-layer gather or sync. Training
            # keeps the tensor path, which holds every expert in the autograd graph.
            kwargs["expert_ids"] = _check_expert_ids(
                expert_ids, batch, seq_len, self.config.num_experts, ref.device,
                collapse_single=not torch.is_grad_enabled(),
            )  # fmt: skip
        settings = self.config.mask_head_settings
        captured: list[tuple[torch.Tensor, ...]] = []
        handle = None
        if settings is not None and pixel_values is not None:
            # The mask head reads intermediate SigLIP layers that LLaVA-OneVision's forward drops; a hook
            # scoped to this call keeps them (no state outlives the forward).
            handle = self.vision_tower.register_forward_hook(lambda _m, _a, out: captured.append(out.hidden_states))
        try:
            outputs = super().forward(
                input_ids=input_ids,
                pixel_values=pixel_values,
                image_sizes=image_sizes,
                attention_mask=attention_mask,
                position_ids=position_ids,
                inputs_embeds=inputs_embeds,
                **kwargs,
            )
        finally:
            if handle is not None:
                handle.remove()
        if captured and captured[-1] is not None:
            # One (num_images, P, C) map per mask-head scale, coarse first.
            outputs["vision_hidden_states"] = tuple(captured[-1][i] for i in settings.vision_layers)
        return outputs


class UniVLMForConditionalGeneration(UniVLMPreTrainedModel, LlavaOnevisionForConditionalGeneration):
    """UniVLM with its language-modelling head; generates text for image, region and pixel tasks.

    Args:
        config: A :class:`UniVLMConfig`.
    """

    def __init__(self, config: UniVLMConfig):
        # LlavaOnevisionForConditionalGeneration.__init__ would build a LlavaOnevisionModel that we would
        # throw away; build ours directly (same attribute names, so parameter names are unchanged).
        UniVLMPreTrainedModel.__init__(self, config)
        self.model = UniVLMModel(config)
        self.lm_head = nn.Linear(config.text_config.hidden_size, config.text_config.vocab_size, bias=False)
        settings = config.mask_head_settings
        if settings is not None:
            # Imported here: mask_head imports this module (sincos_2d_table).
            from univlm.models.mask_head import CLMMaskHead

            vision = config.vision_config
            self.mask_head = CLMMaskHead(
                settings,
                hidden_size=config.text_config.hidden_size,
                vision_hidden_size=vision.hidden_size,
                patch_grid=vision.image_size // vision.patch_size,
            )
        self.post_init()

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        pixel_values: torch.Tensor | None = None,
        image_sizes: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        expert_ids: torch.Tensor | None = None,
        **kwargs,
    ):
        """LLaVA-OneVision's forward (logits, loss) with routing ids; see :meth:`UniVLMModel.forward`.

        Args:
            labels: ``(B, T)`` next-token targets, -100 where ignored.
            logits_to_keep: Keep only the last N positions' logits (0 keeps all).
            expert_ids: ``(B,)`` or ``(B, T)`` expert per sample / token.

        Returns:
            ``LlavaOnevisionCausalLMOutputWithPast`` with ``loss`` when ``labels`` is given.
        """
        return super().forward(
            input_ids=input_ids,
            pixel_values=pixel_values,
            image_sizes=image_sizes,
            attention_mask=attention_mask,
            position_ids=position_ids,
            inputs_embeds=inputs_embeds,
            labels=labels,
            logits_to_keep=logits_to_keep,
            expert_ids=expert_ids,
            **kwargs,
        )

    def prepare_inputs_for_generation(self, input_ids, next_sequence_length=None, **kwargs):
        """Keep ``expert_ids`` on every decoding step; per-token ids follow the sliced ``input_ids``.

        Per-token ids ``(B, T_prompt)`` are extended with each row's last id for generated tokens.
        """
        model_inputs = super().prepare_inputs_for_generation(
            input_ids, next_sequence_length=next_sequence_length, **kwargs
        )
        expert_ids = model_inputs.get("expert_ids")
        if isinstance(expert_ids, torch.Tensor) and expert_ids.dim() == 2:
            total = input_ids.shape[1]
            if expert_ids.shape[1] < total:
                pad = expert_ids[:, -1:].expand(-1, total - expert_ids.shape[1])  # (B, new tokens)
                expert_ids = torch.cat([expert_ids, pad], dim=1)  # (B, total)
            step = model_inputs["input_ids"] if model_inputs.get("input_ids") is not None else None
            step_len = step.shape[1] if step is not None else model_inputs["inputs_embeds"].shape[1]
            model_inputs["expert_ids"] = expert_ids[:, total - step_len : total]  # (B, step_len)
        return model_inputs


def upcycle_to_gmoe(model: UniVLMForConditionalGeneration | UniVLMModel) -> UniVLMForConditionalGeneration:
    """Turn a dense UniVLM into a G-MoE one by copying each dense FFN into every expert (in place).

    The upcycled model's outputs equal the dense model's exactly, whatever the routing.

    Args:
        model: A dense :class:`UniVLMForConditionalGeneration` (or :class:`UniVLMModel`).

    Returns:
        The same model object, with ``config.use_gmoe = True``.

    Raises:
        ValueError: If the model is already a G-MoE model.
    """
    config = model.config
    if config.use_gmoe:
        raise ValueError("model is already a G-MoE model (config.use_gmoe is True)")
    base = model.model if isinstance(model, UniVLMForConditionalGeneration) else model
    layers = base.language_model.layers
    for i in config.gmoe_layer_indices:
        layer = layers[i]
        if not isinstance(layer, UniVLMDecoderLayer):
            raise ValueError(f"decoder layer {i} is a {type(layer).__name__}, expected UniVLMDecoderLayer")
        layer.mlp = GMoEMLP.from_dense(layer.mlp, config.num_experts)
    config.use_gmoe = True
    return model


def expert_parameters(model: nn.Module, expert: int | None = None) -> dict[str, nn.Parameter]:
    """Return the G-MoE expert FFN parameters by name (one expert's, or all when ``expert`` is None)."""
    out = {}
    for name, param in model.named_parameters():
        parts = name.split(".")
        if "experts" in parts:
            e = int(parts[parts.index("experts") + 1])
            if expert is None or e == expert:
                out[name] = param
    return out


__all__ = [
    "GMoEMLP",
    "UniVLMDecoderLayer",
    "UniVLMModel",
    "UniVLMForConditionalGeneration",
    "UniVLMPreTrainedModel",
    "expert_parameters",
    "pick_attn_implementation",
    "pick_dtype",
    "upcycle_to_gmoe",
]
