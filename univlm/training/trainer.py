"""``UniVLMSFTTrainer``: TRL's ``SFTTrainer`` with the few changes univlm needs, plus checkpoint helpers.

Design choices and their sources:

- Subclassed only where needed. TRL's SFTTrainer already forwards with ``use_cache=False`` (required
  for transformers to detect a flattened batch and build the block-diagonal mask) and computes the loss
  through its fused LM head. We add: removal of collator metadata (``task_index``) before the forward,
  per-task / per-granularity loss logging, and checkpoint completeness markers.
- Per-task losses come from the fused LM head's per-token ``log_probs`` (captured by a forward hook on
  the unwrapped model), so no extra forward runs; sums and counts are reduced across ranks at log time.
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
import tempfile
from pathlib import Path
from typing import Any

import torch
from trl import SFTTrainer

from univlm.tasks import TASK_GRANULARITY, TASKS
from univlm.training.collator import METADATA_KEYS

logger = logging.getLogger(__name__)

COMPLETE_MARKER = "checkpoint_complete.json"
_CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")


def write_json_atomic(path: str | os.PathLike, payload: Any) -> None:
    """Write ``payload`` as JSON to ``path`` through a temp file in the same directory + ``os.replace``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, indent=2)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


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
        module_lrs: Learning rates for parameters under given module-name prefixes (e.g.
            ``{"model.vision_tower.": 2e-4}``), the rest using ``args.learning_rate``; the scheduler scales
            every group alike. LLaVA-OneVision trains its vision tower at 1/5 of the LLM's rate
            (``mm_vision_tower_lr``); a from-scratch toy tower needs it to keep its features from collapsing.
    """

    def __init__(self, *args, module_lrs: dict[str, float] | None = None, **kwargs):
        self._module_lrs = dict(module_lrs or {})
        super().__init__(*args, **kwargs)
        self._task_stats = torch.zeros(2, len(TASKS), dtype=torch.float64)  # (loss sum, token count) per task
        self._pending_task_index: torch.Tensor | None = None
        self._want_log_probs = False
        self._captured: tuple[torch.Tensor, torch.Tensor] | None = None  # (log_probs, label_mask) with grad
        self.accelerator.unwrap_model(self.model).register_forward_hook(self._capture_token_losses)

    def create_optimizer(self, model=None):
        """transformers' optimizer, with the parameters under ``module_lrs`` prefixes in groups of their own."""
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
                prefix = next((pre for pre in self._module_lrs if name.startswith(pre)), None)
                if prefix is None:
                    keep.append(param)
                    continue
                settings = {k: v for k, v in group.items() if k != "params"}
                target = moved.setdefault((prefix, index), {**settings, "lr": self._module_lrs[prefix], "params": []})
                target["params"].append(param)
            group["params"] = keep
        optimizer.param_groups[:] = [g for g in optimizer.param_groups if g["params"]]
        for group in moved.values():
            optimizer.add_param_group(group)
        return optimizer

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

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        """Drop collator metadata, remember each token's task for logging, then TRL's loss.

        With ``loss_weight`` metadata (a collator's ``loss_weighting``), the loss is the weighted mean of
        the same forward's token losses, scaled as TRL scales its token mean for gradient accumulation
        and across ranks.
        """
        task_index = inputs.get("task_index")
        loss_weight = inputs.get("loss_weight")
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
            return result
        log_probs, label_mask = captured
        weight = loss_weight[:, 1:].to(log_probs.device, log_probs.dtype)  # (B, T-1), aligned with log_probs
        weighted = (-log_probs * weight).sum() / weight.sum().clamp(min=1e-12)
        local = label_mask.sum()
        scale = local / (num_items_in_batch if num_items_in_batch is not None else local.clamp(min=1))
        if self.args.average_tokens_across_devices and num_items_in_batch is not None:
            scale = scale * self.accelerator.num_processes
        loss = weighted * torch.as_tensor(scale, device=weighted.device, dtype=weighted.dtype)
        return (loss, result[1]) if return_outputs else loss

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
        super().log(logs, start_time)

    def _save(self, output_dir: str | None = None, state_dict=None):
        """transformers' save, with the pickled ``training_args.bin`` replaced by ``training_args.json``."""
        super()._save(output_dir, state_dict=state_dict)
        output_dir = Path(output_dir if output_dir is not None else self.args.output_dir)
        if self.args.should_save:
            (output_dir / "training_args.bin").unlink(missing_ok=True)
            (output_dir / "training_args.json").write_text(self.args.to_json_string(), encoding="utf-8")

    def _save_checkpoint(self, model, trial):
        super()._save_checkpoint(model, trial)
        self.accelerator.wait_for_everyone()
        if self.args.should_save:
            folder = Path(self._get_output_dir(trial=trial)) / f"checkpoint-{self.state.global_step}"
            write_json_atomic(folder / COMPLETE_MARKER, {"global_step": self.state.global_step})
