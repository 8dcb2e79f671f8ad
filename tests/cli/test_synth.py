"""``univlm synth`` main."""

from __future__ import annotations

import json

from univlm.cli.synth import main


def test_synth_main_generates_then_skips(tmp_path, capsys):
    out = tmp_path / "ds"
    assert main(["--out", str(out), "--n", "4", "--size", "48", "--seed", "2", "--val-frac", "0.25",
                 "--test-frac", "0.25"]) == 0
    text = capsys.readouterr().out
    assert "train: 2 scenes" in text and "s per 1000 records" in text
    manifest = json.loads((out / "synth.json").read_text())
    assert manifest["n"] == 4 and manifest["difficulty"] == "easy"
    assert main(["--out", str(out), "--n", "4", "--size", "48", "--seed", "2", "--val-frac", "0.25",
                 "--test-frac", "0.25"]) == 0
    assert "nothing to do" in capsys.readouterr().out


def test_synth_main_refuses_other_params_without_force(tmp_path, capsys):
    out = tmp_path / "ds"
    assert main(["--out", str(out), "--n", "3", "--size", "48"]) == 0
    assert main(["--out", str(out), "--n", "3", "--size", "48", "--difficulty", "hard"]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["--out", str(out), "--n", "3", "--size", "48", "--difficulty", "hard", "--force"]) == 0
    assert json.loads((out / "synth.json").read_text())["difficulty"] == "hard"


def test_synth_main_lattice(tmp_path, capsys):
    out = tmp_path / "ds"
    assert main(["--out", str(out), "--n", "3", "--size", "48", "--lattice", "4"]) == 0
    assert json.loads((out / "synth.json").read_text())["lattice"] == 4
    assert main(["--out", str(out), "--n", "3", "--size", "48", "--lattice", "4"]) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert main(["--out", str(out), "--n", "3", "--size", "48"]) == 2  # other lattice: not the same dataset
    assert main(["--out", str(tmp_path / "bad"), "--n", "3", "--size", "48", "--lattice", "5"]) == 2
    assert "lattice must be" in capsys.readouterr().err
