"""Export one expert of a UniVLM model as a stock ``llava_onevision`` checkpoint.

Design choices and their sources:

- A G-MoE layer holds ``num_experts`` copies of Qwen2's FFN; choosing one copy per layer gives a dense
  LLaVA-OneVision model with the same logits for prompts routed to that expert
  (:func:`dense_state_dict`). UniVLM-only config fields, and any other field ``LlavaOnevisionConfig``
  lacks, are dropped (:func:`llava_onevision_config`).
- ``export_dense`` writes safetensors weights, the copied tokenizer files and the configs of a stock
  ``LlavaOnevisionProcessor``, atomically (:mod:`univlm.fileio`), and says which image mode the model
  was trained with (:func:`stock_image_mode`). AnyRes (``anyres_max_N``) is LLaVA-OneVision's own
  processing, so stock processor + stock model reproduce univlm. Pad mode is stock-compatible for
  multi-image samples only: transformers tiles a lone image (``need_patching`` is ``n == 1``), so for
  one image use univlm's processor with :func:`llava_onevision_inputs`; the report names
  ``anyres_max_9`` as the stock-compatible mode.
- A model with a ``[SEG]``-token mask head (``mask_head = "clm"``) exports without it: stock
  LLaVA-OneVision has no such module, so the ``mask_head.*`` tensors are dropped, the report's
  ``dropped`` and ``note`` say how many, and a warning is logged. The exported model still writes the
  ``[SEG0]``.. tokens (they are in its vocabulary) but nothing turns them into masks.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from univlm.fileio import atomic_replace_dir, atomic_write_text
from univlm.models.configuration_univlm import UniVLMConfig
from univlm.models.image_processing_univlm import build_image_processor

logger = logging.getLogger(__name__)

# UniVLM-only config fields; llava_onevision_config also drops any other field LLaVA-OneVision lacks.
GMOE_FIELDS = (
    "num_experts", "expert_names", "moe_layers", "use_gmoe", "router_table", "default_expert", "router_mode",
    "image_mode",
)  # fmt: skip
# The image mode a stock LlavaOnevisionProcessor applies to a lone image (its default vision_aspect_ratio).
STOCK_IMAGE_MODE = "anyres_max_9"
# Parameters of the optional [SEG]-token mask head (univlm.models.mask_head); no stock model has them.
MASK_HEAD_PREFIX = "mask_head."

_EXPERT_KEY_RE = re.compile(r"^(model\.language_model\.layers\.\d+\.mlp\.)experts\.(\d+)\.(.*)$")


def plain_config_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    """A config dict without its bookkeeping keys (model type, architectures, versions, source path)."""
    drop = {"model_type", "architectures", "transformers_version", "_name_or_path"}
    return {k: v for k, v in data.items() if k not in drop}


def llava_onevision_config(config: UniVLMConfig):
    """Return the stock ``LlavaOnevisionConfig`` of a UniVLM config (G-MoE fields dropped).

    AnyRes image modes become ``vision_aspect_ratio``; routing fields have no LLaVA-OneVision meaning.
    """
    from transformers import LlavaOnevisionConfig

    stock_fields = set(LlavaOnevisionConfig().to_dict())
    fields = {k: v for k, v in plain_config_fields(config.to_dict()).items() if k in stock_fields}
    if config.image_mode != "pad":
        fields["vision_aspect_ratio"] = config.image_mode
    return LlavaOnevisionConfig(**fields)


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


@dataclass(frozen=True)
class ImageModeReport:
    """How a UniVLM model's image mode maps onto stock LLaVA-OneVision.

    Attributes:
        trained: The model's ``image_mode`` (``"pad"`` or ``"anyres_max_N"``).
        stock: The ``vision_aspect_ratio`` the exported stock processor and config use.
        lone_image_compatible: Whether stock processor + stock model reproduce univlm on a single image.
        note: One sentence for the user (empty when fully compatible and nothing was dropped).
        dropped: Number of tensors left out of the stock checkpoint (the mask head's).
    """

    trained: str
    stock: str
    lone_image_compatible: bool
    note: str = ""
    dropped: int = 0


def stock_image_mode(config: UniVLMConfig) -> ImageModeReport:
    """Say which image mode ``config`` was trained with and whether stock transformers can express it.

    Args:
        config: The UniVLM config.

    Returns:
        The :class:`ImageModeReport`. ``anyres_max_N`` is LLaVA-OneVision's own mode (compatible);
        ``pad`` is compatible for multi-image samples only, since a stock ``LlavaOnevisionProcessor``
        tiles a lone image.
    """
    mode = config.image_mode
    if mode != "pad":
        return ImageModeReport(mode, mode, True)
    note = (
        "this model was trained with image_mode='pad', which a stock LlavaOnevisionProcessor applies to "
        "multi-image samples only: it tiles a lone image (AnyRes). For one image, build inputs with univlm's "
        "processor and univlm.models.conversion.llava_onevision_inputs; the stock-compatible mode is "
        f"image_mode={STOCK_IMAGE_MODE!r}"
    )
    return ImageModeReport(mode, STOCK_IMAGE_MODE, False, note)


def _write_stock_processor_files(config: UniVLMConfig, mode: ImageModeReport, out_dir: Path) -> None:
    """Write ``preprocessor_config.json`` and ``processor_config.json`` for a stock ``LlavaOnevisionProcessor``."""
    vision = config.vision_config
    image_processor = build_image_processor(vision.image_size, mode.stock)
    if getattr(config, "image_grid_pinpoints", None):
        image_processor.image_grid_pinpoints = [list(p) for p in config.image_grid_pinpoints]
    image_processor.save_pretrained(out_dir)
    processor = {
        "processor_class": "LlavaOnevisionProcessor",
        "num_image_tokens": (vision.image_size // vision.patch_size) ** 2,
        "vision_feature_select_strategy": config.vision_feature_select_strategy,
        "vision_aspect_ratio": mode.stock,
        "image_token": "<image>",
    }
    atomic_write_text(out_dir / "processor_config.json", json.dumps(processor, indent=2) + "\n")


def export_dense(
    model: torch.nn.Module,
    expert: int | str,
    out_dir: str | os.PathLike,
    extra_files: list[str | os.PathLike] | None = None,
) -> ImageModeReport:
    """Write one expert of a UniVLM model as a plain ``llava_onevision`` checkpoint (safetensors).

    The result loads with ``LlavaOnevisionForConditionalGeneration.from_pretrained`` and, with the
    ``LlavaOnevisionProcessor`` configs written next to it, reproduces the UniVLM logits for prompts
    routed to ``expert`` under the model's image mode (see :func:`stock_image_mode` for pad mode's
    lone-image exception). The directory is written atomically.

    Args:
        model: A UniVLM model (dense or G-MoE; a dense one has a single FFN, exported as is).
        expert: Expert id or name.
        out_dir: Output directory (must not exist or be empty).
        extra_files: Files copied next to the weights (e.g. tokenizer files).

    Returns:
        The image-mode report (trained mode, the stock mode written, lone-image compatibility).

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
    head_keys = [key for key in state_dict if key.startswith(MASK_HEAD_PREFIX)]
    for key in head_keys:
        del state_dict[key]
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
    mode = stock_image_mode(config)
    if head_keys:
        dropped = (
            f"dropped the [SEG]-token mask head ({len(head_keys)} tensors under {MASK_HEAD_PREFIX!r}): stock "
            "LLaVA-OneVision has no mask head, so the export writes [SEG0].. tokens but no masks"
        )
        logger.warning("%s", dropped)
        mode = replace(mode, note=f"{mode.note}; {dropped}" if mode.note else dropped, dropped=len(head_keys))
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        hf_model.save_pretrained(tmp, safe_serialization=True)
        for extra in extra_files or []:
            shutil.copy2(extra, tmp / Path(extra).name)
        _write_stock_processor_files(config, mode, tmp)
        atomic_replace_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if mode.note:
        # The caller gets the note in the returned report (the CLI prints it as a warning).
        logger.info("%s", mode.note)
    return mode


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
    "MASK_HEAD_PREFIX",
    "STOCK_IMAGE_MODE",
    "ImageModeReport",
    "dense_state_dict",
    "export_dense",
    "llava_onevision_config",
    "llava_onevision_inputs",
    "stock_image_mode",
]
