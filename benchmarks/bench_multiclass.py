"""K class masks about one image: one by one, shared prefix, and shared prefix + one decode batch.

Usage (from the repository root)::

    python benchmarks/bench_multiclass.py --tokenizer ../shared/qwen2-tokenizer     # real size, ~5 min
    python benchmarks/bench_multiclass.py --quick                                   # tiny tokenizer, 4 layers

The model is the real-size ``rsunivlm-0.5b`` preset (SigLIP at 384 px: 730 image tokens) with random
weights, upcycled to G-MoE, on the CPU in float32. It segments K classes of one image with 24 x 24
grammar-constrained masks (``Predictor.segment_classes``), three ways, side by side in one run:

- ``naive``: one ``predict`` call per class: each prompt prefills the image and decodes alone;
- ``prefix``: ``predict_many(batch_decode=False)``: the image prefix is prefilled once, each class
  then decodes alone from a copy of its cache;
- ``batched``: ``predict_many`` (the default): the prefix once, then the K continuations decode as
  one batch, one forward pass per step for all rows (``constrained_decode_batch``).

It prints wall time, forward passes and the speed-ups over ``naive`` (goal for ``batched``: >= 3x for
K = 6), and checks that all three produce identical answers. With random weights the answers are
whatever the grammar lets the model pick; the mean number of genuine choices per mask is printed so
the figures can be read against a trained model's (a trained model's masks have few runs per row).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_gmoe import _fill_random  # noqa: E402

from univlm.inference import Predictor  # noqa: E402
from univlm.models import UniVLMForConditionalGeneration, UniVLMProcessor, get_preset, upcycle_to_gmoe  # noqa: E402

CLASSES = ["building", "road", "water", "tree", "low vegetation", "car", "bare land", "cropland"]


def build(tokenizer_dir: str | None, quick: bool, seed: int = 0) -> Predictor:
    """A real-size (or, with ``quick``, 4-layer) random G-MoE model and its processor."""
    from transformers import AutoTokenizer
    from transformers.initialization import no_init_weights

    from tokenizer_ext import resize_embeddings_for
    from univlm.testing import build_tiny_qwen2_tokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir) if tokenizer_dir else build_tiny_qwen2_tokenizer()
    processor = UniVLMProcessor.from_tokenizer(tokenizer, image_size=384, patch_size=14)
    overrides = {"text_config": {"num_hidden_layers": 4}, "vision_config": {"num_hidden_layers": 4}} if quick else {}
    config = get_preset("rsunivlm-0.5b", **overrides)
    torch.manual_seed(seed)
    with no_init_weights():  # allocate only; filled below (a full random init is slow at this size)
        model = UniVLMForConditionalGeneration(config).eval()
    _fill_random(model, seed)
    model.tie_weights()
    resize_embeddings_for(model, tokenizer)
    upcycle_to_gmoe(model)
    return Predictor(model.eval(), processor, grid=24)


def main(argv=None) -> int:
    """Run the three ways and print times, passes, ratios and the output check."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokenizer", help="Qwen2 tokenizer directory (default: a tiny in-process BPE)")
    parser.add_argument("--classes", type=int, default=6, help="K, the number of classes (default 6)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--quick", action="store_true", help="4-layer towers: a smoke run in seconds")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if not 1 <= args.classes <= len(CLASSES):
        parser.error(f"--classes must be 1..{len(CLASSES)}")
    classes = CLASSES[: args.classes]

    t0 = time.perf_counter()
    predictor = build(args.tokenizer, args.quick)
    print(f"built model in {time.perf_counter() - t0:.1f}s; torch threads {torch.get_num_threads()}")
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (384, 384, 3), dtype=np.uint8)
    prompts = [f"[SEG] Please segment the {c} in this image." for c in classes]
    labels = [["others", c] for c in classes]

    runs = {
        "naive": lambda: [predictor.predict(image, p, labels=lab) for p, lab in zip(prompts, labels, strict=True)],
        "prefix": lambda: predictor.predict_many(image, prompts, labels=labels, batch_decode=False),
        "batched": lambda: predictor.predict_many(image, prompts, labels=labels),
    }
    # One untimed warm-up of the cheapest path, so allocator and kernel start-up is not charged to "naive".
    predictor.predict_many(image, prompts[:1], labels=labels[:1])
    seconds, outputs, passes = {}, {}, {}
    for name, run in runs.items():
        start = time.perf_counter()
        results = run()
        seconds[name] = time.perf_counter() - start
        outputs[name] = [r.text for r in results]
        if name == "batched":
            passes[name] = max(r.stats["forward_passes"] for r in results) + 1  # + the shared prefill
        elif name == "prefix":
            passes[name] = sum(r.stats["forward_passes"] for r in results) + 1
        else:
            passes[name] = sum(r.stats["forward_passes"] for r in results)
        choices = np.mean([r.stats.get("forward_passes", 0) for r in results])
        complete = sum(bool(r.stats.get("complete")) for r in results)
        print(f"{name:<8} {seconds[name]:8.2f} s  {passes[name]:5d} forward passes  ({complete}/{len(results)} complete masks)")
    image_tokens = (384 // 14) ** 2 + 1
    print(f"K = {len(classes)} classes, 24 x 24 masks, {image_tokens} image tokens, mean passes per mask {choices:.1f}")
    for name in ("prefix", "batched"):
        print(f"speed-up {name} / naive: {seconds['naive'] / seconds[name]:.2f}x (goal for batched: >= 3x)")
    same = outputs["naive"] == outputs["prefix"] == outputs["batched"]
    print(f"identical answers across the three ways: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
