"""Mask/box codec benchmark: throughput and Qwen2 token counts of R-RLE vs plain semantic descriptors.

Usage (from the repository root)::

    python benchmarks/bench_codec.py --tokenizer ../shared/qwen2-tokenizer

On a fixed, seeded set of label masks from 256x256 to 2048x2048 it prints

- encode throughput (full-res mask -> G x G -> text) and decode throughput (text -> grid ->
  full-res mask) in masks per second, per image size, at G = 24;
- mean tokens per mask at G = 16, 24 and 32 for the R-RLE form and the plain form (every cell
  written out, ``"others| others| ..."``), and the reduction R-RLE gives (Text4Seg reports ~74%).

Without ``--tokenizer`` the token table falls back to characters.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from univlm.codecs import decode_mask, encode_mask  # noqa: E402

SIZES = (256, 512, 1024, 2048)
LABELS = ["others", "building", "road", "low vegetation", "water"]


def make_masks(size: int, count: int, seed: int) -> list[np.ndarray]:
    """Seeded blob masks: a few rectangles and ellipses of random classes on background."""
    rng = np.random.default_rng(seed + size)
    yy, xx = np.mgrid[0:size, 0:size]
    masks = []
    for _ in range(count):
        mask = np.zeros((size, size), dtype=np.uint8)
        for _ in range(int(rng.integers(1, 6))):
            label = int(rng.integers(1, len(LABELS)))
            cy, cx = rng.integers(0, size, size=2)
            ry, rx = rng.integers(size // 16, size // 4, size=2)
            if rng.random() < 0.5:
                mask[max(0, cy - ry) : cy + ry, max(0, cx - rx) : cx + rx] = label
            else:
                mask[((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1] = label
        masks.append(mask)
    return masks


def _rate(fn, items: list, repeat: int) -> float:
    fn(items[0])  # warm-up (regex compilation, first allocation)
    start = time.perf_counter()
    for _ in range(repeat):
        for item in items:
            fn(item)
    return repeat * len(items) / (time.perf_counter() - start)


def throughput(masks: list[np.ndarray], grid: int, repeat: int) -> tuple[float, float, float]:
    """Masks per second: encode, decode to the grid, and decode + upsample to full resolution."""
    texts = [encode_mask(m, LABELS, grid=grid) for m in masks]
    enc = _rate(lambda m: encode_mask(m, LABELS, grid=grid), masks, repeat)
    dec = _rate(lambda t: decode_mask(t, grid=grid), texts, repeat)
    size = masks[0].shape
    full = _rate(lambda t: decode_mask(t, grid=grid).upsample(*size), texts, repeat)
    return enc, dec, full


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokenizer", help="directory of a Qwen2 tokenizer (AutoTokenizer.from_pretrained)")
    parser.add_argument("--per-size", type=int, default=8, help="masks per image size (default 8)")
    parser.add_argument("--repeat", type=int, default=3, help="timing repetitions (default 3)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    data = {size: make_masks(size, args.per_size, args.seed) for size in SIZES}
    print(f"masks: {args.per_size} per size, sizes {', '.join(f'{s}^2' for s in SIZES)}, seed {args.seed}")
    print("\nthroughput at G=24 (masks/s)")
    print(f"{'size':>10} {'encode':>10} {'decode':>10} {'decode+upsample':>16}")
    for size, masks in data.items():
        enc, dec, full = throughput(masks, 24, args.repeat)
        print(f"{f'{size}^2':>10} {enc:>10.1f} {dec:>10.1f} {full:>16.1f}")

    if args.tokenizer:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
        unit = "tokens"

        def length(text: str) -> int:
            return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    else:
        unit = "characters (no --tokenizer)"

        def length(text: str) -> int:
            return len(text)

    every = [m for masks in data.values() for m in masks]
    print(f"\nmean {unit} per mask over {len(every)} masks (text wrapped in <seg>...</seg>)")
    print(f"{'G':>4} {'R-RLE':>10} {'plain':>10} {'reduction':>10}")
    for grid in (16, 24, 32):
        rle = np.mean([length(encode_mask(m, LABELS, grid=grid)) for m in every])
        plain = np.mean([length(encode_mask(m, LABELS, grid=grid, rle=False)) for m in every])
        print(f"{grid:>4} {rle:>10.1f} {plain:>10.1f} {100 * (1 - rle / plain):>9.1f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
