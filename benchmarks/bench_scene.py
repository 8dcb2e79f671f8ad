"""Tiled scene inference benchmark: tiles/s, peak memory against a one-tile run, time outside the model.

Usage (from the repository root; needs ``pip install univlm[geo]``)::

    python benchmarks/bench_scene.py                      # 4096^2 and 16384^2 scenes (~10-20 min on 2 cores)
    python benchmarks/bench_scene.py --sparse-data 0      # a dense 16384^2 scene (361 tiles: hours on a CPU)
    python benchmarks/bench_scene.py --sizes 4096         # one scene
    python benchmarks/bench_scene.py --quick              # 2048^2 only, grid 8: a smoke run

What it does:

- Builds synthetic 3-band uint16 GeoTIFFs (UTM, deflate, 256-pixel blocks, nodata margins and
  bright rectangular "buildings" on a smooth background) of each size; by default the 16384^2 one
  holds data only in a central 4096^2 square (the rest is sparse nodata, skipped tile by tile), so it
  measures the reading, skipping and memory of a 16k scene without hours of CPU inference. Plus a one-tile scene
  (``tile`` x ``tile``) as the memory peer, and a tiny random univlm checkpoint
  (``tests/inference/_tiny.py``; nothing is downloaded).
- Runs each scene in a FRESH child process, so peak RSS (``VmHWM``) is that run's own: load
  the model, ``predict_scene`` with a ``[SEG]`` prompt (tile 1024, overlap 128, batch 4), then
  write the label GeoTIFF and the GeoJSON. Time outside the model = everything except the
  ``predict_batch`` calls (reads, stretch, batching, stitching, raster writing, vectorising).
- Prints, side by side: tiles, tiles/s, seconds, share of time outside the model (goal < 10% with
  the tiny model), peak RSS and its ratio to the one-tile run (goal < 2x), and the peak above the
  RSS after loading the model (the scene's own memory).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROMPT = "[SEG] Please segment the building in this image."


def _rss_mb(field: str = "VmRSS") -> float:
    """Current (``VmRSS``) or peak (``VmHWM``) resident memory of this process in MB.

    ``VmHWM`` belongs to this process image; ``ru_maxrss`` would not do: Linux carries the parent's
    peak into a forked-and-exec'd child, so every child would report at least the scene builder's peak.
    """
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def make_scene(path: Path, size: int, seed: int = 0, data_side: int | None = None) -> Path:
    """A ``size`` x ``size`` 3-band uint16 scene, written block row by block row (never whole in memory).

    With ``data_side`` only a central ``data_side`` square holds data; the rest is never written
    (a sparse GeoTIFF reads as nodata), like a scene footprint inside a larger grid.
    """
    import rasterio
    from rasterio.transform import from_origin
    from rasterio.windows import Window

    profile = {"driver": "GTiff", "width": size, "height": size, "count": 3, "dtype": "uint16", "nodata": 0,
               "tiled": True, "blockxsize": 256, "blockysize": 256, "compress": "deflate", "BIGTIFF": "IF_SAFER",
               "crs": "EPSG:32633", "transform": from_origin(500000, 5000000, 0.5, 0.5)}
    rng = np.random.default_rng(seed)
    buildings = rng.integers(0, size - 80, size=(max(1, size * size // 60000), 2))
    rows = 1024
    lo, hi = (0, size) if data_side is None else ((size - data_side) // 2, (size + data_side) // 2)
    profile["SPARSE_OK"] = data_side is not None
    with rasterio.open(path, "w", **profile) as dst:
        for y0 in range(lo, hi, rows):
            h = min(rows, hi - y0)
            yy, xx = np.mgrid[y0 : y0 + h, 0:size]  # (h, W)
            base = (800 + 200 * np.sin(xx / 700.0) * np.cos(yy / 900.0)).astype(np.uint16)
            band = np.repeat(base[None], 3, axis=0)  # (3, h, W)
            for bx, by in buildings[(buildings[:, 1] > y0 - 80) & (buildings[:, 1] < y0 + h)]:
                top, bottom = max(by, y0) - y0, min(by + 60, y0 + h) - y0
                if bottom > top:
                    band[:, top:bottom, bx : bx + 80] = 3000
            band[:, :, : size // 64] = 0  # a nodata margin on the left
            band = band[:, :, lo:hi]  # (3, h, data width)
            dst.write(band, window=Window(lo, y0, hi - lo, h))
    return path


def child(args: argparse.Namespace) -> None:
    """One measured run in this (fresh) process; prints a JSON line."""
    import torch

    from univlm.inference import Predictor

    torch.set_num_threads(args.threads)
    predictor = Predictor.from_pretrained(args.model, grid=args.grid)
    after_load = _rss_mb()
    start = time.perf_counter()
    scene = predictor.predict_scene(args.scene, PROMPT, tile=args.tile, overlap=args.overlap,
                                    batch_size=args.batch_size)
    out = Path(args.out)
    scene.to_geotiff(out / "mask.tif")
    scene.write_vector(out / "mask.geojson")
    total = time.perf_counter() - start
    model = scene.stats["model_seconds"]
    print(json.dumps({
        "tiles": scene.stats["tiles"], "predicted": scene.stats["tiles_predicted"],
        "skipped": scene.stats["tiles_skipped"], "seconds": total, "model_seconds": model,
        "outside_share": (total - model) / total, "peak_rss_mb": _rss_mb("VmHWM"),
        "rss_after_load_mb": after_load,
    }))


def run(label: str, scene: Path, model: Path, work: Path, args: argparse.Namespace) -> dict:
    out = work / f"out_{label}"
    out.mkdir(exist_ok=True)
    command = [sys.executable, __file__, "--child", "--scene", str(scene), "--model", str(model), "--out", str(out),
               "--tile", str(args.tile), "--overlap", str(args.overlap), "--batch-size", str(args.batch_size),
               "--grid", str(args.grid), "--threads", str(args.threads)]
    done = subprocess.run(command, capture_output=True, text=True, check=False, env={**os.environ, "TQDM_DISABLE": "1"})
    if done.returncode != 0:
        raise SystemExit(f"{label}: child failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="4096,16384", help="scene sides, comma-separated")
    parser.add_argument("--tile", type=int, default=1024)
    parser.add_argument("--overlap", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--grid", type=int, default=24, help="mask grid G of the tiny model's answers")
    parser.add_argument("--threads", type=int, default=torch_threads_default())
    parser.add_argument("--quick", action="store_true", help="2048^2 only, grid 8")
    parser.add_argument(
        "--sparse-data", type=int, default=4096,
        help="scenes of 16384^2 and more hold data only in a central square of this side (0: dense)",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--scene", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    if args.quick:
        args.sizes, args.grid = "2048", 8
    from tests.inference._tiny import save_tiny_univlm

    with tempfile.TemporaryDirectory(prefix="bench_scene_") as tmp:
        work = Path(tmp)
        model = save_tiny_univlm(work / "tiny")
        sizes = [int(s) for s in args.sizes.split(",")]
        rows = []
        t0 = time.perf_counter()
        single = run("one-tile", make_scene(work / "one.tif", args.tile), model, work, args)
        rows.append((f"{args.tile}^2 (one tile)", single))
        for size in sizes:
            side = args.sparse_data if size >= 16384 and args.sparse_data else None
            scene = make_scene(work / f"s{size}.tif", size, data_side=side)
            name = f"{size}^2" + (f" ({side}^2 data)" if side else "")
            rows.append((name, run(str(size), scene, model, work, args)))
        print(f"bench_scene: tiny univlm, [SEG] grid {args.grid}, tile {args.tile}, overlap {args.overlap}, "
              f"batch {args.batch_size}, torch threads {args.threads}, load average {os.getloadavg()[0]:.1f}, "
              f"wall {time.perf_counter() - t0:.0f} s")
        print(f"{'scene':>22} {'tiles':>6} {'skip':>5} {'tiles/s':>8} {'seconds':>8} {'outside model':>14} "
              f"{'peak RSS MB':>12} {'vs one tile':>12} {'above load MB':>14}")
        for name, r in rows:
            print(f"{name:>22} {r['tiles']:>6} {r['skipped']:>5} {r['predicted'] / r['seconds']:>8.2f} "
                  f"{r['seconds']:>8.1f} {r['outside_share']:>13.1%} {r['peak_rss_mb']:>12.0f} "
                  f"{r['peak_rss_mb'] / single['peak_rss_mb']:>11.2f}x "
                  f"{r['peak_rss_mb'] - r['rss_after_load_mb']:>14.0f}")
        print("goals: outside model < 10%, peak RSS < 2x the one-tile run")


def torch_threads_default() -> int:
    """The machine's cores, capped at 2 (the CI box)."""
    return max(1, min(2, os.cpu_count() or 1))


if __name__ == "__main__":
    main()
