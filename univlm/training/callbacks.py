"""Trainer callbacks: a crash-proof loss history, plain log lines and a one-line run summary.

- :class:`LossHistoryCallback` appends every training log (loss, per-task and per-granularity losses,
  learning rate, step) to ``<output_dir>/loss_history.jsonl`` as it happens, one flushed line per log, so
  a killed run still leaves its loss curve behind and a resumed run continues the same file.
- :class:`LogLineCallback` logs one plain line per logging step (step, progress, losses, rate, elapsed
  time). It replaces transformers' ``PrinterCallback`` (a raw dict) when there are no progress bars
  (``disable_tqdm``, the default when stdout or stderr is not a terminal), so a redirected log stays
  readable instead of filling with carriage-return bars.
- :class:`RunSummaryCallback` measures wall time and trained steps for the closing summary.

On a terminal the progress bar is transformers' ``ProgressCallback``; the per-task loss figures are
produced by :class:`univlm.training.trainer.UniVLMSFTTrainer.log`.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from transformers import TrainerCallback

logger = logging.getLogger(__name__)

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


class LogLineCallback(TrainerCallback):
    """Log one line per logging step: ``step 50/250 (20%): loss 2.31, ..., 12 s elapsed`` (main process)."""

    def __init__(self):
        self._start: float | None = None

    def on_train_begin(self, args, state, control, **kwargs):
        self._start = time.perf_counter()

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        elapsed = time.perf_counter() - (self._start if self._start is not None else time.perf_counter())
        logger.info("%s", format_log_line(state.global_step, state.max_steps, logs, elapsed))


def format_log_line(step: int, max_steps: int, logs: dict, elapsed_s: float) -> str:
    """One readable line for a trainer log dict (``total_flos`` and non-numeric values are left out)."""
    done = f" ({100 * step / max_steps:.0f}%)" if max_steps > 0 else ""
    parts = []
    for key, value in logs.items():
        if key == "total_flos" or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        parts.append(f"{key} {value:.4g}" if isinstance(value, float) else f"{key} {value}")
    return f"step {step}/{max_steps}{done}: {', '.join(parts)}; {elapsed_s:.0f} s elapsed"


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
