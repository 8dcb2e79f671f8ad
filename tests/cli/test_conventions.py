"""The CLI grammar of docs/CLI.md, checked for every entry of ``univlm.cli.COMMANDS``.

The commands are discovered from the table, so a new subcommand is checked as soon as it is listed.
Each command's parser is the one its ``main`` really builds: it is caught at its first parse, before
anything runs (no model is loaded, no file is read). Subcommands (``data validate``, ...) are
checked like commands.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator

import pytest

from univlm.cli import COMMANDS, main

NAMES = sorted(COMMANDS)

# Commands that print no summary, so need no --json; say why. Every other command must have --json.
NO_SUMMARY = {
    "encode-mask": "its output is the R-RLE text itself",
    "demo": "it serves a web page and prints no result",
}
# Options that name a closed set of values: wherever they appear they must use argparse choices.
ENUM_DESTS = {"format", "dtype", "quantize", "cache", "difficulty", "preset"}
# Visible spellings the grammar replaces, with the one to use.
FORBIDDEN = {
    "--output": "-o/--out",
    "--output-dir": "-o/--out",
    "--out-dir": "-o/--out",
    "--outdir": "-o/--out",
    "--model-dir": "--model",
    "--model-path": "--model",
    "--checkpoint": "--model",
    "--ckpt": "--model",
    "--no-constrain": "--no-constrained",
    "--unconstrained": "--no-constrained",
    "--silent": "--quiet",
    "-q": "--quiet",
}
OUTPUT_SPELLINGS = {"-o", "--out", *(flag for flag, good in FORBIDDEN.items() if good == "-o/--out")}


class _Captured(BaseException):  # BaseException: no command's `except Exception` can swallow it
    def __init__(self, parser: argparse.ArgumentParser) -> None:
        super().__init__(parser.prog)
        self.parser = parser


def _capture_parser(name: str) -> argparse.ArgumentParser:
    """The parser ``main`` of command ``name`` builds, stopped at its first parse."""
    import importlib

    module = importlib.import_module(COMMANDS[name][0])

    def stop(self: argparse.ArgumentParser, args: object = None, namespace: object = None) -> None:
        raise _Captured(self)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(argparse.ArgumentParser, "parse_known_args", stop)
        try:
            module.main(["--help"])
        except _Captured as caught:
            return caught.parser
    raise AssertionError(f"univlm {name}: main() returned without parsing its arguments")


def _subcommands(parser: argparse.ArgumentParser) -> Iterator[tuple[list[str], argparse.ArgumentParser]]:
    """``([], parser)`` and ``([sub, ...], subparser)`` for every nested subcommand."""
    yield [], parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub, subparser in action.choices.items():
                for path, leaf in _subcommands(subparser):
                    yield [sub, *path], leaf


@pytest.fixture(scope="module")
def parsers() -> dict[str, list[tuple[list[str], argparse.ArgumentParser]]]:
    """Every command's parsers: ``name -> [(subcommand path, parser), ...]``."""
    return {name: list(_subcommands(_capture_parser(name))) for name in NAMES}


def _visible(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if a.help != argparse.SUPPRESS and not isinstance(a, argparse._HelpAction)]


def _one_error_line(err: str, name: str) -> str:
    assert "Traceback" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1, f"univlm {name}: expected one error line on stderr, got {len(lines)}:\n{err}"
    assert re.match(rf"univlm {re.escape(name)}( [a-z-]+)*: error: \S", lines[0]), lines[0]
    return lines[0]


def test_the_table_lists_the_exemptions_it_uses():
    assert set(NO_SUMMARY) <= set(COMMANDS)


@pytest.mark.parametrize("name", NAMES)
def test_help_exits_0_on_stdout(name, parsers, capsys):
    for path, _ in parsers[name]:
        assert main([name, *path, "--help"]) == 0
        out, err = capsys.readouterr()
        assert out.startswith(f"usage: univlm {' '.join([name, *path])}"), out[:200]
        assert err == ""


@pytest.mark.parametrize("name", NAMES)
def test_unknown_option_is_one_error_line_and_exit_2(name, parsers, capsys):
    for path, _ in parsers[name]:
        assert main([name, *path, "--no-such-option"]) == 2
        out, err = capsys.readouterr()
        _one_error_line(err, name)
        assert out == ""


