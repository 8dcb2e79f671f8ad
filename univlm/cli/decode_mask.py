"""``univlm decode-mask ANSWER.txt``: turn a model answer into mask files and an optional overlay.

Every ``<seg>`` block (or bare group of mask rows) becomes one mask. With ``-o mask.png`` a single
mask is written to ``mask.png``; several masks go to ``mask_0.png``, ``mask_1.png``, ... PNG and
npy outputs hold label indices and get a ``<name>.labels.json`` sidecar (index -> label name) so
multi-class masks keep their names.

Design choices:

- Only numpy, Pillow and :mod:`univlm.codecs` are imported, so the command starts in about the time
  ``import numpy, PIL`` takes (``benchmarks/bench_cli.py``); ``--overlay`` imports the overlay
  renderer, and what it needs, only when asked.
- Outputs are all-or-nothing: every file is first written to a temp file beside its destination,
  and only when all of them are written are they renamed into place (``os.replace``). A failure
  leaves no new file behind.
- Hostile answers are bounded (``--max-masks``, ``--max-grid``, ``--max-pixels``, ``--max-files``,
  defaults in :mod:`univlm.codecs.limits`); invalid UTF-8 is refused with its line and byte.
- Outputs are planned as :class:`OutputFile` lists by small producers (:func:`mask_outputs`,
  :func:`overlay_outputs`) and written by :func:`write_all`: another producer (e.g. georeferenced
  rasters or vectors from a reference image) only has to return more :class:`OutputFile` items.
- Exit codes follow docs/CLI.md: 0 ok, 1 the work failed (no mask, strict decoding failed, a write
  failed), 2 usage or input error; every error is one line ``univlm decode-mask: error: ...``.
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
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
from PIL import Image

from univlm.cli._common import CommandParser, UsageError
from univlm.codecs import (
    DEFAULT_MAX_FILES,
    DEFAULT_MAX_MASKS,
    DEFAULT_MAX_PIXELS,
    MAX_GRID,
    DecodedMask,
    MaskDecodeError,
    decode_masks,
    upsample_grid,
)
from univlm.codecs.coco_rle import label_map_to_coco_rles

PROG = "univlm decode-mask"
FORMATS = ("png", "npy", "coco-json")
OVERLAY_ALPHA = 0.5


@dataclass(frozen=True)
class OutputFile:
    """One file to write: ``write`` fills an open binary file object."""

    path: Path
    write: Callable[[IO[bytes]], None]


def _size(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d{1,9})\s*[xX]\s*(\d{1,9})\s*", text)
    if m is None or int(m.group(1)) < 1 or int(m.group(2)) < 1:
        raise argparse.ArgumentTypeError(
            f"expected WxH with positive integers, e.g. 256x256, got {text!r:.40}"
        )
    return int(m.group(1)), int(m.group(2))


def _positive(text: str) -> int:
    if not re.fullmatch(r"\s*\d{1,12}\s*", text) or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r:.40}")
    return int(text)


def _parser() -> CommandParser:
    parser = CommandParser(
        prog=PROG, description="Decode the Text4Seg <seg> masks of a model answer into mask files."
    )
    parser.add_argument("answer", help="text file holding the model answer (UTF-8), or - for stdin")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--size", type=_size, metavar="WxH", help="output mask size, e.g. 256x256")
    where.add_argument("--like", metavar="IMAGE", help="use the size of this image")
    parser.add_argument("-o", "--out", help="output file; several masks get _0, _1, ... before the suffix")
    parser.add_argument("--output", dest="out", help=argparse.SUPPRESS)  # old spelling, kept one release
    parser.add_argument(
        "--format", choices=FORMATS, help="output format (default: from the -o suffix, else png)"
    )
    parser.add_argument(
        "--overlay", metavar="IMAGE", help="also write a coloured overlay of the mask on IMAGE"
    )
    parser.add_argument(
        "--overlay-out", metavar="PATH", help="overlay file (default: <out stem>_overlay.png or overlay.png)"
    )
    parser.add_argument("--grid", type=_positive, help="grid side G (inferred from the text by default)")
    parser.add_argument("--labels", help="known label set, comma-separated; other names decode as 'others'")
    parser.add_argument("--strict", action="store_true", help="fail on any defect instead of repairing it")
    parser.add_argument("--quiet", action="store_true", help="print nothing on success")
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON document")
    # Georeferencing (--like scene.tif, --vector): flags and code in univlm.geo.cli, rasterio imported lazily.
    from univlm.geo.cli import add_decode_arguments

    add_decode_arguments(parser)
    limits = parser.add_argument_group("limits (bounds on hostile input)")
    limits.add_argument(
        "--max-masks", type=_positive, default=DEFAULT_MAX_MASKS, help="masks decoded (%(default)s)"
    )
    limits.add_argument("--max-grid", type=_positive, default=MAX_GRID, help="grid side G (%(default)s)")
    limits.add_argument(
        "--max-pixels",
        type=_positive,
        default=DEFAULT_MAX_PIXELS,
        help="pixels per output mask (%(default)s)",
    )
    limits.add_argument(
        "--max-files", type=_positive, default=DEFAULT_MAX_FILES, help="files written (%(default)s)"
    )
    return parser


def _read_answer(name: str) -> str:
    """The answer text, strictly UTF-8; stdin for ``-``."""
    source = "<stdin>" if name == "-" else name
    try:
        if name == "-":
            stream = getattr(sys.stdin, "buffer", None)
            if stream is None:  # a text stream (tests, embedding) is already decoded
                return sys.stdin.read()
            data = stream.read()
        else:
            data = Path(name).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {source}: {exc.strerror or exc}") from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise UsageError(f"{source}: line {line}, byte {exc.start}: invalid UTF-8 ({exc.reason})") from exc


def _open_image(path: str, load: bool = True) -> Image.Image:
    """Open an image (Pillow's decompression-bomb check included); ``load=False`` reads the header only."""
    try:
        with Image.open(path) as img:
            if load:
                img.load()
            return img
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise UsageError(f"cannot read image {path}: {exc}") from exc


def _numbered(path: Path, index: int, count: int) -> Path:
    return path if count == 1 else path.with_name(f"{path.stem}_{index}{path.suffix}")


def _full(mask: DecodedMask, height: int, width: int, max_pixels: int | None) -> np.ndarray:
    """``(height, width)`` label indices in the smallest dtype that holds every label."""
    n = len(mask.labels)
    dtype = np.uint8 if n <= 1 << 8 else np.uint16 if n <= 1 << 16 else np.int32
    return upsample_grid(mask.indices.astype(dtype), height, width, max_pixels=max_pixels)  # (H, W)


def _json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def mask_outputs(
    masks: Sequence[DecodedMask], height: int, width: int, out: Path, fmt: str, max_pixels: int | None
) -> list[OutputFile]:
    """The mask files (and ``.labels.json`` sidecars) for ``masks`` at ``height x width``.

    Args:
        masks: Decoded masks.
        height: Output height in pixels.
        width: Output width in pixels.
        out: Output path; several masks get ``_0``, ``_1``, ... before the suffix.
        fmt: One of :data:`FORMATS`.
        max_pixels: Bound on one mask's pixels.

    Returns:
        The files to write; nothing is computed until they are written.
    """
    files: list[OutputFile] = []
    for i, mask in enumerate(masks):
        target = _numbered(out, i, len(masks))
        if fmt == "png":

            def write(handle: IO[bytes], mask: DecodedMask = mask) -> None:
                Image.fromarray(_full(mask, height, width, max_pixels)).save(handle, format="PNG")

        elif fmt == "npy":

            def write(handle: IO[bytes], mask: DecodedMask = mask) -> None:
                np.save(handle, _full(mask, height, width, max_pixels).astype(np.int32))

        else:

            def write(handle: IO[bytes], mask: DecodedMask = mask) -> None:
                rles = label_map_to_coco_rles(_full(mask, height, width, max_pixels))
                annotations = [{"label": mask.labels[k], "index": k, "rle": rle} for k, rle in rles.items()]
                document = {
                    "size": [height, width],
                    "grid_size": mask.grid_size,
                    "labels": mask.labels,
                    "annotations": annotations,
                    "repairs": [str(r) for r in mask.repairs],
                }
                handle.write(_json_bytes(document))

        files.append(OutputFile(target, write))
        if fmt != "coco-json":
            sidecar = _json_bytes(mask.labels)
            files.append(
                OutputFile(target.with_suffix(".labels.json"), lambda h, data=sidecar: h.write(data))
            )
    return files


def overlay_outputs(
    masks: Sequence[DecodedMask], base: Image.Image, paths: Sequence[Path], max_pixels: int | None
) -> list[OutputFile]:
    """One coloured overlay of each mask on ``base`` (the shared palette of ``univlm predict``)."""
    # Imported here on purpose: the renderer (and what it imports) is only needed with --overlay.
    from univlm.inference.overlay import render_overlay

    rgb = base.convert("RGB")
    files = []
    for mask, path in zip(masks, paths):

        def write(handle: IO[bytes], mask: DecodedMask = mask) -> None:
            full = _full(mask, rgb.height, rgb.width, max_pixels)
            picture = render_overlay(rgb, mask_arrays=[full], mask_labels=[mask.labels], alpha=OVERLAY_ALPHA)
            picture.save(handle, format="PNG")

        files.append(OutputFile(path, write))
    return files


def write_all(files: Sequence[OutputFile]) -> None:
    """Write every file to a temp file beside it, then rename them all into place.

    Raises:
        OSError: If a file cannot be written (the message says "none written": no destination was
            touched) or, rarely, renamed (the message says how many were already in place).
        Exception: Whatever a ``write`` callable raises, after the temp files are removed.
    """
    staged: list[tuple[str, Path]] = []
    try:
        for item in files:
            item.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=item.path.parent, prefix=f".{item.path.name}.", suffix=".tmp")
            staged.append((tmp, item.path))
            with os.fdopen(fd, "wb") as handle:
                item.write(handle)
    except OSError as exc:
        _discard(staged)
        raise OSError(exc.errno, f"{exc.strerror or exc}; none written", exc.filename) from exc
    except BaseException:
        _discard(staged)
        raise
    for k, (tmp, path) in enumerate(staged):
        try:
            os.replace(tmp, path)
        except OSError as exc:
            _discard(staged[k:])
            detail = f"{exc.strerror or exc}; {k} of {len(staged)} outputs were already in place"
            raise OSError(exc.errno, detail, str(path)) from exc


