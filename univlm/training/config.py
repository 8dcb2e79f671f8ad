"""Training run configuration: one dataclass, filled from defaults < a YAML file < command-line overrides.

Design choices:

- A flat dataclass whose field names are also the command-line flags (``--learning_rate 3e-4`` or
  ``--learning-rate 3e-4``), so a YAML file and a command line read the same way.
- Values given on the command line are parsed as YAML scalars (``1e-4`` -> float, ``null`` -> None,
  ``[CLS, VG]`` -> list), then checked against the field's type, so a typo fails before any work starts.
- Dict fields (``model_overrides``, ``resample``) accept dotted keys: ``--model_overrides.image_size 32``.
- The paper's settings (AdamW, lr 1e-5, cosine, warmup 0.03, weight decay 0, 1 epoch, batch 4 per GPU,
  bf16) live in the real-size YAML presets; the defaults here are the CPU-sized embedded run.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml


@dataclasses.dataclass
class TrainConfig:
    """Everything a stage-1 or stage-2 run needs. See docs/TRAINING.md for each field."""

    stage: int = 1
    # Model: a preset name ("tiny", "rsunivlm-0.5b") or a checkpoint directory (LLaVA-OneVision or univlm).
    model: str = "tiny"
    # Stage 2: the stage-1 output directory to upcycle.
    init_from: str | None = None
    # Tokenizer directory; None = the checkpoint's own, or for a preset a tiny tokenizer built from the data.
    tokenizer: str | None = None
    tokenizer_vocab_size: int = 600
    model_overrides: dict = dataclasses.field(default_factory=dict)
    # A preset built from scratch: "random" (transformers' init) or "sincos" vision position embedding.
    vision_position_init: str = "random"
    # Data.
    data_root: str = "data/synthetic"
    train_file: str = "train.jsonl"
    val_file: str = "val.jsonl"
    synthesize: bool = True
    synth_n: int = 200
    synth_size: int = 64
    synth_seed: int = 0
    synth_lattice: int = 0
    max_length: int | None = None
    skip_bad: bool = False
    cache_encoded: bool = False
    resample: dict = dataclasses.field(default_factory=dict)
    # Optimisation (TRL SFTConfig / TrainingArguments names).
    output_dir: str = "outputs/stage1"
    learning_rate: float = 1e-5
    # Per-module rates (None = learning_rate), as LLaVA-NeXT's mm_vision_tower_lr / mm_projector_lr.
    vision_tower_lr: float | None = None
    projector_lr: float | None = None
    lr_scheduler_type: str = "cosine"
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    num_train_epochs: float = 1.0
    max_steps: int = -1
    per_device_train_batch_size: int = 4
    gradient_accumulation_steps: int = 1
    gradient_checkpointing: bool = False
    max_grad_norm: float = 1.0
    bf16: bool | None = None
    attn_implementation: str | None = None
    padding_free: bool = True
    # How answers of different lengths share the loss: token (TRL's mean), square (InternVL 2.5), sample.
    loss_weighting: str = "token"
    seed: int = 0
    logging_steps: int = 10
    save_steps: int = 500
    save_total_limit: int | None = 2
    dataloader_num_workers: int = 0
    # CPU intra-op threads (None = torch's default). The tiny model's matrices are so small that a second
    # thread gains little, while an oversubscribed CPU makes OpenMP threads spin (measured 16x slower).
    num_threads: int | None = None
    report_to: str = "none"
    resume: bool = False
    disable_tqdm: bool = False
    # Stage 2: which parameters train ("experts" = the expert FFNs only).
    trainable: str = "experts"
    # End-of-run scoring on the val split.
    evaluate: bool = True
    eval_limit: int | None = None
    eval_tasks: list | None = None
    eval_baseline: bool = False
    eval_max_new_tokens: int = 32
    eval_max_mask_tokens: int = 320
    eval_batch_size: int = 8

    def __post_init__(self) -> None:
        from univlm.training.collator import LOSS_WEIGHTINGS

        if self.vision_position_init not in ("random", "sincos", "sincos_grid"):
            raise ValueError(
                "config field 'vision_position_init': expected 'random', 'sincos' or 'sincos_grid', "
                f"got {self.vision_position_init!r}"
            )
        if self.loss_weighting not in LOSS_WEIGHTINGS:
            raise ValueError(
                f"config field 'loss_weighting': expected one of {sorted(LOSS_WEIGHTINGS)}, got {self.loss_weighting!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _field_types() -> dict[str, Any]:
    hints = typing.get_type_hints(TrainConfig)
    return {f.name: hints[f.name] for f in dataclasses.fields(TrainConfig)}


def _check_type(name: str, value: Any, hint: Any) -> Any:
    """Coerce ``value`` to the field type ``hint`` where lossless (int -> float); raise otherwise."""
    args = typing.get_args(hint)
    allowed = args if args else (hint,)
    if value is None:
        if type(None) in allowed:
            return None
        raise ValueError(f"config field {name!r}: expected {hint}, got null")
    for t in allowed:
        origin = typing.get_origin(t) or t
        if origin is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if origin is float and isinstance(value, str):
            try:  # YAML 1.1 reads "3e-4" (no dot) as a string
                return float(value)
            except ValueError:
                pass
        if origin is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if origin is bool and isinstance(value, bool):
            return value
        if origin is str and isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        if origin in (dict, list) and isinstance(value, origin):
            return value
    raise ValueError(f"config field {name!r}: expected {hint}, got {type(value).__name__} {value!r}")


def _set_dotted(target: dict, dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    for key in keys[:-1]:
        target = target.setdefault(key, {})
        if not isinstance(target, dict):
            raise ValueError(f"override {dotted!r}: {key!r} is not a mapping")
    target[keys[-1]] = value


def merge(base: dict[str, Any], updates: dict[str, Any], source: str) -> dict[str, Any]:
    """Return ``base`` updated with ``updates`` (dotted keys allowed), checking names and types.

    Raises:
        ValueError: naming ``source`` and the unknown field or mistyped value.
    """
    types = _field_types()
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
    for key, value in updates.items():
        name = key.replace("-", "_")
        top = name.split(".", 1)[0]
        if top not in types:
            raise ValueError(
                f"{source}: unknown config field {key!r}; known fields: {', '.join(sorted(types))}"
            )
        if "." in name:
            if not isinstance(out[top], dict):
                raise ValueError(f"{source}: field {top!r} is not a mapping, cannot set {key!r}")
            _set_dotted(out[top], name.split(".", 1)[1], value)
        else:
            try:
                out[name] = _check_type(name, value, types[name])
            except ValueError as err:
                raise ValueError(f"{source}: {err}") from None
    return out


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping of config fields.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If the file is not a mapping.
    """
    path = Path(path)
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of config fields, got {type(data).__name__}")
    return data


