"""``univlm decode-mask ANSWER.txt``: turn a model answer into mask files and an optional overlay.

Every ``<seg>`` block (or bare group of mask rows) becomes one mask. With ``-o mask.png`` a single
mask is written to ``mask.png``; several masks go to ``mask_0.png``, ``mask_1.png``, ... PNG and
npy outputs hold label indices and get a ``<name>.labels.json`` sidecar (index -> label name) so
multi-class masks keep their names. All files are written atomically (temp file + ``os.replace``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

PROG = "univlm decode-mask"
FORMATS = ("png", "npy", "coco-json")
OVERLAY_ALPHA = 0.5


def _size(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if m is None or int(m.group(1)) < 1 or int(m.group(2)) < 1:
        raise argparse.ArgumentTypeError(f"expected WxH with positive integers, e.g. 256x256, got {text!r}")
    return int(m.group(1)), int(m.group(2))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Decode the Text4Seg <seg> masks of a model answer into mask files."
    )
    parser.add_argument("answer", help="text file holding the model answer, or - for stdin")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--size", type=_size, metavar="WxH", help="output mask size, e.g. 256x256")
    where.add_argument("--like", metavar="IMAGE", help="use the size of this image")
    parser.add_argument("-o", "--output", help="output file; several masks get _0, _1, ... before the suffix")
    parser.add_argument(
        "--format", choices=FORMATS, help="output format (default: from the -o suffix, else png)"
    )
    parser.add_argument("--overlay", metavar="IMAGE", help="also write a coloured overlay of the mask on IMAGE")
    parser.add_argument(
        "--overlay-out", metavar="PATH", help="overlay file (default: <output stem>_overlay.png or overlay.png)"
    )
    parser.add_argument("--grid", type=int, help="grid side G (inferred from the text by default)")
    parser.add_argument("--labels", help="known label set, comma-separated; other names decode as 'others'")
    parser.add_argument("--strict", action="store_true", help="fail on any defect instead of repairing it")
    return parser


def _atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write through ``write(fileobj)`` to a temp file beside ``path``, then rename over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _write_json(path: Path, obj: Any) -> None:
    data = (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    _atomic_write(path, lambda handle: handle.write(data))


def _numbered(path: Path, index: int, count: int) -> Path:
    return path if count == 1 else path.with_name(f"{path.stem}_{index}{path.suffix}")


def _format_for(args: argparse.Namespace) -> str:
    if args.format:
        return args.format
    suffix = Path(args.output).suffix.lower() if args.output else ""
    return {".npy": "npy", ".json": "coco-json"}.get(suffix, "png")


def _summary(name: str, mask: Any, height: int, width: int) -> str:
    cells = " ".join(f"{label}={count}" for label, count in mask.counts().items())
    g = mask.grid_size
    if mask.repairs:
        kinds = Counter(r.kind for r in mask.repairs)
        repairs = f"{len(mask.repairs)} ({', '.join(f'{k} x{n}' for k, n in kinds.items())})"
    else:
        repairs = "none"
    return f"{name}: grid {g}x{g} -> {width}x{height}, cells: {cells}, repairs: {repairs}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``univlm decode-mask``.

    Args:
        argv: Arguments without the program name.

    Returns:
        0 on success; 1 when the text holds no mask, strict decoding fails or a file cannot be read.
    """
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    from univlm.codecs.masks import MaskDecodeError, decode_masks, mask_to_coco_rle

    args = _parser().parse_args(argv)
    if args.grid is not None and args.grid < 1:
        print(f"{PROG}: --grid must be >= 1, got {args.grid}", file=sys.stderr)
        return 1
    source = "<stdin>" if args.answer == "-" else args.answer
    try:
        if args.answer == "-":
            text = sys.stdin.read()
        else:
            text = Path(args.answer).read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        print(f"{PROG}: cannot read {source}: {exc}", file=sys.stderr)
        return 1

    overlay_base = None
    try:
        if args.overlay:
            with Image.open(args.overlay) as img:
                overlay_base = img.convert("RGB")
        if args.size:
            width, height = args.size
        elif args.like:
            with Image.open(args.like) as img:
                width, height = img.size
        elif overlay_base is not None:
            width, height = overlay_base.size
        else:
            width = height = None
    except (OSError, UnidentifiedImageError) as exc:
        print(f"{PROG}: cannot read image: {exc}", file=sys.stderr)
        return 1

    labels = [x.strip() for x in args.labels.split(",")] if args.labels else None
    try:
        masks = decode_masks(text, grid=args.grid, labels=labels, strict=args.strict)
    except MaskDecodeError as exc:
        print(f"{PROG}: {source}: strict decoding failed: {exc}", file=sys.stderr)
        return 1
    if not masks:
        print(
            f"{PROG}: {source}: no mask found (expected a <seg>...</seg> block or rows like 'others *24')",
            file=sys.stderr,
        )
        return 1

    fmt = _format_for(args)
    out_path = Path(args.output) if args.output else None
    for i, mask in enumerate(masks):
        h = height if height is not None else mask.grid_size
        w = width if width is not None else mask.grid_size
        full = mask.upsample(h, w)  # (H, W) label indices
        name = f"mask {i}"
        if out_path is not None:
            target = _numbered(out_path, i, len(masks))
            name = str(target)
            if fmt == "png":
                dtype = np.uint8 if len(mask.labels) <= 256 else np.uint16
                image = Image.fromarray(full.astype(dtype))
                _atomic_write(target, lambda handle, image=image: image.save(handle, format="PNG"))
                _write_json(target.with_suffix(".labels.json"), mask.labels)
            elif fmt == "npy":
                array = full.astype(np.int32)
                _atomic_write(target, lambda handle, array=array: np.save(handle, array))
                _write_json(target.with_suffix(".labels.json"), mask.labels)
            else:
                _write_json(
                    target,
                    {
                        "size": [h, w],
                        "grid_size": mask.grid_size,
                        "labels": mask.labels,
                        "annotations": [
                            {"label": label, "index": k, "rle": mask_to_coco_rle(full == k)}
                            for k, label in enumerate(mask.labels)
                            if k > 0 and (full == k).any()
                        ],
                        "repairs": [str(r) for r in mask.repairs],
                    },
                )
        print(_summary(name, mask, h, w))
        if overlay_base is not None:
            # Imported here: the overlay module is only needed with --overlay.
            from univlm.inference.overlay import render_overlay

            picture = render_overlay(
                overlay_base,
                mask_arrays=[mask.upsample(overlay_base.height, overlay_base.width)],
                mask_labels=[mask.labels],
                alpha=OVERLAY_ALPHA,
            )
            if args.overlay_out:
                overlay_path = _numbered(Path(args.overlay_out), i, len(masks))
            elif out_path is not None:
                overlay_path = _numbered(out_path.with_name(f"{out_path.stem}_overlay.png"), i, len(masks))
            else:
                overlay_path = _numbered(Path("overlay.png"), i, len(masks))
            _atomic_write(overlay_path, lambda handle, picture=picture: picture.save(handle, format="PNG"))
            print(f"{name}: overlay written to {overlay_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
