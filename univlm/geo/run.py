"""Tiled inference over a scene: ``predict_scene``, its resumable checkpoint, and ``scene_from_masks``.

The scene's tiles are read one batch ahead in a worker thread while the model answers the previous
batch (:meth:`univlm.inference.Predictor.predict_batch`, so a batch never mixes experts); each
finished tile is appended to a JSON-lines checkpoint so ``--resume`` skips it. The answers are
collected into a :class:`univlm.geo.scene.SceneResult`, which stitches and writes them.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import queue
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from univlm.geo import GEO_HINT, GeoDependencyError, GeoInputError
from univlm.geo.raster import SceneInfo, TileReader, gdal_env, open_raster, open_scene
from univlm.geo.scene import (
    CHECKPOINT_VERSION,
    DEFAULT_OVERLAP,
    DEFAULT_SKIP_NODATA,
    DEFAULT_TILE,
    SceneResult,
    TileResult,
)
from univlm.geo.stitch import DEFAULT_IOS_THRESHOLD
from univlm.geo.tiling import Tile, plan_tiles

try:
    import rasterio
except ImportError as err:  # the optional extra is missing: say which one to install
    raise GeoDependencyError(f"{GEO_HINT} ({err})") from err

logger = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------- checkpoint


def _fingerprint(info: SceneInfo, prompt: str, tile: int, overlap: int) -> dict[str, Any]:
    return {"version": CHECKPOINT_VERSION, "path": os.path.abspath(info.path), "size": [info.width, info.height],
            "bands": list(info.bands), "stretch": info.stretch.to_dict(), "prompt": prompt, "tile": tile,
            "overlap": overlap}


def _load_checkpoint(path: Path, fingerprint: dict[str, Any]) -> tuple[dict[str, dict[str, Any]], int]:
    """Entries by tile id, and the number of unreadable (torn) lines ignored."""
    entries: dict[str, dict[str, Any]] = {}
    torn = 0
    with open(path, encoding="utf-8") as handle:
        first = handle.readline()
        try:
            head = json.loads(first)
        except json.JSONDecodeError:
            raise GeoInputError(f"{path}: not a univlm scene checkpoint (line 1 is not JSON)") from None
        if head.get("fingerprint") != fingerprint:
            raise GeoInputError(
                f"{path}: the checkpoint belongs to another scene or other options; delete it or drop --resume"
            )
        for line in handle:
            try:
                entry = json.loads(line)
                entries[entry["tile"]] = entry
            except (json.JSONDecodeError, KeyError, TypeError):
                torn += 1  # an interrupted write leaves at most one torn line; that tile runs again
    return entries, torn


def _entry(t: TileResult) -> dict[str, Any]:
    r = t.result
    return {
        "tile": t.tile.id,
        "skipped": r is None,
        "valid_fraction": t.valid_fraction,
        "valid_bits": None if t.valid_bits is None else base64.b64encode(t.valid_bits.tobytes()).decode("ascii"),
        "text": None if r is None else r.text,
        "task": None if r is None else r.task,
        "expert": None if r is None else r.expert,
        "expert_id": None if r is None else r.expert_id,
        "labels": None if r is None else r.labels,
        "problems": [] if r is None else list(r.problems),
    }


def _from_entry(tile: Tile, entry: dict[str, Any], prompt: str) -> TileResult:
    from univlm.inference.result import Result, parse_answer

    bits = entry.get("valid_bits")
    valid_bits = None if bits is None else np.frombuffer(base64.b64decode(bits), dtype=np.uint8)
    result = None
    if not entry.get("skipped"):
        parsed = parse_answer(entry["text"], task=entry.get("task"), image_size=(tile.width, tile.height),
                              labels=entry.get("labels"))
        parsed["problems"] = list(entry.get("problems", []))
        parsed["mask_arrays"] = []
        result = Result(text=entry["text"], prompt=prompt, task=entry.get("task"), expert=entry.get("expert"),
                        expert_id=entry.get("expert_id"), image_size=(tile.width, tile.height),
                        labels=entry.get("labels"), **parsed)
    return TileResult(tile, result, float(entry.get("valid_fraction", 1.0)), valid_bits, resumed=True)


# ---------------------------------------------------------------------------------------- inference


def predict_scene(
    predictor: Any,
    path: str | os.PathLike[str],
    prompt: str,
    *,
    tile: int = DEFAULT_TILE,
    overlap: int = DEFAULT_OVERLAP,
    bands: Sequence[int] | None = None,
    stretch: tuple[float, float] | None | str = "auto",
    nodata: float | None = None,
    skip_nodata: float = DEFAULT_SKIP_NODATA,
    batch_size: int = 4,
    require_crs: bool = False,
    checkpoint: str | os.PathLike[str] | None = None,
    resume: bool = False,
    progress: bool = False,
    ios_threshold: float = DEFAULT_IOS_THRESHOLD,
    **generate: Any,
) -> SceneResult:
    """Answer one prompt on every tile of a GeoTIFF and stitch the answers.

    Args:
        predictor: A :class:`~univlm.inference.Predictor` (anything with its ``predict_batch``).
        path: The GeoTIFF / COG.
        prompt: The prompt asked of every tile (``"[SEG] Please segment the building in this image."``).
        tile: Tile side in pixels.
        overlap: Pixels shared by neighbouring tiles.
        bands: 1-based bands (1 or 3); None picks 1,2,3 or 1.
        stretch: Percentiles ``(low, high)``, ``"auto"`` or None (see :func:`~univlm.geo.raster.open_scene`).
        nodata: Nodata value overriding the file's.
        skip_nodata: Skip a tile when more than this share of its core is nodata.
        batch_size: Tiles per ``predict_batch`` call.
        require_crs: Refuse a scene without a CRS.
        checkpoint: JSON-lines file recording finished tiles (for ``resume``).
        resume: Reuse the answers in ``checkpoint`` instead of predicting those tiles again.
        progress: Show a progress bar (tqdm, on stderr).
        ios_threshold: Intersection-over-smaller above which boxes merge.
        **generate: Generation options of ``predict_batch`` (``max_new_tokens``, ``temperature``, ...).

    Returns:
        The :class:`SceneResult`.

    Raises:
        FileNotFoundError: If the file does not exist.
        GeoInputError: See :func:`~univlm.geo.raster.open_scene`; also a foreign checkpoint, bad
            tiling options, or every tile skipped as nodata.
    """
    from tqdm.auto import tqdm

    start = time.perf_counter()
    info = open_scene(path, bands=bands, stretch=stretch, nodata=nodata, require_crs=require_crs)
    if not 0.0 <= skip_nodata <= 1.0:
        raise GeoInputError(f"{info.path}: the nodata skip threshold must be in 0..1, got {skip_nodata}")
    try:
        tiles = plan_tiles(info.width, info.height, tile, overlap)
    except ValueError as exc:
        raise GeoInputError(f"{info.path}: {exc}") from None
    fingerprint = _fingerprint(info, prompt, tile, overlap)
    done: dict[str, dict[str, Any]] = {}
    ckpt_path = Path(checkpoint) if checkpoint is not None else None
    problems: list[str] = []
    if not info.has_crs:
        problems.append(f"{info.path}: the raster has no CRS; geometry is in pixel coordinates")
    if resume and ckpt_path is not None and ckpt_path.exists():
        done, torn = _load_checkpoint(ckpt_path, fingerprint)
        if torn:
            problems.append(f"{ckpt_path}: {torn} unreadable checkpoint line(s) ignored; those tiles ran again")
    ckpt = None
    if ckpt_path is not None:
        ckpt_path.parent.mkdir(parents=True, exist_ok=True)
        if done:
            ckpt = open(ckpt_path, "a+", encoding="utf-8")  # noqa: SIM115 (closed in the finally below)
            ckpt.seek(0, os.SEEK_END)
            if ckpt.tell() > 0:
                ckpt.seek(ckpt.tell() - 1)
                if ckpt.read(1) != "\n":
                    ckpt.write("\n")  # end a torn last line, so the next entry starts on its own line
        else:
            ckpt = open(ckpt_path, "w", encoding="utf-8")  # noqa: SIM115
            ckpt.write(json.dumps({"fingerprint": fingerprint}) + "\n")
            ckpt.flush()
    out: dict[int, TileResult] = {}
    pending: list[tuple[TileResult, np.ndarray]] = []
    model_seconds = 0.0

    def flush() -> None:
        nonlocal model_seconds
        if not pending:
            return
        t0 = time.perf_counter()
        results = predictor.predict_batch([(rgb, prompt) for _, rgb in pending], batch_size=batch_size, **generate)
        model_seconds += time.perf_counter() - t0
        for (tr, _), result in zip(pending, results, strict=True):
            result.mask_arrays = []  # rebuilt from the grid on demand; a full array per tile would not scale
            tr.result = result
            out[tr.tile.index] = tr
            if ckpt is not None:
                ckpt.write(json.dumps(_entry(tr)) + "\n")
        if ckpt is not None:
            ckpt.flush()
        pending.clear()

    counts = {"masks_read": 0, "tiles_read": 0}
    stop = threading.Event()
    ahead: queue.Queue = queue.Queue(maxsize=max(1, batch_size))

    def put(item: tuple[str, Any, Any]) -> bool:
        while not stop.is_set():
            try:
                ahead.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        """Read, check and stretch tiles ahead of the model, in a worker thread (GDAL releases the GIL)."""
        try:
            with gdal_env(), TileReader(info) as reader:
                for t in tiles:
                    if t.id in done:
                        item = ("resumed", t, None)
                    else:
                        valid, data = reader.valid(t.x, t.y, t.width, t.height)
                        x0, y0, x1, y1 = t.core
                        core = valid[y0 - t.y : y1 - t.y, x0 - t.x : x1 - t.x]
                        fraction = float(core.mean())
                        bits = None if fraction == 1.0 else np.packbits(core.ravel())
                        tr = TileResult(t, None, fraction, bits)
                        if fraction == 0.0 or 1.0 - fraction > skip_nodata:
                            item = ("skipped", tr, None)
                        else:
                            item = ("tile", tr, reader.rgb(t.x, t.y, t.width, t.height, valid, data))
                    if not put(item):
                        return
                counts.update(masks_read=reader.masks_read, tiles_read=reader.tiles_read)
            put(("end", None, None))
        except Exception as exc:  # noqa: BLE001 (handed to the main thread, which raises it)
            put(("error", exc, None))

    worker = threading.Thread(target=produce, name="univlm-tile-reader", daemon=True)
    worker.start()
    bar = tqdm(total=len(tiles), desc="tiles", unit="tile", disable=not progress, leave=False)
    try:
        while True:
            kind, item, rgb = ahead.get()
            if kind == "end":
                break
            if kind == "error":
                raise item
            bar.update(1)
            if kind == "resumed":
                out[item.index] = _from_entry(item, done[item.id], prompt)
            elif kind == "skipped":
                out[item.tile.index] = item
                if ckpt is not None:
                    ckpt.write(json.dumps(_entry(item)) + "\n")
            else:
                pending.append((item, rgb))
                if len(pending) >= batch_size:
                    flush()
        flush()
    finally:
        stop.set()
        worker.join()
        bar.close()
        if ckpt is not None:
            ckpt.close()
    masks_read, tiles_read = counts["masks_read"], counts["tiles_read"]
    ordered = [out[t.index] for t in tiles]
    skipped = sum(1 for t in ordered if t.skipped)
    if skipped == len(ordered):
        raise GeoInputError(
            f"{info.path}: every tile is more than {skip_nodata:.0%} nodata; nothing to predict "
            "(lower the skip threshold or check --nodata)"
        )
    if skipped:
        problems.append(f"{skipped} of {len(ordered)} tiles skipped as mostly nodata")
    scene = SceneResult(info, prompt, min(tile, max(info.width, info.height)), overlap, ordered, problems=problems)
    scene.stitch(ios_threshold)
    total = time.perf_counter() - start
    scene.stats.update(
        tiles=len(ordered), tiles_predicted=sum(1 for t in ordered if t.result is not None and not t.resumed),
        tiles_resumed=sum(1 for t in ordered if t.resumed), tiles_skipped=skipped, masks_read=masks_read,
        tiles_read=tiles_read, model_seconds=round(model_seconds, 4), seconds=round(total, 4),
        outside_model_share=round(1.0 - model_seconds / total, 4) if total > 0 else 0.0,
    )
    return scene


# ---------------------------------------------------------------------------------------- answers from elsewhere


def scene_from_masks(masks: Sequence[Any], like: str | os.PathLike[str], prompt: str = "",
                     require_crs: bool = False) -> SceneResult:
    """Georeference decoded masks (of an answer written elsewhere) onto the grid of a raster.

    The masks cover the whole raster, as if it had been one tile. Only the first mask is placed;
    ``univlm decode-mask --like scene.tif --out mask.tif --vector mask.geojson`` uses this.

    Args:
        masks: :class:`~univlm.codecs.masks.DecodedMask` objects (the first is used).
        like: The raster whose size, CRS and transform the mask takes.
        prompt: Recorded in the outputs.
        require_crs: Refuse a raster without a CRS.

    Returns:
        A one-tile :class:`SceneResult`.

    Raises:
        GeoInputError: If the raster cannot be used (see :func:`~univlm.geo.raster.open_scene`).
    """
    from univlm.inference.result import Result

    name = os.fspath(like)
    if not os.path.exists(name):
        raise FileNotFoundError(f"raster not found: {name}")
    try:
        with open_raster(name) as src:
            width, height, crs, transform = src.width, src.height, src.crs, src.transform
            dtype = src.dtypes[0]
    except rasterio.errors.RasterioIOError as exc:
        raise GeoInputError(f"{name}: cannot open as a raster: {str(exc).splitlines()[0]}") from None
    if crs is None:
        if require_crs:
            raise GeoInputError(f"{name}: the raster has no CRS (refused because of --require-crs)")
        logger.warning("%s: the raster has no CRS; geometry stays in pixel coordinates", name)
    from univlm.geo.raster import Stretch

    info = SceneInfo(name, width, height, 1, dtype, crs, transform, None, False, (1,), Stretch((0.0,), (255.0,), None), 0)
    tile = plan_tiles(width, height, max(width, height), 0)[0]
    result = Result(text="", prompt=prompt, task="SEG", image_size=(width, height), masks=list(masks[:1]))
    scene = SceneResult(info, prompt, max(width, height), 0, [TileResult(tile, result)])
    scene.stitch()
    return scene