def build_parser(prog: str, description: str | None = None, default_config: str | Path | None = None):
    """An argparse parser with ``--config``, ``--resume``, ``--skip-bad`` and ``--FIELD VALUE`` overrides."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description=description,
        epilog="Any config field can be overridden with --FIELD VALUE (VALUE parsed as YAML), "
        "dict fields with --FIELD.KEY VALUE.",
    )
    parser.add_argument(
        "--config", default=str(default_config) if default_config else None, help="YAML config file"
    )
    parser.add_argument("--resume", action="store_true", help="continue from the latest complete checkpoint")
    parser.add_argument("--skip-bad", action="store_true", help="skip bad records, count and list them")
    return parser


def parse_args(
    argv: Sequence[str] | None,
    prog: str,
    description: str | None = None,
    default_config: str | Path | None = None,
) -> TrainConfig:
    """Build a :class:`TrainConfig` from dataclass defaults, the YAML file, then ``--FIELD VALUE`` pairs.

    Raises:
        SystemExit: (argparse) on a malformed command line.
        ValueError: On an unknown field or a mistyped value, naming where it came from.
    """
    parser = build_parser(prog, description, default_config)
    known, rest = parser.parse_known_args(argv)
    overrides: dict[str, Any] = {}
    i = 0
    while i < len(rest):
        token = rest[i]
        if not token.startswith("--"):
            parser.error(f"unexpected argument {token!r}; overrides are --FIELD VALUE")
        key = token[2:]
        if "=" in key:
            key, raw = key.split("=", 1)
            i += 1
        elif i + 1 < len(rest) and not rest[i + 1].startswith("--"):
            raw = rest[i + 1]
            i += 2
        else:
            raw, i = "true", i + 1  # a bare flag means True
        overrides[key] = yaml.safe_load(raw) if raw != "" else ""
    values = dataclasses.asdict(TrainConfig())
    if known.config:
        values = merge(values, load_yaml(known.config), str(known.config))
    values = merge(values, overrides, "command line")
    if known.resume:
        values["resume"] = True
    if known.skip_bad:
        values["skip_bad"] = True
    return TrainConfig(**values)
