"""``univlm data validate FILE [--root DIR]`` and ``univlm data stats FILE [--tokenizer DIR]``.

Exit codes: 0 every record is good (``validate``) or the summary was printed (``stats``); 1 some
record is bad (``validate``); 2 a usage or input error: a missing file, a line that is not UTF-8 or
not JSON (``stats``), a bad value. Errors are one line, ``univlm data <command>: error: ...``.
``validate`` never stops on a record's content: every problem is printed as ``FILE:LINE: field: what``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence

# Light on purpose: validation needs numpy, PIL and the codecs only; a tokenizer (transformers) is
# imported inside ``_stats`` and only when ``--tokenizer`` is given.
from univlm.cli._common import CommandParser
from univlm.data.schema import RecordError, read_jsonl
from univlm.data.stats import compute_stats, format_stats
from univlm.data.validate import DEFAULT_LIMITS, RecordLimits, validate_file


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = CommandParser(prog="univlm data", description="Validate or summarise an instruction JSONL file.")
    sub = parser.add_subparsers(dest="command", required=True)
    val = sub.add_parser("validate", help="check every record; exit 1 if any is bad",
                         description="Check every record of a JSONL file (docs/DATA.md lists the checks and limits).")
    val.add_argument("file", help="JSONL file")
    val.add_argument("--root", default=None, help="data root for image/mask paths (default: the file's directory)")
    val.add_argument("--allow-outside-root", action="store_true",
                     help="accept image/mask paths that leave the data root (absolute paths, '..')")
    val.add_argument("--max-problems", type=int, default=0,
                     help="print at most this many problems (0 = all); the summary always counts all")
    val.add_argument("--max-pixels", type=_positive, default=DEFAULT_LIMITS.max_pixels,
                     help=f"largest image/mask width x height (default {DEFAULT_LIMITS.max_pixels})")
    val.add_argument("--max-message-chars", type=_positive, default=DEFAULT_LIMITS.max_message_chars,
                     help=f"longest message content (default {DEFAULT_LIMITS.max_message_chars})")
    val.add_argument("--max-word-chars", type=_positive, default=DEFAULT_LIMITS.max_word_chars,
                     help=f"longest run without whitespace in a message (default {DEFAULT_LIMITS.max_word_chars})")
    val.add_argument("--json", action="store_true", help="print the report as one JSON document")
    val.add_argument("--quiet", action="store_true", help="print only the problems, not the summary")
    stats = sub.add_parser("stats", help="counts per task/granularity/source and length distribution")
    stats.add_argument("file", help="JSONL file")
    stats.add_argument("--tokenizer", default=None, help="tokenizer directory: lengths in tokens of the rendered chat")
    stats.add_argument("--json", action="store_true", help="print JSON instead of text")
    stats.add_argument("--quiet", action="store_true", help="print nothing; only the exit code tells")
    return parser


def _error(command: str, message: str) -> int:
    print(f"univlm data {command}: error: {message}", file=sys.stderr)
    return 2


def _validate(args: argparse.Namespace) -> int:
    limits = dataclasses.replace(RecordLimits(), max_pixels=args.max_pixels, max_message_chars=args.max_message_chars,
                                 max_word_chars=args.max_word_chars)
    try:
        report = validate_file(args.file, root=args.root, allow_outside_root=args.allow_outside_root, limits=limits)
    except FileNotFoundError:
        return _error("validate", f"file not found: {args.file}")
    except (IsADirectoryError, PermissionError) as exc:
        return _error("validate", f"cannot read {args.file}: {exc.strerror}")
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False))
        return 1 if report.bad else 0
    shown = report.problems if args.max_problems <= 0 else report.problems[: args.max_problems]
    for problem in shown:
        print(problem.format(args.file))
    if len(shown) < len(report.problems):
        print(f"... {len(report.problems) - len(shown)} more problems not shown")
    if not args.quiet:
        print(report.summary())
    return 1 if report.bad else 0


def _stats(args: argparse.Namespace) -> int:
    tokenizer = None
    if args.tokenizer:
        from transformers import AutoTokenizer  # heavy: only for --tokenizer

        try:
            tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
        except (OSError, ValueError) as exc:
            return _error("stats", f"cannot load the tokenizer from {args.tokenizer}: {exc}")
    try:
        stats = compute_stats((rec for _, rec in read_jsonl(args.file)), tokenizer)
    except FileNotFoundError:
        return _error("stats", f"file not found: {args.file}")
    except RecordError as exc:
        return _error("stats", f"{exc} (run 'univlm data validate' for every problem)")
    except (KeyError, TypeError, AttributeError) as exc:
        return _error("stats", f"{args.file}: a record lacks the schema's fields ({exc!r}); run 'univlm data validate'")
    if not args.quiet:
        print(json.dumps(stats, indent=2) if args.json else format_stats(stats))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``univlm data``; returns the exit code."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # --help (0), or a usage error already printed as one line (2)
        return int(exc.code or 0)
    return _validate(args) if args.command == "validate" else _stats(args)


if __name__ == "__main__":
    raise SystemExit(main())
