"""The two recipes end to end on the tiny model: a few steps each, saved checkpoints that load back,
frozen parameters unchanged in stage 2, bad records, and resuming after a SIGKILL."""

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
    """A 4-step stage-1 run with end-of-run scoring on one val record per task."""
    out = tmp_path_factory.mktemp("stage1")
    argv = _args(data_root, out, 4, "--evaluate", "true", "--eval_limit", "1", "--eval_tasks", "[CLS, VG]")
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
    broken["images"] = []  # the <image> placeholder no longer has an image
    lines[2] = json.dumps(broken)
    lines.insert(5, "{not json")
    (bad_root / "train.jsonl").write_text("\n".join(lines) + "\n")
    recipe = _recipe("stage1_sft")
    assert recipe.main(_args(bad_root, tmp_path / "o1", 1)) == 1
    err = capsys.readouterr().err
    assert f"train.jsonl:3 ({broken['id']})" in err and "placeholders" in err
    assert recipe.main(_args(bad_root, tmp_path / "o2", 1, "--skip-bad")) == 0
    out = capsys.readouterr().out
    assert "skipped 2 bad records" in out and "train.jsonl:6" in out


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
