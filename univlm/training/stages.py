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
- Device defaults: bf16 and flash-attention-2 on CUDA (when installed), fp32 and sdpa on CPU.
- ZeRO-3: each ``GMoEMLP`` is declared a DeepSpeed leaf module, so its experts are gathered together and
  a rank that routes no token to an expert still takes part in that expert's collectives.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from univlm.training.config import TrainConfig

logger = logging.getLogger(__name__)


def device_settings(cfg: TrainConfig) -> dict[str, Any]:
    """Resolve ``bf16`` and ``attn_implementation`` (None = automatic: bf16 + flash-attn on CUDA)."""
    from univlm.models import pick_attn_implementation

    cuda = torch.cuda.is_available()
    bf16 = cfg.bf16 if cfg.bf16 is not None else (cuda and torch.cuda.is_bf16_supported())
    attn = cfg.attn_implementation or pick_attn_implementation()
    return {"bf16": bool(bf16), "attn_implementation": attn}


def answer_corpus(records: Iterable[dict]) -> list[str]:
    """Assistant answers and user prompts of ``records``: training text for a tiny tokenizer."""
    texts = []
    for rec in records:
        for msg in rec["messages"]:
            texts.append(msg["content"].replace("<image>", " "))
    return texts


def _is_checkpoint_dir(name: str) -> bool:
    return Path(name).is_dir() and (Path(name) / "config.json").is_file()


def build_stage1(cfg: TrainConfig, train_records: list[dict] | None = None):
    """Return ``(model, processor)`` for stage 1.

    Args:
        cfg: Run configuration (``model``, ``tokenizer``, ``model_overrides``, ``tokenizer_vocab_size``).
        train_records: Training records, used to fit a tiny tokenizer when none is given.

    Returns:
        A dense ``UniVLMForConditionalGeneration`` (all parameters trainable) and its ``UniVLMProcessor``.

    Raises:
        ValueError: If ``cfg.model`` is neither a preset name nor a checkpoint directory.
    """
    from transformers import AutoProcessor, AutoTokenizer

    from tokenizer_ext import resize_embeddings_for
    from univlm.models import UniVLMForConditionalGeneration, UniVLMProcessor, get_preset, preset_names
    from univlm.models.modeling_univlm import init_vision_positions_sincos
    from univlm.models.presets import load_config

    attn = device_settings(cfg)["attn_implementation"]
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
        from univlm.testing import build_tiny_qwen2_tokenizer

        tokenizer = build_tiny_qwen2_tokenizer(
            vocab_size=cfg.tokenizer_vocab_size, extra_corpus=answer_corpus(train_records or [])
        )
    processor = UniVLMProcessor.from_config(tokenizer, config)
    config.text_config.vocab_size = len(processor.tokenizer)
    config.image_token_id = processor.image_token_id
    config.text_config.pad_token_id = processor.tokenizer.pad_token_id
    config.text_config.eos_token_id = processor.tokenizer.eos_token_id
    config._attn_implementation = attn
    torch.manual_seed(cfg.seed)
    model = UniVLMForConditionalGeneration(config)
    if cfg.vision_position_init in ("sincos", "sincos_grid"):
        init_vision_positions_sincos(model, fit_grid=cfg.vision_position_init == "sincos_grid")
    model.generation_config.pad_token_id = processor.tokenizer.pad_token_id
    model.generation_config.eos_token_id = processor.tokenizer.eos_token_id
    return model, processor


