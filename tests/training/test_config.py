"""parse_args: TrlParser over UniVLMArguments + UniVLMSFTConfig; YAML < command line, typed values, clear
errors naming the field and its source; shipped YAMLs parse; progress bars only on a terminal."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml

from univlm.training.config import UniVLMArguments, UniVLMSFTConfig, parse_args

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def test_yaml_then_command_line(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "learning_rate: 1.0e-4\nmax_steps: 5\nwarmup_ratio: 0.1\nmodel_overrides: {text_config: {hidden_size: 64}}\n"
    )
    args, train = parse_args(
        [f"--config={path}", "--max_steps", "7", "--learning-rate=3e-4", "--eval_tasks", "CLS", "VG",
         "--model_overrides.vision_config.image_size", "32", "--resume", "--skip-bad", "--bf16", "false"],
        prog="t",
    )  # fmt: skip
    assert isinstance(args, UniVLMArguments) and isinstance(train, UniVLMSFTConfig)
    assert train.learning_rate == 3e-4 and train.max_steps == 7 and train.warmup_steps == 0.1
    assert args.eval_tasks == ["CLS", "VG"]
    assert args.model_overrides == {"text_config": {"hidden_size": 64}, "vision_config": {"image_size": 32}}
    assert args.resume and args.skip_bad and train.bf16 is False


def test_univlm_defaults_for_the_trainer():
    """RSUniVLM's optimiser settings, and the settings univlm's collator relies on."""
    _args, train = parse_args([], prog="t")
    assert (train.learning_rate, train.lr_scheduler_type, train.warmup_steps, train.weight_decay) == (
        1e-5, "cosine", 0.03, 0.0
    )  # fmt: skip
    assert train.per_device_train_batch_size == 4 and train.num_train_epochs == 1.0
    assert train.seed == 0 and train.optim == "adamw_torch"
    assert train.max_length is None and train.remove_unused_columns is False and train.padding_free
    assert train.dataset_kwargs == {"skip_prepare_dataset": True}
    assert train.activation_checkpointing is False  # TRL's default is on
    assert train.bf16 is False  # CPU: TRL's default would be bf16


def test_errors_name_the_field_and_source(tmp_path, capsys):
    with pytest.raises(ValueError, match="command line: unknown config field 'learning_rat'"):
        parse_args(["--learning_rat", "1"], prog="t")  # no prefix match to --learning_rate
    with pytest.raises(ValueError, match="command line: unknown config field 'resample_x.y'"):
        parse_args(["--resample_x.y", "1"], prog="t")
    with pytest.raises(SystemExit) as exc:
        parse_args(["--max_steps", "many"], prog="t")
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err == "t: error: argument --max_steps/--max-steps: invalid int value: 'many' (see --help)\n"
    with pytest.raises(SystemExit):
        parse_args(["--loss_weighting", "tokens"], prog="t")
    assert "invalid choice: 'tokens'" in capsys.readouterr().err
    for text, message in (
        ("per_device_train_batch_size: 2.5\n", "'per_device_train_batch_size': expected int, got 2.5"),
        ("learning_rat: 1.0e-4\n", "unknown config field 'learning_rat'"),
        ("vision_position_init: learned\n", "'vision_position_init': expected one of"),
        ("eval_tasks: CLS\n", "'eval_tasks': expected a list"),
        ("eval_tasks: [CLS, DET]\n", "'eval_tasks': unknown tasks \\['DET'\\]"),
        ("eval_seg_kinds: [referring, instance]\n", "'eval_seg_kinds': unknown SEG kinds \\['instance'\\]"),
    ):
        path = tmp_path / "bad.yaml"
        path.write_text(text)
        with pytest.raises(ValueError, match=message) as err:
            parse_args(["--config", str(path)], prog="t")
        if "unknown tasks" not in message and "unknown SEG kinds" not in message:
            assert str(path) in str(err.value)
    with pytest.raises(ValueError, match="--config .*missing.yaml: no such file"):
        parse_args(["--config", str(tmp_path / "missing.yaml")])
    assert parse_args(["--loss_weighting", "sample"], prog="t")[0].loss_weighting == "sample"


@pytest.mark.parametrize("name", sorted(p.name for p in (RECIPES / "configs").glob("*.yaml")))
def test_shipped_configs_parse(name):
    args, train = parse_args(["--config", str(RECIPES / "configs" / name)], prog="t")
    assert args.stage in (1, 2) and train.output_dir
    assert train.ddp_find_unused_parameters is (False if args.stage == 2 else None)


def test_cpu_stage2_reads_the_stage1_dataset():
    # Both default to data/synthetic; other generation parameters would make stage 2 refuse the data.
    (one, t1), (two, t2) = (parse_args(["--config", str(RECIPES / "configs" / f"stage{i}_cpu.yaml")]) for i in (1, 2))
    keys = ("data_root", "synth_n", "synth_size", "synth_seed", "synth_lattice")
    assert {k: getattr(one, k) for k in keys} == {k: getattr(two, k) for k in keys}
    assert t1.seed == t2.seed
    assert two.init_from == t1.output_dir


def test_stage1_cpu_default_weights_grounding_and_segmentation():
    from univlm.training.pipeline import _resample

    args, train = parse_args(["--config", str(RECIPES / "configs" / "stage1_cpu.yaml")], prog="t")
    assert args.stage == 1
    tasks = ["CLS", "VQA", "CAP", "VG", "REF", "SEG", "SEG", "SEG", "CCD"]  # one synthetic scene's records
    records = [{"id": f"{i}-{k}", "task": t} for i in range(200) for k, t in enumerate(tasks)]
    out = _resample(args, records, seed=train.seed)
    share = {t: sum(r["task"] == t for r in out) / len(out) for t in set(tasks)}
    assert len(out) == len(records)
    assert share["VG"] == pytest.approx(args.resample["ratios"]["VG"], abs=0.01) and share["VG"] > 1 / 9


def test_progress_bars_only_on_a_terminal(monkeypatch):
    from univlm.training import config

    monkeypatch.setattr(config, "is_interactive", lambda: False)
    assert parse_args([], prog="t")[1].disable_tqdm is True
    monkeypatch.setattr(config, "is_interactive", lambda: True)
    assert parse_args([], prog="t")[1].disable_tqdm is False
    assert parse_args(["--disable_tqdm", "true"], prog="t")[1].disable_tqdm is True


@pytest.mark.parametrize("name", ["cpu", "single_gpu", "multi_gpu", "zero2", "zero3", "fsdp2"])
def test_accelerate_configs_load(name):
    from accelerate.commands.config.config_args import ClusterConfig

    data = yaml.safe_load((RECIPES / "accelerate" / f"{name}.yaml").read_text())
    assert data["compute_environment"] == "LOCAL_MACHINE"
    cfg = ClusterConfig.from_yaml_file(RECIPES / "accelerate" / f"{name}.yaml")
    assert cfg.num_processes >= 1


def test_num_threads_auto_counts_the_idle_cores():
    from univlm.training.pipeline import resolve_num_threads

    assert resolve_num_threads(None) is None
    assert resolve_num_threads(3) == 3 and resolve_num_threads("2") == 2
    assert resolve_num_threads("auto", cpu_count=2, busy=0.2) == 2  # idle machine: both cores
    assert resolve_num_threads("auto", cpu_count=2, busy=1.0) == 1  # one core taken: do not compete
    assert resolve_num_threads("auto", cpu_count=2, busy=7.5) == 1  # oversubscribed: never below 1
    assert resolve_num_threads("AUTO", cpu_count=8, busy=2.6) == 5
    assert 1 <= resolve_num_threads("auto") <= (os.cpu_count() or 1)  # sampled from this machine
    for bad in ("0", "-1", "many", 0):
        with pytest.raises(ValueError, match="num_threads must be a positive integer, 'auto' or null"):
            resolve_num_threads(bad)


def test_num_threads_parses_from_yaml_and_the_command_line(tmp_path):
    from univlm.training.pipeline import resolve_num_threads

    path = tmp_path / "c.yaml"
    path.write_text("num_threads: 1\n")
    args, _ = parse_args([f"--config={path}"], prog="t")
    assert resolve_num_threads(args.num_threads) == 1
    args, _ = parse_args([f"--config={path}", "--num_threads", "auto"], prog="t")
    assert args.num_threads == "auto"


def test_a_curriculum_is_read_in_order():
    """``resample: {lead: ...}`` orders the records, so the pipeline reads them sequentially."""
    from univlm.training.pipeline import _resample, has_curriculum

    plain, _ = parse_args(["--config", str(RECIPES / "configs" / "stage1_cpu.yaml")], prog="t")
    led, train = parse_args(
        ["--config", str(RECIPES / "configs" / "stage1_cpu.yaml"), "--resample.lead.VG", "0.5"], prog="t"
    )
    assert not has_curriculum(plain) and has_curriculum(led)
    assert led.resample["lead"] == {"VG": 0.5} and led.resample["ratios"] == plain.resample["ratios"]
    records = [{"id": f"{i}-{t}", "task": t} for i in range(100) for t in ("CLS", "VG", "SEG")]
    out = _resample(led, records, seed=train.seed)
    n_vg = sum(r["task"] == "VG" for r in out)
    assert {r["task"] for r in out[: n_vg // 2]} == {"VG"}
    assert not has_curriculum(parse_args(["--resample", "{enabled: false, lead: {VG: 0.5}}"], prog="t")[0])


def test_decay_ratio_becomes_decay_steps():
    from univlm.training.config import resolve_scheduler_kwargs

    wsd = "warmup_stable_decay"
    assert resolve_scheduler_kwargs(wsd, {"decay_ratio": 0.2, "decay_type": "1-sqrt"}, 3430, 103) == {
        "num_decay_steps": 686, "decay_type": "1-sqrt"
    }  # fmt: skip
    assert resolve_scheduler_kwargs(wsd, {"decay_ratio": 0.001}, 100) == {"num_decay_steps": 1}
    assert resolve_scheduler_kwargs(wsd, {"num_decay_steps": 690}, 3430, 103) == {"num_decay_steps": 690}
    assert resolve_scheduler_kwargs(wsd, {"num_decay_steps": 690}, 50, 2) == {"num_decay_steps": 48}
    assert resolve_scheduler_kwargs("cosine", {"num_cycles": 0.5}, 10) == {"num_cycles": 0.5}
    assert resolve_scheduler_kwargs(wsd, None, 10) == {}


@pytest.mark.parametrize(
    "scheduler, kwargs, message",
    [
        ("cosine", {"decay_ratio": 0.2}, "decay_ratio needs lr_scheduler_type warmup_stable_decay, got 'cosine'"),
        ("warmup_stable_decay", {"decay_ratio": 0.2, "num_decay_steps": 5}, "not both"),
        ("warmup_stable_decay", {"decay_ratio": 0}, r"a number in \(0, 1\], got 0"),
        ("warmup_stable_decay", {"decay_ratio": 1.5}, r"got 1.5"),
        ("warmup_stable_decay", {"decay_ratio": True}, r"got True"),
        ("warmup_stable_decay", {"decay_ratio": "0.2"}, r"got '0.2'"),
    ],
)
def test_bad_decay_ratio_is_refused(scheduler, kwargs, message):
    from univlm.training.config import resolve_scheduler_kwargs

    with pytest.raises(ValueError, match=message):
        resolve_scheduler_kwargs(scheduler, kwargs, 100)


def test_bad_decay_ratio_in_a_config_names_the_file(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("lr_scheduler_type: cosine\nlr_scheduler_kwargs: {decay_ratio: 0.2}\n")
    with pytest.raises(ValueError, match=rf"{re.escape(str(config))}: lr_scheduler_kwargs: decay_ratio needs"):
        parse_args(["--config", str(config)], prog="t")
    # The same value given on the command line is blamed on the command line, not on the YAML.
    with pytest.raises(ValueError, match=r"^command line: lr_scheduler_kwargs: decay_ratio must be"):
        parse_args(["--config", str(config), "--lr_scheduler_type", "warmup_stable_decay",
                    "--lr_scheduler_kwargs", '{"decay_ratio": 2}'], prog="t")  # fmt: skip


def test_stage1_cpu_default_holds_the_rate_then_decays():
    _args, train = parse_args(["--config", str(RECIPES / "configs" / "stage1_cpu.yaml")], prog="t")
    assert train.lr_scheduler_type.value == "warmup_stable_decay" and train.learning_rate == 5e-4
    assert train.lr_scheduler_kwargs == {"decay_ratio": 0.2, "decay_type": "1-sqrt"}
    _args, long = parse_args(["--config", str(RECIPES / "configs" / "stage1_cpu_long.yaml")], prog="t")
    assert long.lr_scheduler_kwargs == {"decay_ratio": 0.2, "decay_type": "1-sqrt"}
