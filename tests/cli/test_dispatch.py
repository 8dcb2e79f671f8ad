"""The ``univlm`` dispatcher: usage, unknown commands, and the net under every subcommand."""

from __future__ import annotations

import importlib
import subprocess
import sys
import types

import pytest

from univlm.cli import COMMANDS, main
from univlm.cli._common import UsageError


def test_help_lists_every_command_on_stdout(capsys):
    assert main(["--help"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("usage: univlm") and err == ""
    for name in COMMANDS:
        assert name in out


def test_no_arguments_prints_usage_to_stderr_and_exits_2(capsys):
    assert main([]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("usage: univlm")


def test_unknown_command_is_one_error_line(capsys):
    assert main(["no-such-command"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("univlm: error: unknown command 'no-such-command'") and err.count("\n") == 1
    assert main(["dat"]) == 2
    assert "did you mean 'data'?" in capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_module_has_main(name):
    module = importlib.import_module(COMMANDS[name][0])
    assert callable(module.main)


@pytest.fixture
def fake_command(monkeypatch):
    """Register ``univlm fake``, whose ``main`` raises what its first argument names."""
    raised = {
        "interrupt": KeyboardInterrupt(),
        "usage": UsageError("--size: expected WxH,\ngot 'x'"),
        "exit-text": SystemExit("gave up"),
        "exit-3": SystemExit(3),
    }

    def fake_main(argv):
        if argv and argv[0] in raised:
            raise raised[argv[0]]
        return 0

    module = types.ModuleType("univlm_test_fake_command")
    module.main = fake_main
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(COMMANDS, "fake", (module.__name__, "raises on demand"))
    return "fake"


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["interrupt"], 130, "univlm fake: error: interrupted"),
        (["usage"], 2, "univlm fake: error: --size: expected WxH, got 'x'"),
        (["exit-text"], 1, "univlm fake: error: gave up"),
        (["exit-3"], 3, ""),
        ([], 0, ""),
    ],
)
def test_what_a_command_raises_becomes_an_exit_code_and_one_line(fake_command, argv, code, message, capsys):
    assert main([fake_command, *argv]) == code
    err = capsys.readouterr().err
    assert err == (message + "\n" if message else "")


@pytest.mark.parametrize("module", [["univlm.cli", "eval"], ["univlm.cli.eval"]], ids=["univlm", "accelerate-m"])
def test_a_reader_that_goes_away_is_not_a_traceback(module):
    # `univlm eval --list-tasks | head`: the pipe is closed before the command writes a byte.
    proc = subprocess.Popen(
        [sys.executable, "-m", *module, "--list-tasks"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141, err
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
