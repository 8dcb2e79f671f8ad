"""``univlm encode-mask MASK.png``: print a label-mask image as Text4Seg R-RLE text.

A pixel value ``v`` names ``labels[v]``. Labels come from ``--labels others,building,...``, from
``--label NAME`` (any non-zero pixel is NAME, zero is ``others``), or from the
``<mask>.labels.json`` sidecar that ``univlm decode-mask`` writes next to its PNGs.

Design choices:

- Only numpy, Pillow and :mod:`univlm.codecs` are imported (no torch or transformers).
- The encoder refuses, naming it, a label the decoder would not read back unchanged, so what this
  command prints always decodes to the same grid.
- The text goes to stdout, or atomically to ``-o/--out FILE``. Exit codes follow docs/CLI.md:
  0 ok, 2 usage or input error (unreadable image, bad labels, a value without a label, a limit);
  every error is one line ``univlm encode-mask: error: ...``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from univlm.cli._common import CommandParser, UsageError
from univlm.codecs import BACKGROUND, MAX_GRID, encode_mask
from univlm.fileio import atomic_write_text
from univlm.tasks import DEFAULT_GRID

PROG = "univlm encode-mask"
LABEL_MODES = frozenset({"1", "L", "P", "I", "I;16", "I;16B", "I;16L"})


def _parser() -> CommandParser:
    parser = CommandParser(
        prog=PROG,
        description="Encode a label-mask image (pixel value v -> labels[v]) as Text4Seg R-RLE text.",
    )
    parser.add_argument("mask", help="single-channel label PNG (mode L, P, I or 1)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--label", help="binary mask: non-zero pixels get this label, zero is 'others'")
    group.add_argument(
        "--labels", help="comma-separated names indexed by pixel value, e.g. others,building,road"
    )
    parser.add_argument("--grid", type=int, default=DEFAULT_GRID, help="grid side G (default %(default)s)")
    parser.add_argument(
        "--max-grid", type=int, default=MAX_GRID, help="largest grid side accepted (%(default)s)"
    )
    parser.add_argument("--no-wrap", action="store_true", help="do not wrap the text in <seg>...</seg>")
    parser.add_argument("-o", "--out", help="write the text to this file instead of stdout")
    return parser


def sidecar_path(mask_path: Path) -> Path:
    """The ``.labels.json`` file that names the label indices of a mask file."""
    return mask_path.with_suffix(".labels.json")


def _read_mask(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as img:
            if img.mode not in LABEL_MODES:
                raise UsageError(
                    f"{path}: expected a single-channel label image (mode L, P, I or 1), got mode {img.mode}"
                )
            return np.array(img).astype(np.int64)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from exc


def _labels(args: argparse.Namespace, path: Path) -> list[str]:
    if args.label is not None:
        return [BACKGROUND, args.label]
    if args.labels is not None:
        return [name.strip() for name in args.labels.split(",")]
    sidecar = sidecar_path(path)
    if not sidecar.is_file():
        raise UsageError(
            f"name the labels with --label NAME or --labels others,NAME,... (no {sidecar.name} next to the mask)"
        )
    try:
        labels = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise UsageError(f"cannot read {sidecar}: {exc}") from exc
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise UsageError(f"{sidecar}: expected a JSON list of label names")
    return labels


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``univlm encode-mask``.

    Args:
        argv: Arguments without the program name.

    Returns:
        0 on success, 2 on a usage or input error (one line on stderr).
    """
    try:
        args = _parser().parse_args(argv)
        if not 1 <= args.grid <= args.max_grid:
            raise UsageError(f"--grid must be in 1..{args.max_grid} (--max-grid), got {args.grid}")
        path = Path(args.mask)
        mask = _read_mask(path)
        labels = _labels(args, path)
        if args.label is not None:
            mask = (mask != 0).astype(np.int64)
        try:
            text = encode_mask(mask, labels, grid=args.grid, wrap=not args.no_wrap, max_grid=args.max_grid)
        except ValueError as exc:
            raise UsageError(f"{path}: {exc}") from exc
        text = text if text.endswith("\n") else text + "\n"
        if args.out:
            try:
                atomic_write_text(args.out, text)
            except OSError as exc:
                print(f"{PROG}: error: cannot write {args.out}: {exc}", file=sys.stderr)
                return 1
        else:
            sys.stdout.write(text)
        return 0
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help
        return int(exc.code or 0)


if __name__ == "__main__":
    raise SystemExit(main())
