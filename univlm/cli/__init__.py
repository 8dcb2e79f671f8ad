"""The ``univlm`` command: one entry point, one module per subcommand.

Each subcommand lives in ``univlm/cli/<name>.py`` and exposes ``main(argv=None) -> int``, which the
tests call directly. The dispatcher below imports only the chosen module, so ``univlm decode-mask``
never pays for the training or evaluation stacks. The grammar every subcommand follows (flags,
exit codes, one-line errors) is docs/CLI.md; :func:`run_command` puts a net under all of them.
"""

from __future__ import annotations

import difflib
import importlib
import sys
from collections.abc import Sequence

from univlm.cli._common import EXIT_USAGE, fail, guarded

# name -> (module, one-line help). Modules are imported only when their subcommand runs.
COMMANDS: dict[str, tuple[str, str]] = {
    "encode-mask": ("univlm.cli.encode_mask", "encode a label-mask image as Text4Seg R-RLE text"),
    "decode-mask": ("univlm.cli.decode_mask", "decode a model answer into mask files or an overlay"),
    "info": ("univlm.cli.info", "parameter counts of a preset or checkpoint, built on the meta device"),
    "export-dense": ("univlm.cli.export_dense", "write one expert as a plain llava_onevision checkpoint"),
    "synth": ("univlm.cli.synth", "generate the synthetic remote-sensing instruction dataset"),
    "data": ("univlm.cli.data", "validate or summarise an instruction JSONL file"),
    "convert-data": ("univlm.cli.convert_data", "convert a public remote-sensing dataset to JSONL"),
    "predict": ("univlm.cli.predict", "answer one prompt about one or two images"),
    "chat": ("univlm.cli.chat", "multi-turn chat about an image"),
    "eval": ("univlm.cli.eval", "generate and score predictions under a named protocol"),
    "grammar": ("univlm.cli.grammar", "write the mask or box answer grammar for XGrammar (vLLM, SGLang)"),
    "demo": ("univlm.cli.demo", "serve the web demo on 127.0.0.1 (needs univlm[demo])"),
}


def _usage() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = ["usage: univlm <command> [options]", "", "commands:"]
    lines += [f"  {name.ljust(width)}  {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "Run 'univlm <command> --help' for the options of one command (grammar: docs/CLI.md)."]
    return "\n".join(lines)


def _unknown(name: str) -> str:
    close = difflib.get_close_matches(name, COMMANDS, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f"; expected one of {', '.join(COMMANDS)}"
    return f"unknown command {name!r}{hint} (see 'univlm --help')"


def run_command(name: str, argv: Sequence[str]) -> int:
    """Import subcommand ``name`` and run its ``main`` under :func:`~univlm.cli._common.guarded`.

    Args:
        name: A key of :data:`COMMANDS`.
        argv: The subcommand's arguments.

    Returns:
        The exit code.
    """
    def run(args: list[str]) -> int | None:  # the import inside the net too: Ctrl-C while torch loads
        return importlib.import_module(COMMANDS[name][0]).main(args)

    return guarded(f"univlm {name}", run, argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch ``univlm <command> ...`` to the command's own ``main``.

    Args:
        argv: Arguments without the program name; ``sys.argv[1:]`` when None.

    Returns:
        The process exit code: the subcommand's, 0 for ``--help``/``--version``, 2 for a bare
        ``univlm`` (usage on stderr) or an unknown command (one error line).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print(_usage(), file=sys.stderr)
        return EXIT_USAGE
    if args[0] in {"-h", "--help"}:
        print(_usage())
        return 0
    if args[0] in {"-V", "--version"}:
        from univlm import __version__

        print(f"univlm {__version__}")
        return 0
    if args[0] not in COMMANDS:
        return fail("univlm", _unknown(args[0]))
    return run_command(args[0], args[1:])


if __name__ == "__main__":
    raise SystemExit(main())
