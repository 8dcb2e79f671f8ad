"""Grammar-constrained mask decoding: forward passes vs tokens, and wall time vs free decoding.

Usage (from the repository root)::

    python benchmarks/bench_constrained.py                       # tiny tokenizer, tiny LM
    python benchmarks/bench_constrained.py --tokenizer ../shared/qwen2-tokenizer --hidden 256 --layers 8

For each mask text X (G = 24) it decodes X three ways with the same random Qwen2 LM, side by side:

- ``free``: plain decoding, one forward pass per token (what unconstrained generation of X costs);
- ``grammar``: the mask grammar, still one forward pass per token (the LogitsProcessor / HF path);
- ``jump-forward``: the mask grammar with forced tokens fed together, one pass per genuine choice.

The model is steered to X by a wrapper that runs the real forward pass and then overrides the
logits with X's next token, so all three produce exactly X and differ only in how they feed it.
Two mask sets are used: ``blobs`` (a few rectangles per mask, like remote-sensing scenes) and
``noisy`` (cells sampled at random, many short runs: the worst case for R-RLE).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from univlm.codecs.masks import encode_mask  # noqa: E402
from univlm.inference.decoding import constrained_decode  # noqa: E402
from univlm.inference.grammars import MaskGrammar  # noqa: E402
from univlm.models.compat import output_cache  # noqa: E402

LABELS = ["others", "building", "road", "bare land"]
PROMPT = (
    "<|im_start|>user\n[SEG] Please segment the building, the road and the bare land.<|im_end|>\n"
    "<|im_start|>assistant\n"
)


def blob_masks(count: int, grid: int, seed: int) -> list[np.ndarray]:
    """Masks of a few random rectangles of random classes on background."""
    rng = np.random.default_rng(seed)
    masks = []
    for _ in range(count):
        mask = np.zeros((grid, grid), dtype=np.int64)
        for _ in range(rng.integers(2, 6)):
            y, x = rng.integers(0, grid, size=2)
            h, w = rng.integers(2, grid // 2, size=2)
            mask[y : y + h, x : x + w] = rng.integers(1, len(LABELS))
        masks.append(mask)
    return masks


def noisy_masks(count: int, grid: int, seed: int) -> list[np.ndarray]:
    """Masks whose cells are drawn independently (many runs per row)."""
    rng = np.random.default_rng(seed)
    return [rng.integers(0, len(LABELS), size=(grid, grid)) for _ in range(count)]


class Steered:
    """Runs the real model, then makes the next token of ``target`` the only finite logit."""

    def __init__(self, model, prompt_len: int, target: list[int]) -> None:
        self.model, self.prompt_len, self.target = model, prompt_len, target

    def __call__(self, input_ids, **kwargs):
        out = self.model(input_ids=input_ids, **kwargs)
        seen = output_cache(out).get_seq_length() - self.prompt_len
        if seen < len(self.target):
            logits = out.logits.clone()
            logits[0, -1] = float("-inf")
            logits[0, -1, self.target[seen]] = 0.0
            out.logits = logits
        return out


def run(model, tokenizer, grammar, prompt_ids, text: str, repeats: int) -> dict[str, float]:
    """Decode ``text`` three ways; return tokens, passes and best-of-``repeats`` seconds per way."""
    target = tokenizer(text, add_special_tokens=False)["input_ids"]
    if not grammar.accepts(target):
        raise SystemExit(
            f"the grammar rejects the encoded mask {text[:60]!r}...; tokenizer and codec disagree"
        )
    eos = tokenizer.eos_token_id
    steered = Steered(model, prompt_ids.shape[1], target + [eos])
    row: dict[str, float] = {"tokens": len(target)}
    modes = {
        "free": {"grammar": None},
        "grammar": {"grammar": grammar, "jump_forward": False},
        "jump": {"grammar": grammar, "jump_forward": True},
    }
    for name, kwargs in modes.items():
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            out = constrained_decode(
                steered, prompt_ids, max_new_tokens=len(target) + 1, eos_token_id=eos, **kwargs
            )
            best = min(best, time.perf_counter() - start)
        if out.token_ids != target:
            raise SystemExit(f"mode {name} produced different tokens; the benchmark is broken")
        row[f"{name}_passes"] = out.forward_passes
        row[f"{name}_s"] = best
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tokenizer", help="tokenizer directory (default: univlm's tiny in-process tokenizer)"
    )
    parser.add_argument("--grid", type=int, default=24)
    parser.add_argument("--masks", type=int, default=6, help="masks per set")
    parser.add_argument("--hidden", type=int, default=128, help="LM hidden size (Qwen2-0.5B: 896)")
    parser.add_argument("--layers", type=int, default=4, help="LM layers (Qwen2-0.5B: 24)")
    parser.add_argument("--repeats", type=int, default=2, help="timing repeats (best is kept)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--sets", default="blobs,noisy", help="mask sets to run: blobs, noisy or both")
    args = parser.parse_args()

    import torch
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    from univlm.testing import build_tiny_qwen2_tokenizer

    torch.set_num_threads(args.threads)
    tokenizer = (
        AutoTokenizer.from_pretrained(args.tokenizer) if args.tokenizer else build_tiny_qwen2_tokenizer()
    )
    torch.manual_seed(0)
    heads = max(2, args.hidden // 64)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=args.hidden,
        intermediate_size=args.hidden * 4,
        num_hidden_layers=args.layers,
        num_attention_heads=heads,
        num_key_value_heads=max(1, heads // 2),
        max_position_embeddings=8192,
    )
    model = Qwen2ForCausalLM(config).eval()
    grammar = MaskGrammar(tokenizer, LABELS[1:], grid=args.grid)
    prompt_ids = torch.tensor([tokenizer(PROMPT)["input_ids"]])
    print(
        f"tokenizer: {args.tokenizer or 'tiny in-process'} ({len(tokenizer)} tokens); "
        f"LM: {args.layers} layers x "
        f"{args.hidden} hidden, {sum(p.numel() for p in model.parameters()) / 1e6:.1f}M params; "
        f"G = {args.grid}; {args.threads} thread(s); best of {args.repeats}"
    )
    header = (
        f"{'set':<6} {'tokens/mask':>11} {'passes: free':>12} {'grammar':>8} {'jump-fwd':>8} "
        f"{'tokens/pass':>11} {'ms: free':>9} {'grammar':>8} {'jump-fwd':>8} {'speed-up':>8}"
    )
    print(header)
    makers = {"blobs": blob_masks, "noisy": noisy_masks}
    for name in args.sets.split(","):
        masks = makers[name](args.masks, args.grid, 1)
        rows = [
            run(model, tokenizer, grammar, prompt_ids, encode_mask(m, LABELS, grid=args.grid), args.repeats)
            for m in masks
        ]

        def mean(key: str, rows=rows) -> float:
            return statistics.mean(r[key] for r in rows)

        print(
            f"{name:<6} {mean('tokens'):>11.1f} {mean('free_passes'):>12.1f} {mean('grammar_passes'):>8.1f} "
            f"{mean('jump_passes'):>8.1f} {mean('tokens') / mean('jump_passes'):>11.2f} "
            f"{1e3 * mean('free_s'):>9.1f} {1e3 * mean('grammar_s'):>8.1f} {1e3 * mean('jump_s'):>8.1f} "
            f"{mean('free_s') / mean('jump_s'):>7.2f}x"
        )
    print("speed-up = free wall time / jump-forward wall time for the same text (same model, same run).")


if __name__ == "__main__":
    main()
