"""What every ``univlm`` subcommand shares: the parser class, the usage error and one-line messages.

The grammar these implement is docs/CLI.md; ``tests/cli/test_conventions.py`` checks it for every
entry of the ``COMMANDS`` table.

Design choices:

- :class:`CommandParser` keeps argparse's contract (an error exits with code 2, ``--help`` exits
  with 0) and changes only the message: one line ``<prog>: error: <what>`` instead of a usage dump,
  so a command's ``main`` needs no handler of its own, and callers that expect ``SystemExit(2)``
  (argparse's documented behaviour) keep working.
- :class:`UsageError` is what a command raises for a bad input it finds after parsing (a missing
  file, a bad value); its ``main`` or, failing that, :func:`guarded` prints it as one line and
  returns 2.
- :func:`guarded` is the net the dispatcher puts under every command: exit codes instead of
  tracebacks for ``SystemExit``, ``UsageError``, Ctrl-C (130) and a closed stdout pipe (141).
- Only the standard library is imported here, so every command's ``--help`` stays fast;
  :func:`quiet_libraries` imports transformers' logging only when a model command asks it to.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NoReturn, TextIO

EXIT_OK = 0
EXIT_FAILED = 1  # the work failed: no mask in the answer, a bad record, a score not computed
EXIT_USAGE = 2  # usage or input error: a missing file, a bad value, an unknown option
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for Ctrl-C
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what `yes | head` reports when the reader goes away


class UsageError(Exception):
    """A bad command line or input; printed as one line ``<prog>: error: ...`` with exit code 2."""


def one_line(message: object) -> str:
    """``message`` as one line: newlines and runs of whitespace become single spaces."""
    return " ".join(str(message).split())


def error_line(prog: str, message: object) -> str:
    """The error line of the grammar: ``<prog>: error: <message>`` (one line, no newline)."""
    return f"{prog}: error: {one_line(message)}"


def fail(prog: str, message: object, code: int = EXIT_USAGE, stream: TextIO | None = None) -> int:
    """Print ``<prog>: error: <message>`` on stderr and return ``code``.

    Args:
        prog: The command, e.g. ``"univlm eval"``.
        message: What went wrong, naming the file, line or field and what was expected.
        code: The exit code to return: 2 (usage or input error, the default) or 1 (the work failed).
        stream: Where to print; ``sys.stderr`` when None (looked up at call time, so tests capture it).

    Returns:
        ``code``, so that ``return fail(PROG, "...")`` ends a command.
    """
    print(error_line(prog, message), file=sys.stderr if stream is None else stream)
    return code


def print_json(obj: Any, indent: int | None = None) -> None:
    """Print ``obj`` as one JSON document on stdout (``--json``), non-ASCII characters kept."""
    print(json.dumps(obj, indent=indent, ensure_ascii=False))


class CommandParser(argparse.ArgumentParser):
    """``argparse`` parser whose errors are one line ``<prog>: error: ...`` (no usage dump), exit 2.

    Subparsers made with ``add_subparsers`` are of this class too (argparse uses the parent's class).
    """

    def error(self, message: str) -> NoReturn:
        """Print the one-line error and exit with 2 (argparse's code for a usage error).

        Raises:
            SystemExit: Always, with code 2.
        """
        self.exit(EXIT_USAGE, error_line(self.prog, message) + "\n")


def add_output_flags(parser: argparse.ArgumentParser, json_help: str, quiet_help: str) -> None:
    """Add ``--json`` and ``--quiet``, spelled and typed as docs/CLI.md says.

    Args:
        parser: The command's parser (or one of its subparsers).
        json_help: What ``--json`` prints, e.g. "print the summary as one JSON document".
        quiet_help: What ``--quiet`` hides, e.g. "print nothing on success".
    """
    parser.add_argument("--json", action="store_true", help=json_help)
    parser.add_argument("--quiet", action="store_true", help=quiet_help)


QUIET_LOGGERS = ("univlm", "transformers", "accelerate", "data_converters")


@contextlib.contextmanager
def quiet_libraries(transformers_bars: bool = False) -> Iterator[None]:
    """Hide library warnings below ERROR (and, if asked, transformers' progress bars) in the block.

    What ``--quiet`` needs around model loading and generation: the libraries' own notes (e.g. the
    router's "no task tag" warning) and "Loading weights" bars go, errors stay. Levels and the bar
    setting are restored on exit, so a test that calls ``main`` leaves no trace.

    Args:
        transformers_bars: Also turn off transformers' progress bars; this imports
            ``transformers.utils.logging``, so only a command that loads a model should ask.

    Yields:
        Nothing; the settings hold inside the ``with`` block.
    """
    loggers = [logging.getLogger(name) for name in QUIET_LOGGERS]
    levels = [logger.level for logger in loggers]
    hf_logging = None
    if transformers_bars:  # imported here on purpose: a light command never pays for transformers
        from transformers.utils import logging as hf_logging
    bars = hf_logging.is_progress_bar_enabled() if hf_logging else False
    try:
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        if hf_logging and bars:
            hf_logging.disable_progress_bar()
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
        if hf_logging and bars:
            hf_logging.enable_progress_bar()


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # a stdout without a file descriptor (tests)
        pass


def guarded(prog: str, main: Callable[[list[str]], int | None], argv: Sequence[str]) -> int:
    """Run a command's ``main`` and turn what it raises into the grammar's exit codes.

    A command handles its own errors; this is the net under all of them: a ``SystemExit`` becomes
    its code, a :class:`UsageError` one error line and 2, Ctrl-C one line and 130, and a reader that
    goes away (``univlm eval --list-tasks | head``) a quiet 141 instead of a ``BrokenPipeError``
    traceback. The ``univlm`` dispatcher runs every command through it; a module run with
    ``python -m univlm.cli.<name>`` can too.

    Args:
        prog: The command, e.g. ``"univlm eval"``, for the error line.
        main: The command's ``main``.
        argv: Its arguments.

    Returns:
        The exit code.
    """
    try:
        code = main(list(argv))
        sys.stdout.flush()  # inside the try: a closed pipe shows up here, not at interpreter exit
    except SystemExit as exc:  # argparse (--help, a usage error) or a command that exits itself
        if exc.code is None or isinstance(exc.code, int):
            return int(exc.code or 0)
        return fail(prog, exc.code, EXIT_FAILED)
    except UsageError as exc:
        return fail(prog, exc)
    except KeyboardInterrupt:
        return fail(prog, "interrupted", EXIT_INTERRUPTED)
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    return int(code or 0)
