"""``univlm chat --model DIR IMAGE [IMAGE2]``: a multi-turn prompt loop about one image (pair).

Each line read from stdin is one user turn; earlier turns are kept as chat history. Every turn is
routed by its own task tag (a turn without one goes to the router's default expert, with a note).
``/reset`` forgets the history; ``/exit``, ``/quit`` or end of input ends the session.

Design choices (grammar: docs/CLI.md):

- Answers go to stdout, one per turn; with ``--json`` each answer is one JSON line (the
  ``Result.to_dict()`` of ``univlm predict --json``), so a script can pipe turns in and read lines
  out. Notes (routing, ``/reset``) and codec problems go to stderr; ``--quiet`` drops the notes.
- The model options are ``univlm predict``'s (:func:`univlm.cli.predict.add_model_arguments`), so the
  two commands take the same flags.
- Exit codes: 0 the session ended, 1 the model could not be loaded, 2 a usage error (one line);
  Ctrl-C ends with 130 through the dispatcher.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import IO, Any

from univlm.cli._common import EXIT_FAILED, CommandParser, add_output_flags, fail, guarded, quiet_libraries
from univlm.cli.predict import (
    add_model_arguments,
    check_images,
    generation_options,
    load_predictor,
    routing_note,
)

PROG = "univlm chat"
EXIT_COMMANDS = frozenset({"/exit", "/quit"})
HELP = "Type a prompt (e.g. '[VG] the largest building'); /reset clears the history, /exit quits."


def run_chat(
    predictor: Any,
    images: Sequence[Any],
    lines: Iterable[str],
    write: Callable[[str], None],
    note: Callable[[str], None],
    prompt_marker: Callable[[], None] | None = None,
    as_json: bool = False,
    warn: Callable[[str], None] | None = None,
    **gen: Any,
) -> list[tuple[str, str]]:
    """Answer each input line in turn, keeping the chat history.

    Args:
        predictor: A :class:`~univlm.inference.Predictor`.
        images: The image(s) the conversation is about.
        lines: User turns (e.g. ``sys.stdin``); stops at ``/exit``, ``/quit`` or their end.
        write: Receives each answer: its text, or with ``as_json`` its ``Result.to_dict()`` as one
            JSON line.
        note: Receives routing notes, and parse problems unless ``as_json`` (they are in the JSON).
        prompt_marker: Called before reading each line (prints ``>>>`` in a terminal).
        as_json: Write each answer as one JSON line instead of its text.
        warn: Receives the parse problems when given (``note`` does otherwise), so that ``--quiet``
            can drop the notes and keep the problems.
        **gen: Generation options of ``Predictor.predict``.

    Returns:
        The ``(user, assistant)`` turns of the history at the end.
    """
    history: list[tuple[str, str]] = []
    if prompt_marker:
        prompt_marker()
    for raw in lines:
        line = raw.strip()
        if line in EXIT_COMMANDS:
            break
        if line == "/reset":
            history.clear()
            note("history cleared")
        elif line:
            result = predictor.predict(images, line, history=history, **gen)
            message = routing_note(result, predictor.model.config.default_expert)
            if message:
                note(message)
            write(json.dumps(result.to_dict(), ensure_ascii=False) if as_json else result.text)
            for problem in [] if as_json else result.problems:
                (warn or note)(f"problem: {problem}")
            history.append((line, result.text))
        if prompt_marker:
            prompt_marker()
    return history


def main(argv: Sequence[str] | None = None, stdin: IO[str] | None = None) -> int:
    """Run ``univlm chat``.

    Args:
        argv: Arguments without the program name; ``sys.argv[1:]`` when None.
        stdin: Where user turns are read from; ``sys.stdin`` when None.

    Returns:
        0 when the session ends, 1 when the model cannot be loaded, 2 on usage errors.
    """
    parser = CommandParser(
        prog=PROG,
        description="Multi-turn chat about one image or an image pair; one user turn per stdin line.",
    )
    add_model_arguments(parser)
    add_output_flags(
        parser,
        json_help="print each answer as one JSON line (the fields of 'univlm predict --json')",
        quiet_help="no notes on stderr (routing, /reset, the interactive banner); problems still shown",
    )
    try:
        args = parser.parse_args(argv)
        check_images(parser, args.images)
    except SystemExit as exc:  # --help (0), or a usage error already printed as one line (2)
        return int(exc.code or 0)
    with quiet_libraries(transformers_bars=True) if args.quiet else contextlib.nullcontext():
        return _session(args, sys.stdin if stdin is None else stdin)


def _session(args: argparse.Namespace, source: IO[str]) -> int:
    """Load the model and answer the turns read from ``source``; the exit code."""
    try:
        predictor = load_predictor(args)
    except (OSError, ValueError) as err:
        return fail(PROG, f"cannot load model from {args.model}: {err}", EXIT_FAILED)
    interactive = source.isatty() if hasattr(source, "isatty") else False
    if interactive and not args.quiet:
        print(HELP, file=sys.stderr)

    def stderr(text: str) -> None:
        print(text, file=sys.stderr)

    def marker() -> None:
        print(">>> ", end="", file=sys.stderr, flush=True)

    run_chat(
        predictor,
        args.images,
        source,
        write=lambda text: print(text, flush=True),  # flushed: a reader of a pipe sees each answer now
        note=(lambda text: None) if args.quiet else stderr,
        warn=stderr,
        prompt_marker=marker if interactive else None,
        as_json=args.json,
        **generation_options(args),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(guarded(PROG, main, sys.argv[1:]))
