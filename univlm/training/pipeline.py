"""The end-to-end training run behind ``recipes/stage1_sft.py`` and ``recipes/stage2_gmoe.py``.

Steps: make sure the data exists (the synthetic set is generated when absent), read and check the
records, build the model and processor for the stage, encode every record once (bad records and the
offline over-length filter), train with :class:`UniVLMSFTTrainer` (resuming from the latest complete
checkpoint on ``resume``), save model + processor atomically, then score the val split
(:func:`evaluate_val`, which generates answers and scores them with :mod:`univlm.evaluation`).

The trainer's arguments arrive already built (``univlm.training.config.parse_args``), before any model
exists, as in TRL's ``sft.py``: a ZeRO-3 config is then visible while the model is built.

Resuming a finished run (its ``training_complete.json`` covers the requested steps or epochs) does
nothing and leaves every file as it was.

The recipes only parse the configuration and print; everything else lives here so tests and other
entry points share it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import datasets
import huggingface_hub
import torch
from transformers import AutoProcessor, PrinterCallback
from transformers.utils import logging as hf_logging

from univlm.data.resample import resample_by_granularity
from univlm.data.schema import read_records
from univlm.data.synth import ensure_synthetic
from univlm.evaluation.runner import evaluate_model
from univlm.inference import Predictor
from univlm.models import UniVLMForConditionalGeneration
from univlm.tasks import CONSTRAINED_TASKS
from univlm.training.attention import register_packed_sdpa
from univlm.training.callbacks import LogLineCallback, LossHistoryCallback, RunSummaryCallback
from univlm.training.collator import PaddedCollator, PaddingFreeCollator
from univlm.training.config import UniVLMArguments, UniVLMSFTConfig
from univlm.training.dataset import (
    RecordEncoder,
    encode_and_filter,
    load_training_records,
    to_hf_dataset,
)
from univlm.training.stages import attn_implementation, build_stage1, build_stage2
from univlm.training.trainer import UniVLMSFTTrainer, latest_complete_checkpoint, write_json_atomic

logger = logging.getLogger(__name__)

FINAL_MARKER = "training_complete.json"
# Headline figures printed at the end of a run: label -> key of ``evaluate_model``'s result.
HEADLINE = {
    "CLS accuracy": "cls_accuracy",
    "VG acc@0.5": "vg_acc@0.5",
    "SEG mIoU": "seg_miou",
    "VQA accuracy": "vqa_accuracy",
    "CAP CIDEr": "cap_cider",
    "REF CIDEr": "ref_cider",
    "CCD CIDEr": "ccd_cider",
}


def ensure_data(args: UniVLMArguments, seed: int = 0) -> Path:
    """Return the data root, generating the synthetic dataset there when ``synthesize`` and it is absent.

    A synthetic set already there is checked against the run's parameters (``synth_seed`` follows
    the trainer's ``seed`` by default), so ``--seed 1`` never silently trains on the seed-0 data.

    Raises:
        FileNotFoundError: If the training file is missing and synthesis is off.
        ValueError: If ``data_root`` holds a synthetic set generated with other parameters.
    """
    root = Path(args.data_root)
    if not (root / args.train_file).is_file() or (args.synthesize and (root / "synth.json").is_file()):
        if not args.synthesize:
            raise FileNotFoundError(f"{root / args.train_file} not found (set --synthesize true to generate it)")
        logger.info(
            "synthetic dataset at %s (n=%d, size=%d): checking or generating", root, args.synth_n, args.synth_size
        )
        synth_seed = seed if args.synth_seed is None else args.synth_seed
        ensure_synthetic(root, n=args.synth_n, size=args.synth_size, seed=synth_seed, lattice=args.synth_lattice)
    return root


def _resample(args: UniVLMArguments, records: list[dict], seed: int = 0) -> list[dict]:
    """Granularity-resample the training records when ``args.resample`` asks (options pass through).

    Stage-2 configs use it (RSUniVLM's granularity pools); the CPU stage-1 default uses it to give
    the slow-learning grounding and segmentation tasks more of a short run.
    """
    if not args.resample or not args.resample.get("enabled", True):
        return records
    options = {k: v for k, v in args.resample.items() if k != "enabled"}
    return list(resample_by_granularity(records, seed=seed, **options))


def has_curriculum(args: UniVLMArguments) -> bool:
    """Whether the run's resample orders its records (``resample: {lead: ...}``), so they must be read in order."""
    return bool(args.resample and args.resample.get("enabled", True) and args.resample.get("lead"))


def _save_final(trainer: UniVLMSFTTrainer, output_dir: Path, payload: dict) -> None:
    """Save model + processor into a temp dir, move the files into ``output_dir``, then write the marker."""
    if not trainer.args.should_save:
        trainer.save_model(str(output_dir))  # non-main ranks take part in gathering (ZeRO-3 / FSDP)
        return
    (output_dir / FINAL_MARKER).unlink(missing_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".final-", dir=output_dir))
    try:
        trainer.save_model(str(tmp))
        for item in tmp.iterdir():
            target = output_dir / item.name
            if target.is_dir():
                shutil.rmtree(target)
            os.replace(item, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    write_json_atomic(output_dir / FINAL_MARKER, payload)


def finished_run(output_dir: str | os.PathLike, training_args: UniVLMSFTConfig) -> dict | None:
    """The final marker of a finished run in ``output_dir`` when it covers what ``training_args`` ask for.

    Covered means: at least ``max_steps`` global steps, or (``max_steps`` <= 0) at least
    ``num_train_epochs`` epochs. A marker without the epoch count (an older run) counts as covering.

    Returns:
        The marker's payload (``stage``, ``global_step``, ...), or None when there is training left to do.
    """
    marker = Path(output_dir) / FINAL_MARKER
    if not marker.is_file():
        return None
    done = json.loads(marker.read_text(encoding="utf-8"))
    if training_args.max_steps > 0:
        covered = int(done.get("global_step", 0)) >= training_args.max_steps
    else:
        covered = float(done.get("num_train_epochs", training_args.num_train_epochs)) >= training_args.num_train_epochs
    return done if covered else None


def quiet_progress_bars() -> None:
    """Turn off the progress bars of transformers (shard writing), datasets and the Hub, process-wide.

    For entry points whose output is not a terminal (``disable_tqdm``): each bar would leave a line of
    carriage returns in the log. The trainer's own bar follows ``disable_tqdm`` without this.
    """
    datasets.disable_progress_bars()
    hf_logging.disable_progress_bar()
    huggingface_hub.utils.disable_progress_bars()


def module_learning_rates(args: UniVLMArguments, expert_names: list[str] | None = None) -> dict[str, float]:
    """Parameter-name patterns with their own learning rate, for ``UniVLMSFTTrainer(module_lrs=...)``.

    Args:
        args: The run's fields: ``vision_tower_lr``, ``projector_lr`` and (stage 2) ``expert_lrs``.
        expert_names: The model's experts in id order (``config.expert_names``); needed for ``expert_lrs``.

    Returns:
        Regular expressions matched at the start of parameter names, mapped to learning rates.

    Raises:
        ValueError: If ``expert_lrs`` names an expert the model does not have.
    """
    rates = {
        re.escape("model.vision_tower."): args.vision_tower_lr,
        re.escape("model.multi_modal_projector."): args.projector_lr,
    }
    expert_names = list(expert_names or ())
    unknown = sorted(set(args.expert_lrs) - set(expert_names))
    if unknown:
        raise ValueError(f"config field 'expert_lrs': unknown experts {unknown}; the model's experts are {expert_names}")
    for index, name in enumerate(expert_names):
        if name in args.expert_lrs:
            # Every GMoEMLP names its FFNs ``...mlp.experts.<id>.``, in each decoder layer.
            rates[rf".*\.experts\.{index}\."] = float(args.expert_lrs[name])
    return {pattern: lr for pattern, lr in rates.items() if lr is not None}


def headline(metrics: dict[str, Any]) -> dict[str, float | None]:
    """Pick the headline figures out of an ``evaluate_model`` result (None when absent)."""
    out: dict[str, float | None] = {}
    for label, key in HEADLINE.items():
        value = metrics.get(key)
        out[label] = float(value) if isinstance(value, (int, float)) else None
    return out


def evaluate_val(
    model, processor, args: UniVLMArguments, root: Path, progress: bool = False, limit: int | None = None
) -> dict[str, Any]:
    """Generate answers for the val split and score them with :func:`univlm.evaluation.runner.evaluate_model`.

    Free-form answers are short; boxes and masks follow a grammar whose worst case (an untrained model
    writing 24 one-cell runs per row) is thousands of tokens, so each group gets its own token budget
    (``eval_max_new_tokens``, ``eval_max_mask_tokens``).

    Args:
        model: The model to score.
        processor: Its processor.
        args: The run's arguments (val file, tasks, budgets, batch size).
        root: The data root.
        progress: Show a progress bar.
        limit: Records per task (None = ``args.eval_limit``).

    Returns:
        The merged result dict of both groups ({} when there is no val split).
    """
    val = root / args.val_file
    if not val.is_file():
        logger.warning("no val split at %s; skipping scoring", val)
        return {}
    model.eval()
    predictor = Predictor(model, processor)
    records = read_records(val)
    present = sorted({r["task"] for r in records if isinstance(r.get("task"), str)})
    wanted = [t for t in (args.eval_tasks or present) if t in present]
    groups = (
        ([t for t in wanted if t not in CONSTRAINED_TASKS], args.eval_max_new_tokens),
        ([t for t in wanted if t in CONSTRAINED_TASKS], args.eval_max_mask_tokens),
    )
    result: dict[str, Any] = {}
    with torch.inference_mode():
        for tasks, budget in groups:
            if not tasks:
                continue
            start = time.perf_counter()
            part = evaluate_model(
                predictor,
                records,
                root,
                tasks=tasks,
                limit=args.eval_limit if limit is None else limit,
                batch_size=args.eval_batch_size,
                progress=progress,
                seg_kinds=args.eval_seg_kinds,
                max_new_tokens=budget,
            )
            logger.info("scored val %s in %.1f s", "/".join(tasks), time.perf_counter() - start)
            for key, value in part.items():
                if isinstance(value, dict) and isinstance(result.get(key), dict):
                    result[key].update(value)
                else:
                    result[key] = value
    return result


def _build_model(args: UniVLMArguments, training_args: UniVLMSFTConfig, records: list[dict], resume_from):
    """``(model, processor, num_trainable)`` for the stage; stage 1 resumes the checkpoint's exact processor."""
    if args.stage == 2:
        return build_stage2(args)
    if resume_from is not None:
        # Rebuild exactly the run's model and processor (a tiny tokenizer is fitted to the data).
        model = UniVLMForConditionalGeneration.from_pretrained(
            resume_from, attn_implementation=attn_implementation(args)
        )
        processor = AutoProcessor.from_pretrained(resume_from)
    else:
        model, processor = build_stage1(args, records, seed=training_args.seed)
    return model, processor, sum(p.numel() for p in model.parameters() if p.requires_grad)


def _busy_cores(interval: float = 0.5) -> float | None:
    """How many cores other processes keep busy now (from /proc/stat over ``interval`` s), or None."""
    def sample() -> tuple[int, int]:
        with open("/proc/stat", encoding="ascii") as fh:
            values = [int(v) for v in fh.readline().split()[1:]]
        return sum(values), values[3] + (values[4] if len(values) > 4 else 0)  # total, idle + iowait

    try:
        total0, idle0 = sample()
        time.sleep(interval)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    if total1 <= total0:
        return None
    return (1.0 - (idle1 - idle0) / (total1 - total0)) * (os.cpu_count() or 1)


def resolve_num_threads(value: int | str | None, cpu_count: int | None = None, busy: float | None = None) -> int | None:
    """The intra-op thread count a ``num_threads`` setting asks for.

    Args:
        value: None (torch's default), a positive number (or its string), or ``"auto"``: the cores
            other processes leave idle right now, at least 1. (Threads competing with other
            processes for every core make OpenMP spin instead of work; the 1-minute load average
            would still count a run that just ended, so the CPU's use is sampled for 0.5 s.)
        cpu_count: Cores this process may use (default: its CPU affinity).
        busy: Cores busy with other work (default: sampled from /proc/stat, else the load average).

    Returns:
        The thread count, or None to keep torch's default.

    Raises:
        ValueError: If ``value`` is neither None, a positive integer nor ``"auto"``.
    """
    if value is None:
        return None
    text = str(value).strip().lower()
    if text == "auto":
        if cpu_count is None:
            cpu_count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        if busy is None:
            busy = _busy_cores()
        if busy is None:
            busy = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
        return max(1, min(cpu_count, round(cpu_count - busy)))
    if text.isdigit() and int(text) > 0:
        return int(text)
    raise ValueError(f"num_threads must be a positive integer, 'auto' or null, got {value!r}")


def run(args: UniVLMArguments, training_args: UniVLMSFTConfig) -> dict[str, Any]:
    """Run one training stage end to end.

    Args:
        args: univlm's run arguments (``args.stage`` selects stage 1 or 2).
        training_args: The trainer's arguments, built before any model (see the module docstring).

    Returns:
        A summary dict: ``output_dir``, ``data_report`` (text), ``train`` (steps, wall time, losses),
        ``num_trainable``, ``metrics`` (full evaluation), ``headline`` (the HEADLINE figures), and when
        ``eval_baseline`` the untrained model's ``baseline_headline``. A resumed finished run returns
        ``nothing_to_do`` and its ``global_step`` only.

    Raises:
        BadRecordError: On a bad record without ``skip_bad``.
        ValueError: On an inconsistent configuration.
    """
    start = time.perf_counter()
    output_dir = Path(training_args.output_dir)
    if args.resume:
        done = finished_run(output_dir, training_args)
        if done is not None:
            logger.info("--resume: %s finished at step %s; nothing to do", output_dir, done.get("global_step"))
            return {"output_dir": str(output_dir), "nothing_to_do": True, "global_step": done.get("global_step"),
                    "wall_time_s": round(time.perf_counter() - start, 1)}  # fmt: skip
    threads = resolve_num_threads(args.num_threads)
    if threads:
        torch.set_num_threads(threads)
        logger.info("CPU threads: %d (num_threads: %s)", threads, args.num_threads)
    root = ensure_data(args, seed=training_args.seed)
    output_dir.mkdir(parents=True, exist_ok=True)
    records, report = load_training_records(
        root / args.train_file, root, skip_bad=args.skip_bad, allow_outside_root=args.allow_outside_root
    )
    resume_from = latest_complete_checkpoint(output_dir, remove_incomplete=True) if args.resume else None
    if args.resume and resume_from is None:
        logger.warning("--resume: no complete checkpoint in %s, starting from scratch", output_dir)
    model, processor, num_trainable = _build_model(args, training_args, records, resume_from)
    # Checked here, before the baseline and the length check spend minutes, not when the trainer is built.
    module_lrs = module_learning_rates(args, getattr(model.config, "expert_names", None))
    records = _resample(args, records, seed=training_args.seed)
    if has_curriculum(args):
        # A curriculum is an order: shuffling in the sampler would undo it (the resample is seeded).
        if training_args.train_sampling_strategy not in ("random", "sequential"):
            logger.warning("resample.lead orders the records: train_sampling_strategy %r replaced by 'sequential'",
                           training_args.train_sampling_strategy)
        training_args.train_sampling_strategy = "sequential"
    progress = not training_args.disable_tqdm
    baseline = None
    baseline_limit = args.eval_limit if args.eval_baseline_limit is None else args.eval_baseline_limit
    if args.eval_baseline and args.evaluate and args.stage == 1 and resume_from is None:
        baseline = headline(evaluate_val(model, processor, args, root, progress, limit=baseline_limit))
        model.train()
    encoder = RecordEncoder(processor, cache=args.cache_encoded, config=model.config, root=root)
    records = encode_and_filter(
        records, report, encoder, max_length=training_args.max_length, skip_bad=args.skip_bad
    )
    if encoder.mask_settings is not None:
        logger.info(
            "mask head: %d SEG records answer with [SEG0].. groups; %d keep their text mask (pairs, "
            "multi-label masks)", len(encoder.head_ids), len(encoder.text_mask_ids)
        )
    logger.info("training data:\n%s", report.format())
    dataset = to_hf_dataset(records)

    attn = attn_implementation(args)
    padding_free = training_args.padding_free  # UniVLMSFTTrainer then hands TRL the flag off
    if padding_free:
        if attn == "sdpa":
            # Per-example attention instead of a dense (N, N) block mask (see univlm.training.attention).
            model.set_attn_implementation(register_packed_sdpa())
        collator = PaddingFreeCollator(
            encoder,
            return_flash_attn_kwargs=attn.startswith("flash") or attn == "sdpa",
            loss_weighting=args.loss_weighting,
        )
    else:
        collator = PaddedCollator(processor.tokenizer.pad_token_id, encoder, loss_weighting=args.loss_weighting)
    summary_cb = RunSummaryCallback()
    trainer = UniVLMSFTTrainer(
        model=model,
        args=training_args,
        data_collator=collator,
        train_dataset=dataset,
        processing_class=processor,
        callbacks=[LossHistoryCallback(), summary_cb],
        module_lrs=module_lrs,
    )
    if training_args.disable_tqdm:
        trainer.remove_callback(PrinterCallback)  # a raw dict per log; LogLineCallback writes a readable line
        trainer.add_callback(LogLineCallback())
    output = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    result: dict[str, Any] = {
        "output_dir": str(output_dir),
        "data_report": report.format(),
        "num_bad": report.num_bad,
        "bad_records": [p.format() for p in report.bad],
        "num_over_length": len(report.over_length),
        "num_trainable": num_trainable,
        "train": {**summary_cb.summary, "mean_loss": round(output.training_loss, 4)},
    }
    if padding_free and attn == "sdpa":
        model.set_attn_implementation("sdpa")  # the saved/served model uses stock sdpa
    marker = {
        "stage": args.stage,
        "global_step": trainer.state.global_step,
        "max_steps": trainer.state.max_steps,
        "num_train_epochs": training_args.num_train_epochs,
    }
    _save_final(trainer, output_dir, marker)
    if args.evaluate and trainer.args.should_save:
        metrics = evaluate_val(trainer.accelerator.unwrap_model(trainer.model), processor, args, root, progress)
        result["metrics"] = metrics
        result["headline"] = headline(metrics)
    if baseline is not None:
        result["baseline_headline"] = baseline
        result["baseline_limit"] = baseline_limit
    if "headline" in result:
        write_json_atomic(output_dir / "val_scores.json", {"val": result["headline"], "untrained_baseline": baseline})
    result["wall_time_s"] = round(time.perf_counter() - start, 1)
    return result


def format_report(result: dict[str, Any]) -> str:
    """The closing lines a recipe prints: data report, bad records, training summary and figures."""
    if result.get("nothing_to_do"):
        return (
            f"nothing to do: {result['output_dir']} already finished at global step {result.get('global_step')} "
            f"({FINAL_MARKER}); files left unchanged"
        )
    lines = [result.get("data_report", "")]
    train = result.get("train", {})
    lines.append(
        f"trained {train.get('steps')} steps (global step {train.get('global_step')}) in {train.get('wall_time_s')} s; "
        f"mean loss {train.get('mean_loss')}, first/last logged {train.get('first_loss')} -> {train.get('last_loss')}; "
        f"trainable parameters {result['num_trainable']:,}"
    )
    if result.get("num_bad"):
        lines.append(f"skipped {result['num_bad']} bad records:")
        lines += [f"  {b}" for b in result["bad_records"]]
    if "headline" in result:
        base = result.get("baseline_headline") or {}
        per_task = result.get("baseline_limit")
        note = f" (untrained baseline, first {per_task} records per task, in brackets):" if per_task else (
            " (untrained baseline in brackets):"
        )
        lines.append("val scores" + (note if base else ":"))
        for label, value in result["headline"].items():
            text = "n/a" if value is None else f"{value:.3f}"
            if base:
                b = base.get(label)
                text += f"  [{'n/a' if b is None else f'{b:.3f}'}]"
            lines.append(f"  {label:<13} {text}")
    lines.append(f"saved to {result['output_dir']} (total {result.get('wall_time_s')} s)")
    return "\n".join(line for line in lines if line)
