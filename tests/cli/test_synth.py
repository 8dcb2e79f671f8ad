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


def _tree(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_synth_same_arguments_write_byte_identical_files(tmp_path, capsys):
    """Issue #14 §7: two runs, every file (synth.json included) byte-identical; the time is only printed."""
    args = ["--n", "4", "--size", "48", "--seed", "3", "--lattice", "4"]
    assert main(["-o", str(tmp_path / "a"), *args]) == 0
    assert main(["--out", str(tmp_path / "b"), *args]) == 0
    a, b = _tree(tmp_path / "a"), _tree(tmp_path / "b")
    assert "synth.json" in a and "train.jsonl" in a and len(a) > 10
    assert a == b
    assert "seconds" not in json.loads(a["synth.json"])
    assert " s per 1000 records" in capsys.readouterr().out


def test_synth_json_quiet_and_one_line_errors(tmp_path, capsys):
    out = tmp_path / "ds"
    assert main(["-o", str(out), "--n", "3", "--size", "48", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["generated"] is True and doc["n"] == 3 and doc["splits"]["train"]["scenes"] >= 1
    assert main(["-o", str(out), "--n", "3", "--size", "48", "--quiet"]) == 0
    assert capsys.readouterr().out == ""
    assert main(["-o", str(tmp_path / "small"), "--n", "3", "--size", "8"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("univlm synth: error: ") and err.count("\n") == 1 and "size" in err


def test_synth_usage_errors_are_one_line(tmp_path, capsys):
    assert main(["--n", "3"]) == 2
    assert capsys.readouterr().err == "univlm synth: error: the following arguments are required: -o/--out\n"
    assert main(["-o", str(tmp_path / "x"), "--difficulty", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("univlm synth: error: argument --difficulty: invalid choice") and err.count("\n") == 1
