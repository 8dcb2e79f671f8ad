"""``univlm chat --model DIR IMAGE [IMAGE2]``: a multi-turn prompt loop about one image (pair).

Each line read from stdin is one user turn; earlier turns are kept as chat history. Every turn is
routed by its own task tag (a turn without one goes to the router's default expert, with a note).
``/reset`` forgets the history; ``/exit``, ``/quit`` or end of input ends the session.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import IO, Any

from univlm.cli.predict import add_model_arguments, generation_options, parse_and_load, routing_note

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
    **gen: Any,
) -> list[tuple[str, str]]:
    """Answer each input line in turn, keeping the chat history.

    Args:
        predictor: A :class:`~univlm.inference.Predictor`.
        images: The image(s) the conversation is about.
        lines: User turns (e.g. ``sys.stdin``); stops at ``/exit``, ``/quit`` or their end.
        write: Receives each answer.
        note: Receives routing notes and parse problems.
        prompt_marker: Called before reading each line (prints ``>>>`` in a terminal).
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
            message = routing_note(result, predictor.processor.default_expert)
            if message:
                note(message)
            write(result.text)
            for problem in result.problems:
                note(f"problem: {problem}")
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
    parser = argparse.ArgumentParser(
        prog=PROG, description="Multi-turn chat about one image or an image pair."
    )
    add_model_arguments(parser)
    args, predictor = parse_and_load(parser, argv)
    if predictor is None:
        return 1
    source = sys.stdin if stdin is None else stdin
    interactive = source.isatty() if hasattr(source, "isatty") else False
    if interactive:
        print(HELP, file=sys.stderr)

    def marker() -> None:
        print(">>> ", end="", file=sys.stderr, flush=True)

    run_chat(
        predictor,
        args.images,
        source,
        write=print,
        note=lambda text: print(text, file=sys.stderr),
        prompt_marker=marker if interactive else None,
        **generation_options(args),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
