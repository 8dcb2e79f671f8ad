"""``univlm grammar``: the answer grammars as files a serving engine compiles."""

from __future__ import annotations

import json
import re

from univlm.cli.grammar import main
from univlm.inference.grammar_export import box_ebnf, mask_ebnf


def test_writes_mask_ebnf_atomically(tmp_path, capsys):
    out = tmp_path / "g" / "mask.ebnf"
    assert main(["--labels", "building, road", "--grid", "8", "-o", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == mask_ebnf(["building", "road"], 8)
    assert "wrote mask grammar" in capsys.readouterr().out


def test_box_to_stdout_and_regex(capsys):
    assert main(["--box"]) == 0
    assert capsys.readouterr().out == box_ebnf()
    assert main(["--labels", "building", "--grid", "4", "--format", "regex"]) == 0
    pattern = capsys.readouterr().out.rstrip("\n")
    assert re.fullmatch(pattern, "<seg>others *4\n others *4\n building *4\n others *4\n</seg>")


def test_json_summary(capsys):
    assert main(["--box", "--format", "regex", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["kind"] == "box" and summary["format"] == "regex" and summary["chars"] > 10


def test_bad_input_is_one_line_exit_2(capsys):
    assert main(["--labels", "a|b"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("univlm grammar: error:") and "separator" in err and err.count("\n") == 1
    assert main(["--labels", "a", "--grid", "0"]) == 2
    assert "--grid must be 1..256" in capsys.readouterr().err
