"""Load LLaVA-OneVision and RSUniVLM checkpoints into UniVLM (export: :mod:`univlm.models.export`).

Design choices and their sources:

- llava-hf LLaVA-OneVision checkpoints (e.g. ``llava-onevision-qwen2-0.5b-si-hf``) come in two namings:
  the hub files (``language_model.model.*``, ``language_model.lm_head.weight``, ``vision_tower.*``,
  ``multi_modal_projector.*``, ``image_newline``; renamed on load by transformers'
  ``conversion_mapping`` rules for ``llava_next``) and the in-memory one (``model.language_model.*``,
  ``model.vision_tower.*``, ``model.multi_modal_projector.*``, ``model.image_newline``, ``lm_head.*``).
  transformers 5 holds SigLIP's modules directly under ``vision_tower`` (older files add
  ``vision_model.``), and its ``save_pretrained`` writes the hub naming without ``vision_model.``.
  A dense UniVLM uses the in-memory naming unchanged, so both load as stage-1 initialisation.
- RSUniVLM's released ``llava_qwen_gmoe`` checkpoint uses LLaVA-NeXT names: ``model.layers.{i}.mlp.{e}.*``
  (one Qwen2 FFN per expert), ``model.embed_tokens``, ``model.norm``, ``model.mm_projector.{0,2}``
  (``nn.Sequential(Linear, GELU, Linear)``), ``model.vision_tower.vision_tower.vision_model.*`` (a SigLIP
  whose last layer LLaVA-NeXT deletes), ``model.image_newline`` and ``lm_head``.
- Every conversion returns a :class:`LoadReport` naming missing and unexpected keys; nothing else is
  dropped. The one exception: ``*.rotary_emb.inv_freq`` buffers (recomputed from the config, never
  parameters) are dropped without a report, as transformers' own LLaVA conversion scripts do.
  Only safetensors files are read or written.
- Exporting one expert as a stock ``llava_onevision`` checkpoint is :mod:`univlm.models.export`; its
  public names are re-exported here, where they used to live.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from univlm.models.configuration_univlm import UniVLMConfig
from univlm.models.export import (  # re-exported: they used to live here
    GMOE_FIELDS,
    STOCK_IMAGE_MODE,
    ImageModeReport,
    dense_state_dict,
    export_dense,
    llava_onevision_config,
    llava_onevision_inputs,
    plain_config_fields,
    stock_image_mode,
)

logger = logging.getLogger(__name__)

# Rotary caches: buffers rebuilt from the config, never parameters (transformers' conversions skip them).
_INV_FREQ_RE = re.compile(r"(^|\.)rotary_emb\.inv_freq$")
# transformers 5 keeps SiglipVisionModel's submodules directly under `vision_tower` (no `vision_model.`).
_HUB_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^language_model\.lm_head\."), "lm_head."),
    (re.compile(r"^language_model\.model\."), "model.language_model."),
    (re.compile(r"^vision_tower\.vision_model\."), "model.vision_tower."),
    (re.compile(r"^model\.vision_tower\.vision_model\."), "model.vision_tower."),
    (re.compile(r"^vision_tower\."), "model.vision_tower."),
    (re.compile(r"^multi_modal_projector\."), "model.multi_modal_projector."),
    (re.compile(r"^image_newline$"), "model.image_newline"),
]

_RSUNIVLM_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^model\.layers\.(\d+)\.mlp\.(\d+)\."), r"model.language_model.layers.\1.mlp.experts.\2."),
    (re.compile(r"^model\.layers\."), "model.language_model.layers."),
    (re.compile(r"^model\.embed_tokens\."), "model.language_model.embed_tokens."),
    (re.compile(r"^model\.norm\."), "model.language_model.norm."),
    (re.compile(r"^model\.mm_projector\.0\."), "model.multi_modal_projector.linear_1."),
    (re.compile(r"^model\.mm_projector\.2\."), "model.multi_modal_projector.linear_2."),
    (re.compile(r"^model\.vision_tower\.vision_tower\.vision_model\."), "model.vision_tower."),
    (re.compile(r"^model\.image_newline$"), "model.image_newline"),
    (re.compile(r"^lm_head\."), "lm_head."),
]


@dataclass
class LoadReport:
    """Outcome of loading a converted state dict.

    Attributes:
        missing: Model keys the checkpoint did not provide (tied ``lm_head.weight`` excluded).
        unexpected: Checkpoint keys (after renaming) the model has no parameter for.
        unmapped: Original checkpoint keys no renaming rule matched (kept as is, usually unexpected).
        mismatched: ``key: checkpoint shape vs model shape`` for keys whose shapes differ (not loaded).
    """

    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every model key was loaded and every checkpoint key was used."""
        return not (self.missing or self.unexpected or self.mismatched)

    def summary(self, limit: int = 20) -> str:
        """Human-readable listing of the problems (at most ``limit`` names per kind)."""
        lines = []
        for kind in ("missing", "unexpected", "mismatched", "unmapped"):
            names = getattr(self, kind)
            if names:
                more = f" (+{len(names) - limit} more)" if len(names) > limit else ""
                lines.append(f"{kind} ({len(names)}): {', '.join(names[:limit])}{more}")
        return "\n".join(lines) if lines else "all keys matched"


