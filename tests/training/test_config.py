"""TrainConfig: defaults < YAML < command line, typed overrides, clear errors; shipped YAMLs parse."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from univlm.training.config import TrainConfig, parse_args

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def test_yaml_then_command_line(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "learning_rate: 1.0e-4\nmax_steps: 5\nmodel_overrides: {text_config: {hidden_size: 64}}\n"
    )
    cfg = parse_args(
        ["--config", str(path), "--max_steps", "7", "--learning-rate=3e-4", "--eval_tasks", "[CLS, VG]",
         "--model_overrides.vision_config.image_size", "32", "--resume", "--skip-bad", "--max_length", "null"],
        prog="t",
    )  # fmt: skip
    assert cfg.learning_rate == 3e-4 and cfg.max_steps == 7
    assert cfg.eval_tasks == ["CLS", "VG"] and cfg.max_length is None
    assert cfg.model_overrides == {"text_config": {"hidden_size": 64}, "vision_config": {"image_size": 32}}
    assert cfg.resume and cfg.skip_bad


def test_errors_name_the_source(tmp_path):
    with pytest.raises(ValueError, match="command line: unknown config field 'learning_rat'"):
        parse_args(["--learning_rat", "1"], prog="t")
    with pytest.raises(ValueError, match="expected <class 'int'>"):
        parse_args(["--max_steps", "many"], prog="t")
    path = tmp_path / "bad.yaml"
    path.write_text("per_device_train_batch_size: 2.5\n")
    with pytest.raises(ValueError, match="bad.yaml"):
        parse_args(["--config", str(path)], prog="t")
    # Choice fields are checked when the config is built, before any data or model work.
    with pytest.raises(ValueError, match="'loss_weighting': expected one of"):
        parse_args(["--loss_weighting", "tokens"], prog="t")
    with pytest.raises(ValueError, match="'vision_position_init': expected"):
        parse_args(["--vision_position_init", "learned"], prog="t")
    assert parse_args(["--loss_weighting", "sample"], prog="t").loss_weighting == "sample"


@pytest.mark.parametrize("name", sorted(p.name for p in (RECIPES / "configs").glob("*.yaml")))
def test_shipped_configs_parse(name):
    cfg = parse_args(["--config", str(RECIPES / "configs" / name)], prog="t")
    assert isinstance(cfg, TrainConfig) and cfg.stage in (1, 2)


def test_cpu_stage2_reads_the_stage1_dataset():
    # Both default to data/synthetic; other generation parameters would make stage 2 refuse the data.
    one, two = (parse_args(["--config", str(RECIPES / "configs" / f"stage{i}_cpu.yaml")], prog="t") for i in (1, 2))
    keys = ("data_root", "synth_n", "synth_size", "synth_seed", "synth_lattice")
    assert {k: getattr(one, k) for k in keys} == {k: getattr(two, k) for k in keys}
    assert two.init_from == one.output_dir


def test_stage1_cpu_default_weights_grounding_and_segmentation():
    from univlm.training.pipeline import _resample

    cfg = parse_args(["--config", str(RECIPES / "configs" / "stage1_cpu.yaml")], prog="t")
    assert cfg.stage == 1
    tasks = ["CLS", "VQA", "CAP", "VG", "REF", "SEG", "SEG", "SEG", "CCD"]  # one synthetic scene's records
    records = [{"id": f"{i}-{k}", "task": t} for i in range(200) for k, t in enumerate(tasks)]
    out = _resample(cfg, records)
    share = {t: sum(r["task"] == t for r in out) / len(out) for t in set(tasks)}
    assert len(out) == len(records)
    assert share["VG"] == pytest.approx(cfg.resample["ratios"]["VG"], abs=0.01) and share["VG"] > 1 / 9


@pytest.mark.parametrize("name", ["cpu", "single_gpu", "multi_gpu", "zero2", "zero3", "fsdp2"])
def test_accelerate_configs_load(name):
    from accelerate.commands.config.config_args import ClusterConfig

    data = yaml.safe_load((RECIPES / "accelerate" / f"{name}.yaml").read_text())
    assert data["compute_environment"] == "LOCAL_MACHINE"
    cfg = ClusterConfig.from_yaml_file(RECIPES / "accelerate" / f"{name}.yaml")
    assert cfg.num_processes >= 1
