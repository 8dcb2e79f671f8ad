"""Building the model, processor and trainer arguments of stage 1 (dense SFT) and stage 2 (G-MoE).

Design choices and their sources:

- Stage 1 (RSUniVLM): all parameters train — vision tower, projector and LLM. The model comes from a
  preset (``tiny`` for CPU, ``rsunivlm-0.5b`` randomly initialised) or from a checkpoint directory:
  a univlm checkpoint, or a llava-hf LLaVA-OneVision checkpoint (``model_type: llava_onevision``),
  whose parameter names univlm keeps, so its weights load unchanged into the dense univlm model.
- Stage 2: load the stage-1 output, upcycle every FFN into ``num_experts`` copies
  (:func:`univlm.models.upcycle_to_gmoe`), freeze everything except the experts' FFNs, train on
  granularity-resampled data.
- A preset model without a tokenizer path gets a tiny byte-level BPE trained on the run's own answers
  (``univlm.testing.build_tiny_qwen2_tokenizer``), so boxes and masks tokenize compactly on CPU.
- Device defaults: flash-attention-2 on CUDA (when installed), sdpa on CPU; bf16 is
  ``UniVLMSFTConfig``'s (on a bf16 CUDA device, fp32 otherwise).
- ZeRO-3: each ``GMoEMLP`` is declared a DeepSpeed leaf module, so its experts are gathered together and
  a rank that routes no token to an expert still takes part in that expert's collectives. This needs the
  trainer's arguments (which register the DeepSpeed config) to exist before the model is built, as in
  TRL's ``sft.py``: ``univlm.training.config.parse_args`` builds them first.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path

import torch
from transformers import AutoProcessor, AutoTokenizer
from transformers.integrations import is_deepspeed_zero3_enabled

from tokenizer_ext import resize_embeddings_for
from univlm.models import (
    UniVLMForConditionalGeneration,
    UniVLMProcessor,
    get_preset,
    pick_attn_implementation,
    preset_names,
    upcycle_to_gmoe,
)
from univlm.models.modeling_univlm import GMoEMLP, expert_parameters, init_vision_positions_sincos
from univlm.models.presets import load_config
from univlm.tasks import IMAGE_TOKEN
from univlm.testing import build_tiny_qwen2_tokenizer
from univlm.training.config import UniVLMArguments

logger = logging.getLogger(__name__)


def attn_implementation(args: UniVLMArguments) -> str:
    """``args.attn_implementation``, or when None flash-attention-2 on CUDA (if installed), else sdpa."""
    return args.attn_implementation or pick_attn_implementation()


def answer_corpus(records: Iterable[dict]) -> list[str]:
    """Assistant answers and user prompts of ``records``: training text for a tiny tokenizer."""
    texts = []
    for rec in records:
        for msg in rec["messages"]:
            texts.append(msg["content"].replace(IMAGE_TOKEN, " "))
    return texts


def _is_checkpoint_dir(name: str) -> bool:
    return Path(name).is_dir() and (Path(name) / "config.json").is_file()


def build_stage1(cfg: UniVLMArguments, train_records: list[dict] | None = None, seed: int = 0):
    """Return ``(model, processor)`` for stage 1.

    Args:
        cfg: Run arguments (``model``, ``tokenizer``, ``model_overrides``, ``tokenizer_vocab_size``).
        train_records: Training records, used to fit a tiny tokenizer when none is given.
        seed: Seed of a preset's random initial weights.

    Returns:
        A dense ``UniVLMForConditionalGeneration`` (all parameters trainable) and its ``UniVLMProcessor``.

    Raises:
        ValueError: If ``cfg.model`` is neither a preset name nor a checkpoint directory.
    """
    attn = attn_implementation(cfg)
    if _is_checkpoint_dir(cfg.model):
        model_type = json.loads((Path(cfg.model) / "config.json").read_text(encoding="utf-8")).get(
            "model_type"
        )
        if model_type == "univlm":
            model = UniVLMForConditionalGeneration.from_pretrained(cfg.model, attn_implementation=attn)
            processor = AutoProcessor.from_pretrained(cfg.tokenizer or cfg.model)
        elif model_type == "llava_onevision":
            config = load_config(cfg.model)
            model = UniVLMForConditionalGeneration.from_pretrained(
                cfg.model, config=config, attn_implementation=attn
            )
            tokenizer = AutoTokenizer.from_pretrained(cfg.tokenizer or cfg.model)
            processor = UniVLMProcessor.from_config(tokenizer, config)
            resize_embeddings_for(model, processor.tokenizer)
        else:
            raise ValueError(
                f"{cfg.model}/config.json: model_type {model_type!r}, expected 'univlm' or 'llava_onevision'"
            )
        return model, processor
    if cfg.model not in preset_names():
        raise ValueError(
            f"model {cfg.model!r} is neither a preset ({', '.join(preset_names())}) nor a checkpoint dir"
        )
    config = get_preset(cfg.model, **cfg.model_overrides)
    if cfg.tokenizer:
        tokenizer = AutoTokenizer.from_pretrained(cfg.tokenizer)
    else:
        tokenizer = build_tiny_qwen2_tokenizer(
            vocab_size=cfg.tokenizer_vocab_size, extra_corpus=answer_corpus(train_records or [])
        )
    processor = UniVLMProcessor.from_config(tokenizer, config)
    config.text_config.vocab_size = len(processor.tokenizer)
    config.image_token_id = processor.image_token_id
    config.text_config.pad_token_id = processor.tokenizer.pad_token_id
    config.text_config.eos_token_id = processor.tokenizer.eos_token_id
    config._attn_implementation = attn
    torch.manual_seed(seed)
    model = UniVLMForConditionalGeneration(config)
    if cfg.vision_position_init in ("sincos", "sincos_grid"):
        init_vision_positions_sincos(model, fit_grid=cfg.vision_position_init == "sincos_grid")
    model.generation_config.pad_token_id = processor.tokenizer.pad_token_id
    model.generation_config.eos_token_id = processor.tokenizer.eos_token_id
    return model, processor


def freeze_for_stage2(model: torch.nn.Module, trainable: str = "experts") -> int:
    """Freeze every parameter except the G-MoE experts' FFNs (``trainable="experts"``) or none (``"all"``).

    A ``[SEG]``-token mask head (``model.mask_head``) trains with the experts: it is new in stage 2
    (GeoPix trains its decoder and memory next to the LLM's adapters).

    Returns:
        The number of trainable parameter elements.

    Raises:
        ValueError: On an unknown ``trainable`` value or a model without experts.
    """
    if trainable not in ("experts", "all"):
        raise ValueError(f"trainable must be 'experts' or 'all', got {trainable!r}")
    experts = expert_parameters(model)
    if not experts:
        raise ValueError("model has no G-MoE expert parameters; upcycle it first")
    expert_ids = {id(p) for p in experts.values()}
    head = getattr(model, "mask_head", None)
    if head is not None:
        expert_ids |= {id(p) for p in head.parameters()}
    for param in model.parameters():
        param.requires_grad_(trainable == "all" or id(param) in expert_ids)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def mark_zero3_leaf_modules(model: torch.nn.Module) -> bool:
    """Declare each ``GMoEMLP`` a DeepSpeed ZeRO-3 leaf module when ZeRO-3 is active; return whether it did.

    ZeRO-3 is detected through the DeepSpeed config that the trainer's arguments register when they are
    built, so they must exist before this runs (see the module docstring).
    """
    if not is_deepspeed_zero3_enabled():
        return False
    from deepspeed.utils import set_z3_leaf_modules  # optional dependency, present whenever ZeRO-3 is on

    set_z3_leaf_modules(model, [GMoEMLP])
    return True


def _upcycle(model: UniVLMForConditionalGeneration) -> None:
    """``upcycle_to_gmoe``; under ZeRO-3 with the dense weights gathered for the copy.

    With ZeRO-3 on, ``from_pretrained`` loads into ``deepspeed.zero.Init``, so each rank holds only a
    shard of every weight; the experts must be copied from the full dense FFNs (read-only gather). The
    new expert parameters are ordinary tensors, which DeepSpeed partitions when the engine starts.
    """
    if not is_deepspeed_zero3_enabled():
        upcycle_to_gmoe(model)
        return
    import deepspeed  # optional dependency, present whenever ZeRO-3 is on

    with deepspeed.zero.GatheredParameters(list(model.parameters()), modifier_rank=None):
        upcycle_to_gmoe(model)


def _add_mask_head(model: UniVLMForConditionalGeneration, processor, overrides: dict) -> None:
    """Give the upcycled model the ``[SEG]``-token mask head that ``model_overrides`` ask for.

    ``model_overrides: {mask_head: clm, mask_head_config: {...}}`` adds a fresh head (and the
    ``[SEG0]``.. tokens to the tokenizer) unless the checkpoint already has one (GeoPix's second phase
    starts from the first phase's output). Other keys cannot change a trained checkpoint's shape; they
    are ignored with a warning naming them.

    Raises:
        ValueError: On ``mask_head`` other than ``none``/``clm``.
    """
    other = sorted(set(overrides) - {"mask_head", "mask_head_config"})
    if other:
        logger.warning("model_overrides %s ignored in stage 2: the model comes from init_from", other)
    kind = overrides.get("mask_head", "none")
    if kind not in ("none", "clm"):
        raise ValueError(f"model_overrides.mask_head: expected 'none' or 'clm', got {kind!r}")
    if kind == "none" or getattr(model, "mask_head", None) is not None:
        return
    from univlm.models.mask_head import add_mask_head  # the head's modules are only needed here

    head = add_mask_head(model, processor.tokenizer, overrides.get("mask_head_config"))
    logger.info("added a [SEG]-token mask head: %d parameters", sum(p.numel() for p in head.parameters()))


def build_stage2(cfg: UniVLMArguments):
    """Return ``(model, processor, num_trainable)``: the stage-1 checkpoint upcycled and frozen.

    Raises:
        ValueError: If ``cfg.init_from`` is not a univlm checkpoint directory.
    """
    source = cfg.init_from
    if not source or not _is_checkpoint_dir(source):
        raise ValueError(
            f"stage 2 needs init_from = a stage-1 output directory with config.json; got {source!r}"
        )
    model = UniVLMForConditionalGeneration.from_pretrained(source, attn_implementation=attn_implementation(cfg))
    processor = AutoProcessor.from_pretrained(source)
    if not model.config.use_gmoe:
        _upcycle(model)
    _add_mask_head(model, processor, cfg.model_overrides or {})
    num_trainable = freeze_for_stage2(model, cfg.trainable)
    mark_zero3_leaf_modules(model)
    return model, processor, num_trainable
