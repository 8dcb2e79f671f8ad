"""``univlm encode-mask MASK.png``: print a label-mask image as Text4Seg R-RLE text.

A pixel value ``v`` names ``labels[v]``. Labels come from ``--labels others,building,...``, from
``--label NAME`` (any non-zero pixel is NAME, zero is ``others``), or from the
``<mask>.labels.json`` sidecar that ``univlm decode-mask`` writes next to its PNGs.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="univlm encode-mask",
        description="Encode a label-mask image (pixel value v -> labels[v]) as Text4Seg R-RLE text.",
    )
    parser.add_argument("mask", help="single-channel label PNG (mode L, P, I or 1)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--label", help="binary mask: non-zero pixels get this label, zero is 'others'")
    group.add_argument("--labels", help="comma-separated names indexed by pixel value, e.g. others,building,road")
    parser.add_argument("--grid", type=int, default=24, help="grid side G (default 24)")
    parser.add_argument("--no-wrap", action="store_true", help="do not wrap the text in <seg>...</seg>")
    return parser


def sidecar_path(mask_path: Path) -> Path:
    """The ``.labels.json`` file that names the label indices of a mask file."""
    return mask_path.with_suffix(".labels.json")


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``univlm encode-mask``.

    Args:
        argv: Arguments without the program name.

    Returns:
        0 on success, 1 on bad input (message on stderr).
    """
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    from univlm.codecs.masks import encode_mask

    args = _parser().parse_args(argv)
    prog = "univlm encode-mask"
    if args.grid < 1:
        print(f"{prog}: --grid must be >= 1, got {args.grid}", file=sys.stderr)
        return 1
    path = Path(args.mask)
    try:
        with Image.open(path) as img:
            if img.mode not in {"1", "L", "P", "I", "I;16", "I;16B", "I;16L"}:
                print(
                    f"{prog}: {path}: expected a single-channel label image (mode L, P, I or 1), got mode {img.mode}",
                    file=sys.stderr,
                )
                return 1
            mask = np.array(img)
    except (OSError, UnidentifiedImageError) as exc:
        print(f"{prog}: cannot read {path}: {exc}", file=sys.stderr)
        return 1
    mask = mask.astype(np.int64)
    if args.label is not None:
        labels = ["others", args.label]
        mask = (mask != 0).astype(np.int64)
    elif args.labels is not None:
        labels = [name.strip() for name in args.labels.split(",")]
    elif sidecar_path(path).is_file():
        try:
            labels = json.loads(sidecar_path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            print(f"{prog}: cannot read {sidecar_path(path)}: {exc}", file=sys.stderr)
            return 1
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            print(f"{prog}: {sidecar_path(path)}: expected a JSON list of label names", file=sys.stderr)
            return 1
    else:
        print(
            f"{prog}: name the labels with --label NAME or --labels others,NAME,... "
            f"(no {sidecar_path(path).name} next to the mask)",
            file=sys.stderr,
        )
        return 1
    try:
        text = encode_mask(mask, labels, grid=args.grid, wrap=not args.no_wrap)
    except ValueError as exc:
        print(f"{prog}: {path}: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
