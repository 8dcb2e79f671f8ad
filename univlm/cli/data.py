"""``univlm data validate FILE [--root DIR]`` and ``univlm data stats FILE [--tokenizer DIR]``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="univlm data", description="Validate or summarise an instruction JSONL file.")
    sub = parser.add_subparsers(dest="command", required=True)
    val = sub.add_parser("validate", help="check every record; non-zero exit if any is bad")
    val.add_argument("file", help="JSONL file")
    val.add_argument("--root", default=None, help="data root for image/mask paths (default: the file's directory)")
    val.add_argument("--max-problems", type=int, default=0,
                     help="print at most this many problems (0 = all); the summary always counts all")
    stats = sub.add_parser("stats", help="counts per task/granularity/source and length distribution")
    stats.add_argument("file", help="JSONL file")
    stats.add_argument("--tokenizer", default=None, help="tokenizer directory: lengths in tokens of the rendered chat")
    stats.add_argument("--json", action="store_true", help="print JSON instead of text")
    return parser


def _validate(args: argparse.Namespace) -> int:
    from univlm.data.validate import validate_file

    try:
        report = validate_file(args.file, root=args.root)
    except FileNotFoundError as exc:
        print(f"univlm data validate: {exc}", file=sys.stderr)
        return 2
    shown = report.problems if args.max_problems <= 0 else report.problems[: args.max_problems]
    for problem in shown:
        print(problem.format(args.file))
    if len(shown) < len(report.problems):
        print(f"... {len(report.problems) - len(shown)} more problems not shown")
    print(report.summary())
    return 1 if report.bad else 0


def _stats(args: argparse.Namespace) -> int:
    from univlm.data.schema import RecordError, read_jsonl
    from univlm.data.stats import compute_stats, format_stats

    tokenizer = None
    if args.tokenizer:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    try:
        stats = compute_stats((rec for _, rec in read_jsonl(args.file)), tokenizer)
    except (RecordError, FileNotFoundError, KeyError, TypeError) as exc:
        print(f"univlm data stats: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(stats, indent=2) if args.json else format_stats(stats))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``univlm data``; returns the exit code."""
    args = _parser().parse_args(argv)
    return _validate(args) if args.command == "validate" else _stats(args)


if __name__ == "__main__":
    raise SystemExit(main())