def _rename(
    state_dict: Mapping[str, torch.Tensor], rules: list[tuple[re.Pattern[str], str]], passthrough: Callable[[str], bool]
) -> tuple[dict[str, torch.Tensor], list[str]]:
    out, unmapped = {}, []
    for key, value in state_dict.items():
        if _INV_FREQ_RE.search(key):
            continue
        for pattern, repl in rules:
            if pattern.search(key):
                out[pattern.sub(repl, key, count=1)] = value
                break
        else:
            if not passthrough(key):
                unmapped.append(key)
            out[key] = value
    return out, unmapped


def convert_llava_onevision_state_dict(
    state_dict: Mapping[str, torch.Tensor],
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Rename a llava-hf LLaVA-OneVision state dict (hub or in-memory naming) to UniVLM's dense naming.

    Args:
        state_dict: Tensors by key.

    Returns:
        ``(renamed state dict, keys that matched no rule)``.
    """
    return _rename(state_dict, _HUB_RULES, lambda k: k.startswith(("model.", "lm_head.")))


def convert_rsunivlm_state_dict(
    state_dict: Mapping[str, torch.Tensor],
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Rename an RSUniVLM ``llava_qwen_gmoe`` (LLaVA-NeXT format) state dict to UniVLM's G-MoE naming.

    Args:
        state_dict: Tensors by key.

    Returns:
        ``(renamed state dict, keys that matched no rule)``.
    """
    return _rename(state_dict, _RSUNIVLM_RULES, lambda k: False)


def load_converted_state_dict(model: torch.nn.Module, state_dict: Mapping[str, torch.Tensor]) -> LoadReport:
    """Copy a state dict already in UniVLM naming into ``model`` and report key problems by name.

    Tensors are cast to each parameter's dtype. A tied ``lm_head.weight`` need not be present.

    Args:
        model: A UniVLM model.
        state_dict: Tensors by UniVLM key.

    Returns:
        The :class:`LoadReport`.
    """
    own = model.state_dict()
    report = LoadReport()
    tied = bool(getattr(model.config, "tie_word_embeddings", False))
    to_load = {}
    for key, value in state_dict.items():
        if key not in own:
            report.unexpected.append(key)
        elif tuple(value.shape) != tuple(own[key].shape):
            report.mismatched.append(f"{key}: {tuple(value.shape)} vs {tuple(own[key].shape)}")
        else:
            to_load[key] = value.to(own[key].dtype)
    for key in own:
        if key not in state_dict and not (tied and key == "lm_head.weight"):
            report.missing.append(key)
    if tied and "lm_head.weight" in state_dict and "model.language_model.embed_tokens.weight" in state_dict:
        if not torch.equal(state_dict["lm_head.weight"], state_dict["model.language_model.embed_tokens.weight"]):
            logger.warning("checkpoint lm_head differs from embed_tokens but the config ties them; embed_tokens wins")
        to_load.pop("lm_head.weight", None)
    model.load_state_dict(to_load, strict=False)
    if tied:
        model.tie_weights()
    return report


def read_safetensors_dir(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read every ``*.safetensors`` shard of a checkpoint directory (or one file) on CPU.

    Raises:
        FileNotFoundError: If no safetensors file is found (pickled ``.bin`` files are never read).
    """
    from safetensors.torch import load_file

    path = Path(path)
    files = [path] if path.is_file() else sorted(path.glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"{path}: no *.safetensors file (pickle checkpoints are not supported)")
    state_dict: dict[str, torch.Tensor] = {}
    for file in files:
        state_dict.update(load_file(str(file), device="cpu"))
    return state_dict


def config_from_llava_onevision(hf_config: Any, **overrides: Any) -> UniVLMConfig:
    """Build a dense :class:`UniVLMConfig` from a ``LlavaOnevisionConfig`` (object or dict).

    Args:
        hf_config: The LLaVA-OneVision config.
        **overrides: UniVLM fields to set (e.g. ``image_mode``, ``num_experts``).
    """
    data = hf_config if isinstance(hf_config, Mapping) else hf_config.to_dict()
    fields = plain_config_fields(data)
    fields.update(overrides)
    return UniVLMConfig(**fields)


def load_llava_onevision_checkpoint(path: str | os.PathLike, dtype: torch.dtype | None = None, **overrides: Any):
    """Load a llava-hf LLaVA-OneVision directory (config.json + safetensors) as a dense UniVLM model.

    Args:
        path: Checkpoint directory.
        dtype: Parameter dtype (default: the model's default, float32).
        **overrides: UniVLM config fields to set.

    Returns:
        ``(model, LoadReport)``.

    Raises:
        ValueError: If the directory's config is not ``llava_onevision``.
    """
    from univlm.models.modeling_univlm import UniVLMForConditionalGeneration

    with open(Path(path) / "config.json", encoding="utf-8") as f:
        data = json.load(f)
    if data.get("model_type") != "llava_onevision":
        raise ValueError(f"{path}/config.json: model_type is {data.get('model_type')!r}, expected 'llava_onevision'")
    config = config_from_llava_onevision(data, **overrides)
    model = UniVLMForConditionalGeneration(config)
    if dtype is not None:
        model.to(dtype)
    state_dict, unmapped = convert_llava_onevision_state_dict(read_safetensors_dir(path))
    report = load_converted_state_dict(model, state_dict)
    report.unmapped = unmapped
    return model, report


def config_from_rsunivlm(data: Mapping[str, Any], state_dict: Mapping[str, torch.Tensor] | None = None) -> UniVLMConfig:
    """Build a G-MoE :class:`UniVLMConfig` from an RSUniVLM (LLaVA-NeXT ``llava_qwen``) ``config.json``.

    The Qwen2 fields come from the file; the SigLIP tower (not described there) is the
    ``rsunivlm-0.5b`` preset's. The number of experts and the G-MoE layers are read from the state
    dict's ``model.layers.{i}.mlp.{e}.*`` keys when given.
    """
    from univlm.models.presets import get_preset

    text_keys = (
        "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
        "vocab_size", "rms_norm_eps", "max_position_embeddings", "tie_word_embeddings", "hidden_act",
    )  # fmt: skip
    text = {k: data[k] for k in text_keys if k in data}
    if "rope_theta" in data:
        text["rope_parameters"] = {"rope_type": "default", "rope_theta": float(data["rope_theta"])}
    overrides: dict[str, Any] = {"text_config": text, "use_gmoe": True}
    if "tie_word_embeddings" in data:
        overrides["tie_word_embeddings"] = bool(data["tie_word_embeddings"])
    aspect = data.get("image_aspect_ratio")
    if isinstance(aspect, str) and (aspect == "pad" or aspect.startswith("anyres_max_")):
        overrides["image_mode"] = aspect
    if data.get("image_grid_pinpoints") and isinstance(data["image_grid_pinpoints"], list):
        overrides["image_grid_pinpoints"] = data["image_grid_pinpoints"]
    if state_dict is not None:
        pattern = re.compile(r"^model\.layers\.(\d+)\.mlp\.(\d+)\.")
        found = [pattern.match(k) for k in state_dict]
        experts = {int(m.group(2)) for m in found if m}
        layers = sorted({int(m.group(1)) for m in found if m})
        if experts:
            overrides["num_experts"] = max(experts) + 1
            n_layers = int(text.get("num_hidden_layers", 24))
            overrides["moe_layers"] = None if layers == list(range(n_layers)) else layers
    return get_preset("rsunivlm-0.5b", **overrides)


def load_rsunivlm_checkpoint(
    path: str | os.PathLike, config: UniVLMConfig | None = None, dtype: torch.dtype | None = None
):
    """Load RSUniVLM's released G-MoE checkpoint directory (config.json + safetensors).

    Args:
        path: Checkpoint directory.
        config: The UniVLM config to build; derived with :func:`config_from_rsunivlm` when None.
        dtype: Parameter dtype (default float32).

    Returns:
        ``(model, LoadReport)``; the report names missing and unexpected keys.
    """
    from univlm.models.modeling_univlm import UniVLMForConditionalGeneration

    raw = read_safetensors_dir(path)
    if config is None:
        config_file = Path(path) / "config.json"
        data = json.loads(config_file.read_text(encoding="utf-8")) if config_file.is_file() else {}
        config = config_from_rsunivlm(data, raw)
    model = UniVLMForConditionalGeneration(config)
    if dtype is not None:
        model.to(dtype)
    state_dict, unmapped = convert_rsunivlm_state_dict(raw)
    report = load_converted_state_dict(model, state_dict)
    report.unmapped = unmapped
    return model, report


__all__ = [
    "GMOE_FIELDS",
    "STOCK_IMAGE_MODE",
    "ImageModeReport",
    "LoadReport",
    "config_from_llava_onevision",
    "config_from_rsunivlm",
    "convert_llava_onevision_state_dict",
    "convert_rsunivlm_state_dict",
    "dense_state_dict",
    "export_dense",
    "llava_onevision_config",
    "llava_onevision_inputs",
    "load_converted_state_dict",
    "load_llava_onevision_checkpoint",
    "load_rsunivlm_checkpoint",
    "read_safetensors_dir",
    "stock_image_mode",
]
