"""``UniVLMSFTTrainer``: TRL's ``SFTTrainer`` with the few changes univlm needs, plus checkpoint helpers.

Design choices and their sources:

- Subclassed only where needed. TRL's SFTTrainer already forwards with ``use_cache=False`` (required
  for transformers to detect a flattened batch and build the block-diagonal mask) and computes the loss
  through its fused LM head. We add: removal of collator metadata (``task_index``) before the forward,
  per-task / per-granularity loss logging, and checkpoint completeness markers.
- Per-task losses come from the fused LM head's per-token ``log_probs`` (captured by a forward hook on
  the unwrapped model), so no extra forward runs; sums and counts are reduced across ranks at log time.
- The optional mask head's loss is added here, not in the model: TRL's fused LM head runs only the
  backbone and the LM head, so the model's own loss (and anything added to it) is never computed.
- Atomic checkpoints: transformers writes ``checkpoint-N/`` file by file. After everything (weights,
  processor, optimizer, scheduler, RNG, trainer state) is written, the main process writes
  ``checkpoint_complete.json`` via temp file + ``os.replace``. :func:`latest_complete_checkpoint` only
  ever returns directories that carry the marker, so a run killed mid-save resumes from the previous one.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any

import torch
from transformers.optimization import get_scheduler
from trl import SFTTrainer

from univlm.fileio import atomic_write_text
from univlm.tasks import TASK_GRANULARITY, TASKS
from univlm.training.collator import MASK_KEYS, METADATA_KEYS
from univlm.training.config import resolve_scheduler_kwargs

logger = logging.getLogger(__name__)

COMPLETE_MARKER = "checkpoint_complete.json"
_CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")


def write_json_atomic(path: str | os.PathLike, payload: Any) -> None:
    """Write ``payload`` as indented JSON to ``path`` atomically (:func:`univlm.fileio.atomic_write_text`)."""
    atomic_write_text(path, json.dumps(payload, indent=2))


def list_checkpoints(output_dir: str | os.PathLike) -> list[tuple[int, Path, bool]]:
    """Return ``(step, path, complete)`` for every ``checkpoint-N`` directory, oldest first."""
    root = Path(output_dir)
    if not root.is_dir():
        return []
    found = []
    for child in root.iterdir():
        match = _CHECKPOINT_RE.match(child.name)
        if match and child.is_dir():
            found.append((int(match.group(1)), child, (child / COMPLETE_MARKER).is_file()))
    return sorted(found)


def latest_complete_checkpoint(output_dir: str | os.PathLike, remove_incomplete: bool = False) -> Path | None:
    """Return the newest checkpoint whose completeness marker exists, or None.

    Args:
        output_dir: The run's output directory.
        remove_incomplete: Delete incomplete checkpoints newer than the returned one (a killed save), so
            the resumed run can write that step again from scratch.
    """
    checkpoints = list_checkpoints(output_dir)
    complete = [c for c in checkpoints if c[2]]
    latest = complete[-1] if complete else None
    if remove_incomplete:
        for step, path, ok in checkpoints:
            if not ok and (latest is None or step > latest[0]):
                logger.warning(
                    "removing incomplete checkpoint %s (no %s: the save was interrupted)",
                    path,
                    COMPLETE_MARKER,
                )
                shutil.rmtree(path, ignore_errors=True)
    return None if latest is None else latest[1]


class UniVLMSFTTrainer(SFTTrainer):
    """``trl.SFTTrainer`` for univlm batches (see the module docstring for what changes).

    Args:
        *args, **kwargs: As for ``trl.SFTTrainer``; pass the univlm collator as ``data_collator`` and the
            ``UniVLMProcessor`` as ``processing_class``.
        module_lrs: Learning rates for parameters whose names match given regular expressions at their
            start (e.g. ``{r"model\\.vision_tower\\.": 2e-4}``; the first matching pattern wins), the rest
            using ``args.learning_rate``; the scheduler scales every group alike. LLaVA-OneVision trains its
            vision tower at 1/5 of the LLM's rate (``mm_vision_tower_lr``); a from-scratch toy tower needs it
            to keep its features from collapsing.
    """

    def __init__(self, *args, module_lrs: dict[str, float] | None = None, **kwargs):
        self._module_lrs = dict(module_lrs or {})
        training_args = kwargs.get("args")
        if getattr(training_args, "padding_free", False):
            # ``UniVLMSFTConfig.padding_free`` selects univlm's flattening collator, chosen by the caller. TRL's
            # own padding-free path refuses custom collators and vision datasets, so TRL sees the flag off (TRL
            # adjusts its arguments the same way, e.g. ``ddp_find_unused_parameters``).
            training_args.padding_free = False
        super().__init__(*args, **kwargs)
        self._task_stats = torch.zeros(2, len(TASKS), dtype=torch.float64)  # (loss sum, token count) per task
        self._pending_task_index: torch.Tensor | None = None
        self._want_log_probs = False
        self._captured: tuple[torch.Tensor, torch.Tensor] | None = None  # (log_probs, label_mask) with grad
        self.accelerator.unwrap_model(self.model).register_forward_hook(self._capture_token_losses)
        # Mask head (univlm.models.mask_head): TRL's fused LM head returns no hidden states, so the backbone's
        # output (last hidden state + kept SigLIP layers) is captured for the head's loss.
        self._want_backbone = False
        self._backbone = None
        self._mask_stats: dict[str, list[float]] = {}
        unwrapped = self.accelerator.unwrap_model(self.model)
        if getattr(unwrapped, "mask_head", None) is not None:
            unwrapped.model.register_forward_hook(self._capture_backbone)

    def create_optimizer(self, model=None):
        """transformers' optimizer, with the parameters matching ``module_lrs`` patterns in groups of their own."""
        fresh = self.optimizer is None
        optimizer = super().create_optimizer(model)
        if not (fresh and self._module_lrs):
            return optimizer
        unwrapped = self.accelerator.unwrap_model(self.model if model is None else model)
        names = {id(p): n for n, p in unwrapped.named_parameters()}
        moved: dict[tuple[str, int], dict] = {}
        # No step has run yet, so the optimizer holds no state and groups can be re-cut in place.
        for index, group in enumerate(list(optimizer.param_groups)):
            keep = []
            for param in group["params"]:
                name = names.get(id(param), "")
                pattern = next((pat for pat in self._module_lrs if re.match(pat, name)), None)
                if pattern is None:
                    keep.append(param)
                    continue
                settings = {k: v for k, v in group.items() if k != "params"}
                target = moved.setdefault((pattern, index), {**settings, "lr": self._module_lrs[pattern], "params": []})
                target["params"].append(param)
            group["params"] = keep
        optimizer.param_groups[:] = [g for g in optimizer.param_groups if g["params"]]
        for (pattern, _), group in moved.items():
            optimizer.add_param_group(group)
            logger.info("learning rate %g for %d tensors matching %s", group["lr"], len(group["params"]), pattern)
        return optimizer

    def create_scheduler(self, num_training_steps: int, optimizer: torch.optim.Optimizer | None = None):
        """transformers' scheduler; ``warmup_stable_decay`` gets its decay fitted to the run (``resolve_scheduler_kwargs``)."""
        if self.lr_scheduler is None and getattr(self.args.lr_scheduler_type, "value", self.args.lr_scheduler_type) == "warmup_stable_decay":
            warmup = self.args.get_warmup_steps(num_training_steps)
            self.lr_scheduler = get_scheduler(
                self.args.lr_scheduler_type,
                optimizer=optimizer if optimizer is not None else self.optimizer,
                num_warmup_steps=warmup,
                num_training_steps=num_training_steps,
                scheduler_specific_kwargs=resolve_scheduler_kwargs(
                    self.args.lr_scheduler_type, self.args.lr_scheduler_kwargs, num_training_steps, warmup
                ),
            )
            self._created_lr_scheduler = True
        return super().create_scheduler(num_training_steps, optimizer)

    def _capture_token_losses(self, module, args, output) -> None:
        task_index = self._pending_task_index
        log_probs = getattr(output, "log_probs", None)
        if self._want_log_probs and log_probs is not None and module.training:
            self._want_log_probs = False
            self._captured = (log_probs, output.label_mask)
        if task_index is None or log_probs is None or not module.training:
            return
        self._pending_task_index = None
        with torch.no_grad():
            nll = -log_probs.detach().double().cpu()  # (B, T-1), zero where the label is ignored
            valid = output.label_mask.detach().cpu()  # (B, T-1)
            tasks = task_index[:, 1:].cpu()  # (B, T-1): the task of each predicted token
            for i in range(len(TASKS)):
                sel = valid & (tasks == i)
                if sel.any():
                    self._task_stats[0, i] += nll[sel].sum()
                    self._task_stats[1, i] += sel.sum()

    def _capture_backbone(self, module, args, output) -> None:
        if self._want_backbone:
            self._want_backbone = False
            self._backbone = output

    def _add_mask_loss(self, result, return_outputs, mask_batch, inputs, num_items_in_batch):
        """Add the mask head's loss (a per-micro-batch mean) to the text loss, weighted by the head's settings."""
        backbone, self._backbone, self._want_backbone = self._backbone, None, False
        head = getattr(self.accelerator.unwrap_model(self.model), "mask_head", None)
        if head is None:
            return result
        if mask_batch is None:
            if not self.model.training:
                return result
            # A batch without masks still touches every head parameter (zero gradient), so DDP never
            # sees unused parameters, as every G-MoE expert is called on every step.
            text = result[0] if return_outputs else result
            loss = head.settings.text_weight * text + 0.0 * sum(p.sum() for p in head.parameters() if p.requires_grad)
            return (loss, result[1]) if return_outputs else loss
        from univlm.models.mask_head_losses import mask_head_loss  # torch-heavy model code, loaded on use

        if backbone is None:
            raise RuntimeError("mask targets were given but the backbone forward was not captured")
        packed = "attention_mask" not in inputs
        mask = mask_head_loss(
            self.accelerator.unwrap_model(self.model),
            backbone,
            inputs["input_ids"],
            mask_batch["mask_targets"],
            mask_batch["mask_counts"],
            mask_batch.get("mask_classes"),
            position_ids=inputs.get("position_ids") if packed else None,
        )
        for key, value in mask.parts.items():
            acc = self._mask_stats.setdefault(key, [0.0, 0.0])
            acc[0] += value
            acc[1] += 1
        # Like TRL's MoE aux loss: a per-micro-batch mean, averaged over the accumulation steps.
        steps = self.current_gradient_accumulation_steps if num_items_in_batch is not None else 1
        text = result[0] if return_outputs else result
        loss = head.settings.text_weight * text + mask.total / steps
        return (loss, result[1]) if return_outputs else loss

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        """Drop collator metadata, remember each token's task for logging, then TRL's loss.

        With ``loss_weight`` metadata (a collator's ``loss_weighting``), the loss is the weighted mean of
        the same forward's token losses, scaled as TRL scales its token mean for gradient accumulation
        and across ranks. With mask-head targets (``mask_targets``/``mask_classes``/``mask_counts``) and a
        model with a ``mask_head``, the loss is ``text_weight * text + mask loss`` (see
        :mod:`univlm.models.mask_head_losses`), from the same forward's captured backbone outputs.
        """
        task_index = inputs.get("task_index")
        loss_weight = inputs.get("loss_weight")
        mask_batch = {key: inputs.get(key) for key in MASK_KEYS}
        if mask_batch["mask_targets"] is None:
            mask_batch = None
        self._want_backbone = mask_batch is not None
        for key in METADATA_KEYS:
            inputs.pop(key, None)
        self._pending_task_index = task_index if model.training else None
        self._want_log_probs = loss_weight is not None and model.training
        self._captured = None
        result = super().compute_loss(
            model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch
        )
        captured, self._captured, self._want_log_probs = self._captured, None, False
        if captured is None:
            return self._add_mask_loss(result, return_outputs, mask_batch, inputs, num_items_in_batch)
        log_probs, label_mask = captured
        weight = loss_weight[:, 1:].to(log_probs.device, log_probs.dtype)  # (B, T-1), aligned with log_probs
        weighted = (-log_probs * weight).sum() / weight.sum().clamp(min=1e-12)
        local = label_mask.sum()
        scale = local / (num_items_in_batch if num_items_in_batch is not None else local.clamp(min=1))
        if self.args.average_tokens_across_devices and num_items_in_batch is not None:
            scale = scale * self.accelerator.num_processes
        loss = weighted * torch.as_tensor(scale, device=weighted.device, dtype=weighted.dtype)
        result = (loss, result[1]) if return_outputs else loss
        return self._add_mask_loss(result, return_outputs, mask_batch, inputs, num_items_in_batch)

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """Add ``loss_<TASK>`` and ``loss_<granularity>`` (mean token NLL since the last log) to training logs."""
        if "loss" in logs:  # every rank logs together, so the reduce below cannot deadlock
            stats = self._task_stats.to(self.accelerator.device)
            stats = self.accelerator.reduce(stats, reduction="sum").cpu()
            by_granularity: dict[str, list[float]] = {}
            for i, task in enumerate(TASKS):
                total, count = stats[0, i].item(), stats[1, i].item()
                if count:
                    logs[f"loss_{task}"] = round(total / count, 4)
                    acc = by_granularity.setdefault(TASK_GRANULARITY[task], [0.0, 0.0])
                    acc[0] += total
                    acc[1] += count
            for name, (total, count) in by_granularity.items():
                logs[f"loss_{name}"] = round(total / count, 4)
            self._task_stats.zero_()
            for key, (total, count) in self._mask_stats.items():
                logs[key] = round(total / count, 4)  # this rank's mean (mask parts are logged, not optimised)
            self._mask_stats.clear()
        super().log(logs, start_time)

    def _save(self, output_dir: str | None = None, state_dict=None):
        """transformers' save, with the pickled ``training_args.bin`` replaced by ``training_args.json``."""
        super()._save(output_dir, state_dict=state_dict)
        output_dir = Path(output_dir if output_dir is not None else self.args.output_dir)
        if self.args.should_save:
            (output_dir / "training_args.bin").unlink(missing_ok=True)
            atomic_write_text(output_dir / "training_args.json", self.args.to_json_string())

    def _save_checkpoint(self, model, trial):
        super()._save_checkpoint(model, trial)
        self.accelerator.wait_for_everyone()
        if self.args.should_save:
            folder = Path(self._get_output_dir(trial=trial)) / f"checkpoint-{self.state.global_step}"
            write_json_atomic(folder / COMPLETE_MARKER, {"global_step": self.state.global_step})