def _discard(staged: Sequence[tuple[str, Path]]) -> None:
    for tmp, _ in staged:
        Path(tmp).unlink(missing_ok=True)


def _summary(mask: DecodedMask, height: int, width: int) -> dict[str, Any]:
    return {
        "grid": mask.grid_size,
        "size": [height, width],
        "labels": mask.labels,
        "cells": mask.counts(),
        "repairs": [str(r) for r in mask.repairs],
    }


def _summary_line(name: str, mask: DecodedMask, height: int, width: int) -> str:
    cells = " ".join(f"{label}={count}" for label, count in mask.counts().items())
    g = mask.grid_size
    if mask.repairs:
        kinds = Counter(r.kind for r in mask.repairs)
        repairs = f"{len(mask.repairs)} ({', '.join(f'{k} x{n}' for k, n in kinds.items())})"
    else:
        repairs = "none"
    return f"{name}: grid {g}x{g} -> {width}x{height}, cells: {cells}, repairs: {repairs}"


def _format_for(args: argparse.Namespace) -> str:
    if args.format:
        return args.format
    suffix = Path(args.out).suffix.lower() if args.out else ""
    return {".npy": "npy", ".json": "coco-json"}.get(suffix, "png")


def _run(args: argparse.Namespace) -> int:
    from univlm.geo.cli import run_decode_georeference, wants_georeference

    text = _read_answer(args.answer)
    source = "<stdin>" if args.answer == "-" else args.answer
    overlay_base = _open_image(args.overlay) if args.overlay else None
    if args.size:
        width, height = args.size
    elif args.like and not wants_georeference(args):
        width, height = _open_image(args.like, load=False).size
    elif overlay_base is not None:
        width, height = overlay_base.size
    else:
        width = height = None
    labels = [x.strip() for x in args.labels.split(",")] if args.labels else None
    if args.grid is not None and args.grid > args.max_grid:
        raise UsageError(f"--grid {args.grid} exceeds --max-grid {args.max_grid}")
    try:
        masks = decode_masks(
            text,
            grid=args.grid,
            labels=labels,
            strict=args.strict,
            max_masks=args.max_masks,
            max_grid=args.max_grid,
        )
    except MaskDecodeError as exc:
        print(f"{PROG}: error: {source}: strict decoding failed: {exc}", file=sys.stderr)
        return 1
    if not masks:
        print(
            f"{PROG}: error: {source}: no mask found (expected a <seg>...</seg> block or rows like 'others *24')",
            file=sys.stderr,
        )
        return 1
    if wants_georeference(args):  # the mask takes the GeoTIFF's grid, CRS and transform
        return run_decode_georeference(args, PROG, masks)
    sizes = [(height or m.grid_size, width or m.grid_size) for m in masks]
    for h, w in sizes:
        if h * w > args.max_pixels:
            raise UsageError(
                f"output of {w}x{h} (WxH) = {h * w} pixels exceeds --max-pixels {args.max_pixels}"
            )
    files: list[OutputFile] = []
    out = Path(args.out) if args.out else None
    names = [str(_numbered(out, i, len(masks))) if out else f"mask {i}" for i in range(len(masks))]
    if out is not None:
        fmt = _format_for(args)
        for i, mask in enumerate(masks):
            h, w = sizes[i]
            files += mask_outputs([mask], h, w, Path(names[i]), fmt, args.max_pixels)
    if overlay_base is not None:
        if args.overlay_out:
            stem = Path(args.overlay_out)
        elif out is not None:
            stem = out.with_name(f"{out.stem}_overlay.png")
        else:
            stem = Path("overlay.png")
        overlay_paths = [_numbered(stem, i, len(masks)) for i in range(len(masks))]
        files += overlay_outputs(masks, overlay_base, overlay_paths, args.max_pixels)
    if len(files) > args.max_files:
        raise UsageError(
            f"{len(masks)} masks would write {len(files)} files, more than --max-files {args.max_files}"
        )
    paths = [f.path.resolve() for f in files]
    if len(set(paths)) != len(paths):
        raise UsageError(
            "two outputs would be written to the same path; choose different -o and --overlay-out"
        )
    folders = [f.path for f in files if f.path.is_dir()]
    if folders:
        raise UsageError(
            f"output {folders[0]} is a folder; give a file name such as {folders[0] / 'mask.png'}"
        )
    try:
        write_all(files)
    except (OSError, ValueError) as exc:  # ValueError includes LimitExceeded
        print(f"{PROG}: error: cannot write outputs: {exc}", file=sys.stderr)
        return 1
    if args.json:
        report = {"source": source, "masks": [], "files": [str(f.path) for f in files]}
        report["masks"] = [{"name": n, **_summary(m, h, w)} for n, m, (h, w) in zip(names, masks, sizes)]
        print(json.dumps(report, ensure_ascii=False))
    elif not args.quiet:
        for name, mask, (h, w) in zip(names, masks, sizes):
            print(_summary_line(name, mask, h, w))
        if overlay_base is not None:
            for name, path in zip(names, overlay_paths):
                print(f"{name}: overlay written to {path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``univlm decode-mask``.

    Args:
        argv: Arguments without the program name.

    Returns:
        0 on success; 1 when the text holds no mask, strict decoding fails or an output cannot be
        written; 2 on a usage or input error (bad flag, unreadable file, invalid UTF-8, a limit).
    """
    try:
        return _run(_parser().parse_args(argv))
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help
        return int(exc.code or 0)


if __name__ == "__main__":
    raise SystemExit(main())
