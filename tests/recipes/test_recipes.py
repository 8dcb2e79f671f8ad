"""The two recipes end to end on the tiny model: a few steps each, saved checkpoints that load back,
frozen parameters unchanged in stage 2, bad records, resuming after a SIGKILL, resuming a finished run,
and plain log lines instead of progress bars when the output is not a terminal."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]


def _recipe(name: str):
    spec = importlib.util.spec_from_file_location(f"recipe_{name}", ROOT / "recipes" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    from univlm.data.synth import ensure_synthetic

    root = tmp_path_factory.mktemp("data") / "synthetic"
    ensure_synthetic(root, n=6, size=64, seed=0)
    return root


def _args(data_root, out, steps, *extra):
    return [
        "--data_root", str(data_root), "--output_dir", str(out), "--max_steps", str(steps),
        "--per_device_train_batch_size", "4", "--logging_steps", "1", "--save_steps", "100",
        "--learning_rate", "3e-3", "--disable_tqdm", "true", "--evaluate", "false", "--eval_baseline", "false",
        "--synthesize", "false", "--num_threads", "1", *extra,
    ]  # fmt: skip


def _losses(out) -> dict[int, float]:
    from univlm.training.callbacks import read_loss_history

    return {rec["step"]: rec["loss"] for rec in read_loss_history(out)}


@pytest.fixture(scope="module")
def stage1_out(data_root, tmp_path_factory):
    """A 4-step stage-1 run scored on two val records per task, its untrained baseline on one."""
    out = tmp_path_factory.mktemp("stage1")
    argv = _args(data_root, out, 4, "--evaluate", "true", "--eval_limit", "2", "--eval_tasks", "CLS", "VG",
                 "--eval_baseline", "true", "--eval_baseline_limit", "1")  # fmt: skip
    assert _recipe("stage1_sft").main(argv + ["--eval_max_mask_tokens", "24"]) == 0
    return out


def test_stage1_trains_saves_and_scores(stage1_out, capsys):
    from transformers import AutoProcessor

    from univlm.models import UniVLMForConditionalGeneration
    from univlm.training.pipeline import FINAL_MARKER

    losses = _losses(stage1_out)
    assert sorted(losses) == [1, 2, 3, 4]
    assert losses[4] < losses[1]
    assert (stage1_out / "model.safetensors").is_file() and (stage1_out / FINAL_MARKER).is_file()
    assert not list(stage1_out.glob("*.bin"))
    model = UniVLMForConditionalGeneration.from_pretrained(stage1_out)
    processor = AutoProcessor.from_pretrained(stage1_out)
    assert type(processor).__name__ == "UniVLMProcessor"
    assert model.config.image_token_id == processor.image_token_id and not model.config.use_gmoe
    history = [json.loads(line) for line in (stage1_out / "loss_history.jsonl").read_text().splitlines()]
    assert any(key.startswith("loss_") for key in history[-1])  # per-task / per-granularity losses
    scores = json.loads((stage1_out / "val_scores.json").read_text())["val"]
    # The two scored tasks have a figure (an untrained model may score 0, never None); the others do not.
    assert isinstance(scores["CLS accuracy"], float) and isinstance(scores["VG acc@0.5"], float)
    assert scores["SEG mIoU"] is None and scores["VQA accuracy"] is None
    baseline = json.loads((stage1_out / "val_scores.json").read_text())["untrained_baseline"]
    assert isinstance(baseline["CLS accuracy"], float) and baseline["SEG mIoU"] is None


def test_report_names_the_baseline_record_count():
    from univlm.training.pipeline import format_report

    result = {"output_dir": "o", "num_trainable": 1, "headline": {"CLS accuracy": 1.0},
              "baseline_headline": {"CLS accuracy": 0.0}, "baseline_limit": 50}  # fmt: skip
    text = format_report(result)
    assert "untrained baseline, first 50 records per task, in brackets" in text
    assert "CLS accuracy  1.000  [0.000]" in text


def test_resume_of_a_finished_run_has_nothing_to_do(stage1_out, capsys):
    """Issue #15 §11: no step past max_steps, no file rewritten."""
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in stage1_out.rglob("*") if p.is_file()}
    argv = _args(stage1_out.parent, stage1_out, 4, "--resume")  # data_root is unused when nothing is left
    assert _recipe("stage1_sft").main(argv) == 0
    assert "nothing to do" in capsys.readouterr().out
    after = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in stage1_out.rglob("*") if p.is_file()}
    assert after == before


def test_stage2_trains_only_experts(stage1_out, data_root, tmp_path, capsys):
    from univlm.models import UniVLMForConditionalGeneration
    from univlm.models.modeling_univlm import expert_parameters

    out = tmp_path / "stage2"
    assert _recipe("stage2_gmoe").main(_args(data_root, out, 3, "--init_from", str(stage1_out))) == 0
    printed = capsys.readouterr().out
    losses = _losses(out)
    assert losses[3] < losses[1]
    dense = dict(UniVLMForConditionalGeneration.from_pretrained(stage1_out).named_parameters())
    moe = UniVLMForConditionalGeneration.from_pretrained(out)
    assert moe.config.use_gmoe
    experts = expert_parameters(moe)
    assert f"trainable parameters {sum(p.numel() for p in experts.values()):,}" in printed
    changed = set()
    for name, param in moe.named_parameters():
        if name in experts:
            parts = name.split(".")
            i = parts.index("experts")
            source = dense[".".join(parts[:i] + parts[i + 2 :])]
            if not torch.equal(param, source):
                changed.add(parts[i + 1])
        else:
            assert torch.equal(param, dense[name]), f"frozen parameter {name} changed"
    assert changed == {"0", "1", "2"}  # the synthetic data routes samples to every expert


