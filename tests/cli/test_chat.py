"""``univlm chat``: the multi-turn loop reads turns from a stream and stops at /exit or EOF."""

from __future__ import annotations

import io
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
