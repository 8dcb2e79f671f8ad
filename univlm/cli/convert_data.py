"""``univlm convert-data``: convert a public remote-sensing dataset (native layout) to instruction JSONL.

Examples::

    univlm convert-data --list
    univlm convert-data ucm --src data/raw --out data/ucm_train.jsonl --split train
    univlm convert-data dior-rsvg --src data/raw/DIOR_RSVG --out data/dior_rsvg_test.jsonl --split test

The converters live in ``data_converters`` (see docs/CONVERTERS.md). The run shows a progress bar,
writes the JSONL atomically and ends with a summary: records per task and skipped items with reasons.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="univlm convert-data",
        description="Convert a public remote-sensing dataset, as downloaded, to univlm instruction JSONL.",
    )
    p.add_argument("name", nargs="?", help="dataset name (see --list), e.g. ucm, dior-rsvg, rsvqa-lr")
    p.add_argument("--list", action="store_true", help="list the available datasets and exit")
    p.add_argument("-v", "--verbose", action="store_true", help="with --list: also show each dataset's notes")
    p.add_argument("--src", help="the dataset folder in its native layout")
    p.add_argument("--out", help="output .jsonl file (written atomically)")
    p.add_argument("--split", help="split to convert (default: the dataset's first split)")
    p.add_argument("--limit", type=int, help="stop after N records")
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
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    return p


def _list(verbose: bool) -> int:
    from data_converters import available_converters

    convs = available_converters()
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
        argv: Arguments without the program name; ``sys.argv[2:]`` semantics when None.

    Returns:
        0 on success, 1 when the conversion fails (bad layout, unreadable annotation file),
        2 on usage errors.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if args.list:
        return _list(verbose=args.verbose)
    if not args.name or not args.src or not args.out:
        parser.print_usage(sys.stderr)
        print(
            "univlm convert-data: error: NAME, --src and --out are required (or use --list)", file=sys.stderr
        )
        return 2

    from data_converters import LayoutError, convert, get_converter

    try:
        converter = get_converter(args.name)
    except KeyError as err:
        print(f"univlm convert-data: error: {err.args[0]}", file=sys.stderr)
        return 2
    tasks = [t.strip().upper() for t in args.tasks.split(",") if t.strip()] if args.tasks else None
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
            progress=not args.no_progress,
        )
    except (LayoutError, ValueError) as err:
        print(f"univlm convert-data: error: {err}", file=sys.stderr)
        return 1
    print(json.dumps(summary.to_dict(), indent=2) if args.json else summary.format())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
