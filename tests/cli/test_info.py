"""Tests of ``univlm info`` (meta-device parameter counts) and its command-line grammar."""

from __future__ import annotations

import json

import pytest

from univlm.cli.info import main, parameter_counts
from univlm.models import get_preset


@pytest.fixture(scope="module")
def real_counts():
    return parameter_counts(get_preset("rsunivlm-0.5b"))


def test_rsunivlm_runtime_matches_the_paper(real_counts):
    # RSUniVLM reports ~893M runtime parameters and 313M trainable (one expert's FFNs) for G-MoE.
    assert abs(real_counts["runtime"] / 1e6 - 893.7) < 0.15
    assert abs(real_counts["expert_ffn"] / 1e6 - 313.8) < 0.05
    assert real_counts["expert_ffn"] == 24 * 3 * 896 * 4864


def test_rsunivlm_counts_are_consistent(real_counts):
    counts = real_counts
    assert counts["runtime"] == counts["total_dense"] == counts["total"]  # the preset is dense (stage 1)
    assert counts["total_gmoe"] == counts["total_dense"] + 2 * counts["expert_ffn"]
    assert counts["trainable_stage2"] == 3 * counts["expert_ffn"]
    assert counts["tied_embeddings"] and counts["breakdown"]["lm_head"] == 0
    assert sum(counts["breakdown"].values()) == counts["total_dense"]
    assert counts["breakdown"]["language_model"] == 494_032_768  # Qwen2-0.5B


def test_json_output_for_a_checkpoint_dir(tmp_path, capsys):
    get_preset("tiny", use_gmoe=True, moe_layers=[0, 2]).save_pretrained(tmp_path)
    assert main(["--model", str(tmp_path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["source"] == str(tmp_path) and data["gmoe_layers"] == 2 and data["expert_ffn"] == 2 * 3 * 128 * 256
    assert data["total"] == data["total_gmoe"] == data["total_dense"] + 2 * data["expert_ffn"]


def test_text_output_for_a_preset_and_the_hidden_config_alias(capsys):
    assert main(["--preset", "tiny"]) == 0
    out = capsys.readouterr().out
    assert "runtime (active per token)" in out and "trainable, stage 2" in out
    assert main(["--config", "tiny"]) == 0
    assert capsys.readouterr().out == out
    assert main(["--help"]) == 0
    help_text = capsys.readouterr().out
    assert "--model" in help_text and "--preset" in help_text and "--config" not in help_text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--preset", "no-such-preset"], "invalid choice"),
        (["--config", "no-such-preset"], "not a preset"),
        (["--model", "/nonexistent/dir"], "not a preset"),
        ([], "one of the arguments --model --preset"),
        (["--model", "x", "--preset", "tiny"], "not allowed with"),
    ],
)
def test_usage_errors_exit_2_with_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("univlm info: error: ") and message in err and err.count("\n") == 1, err


def test_a_foreign_config_is_an_input_error(tmp_path, capsys):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    assert main(["--model", str(tmp_path)]) == 2
    assert "expected 'univlm' or 'llava_onevision'" in capsys.readouterr().err
