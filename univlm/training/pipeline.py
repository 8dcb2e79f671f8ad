"""The end-to-end training run behind ``recipes/stage1_sft.py`` and ``recipes/stage2_gmoe.py``.

Steps: make sure the data exists (the synthetic set is generated when absent), read and check the
records, build the model and processor for the stage, encode every record once (bad records and the
offline over-length filter), train with :class:`UniVLMSFTTrainer` (resuming from the latest complete
checkpoint on ``resume``), save model + processor atomically, then score the val split.

The recipes only parse the configuration and print; everything else lives here so tests and other
entry points share it.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from univlm.training.attention import register_packed_sdpa
from univlm.training.callbacks import LossHistoryCallback, RunSummaryCallback
from univlm.training.collator import PaddedCollator, PaddingFreeCollator
from univlm.training.config import TrainConfig
from univlm.training.dataset import (
    RecordEncoder,
    encode_and_filter,
    load_training_records,
    to_hf_dataset,
)
from univlm.training.stages import build_sft_config, build_stage1, build_stage2, device_settings
from univlm.training.trainer import UniVLMSFTTrainer, latest_complete_checkpoint, write_json_atomic

logger = logging.getLogger(__name__)

FINAL_MARKER = "training_complete.json"
# Headline figures printed at the end of a run: label -> key of ``evaluate_model``'s result.
HEADLINE = {
    "CLS accuracy": "cls_accuracy",
    "VG acc@0.5": "vg_acc@0.5",
    "SEG mIoU": "seg_miou",
    "VQA accuracy": "vqa_accuracy",
}


def ensure_data(cfg: TrainConfig) -> Path:
    """Return the data root, generating the synthetic dataset there when ``synthesize`` and it is absent.

    Raises:
        FileNotFoundError: If the training file is missing and synthesis is off.
    """
    root = Path(cfg.data_root)
    if not (root / cfg.train_file).is_file():
        if not cfg.synthesize:
            raise FileNotFoundError(
                f"{root / cfg.train_file} not found (set --synthesize true to generate it)"
            )
        from univlm.data.synth import ensure_synthetic

        logger.info(
            "generating the synthetic dataset at %s (n=%d, size=%d)", root, cfg.synth_n, cfg.synth_size
        )
        ensure_synthetic(root, n=cfg.synth_n, size=cfg.synth_size, seed=cfg.synth_seed, lattice=cfg.synth_lattice)
    return root


def _resample(cfg: TrainConfig, records: list[dict]) -> list[dict]:
    """Granularity-resample the training records when ``cfg.resample`` asks (options pass through).

    Stage-2 configs use it (RSUniVLM's granularity pools); the CPU stage-1 default uses it to give
    the slow-learning grounding and segmentation tasks more of a short run.
    """
    if not cfg.resample or not cfg.resample.get("enabled", True):
        return records
    from univlm.data.resample import resample_by_granularity

    options = {k: v for k, v in cfg.resample.items() if k != "enabled"}
    return list(resample_by_granularity(records, seed=cfg.seed, **options))


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


def module_learning_rates(cfg: TrainConfig) -> dict[str, float]:
    """Parameter-name prefixes with their own learning rate (``vision_tower_lr``, ``projector_lr``)."""
    rates = {"model.vision_tower.": cfg.vision_tower_lr, "model.multi_modal_projector.": cfg.projector_lr}
    return {prefix: lr for prefix, lr in rates.items() if lr is not None}


def headline(metrics: dict[str, Any]) -> dict[str, float | None]:
    """Pick the four headline figures out of an ``evaluate_model`` result (None when absent)."""
    out: dict[str, float | None] = {}
    for label, key in HEADLINE.items():
        value = metrics.get(key)
        out[label] = float(value) if isinstance(value, (int, float)) else None
    return out


# Free-form answers are short; boxes and masks follow a grammar whose worst case (an untrained model
# writing 24 one-cell runs per row) is thousands of tokens, so each group gets its own token budget.
_CONSTRAINED_TASKS = ("VG", "SEG")


def score(model, processor, cfg: TrainConfig, root: Path) -> dict[str, Any]:
    """Score ``model`` on the val split with the evaluation runner; returns its (merged) result dict."""
    from univlm.data.schema import read_records
    from univlm.evaluation.runner import evaluate_model
    from univlm.inference import Predictor

    val = root / cfg.val_file
    if not val.is_file():
        logger.warning("no val split at %s; skipping scoring", val)
        return {}
    model.eval()
    predictor = Predictor(model, processor)
    records = read_records(val)
    present = sorted({r.get("task") for r in records if r.get("task")})
    wanted = [t for t in (cfg.eval_tasks or present) if t in present]
    groups = (
        ([t for t in wanted if t not in _CONSTRAINED_TASKS], cfg.eval_max_new_tokens),
        ([t for t in wanted if t in _CONSTRAINED_TASKS], cfg.eval_max_mask_tokens),
    )
    result: dict[str, Any] = {}
    with torch.inference_mode():
        for tasks, budget in groups:
            if not tasks:
                continue
            part = evaluate_model(
                predictor,
                records,
                root,
                tasks=tasks,
                limit=cfg.eval_limit,
                batch_size=cfg.eval_batch_size,
                progress=not cfg.disable_tqdm,
                max_new_tokens=budget,
            )
            for key, value in part.items():
                if isinstance(value, dict) and isinstance(result.get(key), dict):
                    result[key].update(value)
                else:
                    result[key] = value
    return result


def run(cfg: TrainConfig) -> dict[str, Any]:
    """Run one training stage end to end.

    Args:
        cfg: The run configuration (``cfg.stage`` selects stage 1 or 2).

    Returns:
        A summary dict: ``output_dir``, ``data_report`` (text), ``train`` (steps, wall time, losses),
        ``num_trainable``, ``metrics`` (full evaluation), ``headline`` (four figures), and when
        ``eval_baseline`` the untrained model's ``baseline_headline``.

    Raises:
        BadRecordError: On a bad record without ``skip_bad``.
        ValueError: On an inconsistent configuration.
    """
    start = time.perf_counter()
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    root = ensure_data(cfg)
    output_dir = Path(cfg.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    records, report = load_training_records(root / cfg.train_file, root, skip_bad=cfg.skip_bad)
    resume_from = latest_complete_checkpoint(output_dir, remove_incomplete=True) if cfg.resume else None
    if cfg.resume and resume_from is None:
        logger.warning("--resume: no complete checkpoint in %s, starting from scratch", output_dir)
    baseline = None
    if cfg.stage == 1:
        if resume_from is not None:
            # Rebuild exactly the run's model and processor (a tiny tokenizer is fitted to the data).
            from transformers import AutoProcessor

            from univlm.models import UniVLMForConditionalGeneration

            attn = device_settings(cfg)["attn_implementation"]
            model = UniVLMForConditionalGeneration.from_pretrained(resume_from, attn_implementation=attn)
            processor = AutoProcessor.from_pretrained(resume_from)
        else:
            model, processor = build_stage1(cfg, records)
        num_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    else:
        model, processor, num_trainable = build_stage2(cfg)
    records = _resample(cfg, records)
    if cfg.eval_baseline and cfg.evaluate and cfg.stage == 1 and resume_from is None:
        baseline = headline(score(model, processor, cfg, root))
        model.train()
    encoder = RecordEncoder(processor, cache=cfg.cache_encoded)
    records = encode_and_filter(records, report, encoder, max_length=cfg.max_length, skip_bad=cfg.skip_bad)
    logger.info("training data:\n%s", report.format())
    dataset = to_hf_dataset(records)

    attn = device_settings(cfg)["attn_implementation"]
    if cfg.padding_free:
        if attn == "sdpa":
            # Per-example attention instead of a dense (N, N) block mask (see univlm.training.attention).
            model.set_attn_implementation(register_packed_sdpa())
        collator = PaddingFreeCollator(
            encoder,
            return_flash_attn_kwargs=attn.startswith("flash") or attn == "sdpa",
            loss_weighting=cfg.loss_weighting,
        )
    else:
        collator = PaddedCollator(processor.tokenizer.pad_token_id, encoder, loss_weighting=cfg.loss_weighting)
    summary_cb = RunSummaryCallback()
    trainer = UniVLMSFTTrainer(
        model=model,
        args=build_sft_config(cfg),
        data_collator=collator,
        train_dataset=dataset,
        processing_class=processor,
        callbacks=[LossHistoryCallback(), summary_cb],
        module_lrs=module_learning_rates(cfg),
    )
    output = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    result: dict[str, Any] = {
        "output_dir": str(output_dir),
        "data_report": report.format(),
        "num_bad": len(report.bad),
        "bad_records": [b.format() for b in report.bad],
        "num_over_length": len(report.over_length),
        "num_trainable": num_trainable,
        "train": {**summary_cb.summary, "mean_loss": round(output.training_loss, 4)},
    }
    if cfg.padding_free and attn == "sdpa":
        model.set_attn_implementation("sdpa")  # the saved/served model uses stock sdpa
    _save_final(trainer, output_dir, {"stage": cfg.stage, "global_step": trainer.state.global_step})
    if cfg.evaluate and trainer.args.should_save:
        metrics = score(trainer.accelerator.unwrap_model(trainer.model), processor, cfg, root)
        result["metrics"] = metrics
        result["headline"] = headline(metrics)
    if baseline is not None:
        result["baseline_headline"] = baseline
    if "headline" in result:
        scores = {"val": result["headline"], "untrained_baseline": baseline}
        write_json_atomic(output_dir / "val_scores.json", scores)
    result["wall_time_s"] = round(time.perf_counter() - start, 1)
    return result


def format_report(result: dict[str, Any]) -> str:
    """The closing lines a recipe prints: data report, bad records, training summary and figures."""
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
        lines.append("val scores" + (" (untrained baseline in brackets):" if base else ":"))
        for label, value in result["headline"].items():
            text = "n/a" if value is None else f"{value:.3f}"
            if base:
                b = base.get(label)
                text += f"  [{'n/a' if b is None else f'{b:.3f}'}]"
            lines.append(f"  {label:<13} {text}")
    lines.append(f"saved to {result['output_dir']} (total {result.get('wall_time_s')} s)")
    return "\n".join(line for line in lines if line)
