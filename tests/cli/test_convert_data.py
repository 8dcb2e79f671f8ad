"""``univlm convert-data``: the CLI grammar (-o/--out, --json, --quiet, exit codes); conversion itself
is tested in tests/data_converters/."""

from __future__ import annotations

import json

from tests.data_converters.helpers import fake_dir
from univlm.cli.convert_data import main


def test_list_as_json(capsys):
    assert main(["--list", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert "VG" in rows["dior-rsvg"]["tasks"] and rows["rsvqa-lr"]["splits"]


def test_quiet_prints_nothing_but_counts_skipped_items(tmp_path, capsys):
    out = tmp_path / "rsvqa.jsonl"
    src = str(fake_dir("rsvqa_lr"))
    assert main(["rsvqa-lr", "--src", src, "-o", str(out), "--split", "train", "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and len(out.read_text().splitlines()) == 3
    assert captured.err.strip() == "univlm convert-data: warning: 2 items skipped (2 x inactive)"


def test_usage_and_input_errors_are_one_line_exit_2(tmp_path, capsys):
    src, out = str(fake_dir("rsvqa_lr")), str(tmp_path / "x.jsonl")
    for argv, expected in [
        (["rsvqa-lr", "--src", src], "NAME, --src and -o/--out are required"),
        (["rsvqa-lr", "--src", str(tmp_path / "none"), "-o", out], "no such folder"),
        (["rsvqa-lr", "--src", src, "-o", out, "--split", "nope"], "--split 'nope'"),
        (["rsvqa-lr", "--src", src, "-o", out, "--tasks", "SEG"], "--tasks SEG"),
        (["rsvqa-lr", "--src", src, "-o", out, "--limit", "-1"], "non-negative"),
    ]:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("univlm convert-data: error: ") and err.count("\n") == 1, err
        assert expected in err, err
    assert list(tmp_path.iterdir()) == []
