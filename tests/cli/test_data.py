"""``univlm data validate`` and ``univlm data stats`` mains."""

from __future__ import annotations

import json

import pytest

from univlm.cli.data import main
from univlm.data.synth import generate_synthetic


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli_data") / "ds"
    generate_synthetic(path, n=3, size=48, val_frac=0.0, test_frac=0.0)
    return path


def test_validate_good_file(root, capsys):
    assert main(["validate", str(root / "train.jsonl")]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1].endswith("27 records read, 0 bad, 0 problems (by kind: none)")


def test_validate_bad_file_reports_file_line_field(root, tmp_path, capsys):
    lines = (root / "train.jsonl").read_text().splitlines()
    rec = json.loads(lines[0])
    rec["task"] = "VQA"
    lines[0] = json.dumps(rec)
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines) + "\n")
    assert main(["validate", str(bad), "--root", str(root)]) == 1
    out = capsys.readouterr().out
    assert f"{bad}:1: granularity:" not in out
    assert f"{bad}:1: messages[0].content: task tag [CLS] disagrees with task VQA" in out
    assert "1 bad" in out and "by kind: tag=1, targets=1" in out


def test_validate_missing_file(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "none.jsonl")]) == 2
    assert "none.jsonl" in capsys.readouterr().err


def test_stats_text_json_and_tokenizer(root, tiny_tokenizer_dir, capsys):
    assert main(["stats", str(root / "train.jsonl")]) == 0
    assert "SEG: 9" in capsys.readouterr().out
    assert main(["stats", str(root / "train.jsonl"), "--json", "--tokenizer", str(tiny_tokenizer_dir)]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["unit"] == "tokens" and stats["records"] == 27 and stats["granularities"]["pixel"] == 9


def test_validate_json_and_quiet(root, tmp_path, capsys):
    assert main(["validate", str(root / "train.jsonl"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["records"] == 27 and doc["bad"] == 0 and doc["problems"] == []
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"id": 1}\n\xff\xfe not utf-8\n')
    assert main(["validate", str(bad), "--root", str(root), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["bad"] == 2 and {(p["line"], p["kind"]) for p in doc["problems"]} >= {(1, "schema"), (2, "json")}
    assert main(["validate", str(bad), "--root", str(root), "--quiet"]) == 1
    out = capsys.readouterr().out
    assert f"{bad}:2: encoding: invalid UTF-8" in out and "records read" not in out


def test_validate_outside_root_is_a_problem_unless_allowed(root, tmp_path, capsys):
    rec = json.loads((root / "train.jsonl").read_text().splitlines()[0])
    rec["images"] = [str(root / rec["images"][0])]  # absolute, but outside the --root given below
    path = tmp_path / "abs.jsonl"
    path.write_text(json.dumps(rec) + "\n")
    assert main(["validate", str(path), "--root", str(tmp_path)]) == 1
    assert "images[0]: " in capsys.readouterr().out
    assert main(["validate", str(path), "--root", str(tmp_path), "--allow-outside-root"]) == 0


def test_stats_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"id": "a"}\n\xff\n')
    assert main(["stats", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("univlm data stats: error: ") and err.count("\n") == 1 and f"{bad}:" in err
    assert main(["stats", str(tmp_path / "none.jsonl")]) == 2
    assert "file not found" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [[], ["validate"], ["validate", "f.jsonl", "--max-pixels", "-3"], ["nope"]])
def test_usage_errors_are_one_line_exit_2(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("univlm data") and ": error: " in err and err.count("\n") == 1