def freeze_for_stage2(model: torch.nn.Module, trainable: str = "experts") -> int:
    """Freeze every parameter except the G-MoE experts' FFNs (``trainable="experts"``) or none (``"all"``).

    Returns:
        The number of trainable parameter elements.

    Raises:
        ValueError: On an unknown ``trainable`` value or a model without experts.
    """
    from univlm.models.modeling_univlm import expert_parameters

    if trainable not in ("experts", "all"):
        raise ValueError(f"trainable must be 'experts' or 'all', got {trainable!r}")
    experts = expert_parameters(model)
    if not experts:
        raise ValueError("model has no G-MoE expert parameters; upcycle it first")
    expert_ids = {id(p) for p in experts.values()}
    for param in model.parameters():
        param.requires_grad_(trainable == "all" or id(param) in expert_ids)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def mark_zero3_leaf_modules(model: torch.nn.Module) -> bool:
    """Declare each ``GMoEMLP`` a DeepSpeed ZeRO-3 leaf module when ZeRO-3 is active; return whether it did."""
    from transformers.integrations import is_deepspeed_zero3_enabled

    if not is_deepspeed_zero3_enabled():
        return False
    from deepspeed.utils import set_z3_leaf_modules

    from univlm.models.modeling_univlm import GMoEMLP

    set_z3_leaf_modules(model, [GMoEMLP])
    return True


def build_stage2(cfg: TrainConfig):
    """Return ``(model, processor, num_trainable)``: the stage-1 checkpoint upcycled and frozen.

    Raises:
        ValueError: If ``cfg.init_from`` is not a univlm checkpoint directory.
    """
    from transformers import AutoProcessor

    from univlm.models import UniVLMForConditionalGeneration, upcycle_to_gmoe

    source = cfg.init_from
    if not source or not _is_checkpoint_dir(source):
        raise ValueError(
            f"stage 2 needs init_from = a stage-1 output directory with config.json; got {source!r}"
        )
    attn = device_settings(cfg)["attn_implementation"]
    model = UniVLMForConditionalGeneration.from_pretrained(source, attn_implementation=attn)
    processor = AutoProcessor.from_pretrained(source)
    if not model.config.use_gmoe:
        upcycle_to_gmoe(model)
    num_trainable = freeze_for_stage2(model, cfg.trainable)
    mark_zero3_leaf_modules(model)
    return model, processor, num_trainable


def build_sft_config(cfg: TrainConfig, **extra: Any):
    """Translate a :class:`TrainConfig` into TRL's ``SFTConfig``.

    Fixed here: ``max_length=None`` (over-long records are filtered offline), ``remove_unused_columns=False``
    (``images``/``messages``/``task`` reach the collator, ``expert_ids`` the model), and
    ``skip_prepare_dataset`` (the collator encodes). The labels are assistant-only by construction
    (``UniVLMProcessor.encode_conversation``), so TRL's template-based ``assistant_only_loss`` is not used.
    """
    from trl import SFTConfig

    dev = device_settings(cfg)
    kwargs = dict(
        output_dir=cfg.output_dir,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type=cfg.lr_scheduler_type,
        warmup_steps=cfg.warmup_ratio,  # transformers 5: a float < 1 is a ratio of the total steps
        weight_decay=cfg.weight_decay,
        optim="adamw_torch",
        num_train_epochs=cfg.num_train_epochs,
        max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.per_device_train_batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        activation_checkpointing=cfg.gradient_checkpointing,
        activation_checkpointing_kwargs={"use_reentrant": False} if cfg.gradient_checkpointing else None,
        max_grad_norm=cfg.max_grad_norm,
        bf16=dev["bf16"],
        seed=cfg.seed,
        data_seed=cfg.seed,
        logging_steps=cfg.logging_steps,
        save_strategy="steps",
        save_steps=cfg.save_steps,
        save_total_limit=cfg.save_total_limit,
        dataloader_num_workers=cfg.dataloader_num_workers,
        dataloader_pin_memory=torch.cuda.is_available(),
        report_to=cfg.report_to,
        disable_tqdm=cfg.disable_tqdm,
        max_length=None,
        remove_unused_columns=False,
        dataset_kwargs={"skip_prepare_dataset": True},
        # Stage 2: every expert is called on every forward (see modeling_univlm) and nothing else trains, so
        # DDP needs no unused-parameter scan. Stage 1: the vision tower's post-layernorm gets no gradient
        # (features come from hidden_states[-1]), so TRL's default for VLMs (find unused = True) stays.
        ddp_find_unused_parameters=False if cfg.stage == 2 else None,
    )
    kwargs.update(extra)
    return SFTConfig(**kwargs)
