"""``univlm chat``: the multi-turn loop reads turns from a stream and stops at /exit or EOF."""

from __future__ import annotations

import io
import json
import re

import pytest

from tests.inference._tiny import one_torch_thread
from univlm.cli.chat import main, run_chat

_threads = pytest.fixture(autouse=True, scope="module")(one_torch_thread)


def test_chat_answers_each_turn_until_exit(model_dir, image_path, capsys):
    turns = "[VG] the largest building\n\nhow many?\n/exit\n[VG] never answered\n"
    code = main(["--model", model_dir, image_path, "--max-new-tokens", "16"], stdin=io.StringIO(turns))
    assert code == 0
    captured = capsys.readouterr()
    # One constrained box for the first turn; the [VG] after /exit is never answered.
    assert len(re.findall(r"\[\d+, \d+, \d+, \d+\]", captured.out)) == 1
    assert captured.err.count("no task tag") == 1  # "how many?" has no tag


def test_chat_stops_at_eof_and_keeps_history(model_dir, image_path):
    from univlm.inference import Predictor

    predictor = Predictor.from_pretrained(model_dir, grid=8)
    written, notes = [], []
    history = run_chat(
        predictor,
        [image_path],
        ["[VG] a road", "/reset", "[SEG] building", "[CAP] Describe this image."],
        write=written.append,
        note=notes.append,
        max_new_tokens=None,
    )
    assert [user for user, _ in history] == ["[SEG] building", "[CAP] Describe this image."]
    assert len(written) == 3 and "history cleared" in notes
    assert written[1].startswith("<seg>") and written[1].endswith("</seg>")


class _StubResult:
    def __init__(self, prompt: str) -> None:
        self.text, self.task = f"answer to {prompt}", None if "?" in prompt else "CAP"
        self.problems = ["row 2: repaired"]

    def to_dict(self) -> dict:
        return {"text": self.text, "task": self.task, "problems": self.problems}


class _StubPredictor:
    """Answers without a model; routing state lives on ``model.config``, as on the real Predictor."""

    model = type("Model", (), {"config": type("Config", (), {"default_expert": "image"})()})()

    def predict(self, images, prompt, history=None, **gen):
        return _StubResult(prompt)


def test_json_writes_one_line_per_answer_and_warn_keeps_problems():
    written, notes, warnings = [], [], []
    run_chat(
        _StubPredictor(), ["a.png"], ["[CAP] hi", "what?"], written.append, notes.append,
        as_json=True, warn=warnings.append,
    )
    assert [json.loads(line)["text"] for line in written] == ["answer to [CAP] hi", "answer to what?"]
    assert all("\n" not in line for line in written)
    assert len(notes) == 1 and "'image'" in notes[0]  # the untagged turn names the config's default expert
    assert warnings == []  # with --json the problems are inside each line
    run_chat(_StubPredictor(), ["a.png"], ["[CAP] hi"], written.append, notes.append, warn=warnings.append)
    assert warnings == ["problem: row 2: repaired"]


def test_main_json_quiet_prints_json_lines_only(model_dir, image_path, capsys):
    code = main(
        ["--model", model_dir, image_path, "--max-new-tokens", "4", "--json", "--quiet"],
        stdin=io.StringIO("what is this?\n[VG] a road\n"),
    )
    assert code == 0
    captured = capsys.readouterr()
    answers = [json.loads(line) for line in captured.out.splitlines()]
    assert [a["task"] for a in answers] == [None, "VG"] and answers[1]["expert"] == "region"
    assert "no task tag" not in captured.err  # --quiet drops the routing note


def test_usage_error_is_one_line(image_path, tmp_path, capsys):
    assert main(["--model", str(tmp_path), image_path, "--dtype", "float64"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("univlm chat: error: argument --dtype") and err.count("\n") == 1