def test_bad_record_stops_the_run_or_is_skipped(data_root, tmp_path, capsys):
    bad_root = tmp_path / "bad"
    shutil.copytree(data_root, bad_root)
    lines = (bad_root / "train.jsonl").read_text().splitlines()
    broken = json.loads(lines[2])
    broken["images"] = broken["images"] * 2  # two images for one <image> placeholder
    lines[2] = json.dumps(broken)
    lines.insert(5, "{not json")
    listed = json.loads(lines[7])
    listed["task"] = [listed["task"]]  # issue #15 §9: crashed with "unhashable type" even under --skip-bad
    lines[7] = json.dumps(listed)
    (bad_root / "train.jsonl").write_text("\n".join(lines) + "\n")
    recipe = _recipe("stage1_sft")
    assert recipe.main(_args(bad_root, tmp_path / "o1", 1)) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("stage1_sft.py: error: ")]
    assert len(errors) == 1 and "train.jsonl:3: messages: 1 <image> placeholders for 2 images" in errors[0]
    assert recipe.main(_args(bad_root, tmp_path / "o2", 1, "--skip-bad")) == 0
    out = capsys.readouterr().out
    assert "skipped 3 bad records" in out and "train.jsonl:6: " in out and "train.jsonl:8: task: " in out


def test_log_lines_without_a_terminal(data_root, tmp_path, capfd, caplog):
    """Issue #13 §6: no carriage-return bars when stdout is not a TTY; one plain line per logging step."""
    argv = _args(data_root, tmp_path / "o", 3)
    argv.remove("--disable_tqdm")
    argv.remove("true")  # the default: pytest's captured stdout is not a terminal
    with caplog.at_level("INFO", logger="univlm.training.callbacks"):
        assert _recipe("stage1_sft").main(argv) == 0
    captured = capfd.readouterr()
    assert "\r" not in captured.out + captured.err
    lines = [r.getMessage() for r in caplog.records if r.name == "univlm.training.callbacks"]
    steps = [line for line in lines if line.startswith("step ") and " loss " in line]
    assert [line.split(":")[0] for line in steps] == ["step 1/3 (33%)", "step 2/3 (67%)", "step 3/3 (100%)"]


def test_resume_after_sigkill_continues_the_same_run(data_root, tmp_path):
    from univlm.training.trainer import COMPLETE_MARKER

    steps = 6
    reference = tmp_path / "reference"
    recipe = _recipe("stage1_sft")
    assert recipe.main(_args(data_root, reference, steps)) == 0
    killed = tmp_path / "killed"
    argv = _args(data_root, killed, steps, "--save_steps", "2")
    proc = subprocess.Popen([sys.executable, str(ROOT / "recipes" / "stage1_sft.py"), *argv], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    marker = killed / "checkpoint-2" / COMPLETE_MARKER
    deadline = time.monotonic() + 240
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.kill()  # SIGKILL
    proc.wait()
    assert marker.exists(), "the run never wrote its first checkpoint"
    assert not (killed / "training_complete.json").exists(), "the run finished before it could be killed"
    # A half-written later checkpoint (no marker) must be ignored and removed.
    (killed / "checkpoint-98").mkdir()
    assert recipe.main(argv + ["--resume"]) == 0
    assert not (killed / "checkpoint-98").exists()
    state = json.loads((killed / "checkpoint-6" / "trainer_state.json").read_text())
    assert state["global_step"] == steps
    got, want = _losses(killed), _losses(reference)
    assert sorted(got) == list(range(1, steps + 1))
    for step in range(1, steps + 1):
        assert got[step] == pytest.approx(want[step], rel=1e-4, abs=1e-4), f"step {step}"


def test_usage_errors_are_one_line_with_exit_code_2(data_root, tmp_path, capsys):
    stage1, stage2 = _recipe("stage1_sft"), _recipe("stage2_gmoe")
    assert stage1.main(["--learning_rat", "1"]) == 2
    assert capsys.readouterr().err == (
        "stage1_sft.py: error: command line: unknown config field 'learning_rat' (see --help for the fields)\n"
    )
    assert stage1.main(["--config", str(ROOT / "recipes" / "configs" / "stage2_cpu.yaml")]) == 2
    assert capsys.readouterr().err == "stage1_sft.py: error: config has stage=2; use recipes/stage2_gmoe.py\n"
    assert stage2.main(["--init_from", str(tmp_path / "none")]) == 2
    assert "stage2_gmoe.py: error: no stage-1 model at" in capsys.readouterr().err
    missing = _args(tmp_path / "empty", tmp_path / "o", 1)
    assert stage1.main(missing) == 2
    assert capsys.readouterr().err.endswith("train.jsonl not found (set --synthesize true to generate it)\n")
