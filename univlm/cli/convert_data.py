"""``univlm convert-data``: convert a public remote-sensing dataset (native layout) to instruction JSONL.

Examples::

    univlm convert-data --list
    univlm convert-data ucm --src data/raw --out data/ucm_train.jsonl --split train
    univlm convert-data dior-rsvg --src data/raw/DIOR_RSVG --out data/dior_rsvg_test.jsonl --split test

The converters live in ``data_converters`` (see docs/CONVERTERS.md). The run shows a progress bar,
writes the JSONL atomically and ends with a summary: records per task and skipped items with reasons.

Grammar (docs/CLI.md): the output is ``-o/--out``; ``--json`` prints the summary (or, with
``--list``, the datasets) as one JSON document; ``--quiet`` hides the progress bar and the summary
but still warns, on stderr, when items were skipped. Exit codes: 0 converted, 1 the conversion
failed (``--src`` is not the dataset's layout, an unreadable annotation file), 2 a usage or input
error (unknown dataset, split or task, a ``--src`` that does not exist); errors are one line.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from univlm.cli._common import CommandParser, add_output_flags, fail, guarded, print_json

PROG = "univlm convert-data"


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r:.40}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    p = CommandParser(
        prog=PROG,
        description="Convert a public remote-sensing dataset, as downloaded, to univlm instruction JSONL.",
    )
    p.add_argument("name", nargs="?", help="dataset name (see --list), e.g. ucm, dior-rsvg, rsvqa-lr")
    p.add_argument("--list", action="store_true", help="list the available datasets and exit")
    p.add_argument("-v", "--verbose", action="store_true", help="with --list: also show each dataset's notes")
    p.add_argument("--src", help="the dataset folder in its native layout")
    p.add_argument("-o", "--out", metavar="FILE", help="output .jsonl file (written atomically)")
    p.add_argument("--split", help="split to convert (default: the dataset's first split)")
    p.add_argument("--limit", type=_non_negative, metavar="N", help="stop after N records")
    p.add_argument(
        "--images-root",
        help="folder the record image paths are relative to (default: the folder of --out); "
        "pass the same folder to 'univlm data validate --root'",
    )
    p.add_argument("--tasks", help="comma-separated tasks to emit, e.g. VG,REF (default: the dataset's)")
    p.add_argument("--derived-dir", help="where crops/masks are written (default: <out stem>_files/)")
    p.add_argument(
        "--no-verify-images",
        action="store_true",
        help="read image headers only (faster; misses truncated files)",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar, keep the summary")
    add_output_flags(
        p,
        json_help="print the summary (with --list: the datasets) as one JSON document",
        quiet_help="no progress bar and no summary; skipped items are still counted in one warning",
    )
    return p


def _list(verbose: bool, as_json: bool) -> int:
    from data_converters import available_converters

    convs = available_converters()
    if as_json:
        rows = [
            {"name": name, "tasks": list(conv.tasks), "splits": list(conv.splits), "url": conv.url,
             "notes": conv.notes}
            for name, conv in convs.items()
        ]  # fmt: skip
        print_json(rows, indent=2)
        return 0
    width = max(len(n) for n in convs)
    for name, conv in convs.items():
        print(
            f"{name.ljust(width)}  {','.join(conv.tasks):<14} splits: {'/'.join(conv.splits):<26} {conv.url}"
        )
        if verbose and conv.notes:
            print(f"{'':{width}}  {conv.notes}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``univlm convert-data``.

    Args:
        argv: Arguments without the program name; ``sys.argv[1:]`` when None.

    Returns:
        0 on success, 1 when the conversion fails (not the dataset's layout, an unreadable
        annotation file), 2 on a usage or input error (unknown dataset, split or task, no ``--src``).
    """
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # --help (0), or a usage error already printed as one line (2)
        return int(exc.code or 0)
    if args.list:
        return _list(verbose=args.verbose, as_json=args.json)
    if not args.name or not args.src or not args.out:
        return fail(PROG, "NAME, --src and -o/--out are required (or use --list)")
    if not os.path.isdir(args.src):
        return fail(PROG, f"--src {args.src}: no such folder (expected the dataset as downloaded)")

    # Imported here on purpose: the converters (and tqdm) are only needed once the arguments are valid.
    from data_converters import LayoutError, convert, get_converter

    try:
        converter = get_converter(args.name)
    except KeyError as err:
        return fail(PROG, err.args[0])
    tasks = [t.strip().upper() for t in args.tasks.split(",") if t.strip()] if args.tasks else None
    if args.split is not None and args.split not in converter.splits:
        return fail(PROG, f"--split {args.split!r}: {converter.name} has {', '.join(converter.splits)}")
    unknown = [t for t in tasks or () if t not in converter.tasks]
    if unknown:
        return fail(PROG, f"--tasks {','.join(unknown)}: {converter.name} provides {','.join(converter.tasks)}")
    try:
        summary = convert(
            converter,
            src=args.src,
            out=args.out,
            split=args.split,
            limit=args.limit,
            images_root=args.images_root,
            tasks=tasks,
            derived_dir=args.derived_dir,
            verify_images=not args.no_verify_images,
            progress=not (args.no_progress or args.quiet),
        )
    except (LayoutError, ValueError) as err:  # not the dataset's layout, or a record built wrongly
        return fail(PROG, err, code=1)
    if args.json:
        print_json(summary.to_dict(), indent=2)
    elif not args.quiet:
        print(summary.format())
    elif summary.total_skipped:
        print(
            f"{PROG}: warning: {summary.total_skipped} items skipped "
            f"({', '.join(f'{n} x {reason}' for reason, n in summary.skipped.most_common())})",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(guarded(PROG, main, sys.argv[1:]))
