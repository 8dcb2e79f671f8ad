"""Recipe configuration: TRL's ``TrlParser`` over univlm's own fields and TRL's ``SFTConfig``.

Design choices and their sources:

- Parsed as TRL's own scripts parse theirs (``trl/scripts/sft.py``): ``TrlParser`` over two dataclasses,
  :class:`UniVLMArguments` (what only univlm knows: model, data, stage, evaluation) and
  :class:`UniVLMSFTConfig` (TRL's ``SFTConfig`` with univlm's defaults), so every ``TrainingArguments``
  field (``--learning_rate``, ``--deepspeed``, ``--logging_steps``...) works without being re-declared.
- ``--config FILE.yaml`` sets defaults, ``--FIELD VALUE`` overrides them (``TrlParser``). On top of it:
  YAML values are checked against the field's type and choices as command-line values are, unknown keys
  fail naming the key and its source, prefix abbreviations are refused (a typo never matches another
  field), and dict fields take dotted overrides: ``--model_overrides.vision_config.image_size 32``.
- The paper's settings (AdamW, lr 1e-5, cosine, warmup 0.03, weight decay 0, 1 epoch, batch 4 per GPU,
  bf16 on GPU) are :class:`UniVLMSFTConfig`'s defaults, as TRL's configs override ``TrainingArguments``'
  defaults; the CPU presets in ``recipes/configs`` change what a toy model needs.
- Progress bars only on a terminal: ``disable_tqdm`` defaults to True when stdout or stderr is not a
  TTY, and the run then logs one plain line per logging step (``univlm.training.callbacks``).
"""

import argparse
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
import yaml
from trl import SFTConfig, TrlParser

from univlm.evaluation.ground_truth import SEG_KINDS
from univlm.tasks import TASKS

logger = logging.getLogger(__name__)

LOSS_WEIGHTING_CHOICES = ("token", "square", "sample")


def is_interactive() -> bool:
    """True when both stdout and stderr are terminals, where carriage-return progress bars are readable."""
    return sys.stdout.isatty() and sys.stderr.isatty()


def _mapping(name: str, value: Any) -> dict:
    """A dict field given as a mapping, or as YAML/JSON text on the command line."""
    if value is None:
        return {}
    if isinstance(value, str):
        value = yaml.safe_load(value) if value.strip() else {}
    if not isinstance(value, dict):
        raise ValueError(f"config field {name!r}: expected a mapping, got {type(value).__name__} {value!r:.60}")
    return value


def _learning_rate(name: str, value: Any) -> float:
    """A positive learning rate; YAML reads ``1e-4`` (no dot) as text, so numeric text is accepted."""
    rate = float("nan")
    if isinstance(value, (int, float, str)) and not isinstance(value, bool):
        try:
            rate = float(value)
        except ValueError:
            pass  # refused below, with the field named
    if not 0 < rate < float("inf"):
        raise ValueError(f"config field {name!r}: expected a positive learning rate, got {value!r}")
    return rate


def _arg(default: Any, text: str) -> Any:
    """A dataclass field with ``--help`` text; a type as ``default`` (``dict``) is a default factory."""
    if isinstance(default, type):
        return field(default_factory=default, metadata={"help": text})
    return field(default=default, metadata={"help": text})


