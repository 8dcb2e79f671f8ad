"""Load LLaVA-OneVision and RSUniVLM checkpoints into UniVLM, and export one expert as LLaVA-OneVision.

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
- Every conversion returns a :class:`LoadReport` naming missing and unexpected keys; nothing is dropped
  silently. Only safetensors files are read or written.
- ``export_dense`` writes a stock ``llava_onevision`` checkpoint holding one expert's FFNs; in pad mode
  a stock model must be told that every image is a single crop (:func:`llava_onevision_inputs`).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from univlm.models.configuration_univlm import UniVLMConfig

logger = logging.getLogger(__name__)

# UniVLM-only config fields; everything else is a LlavaOnevisionConfig field.
GMOE_FIELDS = ("num_experts", "expert_names", "moe_layers", "use_gmoe", "router_table", "default_expert", "image_mode")

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

_EXPERT_KEY_RE = re.compile(r"^(model\.language_model\.layers\.\d+\.mlp\.)experts\.(\d+)\.(.*)$")


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


def _config_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    drop = {"model_type", "architectures", "transformers_version", "_name_or_path"}
    return {k: v for k, v in data.items() if k not in drop}


def config_from_llava_onevision(hf_config: Any, **overrides: Any) -> UniVLMConfig:
    """Build a dense :class:`UniVLMConfig` from a ``LlavaOnevisionConfig`` (object or dict).

    Args:
        hf_config: The LLaVA-OneVision config.
        **overrides: UniVLM fields to set (e.g. ``image_mode``, ``num_experts``).
    """
    data = hf_config if isinstance(hf_config, Mapping) else hf_config.to_dict()
    fields = _config_fields(data)
    fields.update(overrides)
    return UniVLMConfig(**fields)


def llava_onevision_config(config: UniVLMConfig):
    """Return the stock ``LlavaOnevisionConfig`` of a UniVLM config (G-MoE fields dropped).

    AnyRes image modes become ``vision_aspect_ratio``; routing fields have no LLaVA-OneVision meaning.
    """
    from transformers import LlavaOnevisionConfig

    fields = _config_fields(config.to_dict())
    for name in GMOE_FIELDS:
        fields.pop(name, None)
    if config.image_mode != "pad":
        fields["vision_aspect_ratio"] = config.image_mode
    return LlavaOnevisionConfig(**fields)


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


def dense_state_dict(model: torch.nn.Module, expert: int) -> dict[str, torch.Tensor]:
    """Return the model's state dict with expert ``expert``'s FFN as each layer's dense ``mlp``.

    Raises:
        ValueError: If ``expert`` is out of range.
    """
    num = model.config.num_experts
    if not 0 <= expert < num:
        raise ValueError(f"expert {expert} out of range; the model has {num} experts")
    out = {}
    for key, value in model.state_dict().items():
        match = _EXPERT_KEY_RE.match(key)
        if match is None:
            out[key] = value
        elif int(match.group(2)) == expert:
            out[match.group(1) + match.group(3)] = value
    return out


def export_dense(
    model: torch.nn.Module,
    expert: int | str,
    out_dir: str | os.PathLike,
    extra_files: list[str | os.PathLike] | None = None,
) -> Path:
    """Write one expert of a UniVLM model as a plain ``llava_onevision`` checkpoint (safetensors).

    The result loads with ``LlavaOnevisionForConditionalGeneration.from_pretrained`` and reproduces the
    UniVLM logits for prompts routed to ``expert``. The directory is written atomically.

    Args:
        model: A UniVLM model (dense or G-MoE; a dense one has a single FFN, exported as is).
        expert: Expert id or name.
        out_dir: Output directory (must not exist or be empty).
        extra_files: Files copied next to the weights (e.g. tokenizer files).

    Returns:
        The output directory.

    Raises:
        ValueError: On an unknown expert name/id.
        FileExistsError: If ``out_dir`` exists and is not empty.
    """
    from transformers import LlavaOnevisionForConditionalGeneration

    config = model.config
    expert_id = config.expert_id(expert) if isinstance(expert, str) else int(expert)
    if config.use_gmoe:
        state_dict = dense_state_dict(model, expert_id)
    else:
        if not 0 <= expert_id < config.num_experts:
            raise ValueError(f"expert {expert_id} out of range; the model has {config.num_experts} experts")
        state_dict = dict(model.state_dict())
    hf_config = llava_onevision_config(config)
    hf_config.architectures = ["LlavaOnevisionForConditionalGeneration"]
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise FileExistsError(f"{out_dir}: exists and is not empty")
    with torch.device("meta"):
        hf_model = LlavaOnevisionForConditionalGeneration(hf_config)
    missing, unexpected = hf_model.load_state_dict(state_dict, strict=False, assign=True)
    missing = [k for k in missing if not (hf_config.tie_word_embeddings and k == "lm_head.weight")]
    if missing or unexpected:
        raise RuntimeError(f"export mapping incomplete: missing {missing}, unexpected {unexpected}")
    if hf_config.tie_word_embeddings:
        hf_model.tie_weights()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    hf_model.save_pretrained(tmp, safe_serialization=True)
    for extra in extra_files or []:
        shutil.copy2(extra, tmp / Path(extra).name)
    if out_dir.exists():
        out_dir.rmdir()
    os.replace(tmp, out_dir)
    return out_dir


def llava_onevision_inputs(batch: Mapping[str, Any]) -> dict[str, Any]:
    """Adapt a UniVLM pad-mode batch for a stock ``LlavaOnevisionForConditionalGeneration``.

    transformers treats an image as AnyRes when its sample has exactly one image
    (``batch_num_images == 1``) and as one crop otherwise; a UniVLM pad-mode batch holds one crop per
    image, so this passes a ``batch_num_images`` that is never 1 (one entry covering all images) and
    drops ``expert_ids``.

    Args:
        batch: Model inputs as produced by the UniVLM processor.

    Returns:
        Keyword arguments for the stock model.
    """
    out = {k: v for k, v in batch.items() if k != "expert_ids"}
    pixel_values = out.get("pixel_values")
    if pixel_values is not None:
        # zip() in get_image_features stops at the real number of images, so 2 also serves a lone image.
        out["batch_num_images"] = torch.tensor([max(2, int(pixel_values.shape[0]))])
        if out.get("image_sizes") is None:
            # Unused for single crops, but the stock code iterates over it.
            size = list(pixel_values.shape[-2:])
            out["image_sizes"] = torch.tensor([size] * pixel_values.shape[0])
    return out


__all__ = [
    "GMOE_FIELDS",
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
]
