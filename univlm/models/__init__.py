"""UniVLM model package: configuration, modeling, presets, router and processor.

Importing it registers the univlm classes with transformers' ``Auto*`` factories (``AutoConfig``,
``AutoModel``, ``AutoModelForImageTextToText``, ``AutoProcessor``), so a saved univlm checkpoint
loads through the stock factories without ``trust_remote_code``.
"""

from __future__ import annotations

from transformers import AutoConfig, AutoModel, AutoModelForImageTextToText, AutoProcessor

from univlm.models.configuration_univlm import UniVLMConfig
from univlm.models.modeling_univlm import (
    UniVLMForConditionalGeneration,
    UniVLMModel,
    pick_attn_implementation,
    upcycle_to_gmoe,
)
from univlm.models.presets import get_preset, preset_names
from univlm.models.processing_univlm import UniVLMProcessor

AutoConfig.register(UniVLMConfig.model_type, UniVLMConfig, exist_ok=True)
AutoModel.register(UniVLMConfig, UniVLMModel, exist_ok=True)
AutoModelForImageTextToText.register(UniVLMConfig, UniVLMForConditionalGeneration, exist_ok=True)
AutoProcessor.register(UniVLMConfig, UniVLMProcessor, exist_ok=True)

__all__ = [
    "UniVLMConfig",
    "UniVLMForConditionalGeneration",
    "UniVLMModel",
    "UniVLMProcessor",
    "get_preset",
    "pick_attn_implementation",
    "preset_names",
    "upcycle_to_gmoe",
]
