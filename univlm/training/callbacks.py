"""Trainer callbacks: a crash-proof loss history and a one-line run summary.

- :class:`LossHistoryCallback` appends every training log (loss, per-task and per-granularity losses,
  learning rate, step) to ``<output_dir>/loss_history.jsonl`` as it happens, one flushed line per log, so
  a killed run still leaves its loss curve behind and a resumed run continues the same file.
- :class:`RunSummaryCallback` measures wall time and trained steps for the closing summary.

The progress bar itself is transformers' ``ProgressCallback`` (on unless ``disable_tqdm``); the per-task
loss figures are produced by :class:`univlm.training.trainer.UniVLMSFTTrainer.log`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from transformers import TrainerCallback

HISTORY_FILE = "loss_history.jsonl"


class LossHistoryCallback(TrainerCallback):
    """Append each training log line to ``<output_dir>/loss_history.jsonl`` (main process only)."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs or "loss" not in logs:
            return
        path = Path(args.output_dir) / HISTORY_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"step": state.global_step, **logs}) + "\n")
            fh.flush()


def read_loss_history(output_dir: str | Path) -> list[dict]:
    """The logged records of a run, in order (later duplicates of a step, from a resume, win)."""
    path = Path(output_dir) / HISTORY_FILE
    if not path.is_file():
        return []
    by_step: dict[int, dict] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            rec = json.loads(line)
            by_step[rec["step"]] = rec
    return [by_step[s] for s in sorted(by_step)]


class RunSummaryCallback(TrainerCallback):
    """Record wall time and steps of the ``train()`` call; read ``.summary`` afterwards."""

    def __init__(self):
        self._start = 0.0
        self._start_step = 0
        self.summary: dict = {}

    def on_train_begin(self, args, state, control, **kwargs):
        self._start = time.perf_counter()
        self._start_step = state.global_step

    def on_train_end(self, args, state, control, **kwargs):
        losses = [h["loss"] for h in state.log_history if "loss" in h]
        self.summary = {
            "wall_time_s": round(time.perf_counter() - self._start, 1),
            "steps": state.global_step - self._start_step,
            "global_step": state.global_step,
            "first_loss": losses[0] if losses else None,
            "last_loss": losses[-1] if losses else None,
        }