def model_problems(where: str, parser: argparse.ArgumentParser) -> list[str]:
    """A model is ``--model DIR``: no other spelling, no positional model."""
    problems = []
    for action in _visible(parser):
        if not action.option_strings:
            if re.search(r"model|checkpoint|ckpt", action.dest):
                problems.append(f"{where}: positional {action.dest}: a model is --model DIR")
        elif "--model" in action.option_strings:
            if action.option_strings != ["--model"] or action.metavar != "DIR" or action.nargs is not None:
                problems.append(f"{where}: {action.option_strings}: a model is --model DIR (one value)")
        else:
            bad = [flag for flag in action.option_strings if re.search(r"model|checkpoint|ckpt", flag)]
            problems += [f"{where}: {flag}: a model is --model DIR" for flag in bad]
    return problems


def output_problems(where: str, parser: argparse.ArgumentParser) -> list[str]:
    """An output is ``-o/--out``, both spellings on one option."""
    return [
        f"{where}: {action.option_strings}: an output is -o/--out"
        for action in _visible(parser)
        if OUTPUT_SPELLINGS & set(action.option_strings) and action.option_strings != ["-o", "--out"]
    ]


def spelling_problems(where: str, parser: argparse.ArgumentParser) -> list[str]:
    """No replaced spelling is visible; ``--json``, ``--quiet``, ``--no-constrained`` are plain flags."""
    problems = []
    for action in _visible(parser):
        problems += [f"{where}: {f}: spell it {FORBIDDEN[f]}" for f in action.option_strings if f in FORBIDDEN]
        if {"--json", "--quiet", "--no-constrained"} & set(action.option_strings):
            if len(action.option_strings) != 1 or action.nargs != 0 or action.const is not True:
                problems.append(f"{where}: {action.option_strings}: must be a plain on/off flag")
    return problems


def json_problems(where: str, parser: argparse.ArgumentParser) -> list[str]:
    """A command that prints a summary has ``--json`` (a parser with subcommands: each of them)."""
    if any(isinstance(a, argparse._SubParsersAction) for a in parser._actions):
        return []
    flags = {flag for action in _visible(parser) for flag in action.option_strings}
    return [] if "--json" in flags else [f"{where} prints a summary: it needs --json"]


def choice_problems(where: str, parser: argparse.ArgumentParser) -> list[str]:
    """An enumeration uses ``choices`` (so --help lists it and a wrong value is a usage error)."""
    problems = []
    for action in _visible(parser):
        if not action.option_strings or action.choices is not None:
            continue
        if action.dest in ENUM_DESTS or "one of" in (action.help or ""):
            problems.append(f"{where}: {action.option_strings[-1]}: an enumeration needs choices")
    return problems


RULES = [model_problems, output_problems, spelling_problems, json_problems, choice_problems]


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.__name__)
@pytest.mark.parametrize("name", NAMES)
def test_static_rules(name, rule, parsers):
    if rule is json_problems and name in NO_SUMMARY:
        pytest.skip(f"univlm {name}: {NO_SUMMARY[name]}")
    problems = [p for path, parser in parsers[name] for p in rule(f"univlm {' '.join([name, *path])}", parser)]
    assert problems == []


def test_each_rule_catches_a_command_that_breaks_it():
    bad = argparse.ArgumentParser(prog="univlm bad")
    bad.add_argument("checkpoint")
    bad.add_argument("--model-dir")
    bad.add_argument("--output")
    bad.add_argument("-q", action="store_true")
    bad.add_argument("--format", help="one of png, npy")
    for rule in RULES:
        assert rule("univlm bad", bad), f"{rule.__name__} missed a violation"
    good = argparse.ArgumentParser(prog="univlm good")
    good.add_argument("--model", metavar="DIR")
    good.add_argument("-o", "--out")
    good.add_argument("--format", choices=("png", "npy"))
    good.add_argument("--json", action="store_true")
    good.add_argument("--quiet", action="store_true")
    for rule in RULES:
        assert rule("univlm good", good) == []


@pytest.mark.parametrize("name", NAMES)
def test_a_wrong_choice_is_one_error_line_and_exit_2(name, parsers, capsys):
    for path, parser in parsers[name]:
        for action in _visible(parser):
            if action.option_strings and action.choices is not None:
                assert main([name, *path, action.option_strings[-1], "not-a-choice"]) == 2
                line = _one_error_line(capsys.readouterr().err, name)
                assert "invalid choice" in line
