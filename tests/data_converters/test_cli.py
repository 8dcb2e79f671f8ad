"""``univlm convert-data``: listing, summary, errors, atomic output."""

from __future__ import annotations

import json

from tests.data_converters.helpers import fake_dir
from univlm.cli.convert_data import main


def test_list(capsys):
    assert main(["--list", "-v"]) == 0
    out = capsys.readouterr().out
    assert "dior-rsvg" in out and "rsvqa-hr" in out and "VG,REF" in out


def test_convert_prints_summary_and_writes_jsonl(tmp_path, capsys):
    out = tmp_path / "rsvqa.jsonl"
    argv = ["rsvqa-lr", "--src", str(fake_dir("rsvqa_lr")), "--out", str(out), "--split", "train"]
    assert main([*argv, "--images-root", str(fake_dir("rsvqa_lr")), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "3 records" in text and "VQA  3" in text and "2 x inactive" in text
    assert len(out.read_text().splitlines()) == 3
    assert main([*argv, "--limit", "1", "--json", "--no-progress"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["written"] == 1 and summary["skipped"] == {"inactive": 1}  # image 0 holds a withdrawn one


def test_errors(tmp_path, capsys):
    out = tmp_path / "x.jsonl"
    assert main(["ucm", "--src", str(fake_dir("rsicd")), "--out", str(out)]) == 1
    assert "UCMerced_LandUse/Images/" in capsys.readouterr().err
    assert not out.exists() and list(tmp_path.iterdir()) == []
    assert main(["nope", "--src", ".", "--out", str(out)]) == 2
    assert "unknown dataset" in capsys.readouterr().err
    assert main(["ucm"]) == 2
