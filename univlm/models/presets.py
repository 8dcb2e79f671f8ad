"""Named model configurations.

- ``"rsunivlm-0.5b"``: RSUniVLM's architecture, i.e. ``llava-onevision-qwen2-0.5b-si``: SigLIP-so400m-
  patch14-384 with its last layer dropped (26 layers, hidden 1152, intermediate 4304, 16 heads;
  features from ``hidden_states[-1]``, "full" selection), a 2-layer GELU projector, Qwen2-0.5B (24 layers,
  hidden 896, intermediate 4864, 14 heads, 2 KV heads, vocabulary 151936, tied embeddings) and 3 experts.
  ``image_token_id`` 151646 is the id llava-hf gives ``<image>`` right after Qwen2's special tokens.
- ``"tiny"``: the same structure at toy size for tests and CPU demos (64x64 images, 8x8 patches ->
  64 tokens + 1 newline per image; vocabulary 1024, larger than the tiny test tokenizer plus its added
  tokens). Its ``image_token_id`` is a placeholder: ``tokenizer_ext.resize_embeddings_for(model,
  tokenizer)`` sets it from the tokenizer's ``<image>`` id.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

from univlm.models.configuration_univlm import UniVLMConfig

_PRESETS: dict[str, dict[str, Any]] = {
    "rsunivlm-0.5b": {
        "vision_config": {
            "model_type": "siglip_vision_model",
            "hidden_size": 1152,
            "intermediate_size": 4304,
            "num_hidden_layers": 26,
            "num_attention_heads": 16,
            "patch_size": 14,
            "image_size": 384,
            "layer_norm_eps": 1e-6,
            "hidden_act": "gelu_pytorch_tanh",
            "vision_use_head": False,
        },
        "text_config": {
            "model_type": "qwen2",
            "hidden_size": 896,
            "intermediate_size": 4864,
            "num_hidden_layers": 24,
            "num_attention_heads": 14,
            "num_key_value_heads": 2,
            "vocab_size": 151936,
            "max_position_embeddings": 32768,
            "rms_norm_eps": 1e-6,
            "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0},
            "hidden_act": "silu",
            "tie_word_embeddings": True,
            "use_sliding_window": False,
        },
        "image_token_id": 151646,
        "video_token_id": 151647,
        "vision_feature_layer": -1,
        "vision_feature_select_strategy": "full",
        "projector_hidden_act": "gelu",
        "multimodal_projector_bias": True,
        "tie_word_embeddings": True,
        "num_experts": 3,
        "image_mode": "pad",
    },
    "tiny": {
        "vision_config": {
            "model_type": "siglip_vision_model",
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "patch_size": 8,
            "image_size": 64,
            "layer_norm_eps": 1e-6,
            "hidden_act": "gelu_pytorch_tanh",
            "vision_use_head": False,
        },
        "text_config": {
            "model_type": "qwen2",
            "hidden_size": 128,
            "intermediate_size": 256,
            "num_hidden_layers": 4,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "vocab_size": 1024,
            "max_position_embeddings": 4096,
            "rms_norm_eps": 1e-6,
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0},
            "hidden_act": "silu",
            "tie_word_embeddings": True,
            "use_sliding_window": False,
        },
        # Placeholder: set from the tokenizer's `<image>` id by tokenizer_ext.resize_embeddings_for.
        "image_token_id": 1000,
        "video_token_id": 1001,
        "vision_feature_layer": -1,
        "vision_feature_select_strategy": "full",
        "projector_hidden_act": "gelu",
        "multimodal_projector_bias": True,
        "tie_word_embeddings": True,
        "num_experts": 3,
        "image_mode": "pad",
    },
}


def preset_names() -> list[str]:
    """Return the names of the shipped presets."""
    return sorted(_PRESETS)


def get_preset(name: str, **overrides: Any) -> UniVLMConfig:
    """Return a fresh :class:`UniVLMConfig` for a named preset.

    Args:
        name: ``"rsunivlm-0.5b"`` or ``"tiny"``.
        **overrides: Config fields to change; ``text_config`` / ``vision_config`` dicts are merged into
            the preset's sub-configs (e.g. ``text_config={"num_hidden_layers": 2}``). Without an
            ``attn_implementation`` override, :func:`~univlm.models.modeling_univlm.pick_attn_implementation`
            chooses it.

    Returns:
        The configuration.

    Raises:
        KeyError: If ``name`` is not a preset.
    """
    if name not in _PRESETS:
        raise KeyError(f"unknown preset {name!r}; expected one of {preset_names()}")
    fields = copy.deepcopy(_PRESETS[name])
    for sub in ("text_config", "vision_config"):
        if sub in overrides:
            fields[sub].update(overrides.pop(sub))
    fields.update(overrides)
    config = UniVLMConfig(**fields)
    if "attn_implementation" not in overrides:
        from univlm.models.modeling_univlm import pick_attn_implementation

        config._attn_implementation = pick_attn_implementation()  # sdpa on CPU, flash-attn 2 on CUDA
    return config


def load_config(name_or_path: str | os.PathLike) -> UniVLMConfig:
    """Return the config of a preset name, a checkpoint directory or a ``config.json`` file.

    A plain ``llava_onevision`` config is accepted and converted (dense, default routing).

    Raises:
        FileNotFoundError: If ``name_or_path`` is neither a preset nor an existing path.
        ValueError: If the config is neither a univlm nor a llava_onevision config.
    """
    if str(name_or_path) in _PRESETS:
        return get_preset(str(name_or_path))
    path = Path(name_or_path)
    if path.is_dir():
        path = path / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{name_or_path}: not a preset ({preset_names()}) nor a config file/directory")
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    model_type = data.get("model_type")
    if model_type not in {"univlm", "llava_onevision"}:
        raise ValueError(f"{path}: model_type is {model_type!r}, expected 'univlm' or 'llava_onevision'")
    data.pop("model_type", None)
    data.pop("architectures", None)
    data.pop("transformers_version", None)
    return UniVLMConfig(**data)


__all__ = ["get_preset", "load_config", "preset_names"]
