import importlib

import pytest

from univlm.cli import COMMANDS, main


def test_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out


def test_unknown_command_is_an_error(capsys):
    assert main(["no-such-command"]) == 2
    assert "unknown command 'no-such-command'" in capsys.readouterr().err


def test_no_arguments_prints_usage_and_fails(capsys):
    assert main([]) == 2
    assert "usage: univlm" in capsys.readouterr().out


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_module_has_main(name):
    module = importlib.import_module(COMMANDS[name][0])
    assert callable(module.main)
