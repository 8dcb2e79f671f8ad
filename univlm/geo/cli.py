"""The GIS side of ``univlm predict`` and ``univlm decode-mask`` (flags, dispatch, output).

Kept apart from :mod:`univlm.cli.predict` so the CLI modules only gain a few lines, and importable
without the ``geo`` extra: rasterio, shapely and pyproj are imported inside the functions that
run a scene (lazily, with the ``pip install univlm[geo]`` hint when missing).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

DEFAULT_TILE = 1024
DEFAULT_OVERLAP = 128
DEFAULT_SKIP_NODATA = 0.95
DEFAULT_SIMPLIFY = 1.0
GEO_DESTS = ("bands", "stretch", "nodata", "tile", "overlap", "vector", "crs", "require_crs", "resume",
             "skip_nodata", "simplify")
_GEOTIFF_SUFFIXES = (".tif", ".tiff", ".gtiff", ".vrt")


def _add(parser: argparse.ArgumentParser, *names: str, **kwargs: Any) -> None:
    """Add an option unless a flag of the same name already exists (another command part may own it)."""
    free = [n for n in names if n not in parser._option_string_actions]
    if free and len(free) == len(names):
        parser.add_argument(*names, **kwargs)


def add_scene_arguments(parser: argparse.ArgumentParser) -> None:
    """The GIS flags of ``univlm predict`` (all default to None so that giving one can be detected)."""
    group = parser.add_argument_group("GeoTIFF scenes (need: pip install univlm[geo])")
    group.add_argument("--bands", help="1-based bands as R,G,B (e.g. 3,2,1) or one band for grey")
    group.add_argument("--stretch", help="percentiles to stretch to 8 bits, e.g. 2,98 (default; 8-bit data: none)")
    group.add_argument("--nodata", type=float, help="nodata value (overrides the file's mask)")
    group.add_argument("--tile", type=int, help=f"tile side in pixels (default {DEFAULT_TILE})")
    group.add_argument("--overlap", type=int, help=f"overlap of neighbouring tiles (default {DEFAULT_OVERLAP})")
    group.add_argument(
        "--skip-nodata", type=float, metavar="SHARE",
        help=f"skip tiles whose core is more than this share nodata (default {DEFAULT_SKIP_NODATA})",
    )
    group.add_argument("--vector", metavar="PATH", help="write masks/boxes/answers as .geojson (EPSG:4326) or .gpkg")
    group.add_argument("--crs", help="CRS of the vector output instead of the default (e.g. EPSG:32633)")
    group.add_argument("--require-crs", action="store_true", default=None, help="refuse a raster without a CRS")
    group.add_argument("--resume", action="store_true", default=None, help="skip tiles already in the checkpoint")
    group.add_argument("--simplify", type=float, help=f"polygon simplification in pixels (default {DEFAULT_SIMPLIFY})")
    group.add_argument("--batch-size", type=int, default=4, help="tiles per model batch (default 4)")
    _add(group, "-o", "--out", metavar="PATH", help="label GeoTIFF (mask.tif) for a [SEG] prompt")
    _add(group, "--quiet", action="store_true", help="no progress bar")


def wants_scene(args: argparse.Namespace) -> bool:
    """Whether ``predict`` should run the tiled GeoTIFF path: a GeoTIFF input or any GIS flag."""
    if any(getattr(args, d, None) not in (None, False) for d in GEO_DESTS):
        return True
    out = getattr(args, "out", None)
    if out and str(out).lower().endswith(_GEOTIFF_SUFFIXES):
        return True
    return any(str(p).lower().endswith(_GEOTIFF_SUFFIXES) for p in getattr(args, "images", []))


def _fail(prog: str, message: str, code: int = 2) -> int:
    print(f"{prog}: error: {message}", file=sys.stderr)
    return code


def _parse_options(args: argparse.Namespace) -> dict[str, Any]:
    from univlm.geo.raster import parse_bands, parse_stretch

    options: dict[str, Any] = {}
    if args.bands:
        options["bands"] = parse_bands(args.bands)
    if args.stretch:
        options["stretch"] = parse_stretch(args.stretch)
    if args.nodata is not None:
        options["nodata"] = args.nodata
    if args.skip_nodata is not None:
        options["skip_nodata"] = args.skip_nodata
    return options


def checkpoint_path(args: argparse.Namespace) -> Path | None:
    """``<first output>.tiles.jsonl``: where finished tiles are recorded for ``--resume``."""
    first = getattr(args, "out", None) or args.vector
    return Path(f"{first}.tiles.jsonl") if first else None


def run_predict_scene(args: argparse.Namespace, prog: str, load_predictor: Callable[[argparse.Namespace], Any],
                      generation: dict[str, Any]) -> int:
    """Run ``univlm predict`` on a GeoTIFF scene.

    Args:
        args: Parsed ``predict`` arguments (with :func:`add_scene_arguments`).
        prog: Program name for messages.
        load_predictor: Builds the predictor from ``args``.
        generation: Generation options for ``predict_batch``.

    Returns:
        0 on success, 1 when the model cannot be loaded or an output cannot be written, 2 on input errors.
    """
    from univlm.geo import GeoDependencyError, GeoInputError, require_geo

    if len(args.images) != 1:
        return _fail(prog, f"a GeoTIFF scene is predicted on its own; got {len(args.images)} inputs")
    path = args.images[0]
    if not os.path.isfile(path):
        return _fail(prog, f"raster not found: {path}")
    try:
        require_geo()
    except GeoDependencyError as exc:
        return _fail(prog, str(exc))
    out = getattr(args, "out", None)
    if out and not str(out).lower().endswith((".tif", ".tiff")):
        return _fail(prog, f"--out {out}: expected a .tif label raster")
    if args.vector and not str(args.vector).lower().endswith((".geojson", ".json", ".gpkg")):
        return _fail(prog, f"--vector {args.vector}: expected a .geojson or .gpkg file")
    if args.resume and not (out or args.vector):
        return _fail(prog, "--resume needs -o/--out or --vector (the checkpoint sits beside the output)")
    try:
        options = _parse_options(args)
    except ValueError as exc:
        return _fail(prog, str(exc))
    try:
        from pyproj import CRS
        from pyproj.exceptions import CRSError

        if args.crs:
            CRS.from_user_input(args.crs)
    except CRSError as exc:
        return _fail(prog, f"--crs {args.crs}: not a CRS ({str(exc).splitlines()[0]})")
    try:
        predictor = load_predictor(args)
    except (OSError, ValueError) as exc:
        return _fail(prog, f"cannot load model from {args.model}: {exc}", 1)
    from univlm.geo.run import predict_scene

    try:
        scene = predict_scene(
            predictor, path, args.prompt,
            tile=args.tile or DEFAULT_TILE, overlap=DEFAULT_OVERLAP if args.overlap is None else args.overlap,
            require_crs=bool(args.require_crs), checkpoint=checkpoint_path(args), resume=bool(args.resume),
            progress=not getattr(args, "quiet", False), batch_size=args.batch_size, **options, **generation,
        )
    except (GeoInputError, FileNotFoundError) as exc:
        return _fail(prog, str(exc))
    simplify = DEFAULT_SIMPLIFY if args.simplify is None else args.simplify
    written = []
    try:
        if out:
            if not scene.has_masks:
                return _fail(prog, f"--out {out}: no tile answered with a mask (a label raster needs a [SEG] prompt)", 1)
            written.append(str(scene.to_geotiff(out)))
        if args.vector:
            written.append(str(scene.write_vector(args.vector, crs=args.crs, simplify=simplify)))
    except (OSError, GeoInputError) as exc:
        return _fail(prog, str(exc), 1)
    for problem in scene.problems:
        print(f"problem: {problem}", file=sys.stderr)
    if getattr(args, "json", False):
        print(json.dumps(scene.to_dict(), indent=2))
    else:
        stats = scene.stats
        print(f"{path}: {scene.info.width}x{scene.info.height}, {stats['tiles']} tiles "
              f"({stats['tiles_predicted']} predicted, {stats['tiles_resumed']} resumed, "
              f"{stats['tiles_skipped']} skipped as nodata)")
        if scene.has_masks:
            print(f"labels: {', '.join(f'{k}={n}' for k, n in enumerate(scene.labels))}")
        for b in scene.boxes:
            print(f"box (scene pixels): [{', '.join(f'{v:.1f}' for v in b.box)}] {b.label} tiles {','.join(b.tile_ids)}")
        if not scene.has_masks and not scene.boxes:
            for t in scene.tiles:
                if t.result is not None:
                    print(f"{t.tile.id}: {t.result.answer}")
    for name in written:
        print(f"written: {name}", file=sys.stderr)
    return 0


def add_decode_arguments(parser: argparse.ArgumentParser) -> None:
    """The GIS flags of ``univlm decode-mask`` (``--vector``, ``--crs``, ``--require-crs``, ``--simplify``)."""
    parser.add_argument("--vector", metavar="PATH", help="also write the mask as .geojson / .gpkg (needs --like RASTER)")
    parser.add_argument("--crs", help="CRS of the vector output instead of the default")
    parser.add_argument("--require-crs", action="store_true", help="refuse a --like raster without a CRS")
    parser.add_argument("--simplify", type=float, default=DEFAULT_SIMPLIFY, help="polygon simplification in pixels")


def wants_georeference(args: argparse.Namespace) -> bool:
    """Whether ``decode-mask`` should georeference: ``--like`` names a GeoTIFF, or ``--vector`` is given."""
    like = getattr(args, "like", None)
    return bool(getattr(args, "vector", None)) or bool(like and str(like).lower().endswith(_GEOTIFF_SUFFIXES))


def run_decode_georeference(args: argparse.Namespace, prog: str, masks: list[Any]) -> int:
    """Write decoded masks onto the grid of ``--like RASTER``: ``-o mask.tif`` and/or ``--vector``.

    Returns:
        0 on success, 1 when a file cannot be written, 2 on input errors.
    """
    from univlm.geo import GeoDependencyError, GeoInputError, require_geo

    if not getattr(args, "like", None):
        return _fail(prog, "--vector needs --like RASTER (the GeoTIFF whose grid the mask covers)")
    try:
        require_geo()
    except GeoDependencyError as exc:
        return _fail(prog, str(exc))
    from univlm.geo.run import scene_from_masks

    output = getattr(args, "out", None) or getattr(args, "output", None)
    if output and not str(output).lower().endswith((".tif", ".tiff")):
        return _fail(prog, f"-o {output}: with --like RASTER the mask is written as a .tif label raster")
    try:
        scene = scene_from_masks(masks, args.like, require_crs=args.require_crs)
        if len(masks) > 1:
            print(f"{prog}: note: {len(masks)} masks in the answer; the first is georeferenced", file=sys.stderr)
        if output:
            print(f"written: {scene.to_geotiff(output)}")
        if args.vector:
            print(f"written: {scene.write_vector(args.vector, crs=args.crs, simplify=args.simplify)}")
    except (GeoInputError, FileNotFoundError, ValueError) as exc:
        return _fail(prog, str(exc))
    except OSError as exc:
        return _fail(prog, str(exc), 1)
    return 0