@dataclass
class UniVLMArguments:
    """univlm's own run fields; the trainer's are :class:`UniVLMSFTConfig`'s. See docs/TRAINING.md."""

    stage: Literal[1, 2] = _arg(1, "Which stage this config is for; each recipe checks it.")
    model: str = _arg("tiny", "A preset (tiny, rsunivlm-0.5b) or a checkpoint directory (univlm or LLaVA-OneVision).")
    init_from: str | None = _arg(None, "Stage 2: the stage-1 output directory to upcycle.")
    tokenizer: str | None = _arg(
        None, "Tokenizer directory; null = the checkpoint's own, or for a preset a tiny BPE fitted to the data."
    )
    tokenizer_vocab_size: int = _arg(600, "Vocabulary size of that tiny BPE.")
    model_overrides: dict[str, Any] | str | None = _arg(
        dict, "Preset config overrides, e.g. {vision_config: {patch_size: 16}} (or --model_overrides.KEY VALUE)."
    )
    vision_position_init: Literal["random", "sincos", "sincos_grid"] = _arg(
        "random", "A preset built from scratch: transformers' random init or sin-cos vision positions."
    )
    attn_implementation: str | None = _arg(None, "null = flash_attention_2 on CUDA when installed, else sdpa.")
    data_root: str = _arg("data/synthetic", "Root of the JSONL files and of their relative image paths.")
    train_file: str = _arg("train.jsonl", "Training records, relative to data_root.")
    val_file: str = _arg("val.jsonl", "Validation records, relative to data_root (end-of-run scoring).")
    synthesize: bool = _arg(True, "Generate the synthetic dataset in data_root when it has none.")
    synth_n: int = _arg(200, "Synthetic scenes.")
    synth_size: int = _arg(64, "Synthetic image side in pixels.")
    synth_seed: int | None = _arg(
        None, "Synthetic data seed; null = seed (one seed fixes data, initial weights, resample and order)."
    )
    synth_lattice: int = _arg(0, "Place synthetic objects on an N x N lattice (0 = off; docs/DATA.md).")
    skip_bad: bool = _arg(False, "Skip bad records, counting and listing them, instead of stopping.")
    allow_outside_root: bool = _arg(False, "Permit image paths that leave data_root (absolute or '..').")
    cache_encoded: bool = _arg(False, "Keep encoded records in memory across epochs.")
    resample: dict[str, Any] | str | None = _arg(
        dict, "Granularity resampling options (univlm.data.resample), e.g. {ratios: {VG: 0.35}}."
    )
    vision_tower_lr: float | None = _arg(
        None, "Learning rate of the vision tower (null = learning_rate), as LLaVA-NeXT's mm_vision_tower_lr."
    )
    projector_lr: float | None = _arg(None, "Learning rate of the projector (null = learning_rate).")
    expert_lrs: dict[str, float] | str | None = _arg(
        dict, "Stage 2: learning rates of named experts, e.g. {region: 5e-4} (the others use learning_rate)."
    )
    warmup_ratio: float | None = _arg(
        None, "The paper's warmup fraction; when set it becomes warmup_steps (a float < 1 is a ratio there)."
    )
    loss_weighting: Literal["token", "square", "sample"] = _arg(
        "token", "How answers of different lengths share the loss: token mean, square (InternVL 2.5), sample."
    )
    # On an idle CPU a second thread gives the tiny model about 1.5x the steps per second, but on an
    # oversubscribed CPU OpenMP threads spin (measured 16x slower): "auto" counts the idle cores.
    num_threads: str | None = _arg(
        None, "CPU intra-op threads: a number, 'auto' (the cores other processes leave idle when the run "
        "starts, at least 1), or null (torch's default).",
    )
    resume: bool = _arg(
        False, "Continue from the latest complete checkpoint in output_dir (a finished run has nothing to do)."
    )
    trainable: Literal["experts", "all"] = _arg("experts", "Stage 2: train the expert FFNs only, or everything.")
    evaluate: bool = _arg(True, "Score the val split at the end of the run.")
    eval_limit: int | None = _arg(
        None, "At most this many val records per task, and per kind for SEG (null = all)."
    )
    eval_tasks: list[str] | None = _arg(None, "Tasks to score, e.g. --eval_tasks CLS VG (null = all present).")
    eval_seg_kinds: list[str] | None = _arg(
        None, "SEG record kinds to score: referring, semantic, multi_referring, change (null = all present)."
    )
    eval_baseline: bool = _arg(False, "Stage 1: also score the untrained model first.")
    eval_baseline_limit: int | None = _arg(
        None, "At most this many val records per task (per kind for SEG) for the untrained model (null = eval_limit)."
    )
    eval_max_new_tokens: int = _arg(32, "Token budget of free-form answers when scoring.")
    eval_max_mask_tokens: int = _arg(320, "Token budget of box and mask answers when scoring.")
    eval_batch_size: int = _arg(8, "Prompts per generation batch when scoring.")

    def __post_init__(self) -> None:
        self.model_overrides = _mapping("model_overrides", self.model_overrides)
        self.resample = _mapping("resample", self.resample)
        self.expert_lrs = _mapping("expert_lrs", self.expert_lrs)
        self.expert_lrs = {str(name): _learning_rate(f"expert_lrs.{name}", rate) for name, rate in self.expert_lrs.items()}
        if self.expert_lrs and self.stage != 2:
            raise ValueError(f"config field 'expert_lrs': only stage 2 has experts, got stage {self.stage}")
        # Literal choices are enforced by argparse; direct construction and YAML values are checked here too.
        choices = {
            "stage": (1, 2),
            "vision_position_init": ("random", "sincos", "sincos_grid"),
            "loss_weighting": LOSS_WEIGHTING_CHOICES,
            "trainable": ("experts", "all"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"config field {name!r}: expected one of {list(allowed)}, got {getattr(self, name)!r}")
        unknown = [t for t in self.eval_tasks or () if t not in TASKS]
        if unknown:
            raise ValueError(f"config field 'eval_tasks': unknown tasks {unknown}; expected some of {list(TASKS)}")
        unknown = [k for k in self.eval_seg_kinds or () if k not in SEG_KINDS]
        if unknown:
            raise ValueError(
                f"config field 'eval_seg_kinds': unknown SEG kinds {unknown}; expected some of {list(SEG_KINDS)}"
            )


@dataclass
class UniVLMSFTConfig(SFTConfig):
    """TRL's ``SFTConfig`` with univlm's defaults (RSUniVLM's optimiser settings; see the module docstring).

    Fields whose meaning univlm narrows:

    - ``max_length``: records with more tokens are dropped *offline* and reported (univlm.training.dataset),
      never truncated mid-image or mid-mask.
    - ``padding_free``: univlm's collator flattens the batch (TRL's own padding-free path refuses vision
      datasets and custom collators, so the trainer itself is handed ``padding_free=False``).
    - ``bf16``: None = bf16 on a CUDA device that supports it, fp32 otherwise (TRL's None means bf16 always).
    - ``disable_tqdm``: None = no progress bars unless stdout and stderr are terminals.
    """

    output_dir: str | None = field(default="outputs/stage1", metadata={"help": "Where checkpoints and the model go."})
    learning_rate: float = field(default=1e-5, metadata={"help": "Peak learning rate (RSUniVLM: 1e-5)."})
    lr_scheduler_type: str = field(default="cosine", metadata={"help": "Learning-rate schedule."})
    warmup_steps: float = field(default=0.03, metadata={"help": "Warmup steps, or a ratio of all steps when < 1."})
    optim: str = field(default="adamw_torch", metadata={"help": "Optimizer (AdamW as in the paper)."})
    num_train_epochs: float = field(default=1.0, metadata={"help": "Passes over the data (paper: 1)."})
    per_device_train_batch_size: int = field(default=4, metadata={"help": "Batch size per device (paper: 4)."})
    seed: int = field(default=0, metadata={"help": "Seed of the weights, the data order and (by default) the data."})
    save_total_limit: int | None = field(default=2, metadata={"help": "Keep at most this many checkpoints."})
    gradient_checkpointing: bool | None = field(
        default=None, metadata={"help": "Deprecated alias of activation_checkpointing (off by default)."}
    )
    activation_checkpointing_kwargs: dict[str, Any] | str | None = field(
        default_factory=lambda: {"use_reentrant": False},
        metadata={"help": "Keyword arguments of activation checkpointing (non-reentrant by default)."},
    )
    bf16: bool | None = field(default=None, metadata={"help": "bf16 mixed precision; None = on a bf16 CUDA device."})
    disable_tqdm: bool | None = field(
        default=None, metadata={"help": "No progress bars; None = only when stdout or stderr is not a terminal."}
    )
    dataloader_pin_memory: bool | None = field(default=None, metadata={"help": "Pin memory; None = on CUDA."})
    max_length: int | None = field(
        default=None, metadata={"help": "Drop (and report) records with more tokens; None keeps all."}
    )
    padding_free: bool = field(
        default=True, metadata={"help": "Flatten each batch into one sequence without padding (univlm's collator)."}
    )
    remove_unused_columns: bool = field(
        default=False, metadata={"help": "Keep images/messages/task columns: the collator encodes them."}
    )
    dataset_kwargs: dict[str, Any] | str | None = field(
        default_factory=lambda: {"skip_prepare_dataset": True},
        metadata={"help": "The collator encodes, so TRL's dataset preparation is skipped."},
    )

    def __post_init__(self) -> None:
        cuda = torch.cuda.is_available()
        if self.bf16 is None:
            self.bf16 = bool(cuda and torch.cuda.is_bf16_supported()) and not self.fp16
        if self.disable_tqdm is None:
            self.disable_tqdm = not is_interactive()
        if self.dataloader_pin_memory is None:
            self.dataloader_pin_memory = cuda
        super().__post_init__()


class _ConfigFieldError(ValueError):
    """A YAML value of the wrong type; the caller prefixes the file name."""


class UniVLMParser(TrlParser):
    """``TrlParser`` whose YAML values are type- and choice-checked like command-line values."""

    def set_defaults_with_config(self, **kwargs) -> list[str]:
        by_dest = {action.dest: action for action in self._actions}
        for key, value in kwargs.items():
            action = by_dest.get(key)
            if action is None or value is None or action.type is None:
                continue
            if action.nargs == "+":
                if not isinstance(value, list):
                    raise _ConfigFieldError(f"config field {key!r}: expected a list, got {value!r:.60}")
                kwargs[key] = [_convert(key, v, action.type, action.choices) for v in value]
            else:
                kwargs[key] = _convert(key, value, action.type, action.choices)
        return super().set_defaults_with_config(**kwargs)

    def error(self, message: str):
        """One line, ``PROG: error: MESSAGE``, exit code 2: the usage of ~200 fields would bury it."""
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _convert(name: str, value: Any, type_: Any, choices: Sequence | None) -> Any:
    """``value`` converted by ``type_`` as argparse converts text; raise when it does not fit."""
    if isinstance(value, dict) and type_ is str:
        return value  # a dict field (typed ``dict | str``, the str being YAML/JSON text) stays a mapping
    expected = getattr(type_, "__name__", str(type_))
    if isinstance(value, (dict, list)) or (isinstance(value, bool) and type_ in (int, float)):
        raise _ConfigFieldError(f"config field {name!r}: expected {expected}, got {value!r:.60}")
    try:
        converted = type_(value if isinstance(value, (str, bool)) else str(value))
    except (TypeError, ValueError, argparse.ArgumentTypeError):
        raise _ConfigFieldError(f"config field {name!r}: expected {expected}, got {value!r:.60}") from None
    if choices is not None and converted not in choices:
        raise _ConfigFieldError(f"config field {name!r}: expected one of {list(choices)}, got {value!r}")
    return converted


def build_parser(prog: str | None = None, description: str | None = None) -> UniVLMParser:
    """The recipes' parser: ``--config FILE.yaml`` plus every field of both dataclasses as ``--FIELD VALUE``."""
    return UniVLMParser(
        (UniVLMArguments, UniVLMSFTConfig),
        prog=prog,
        description=description,
        allow_abbrev=False,  # a misspelt field must fail, not silently match a longer one
        epilog="--config FILE.yaml sets any field; --FIELD VALUE overrides it; dict fields take "
        "--FIELD.KEY VALUE (VALUE parsed as YAML). See docs/TRAINING.md.",
    )


def _set_dotted(target: dict, keys: list[str], value: Any, dotted: str) -> None:
    for key in keys[:-1]:
        target = target.setdefault(key, {})
        if not isinstance(target, dict):
            raise ValueError(f"command line: override {dotted!r}: {key!r} is not a mapping")
    target[keys[-1]] = value


def _apply_dotted(args: UniVLMArguments, rest: list[str]) -> None:
    """Apply ``--FIELD.KEY[.KEY...] VALUE`` overrides of dict fields; anything else is an unknown field."""
    dict_fields = {"model_overrides", "resample", "expert_lrs"}
    i = 0
    while i < len(rest):
        token = rest[i]
        name = token[2:].replace("-", "_").split("=", 1)[0] if token.startswith("--") else ""
        top = name.split(".", 1)[0]
        if not name:
            raise ValueError(f"command line: unexpected argument {token!r}; overrides are --FIELD VALUE")
        if "." not in name or top not in dict_fields:
            raise ValueError(f"command line: unknown config field {name!r} (see --help for the fields)")
        if "=" in token:
            raw, i = token.split("=", 1)[1], i + 1
        elif i + 1 < len(rest):
            raw, i = rest[i + 1], i + 2
        else:
            raise ValueError(f"command line: {token} needs a value")
        _set_dotted(getattr(args, top), name.split(".")[1:], yaml.safe_load(raw), token)


def resolve_scheduler_kwargs(
    scheduler_type: Any, kwargs: dict | None, num_training_steps: int | None = None, num_warmup_steps: int = 0
) -> dict:
    """``lr_scheduler_kwargs`` for transformers' ``get_scheduler``, with the decay fitted to the run.

    transformers' ``warmup_stable_decay`` takes its decay length in steps (``num_decay_steps``). univlm
    also takes ``decay_ratio``, a fraction of the run's steps, and cuts a decay longer than the run
    (after warmup) to the run, with a warning: a run shortened with ``--max_steps`` then still decays
    from the peak rate, instead of starting deep inside a decay sized for a longer run.

    Args:
        scheduler_type: ``lr_scheduler_type`` (a name or transformers' ``SchedulerType``).
        kwargs: ``lr_scheduler_kwargs`` as configured.
        num_training_steps: The run's optimiser steps; None only checks ``kwargs``.
        num_warmup_steps: The run's warmup steps.

    Returns:
        A new dict: ``kwargs`` with ``decay_ratio`` replaced by ``num_decay_steps`` (at least 1), and
        ``num_decay_steps`` at most the steps after warmup.

    Raises:
        ValueError: If ``decay_ratio`` is given for another schedule, together with ``num_decay_steps``,
            or is not a number in (0, 1].
    """
    out = dict(kwargs or {})
    name = getattr(scheduler_type, "value", scheduler_type)
    ratio = out.pop("decay_ratio", None)
    if ratio is not None:
        if name != "warmup_stable_decay":
            raise ValueError(f"lr_scheduler_kwargs: decay_ratio needs lr_scheduler_type warmup_stable_decay, got {name!r}")
        if "num_decay_steps" in out:
            raise ValueError("lr_scheduler_kwargs: give decay_ratio or num_decay_steps, not both")
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 < ratio <= 1:
            raise ValueError(f"lr_scheduler_kwargs: decay_ratio must be a number in (0, 1], got {ratio!r}")
    if num_training_steps is None or name != "warmup_stable_decay":
        return out
    if ratio is not None:
        out["num_decay_steps"] = max(1, round(ratio * num_training_steps))
    room = max(1, num_training_steps - num_warmup_steps)
    decay = out.get("num_decay_steps")
    if isinstance(decay, int) and decay > room and out.get("num_stable_steps") is None:
        logger.warning("lr_scheduler_kwargs: num_decay_steps %d is longer than the %d steps after warmup; "
                       "decaying over those instead", decay, room)  # fmt: skip
        out["num_decay_steps"] = room
    return out


def parse_args(
    argv: Sequence[str] | None = None,
    prog: str | None = None,
    description: str | None = None,
    default_config: str | Path | None = None,
) -> tuple[UniVLMArguments, UniVLMSFTConfig]:
    """Parse ``--config FILE.yaml`` and ``--FIELD VALUE`` overrides into the two argument dataclasses.

    The trainer's arguments are built here, before any model exists, as TRL's ``sft.py`` does, so that
    ``is_deepspeed_zero3_enabled()`` is already true when a ZeRO-3 config is given.

    Args:
        argv: Command-line arguments (None = ``sys.argv[1:]``).
        prog: Program name for usage messages.
        description: Parser description.
        default_config: YAML file used when ``--config`` is not given.

    Returns:
        ``(univlm_args, training_args)``.

    Raises:
        SystemExit: (argparse) on a malformed command-line value, exit code 2.
        ValueError: On an unknown field or a mistyped YAML value, naming the field and where it came from.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    for i, token in enumerate(argv):
        if token.startswith("--config="):  # TrlParser reads only the two-token form
            argv[i : i + 1] = ["--config", token.split("=", 1)[1]]
            break
    if "--config" not in argv and default_config is not None:
        argv = ["--config", str(default_config), *argv]
    if "--config" in argv:
        at = argv.index("--config")
        if at + 1 >= len(argv):
            raise ValueError("command line: --config needs a YAML file")
        if not Path(argv[at + 1]).is_file():
            raise ValueError(f"command line: --config {argv[at + 1]}: no such file")
    source = argv[argv.index("--config") + 1] if "--config" in argv else "config"
    parser = build_parser(prog, description)
    try:
        args, training_args, from_file, from_cli = parser.parse_args_and_config(
            argv, return_remaining_strings=True, separate_remaining_strings=True
        )
    except _ConfigFieldError as err:
        raise ValueError(f"{source}: {err}") from None
    if from_file:
        names = [key[2:] for key in from_file[::2]]
        raise ValueError(f"{source}: unknown config field {names[0]!r} (see --help for the fields)")
    _apply_dotted(args, list(from_cli))
    if from_cli:
        try:
            args.__post_init__()  # the dotted overrides were set after the dataclass checked its fields
        except ValueError as err:
            raise ValueError(f"command line: {err}") from None
    if args.warmup_ratio is not None:
        training_args.warmup_steps = args.warmup_ratio
    try:
        resolve_scheduler_kwargs(training_args.lr_scheduler_type, training_args.lr_scheduler_kwargs)
    except ValueError as err:
        flags = {"--lr_scheduler_type", "--lr-scheduler-type", "--lr_scheduler_kwargs", "--lr-scheduler-kwargs"}
        given = any(token.split("=", 1)[0] in flags for token in argv)
        raise ValueError(f"{'command line' if given else source}: {err}") from None
    if args.stage == 2 and training_args.ddp_find_unused_parameters is None:
        # Every expert is called on every forward (see modeling_univlm) and nothing else trains, so DDP needs
        # no unused-parameter scan. Stage 1 keeps TRL's default for VLMs (the vision tower's post-layernorm
        # gets no gradient: features come from hidden_states[-1]).
        training_args.ddp_find_unused_parameters = False
    return args, training_args
