"""``univlm grammar``: write the mask or box answer grammar for a serving engine (XGrammar EBNF or regex).

    univlm grammar --labels building,road --grid 24 --format ebnf -o mask.ebnf
    univlm grammar --box --format ebnf -o box.ebnf

vLLM and SGLang constrain decoding with XGrammar; pass the EBNF text as the request's grammar (see
docs/SERVING.md). The regex form is structural only (it does not check row sums or box order).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from univlm.cli._common import CommandParser
from univlm.fileio import atomic_write_text
from univlm.inference.grammar_export import box_ebnf, box_regex, mask_ebnf, mask_regex
from univlm.tasks import DEFAULT_GRID

PROG = "univlm grammar"


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(prog=PROG, description=__doc__.split("\n\n")[0])
    kind = parser.add_mutually_exclusive_group(required=True)
    kind.add_argument("--labels", help="mask labels besides 'others', comma-separated, e.g. building,road")
    kind.add_argument("--box", action="store_true", help="the box grammar [x1, y1, x2, y2] instead of a mask")
    parser.add_argument("--grid", type=int, default=DEFAULT_GRID, help=f"mask grid side G (default {DEFAULT_GRID})")
    parser.add_argument("--format", choices=("ebnf", "regex"), default="ebnf", help="default ebnf (exact)")
    parser.add_argument("-o", "--out", metavar="FILE", help="write here (atomically) instead of stdout")
    parser.add_argument("--json", action="store_true", help="print a JSON summary instead of the grammar")
    parser.add_argument("--quiet", action="store_true", help="print nothing when writing to --out")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``univlm grammar``; returns the exit code (0 ok, 1 the file cannot be written, 2 usage error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not 1 <= args.grid <= 256:
        print(f"{PROG}: error: --grid must be 1..256, got {args.grid}", file=sys.stderr)
        return 2
    try:
        if args.box:
            text = box_ebnf() if args.format == "ebnf" else box_regex()
        else:
            labels = [x.strip() for x in args.labels.split(",") if x.strip()]
            text = mask_ebnf(labels, args.grid) if args.format == "ebnf" else mask_regex(labels, args.grid)
    except ValueError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    if args.out:
        try:
            atomic_write_text(args.out, text)
        except OSError as err:
            print(f"{PROG}: error: cannot write {args.out}: {err.strerror or err}", file=sys.stderr)
            return 1  # the work failed (docs/CLI.md): the arguments were fine
    summary = {"kind": "box" if args.box else "mask", "format": args.format, "chars": len(text), "out": args.out}
    if args.json:
        print(json.dumps(summary))
    elif not args.out:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    elif not args.quiet:
        print(f"wrote {summary['kind']} grammar ({args.format}, {len(text)} characters) to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
