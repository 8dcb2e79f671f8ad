"""The ``univlm`` command: one entry point, one module per subcommand.

Each subcommand lives in ``univlm/cli/<name>.py`` and exposes ``main(argv=None) -> int``, which the
tests call directly. The dispatcher below imports only the chosen module, so ``univlm decode-mask``
never pays for the training or evaluation stacks.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

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
}


def _usage() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = ["usage: univlm <command> [options]", "", "commands:"]
    lines += [f"  {name.ljust(width)}  {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "Run 'univlm <command> --help' for the options of one command."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch ``univlm <command> ...`` to the command's own ``main``.

    Args:
        argv: Arguments without the program name; ``sys.argv[1:]`` when None.

    Returns:
        The process exit code of the subcommand (0 on success).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help"}:
        print(_usage())
        return 0 if args else 2
    if args[0] in {"-V", "--version"}:
        from univlm import __version__

        print(f"univlm {__version__}")
        return 0
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"univlm: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    code = module.main(rest)
    return int(code or 0)


if __name__ == "__main__":
    raise SystemExit(main())
