"""univlm's grammar engine vs XGrammar's matcher on the same mask answers, per token and per jump-forward.

Usage (from the repository root)::

    python benchmarks/bench_grammar_engine.py --tokenizer ../shared/qwen2-tokenizer
    python benchmarks/bench_grammar_engine.py            # tiny in-process tokenizer

For a set of 24 x 24 mask answers (a few rectangles per mask, as in remote-sensing scenes) it walks
each answer's canonical tokens through both engines, side by side:

- ``mask``: per token, the allowed-token set (univlm: ``allowed_tokens``; XGrammar:
  ``fill_next_token_bitmask``) and the advance (``advance`` / ``accept_token``);
- ``jump``: at each genuine choice, the tokens forced after it (univlm: ``forced_tokens``;
  XGrammar: ``find_jump_forward_string`` and its tokenisation).

It prints microseconds per token and per choice, the grammar compile time, and whether the two
engines agree: univlm's allowed set must lie inside XGrammar's (XGrammar also allows non-canonical
tokenisations of the same text, so its sets are larger and its jump-forward strings must be
re-tokenised, which is why univlm keeps its own engine unless XGrammar is faster *and* identical).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from univlm.codecs import encode_grid  # noqa: E402
from univlm.inference.grammar_export import mask_ebnf, mask_labels  # noqa: E402
from univlm.inference.grammars import MaskGrammar  # noqa: E402

LABELS = ["building", "road", "water", "low vegetation"]


def masks(n: int, grid: int, seed: int = 0) -> list[np.ndarray]:
    """``n`` label grids with a few axis-aligned rectangles each."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        g = np.zeros((grid, grid), dtype=int)
        for _ in range(rng.integers(1, 5)):
            y, x = rng.integers(0, grid, 2)
            h, w = rng.integers(2, grid // 2, 2)
            g[y : y + h, x : x + w] = rng.integers(1, len(LABELS) + 1)
        out.append(g)
    return out


def allowed_ids(bitmask: torch.Tensor, vocab_size: int) -> np.ndarray:
    """Token ids an XGrammar bitmask (1, ceil(V / 32)) int32 allows (bit i of word j is token 32 j + i)."""
    bits = np.unpackbits(bitmask[0].numpy().view(np.uint8), bitorder="little")[:vocab_size]  # (V,)
    return np.flatnonzero(bits)


def main(argv=None) -> int:
    """Walk the answers through both engines and print the comparison."""
    import xgrammar as xgr

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokenizer", help="Qwen2 tokenizer directory (default: tiny in-process BPE)")
    parser.add_argument("--masks", type=int, default=20)
    parser.add_argument("--grid", type=int, default=24)
    args = parser.parse_args(argv)
    from transformers import AutoTokenizer

    from univlm.testing import build_tiny_qwen2_tokenizer

    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer) if args.tokenizer else build_tiny_qwen2_tokenizer()
    names = mask_labels(LABELS)
    texts = [encode_grid([[names[v] for v in row] for row in g.tolist()]) for g in masks(args.masks, args.grid)]

    start = time.perf_counter()
    ours = MaskGrammar(tokenizer, LABELS, args.grid, context="")
    ours_compile = time.perf_counter() - start
    info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=len(tokenizer))
    start = time.perf_counter()
    compiled = xgr.GrammarCompiler(info).compile_grammar(mask_ebnf(LABELS, args.grid))
    xg_compile = time.perf_counter() - start
    bitmask = xgr.allocate_token_bitmask(1, info.vocab_size)

    ours_tok, xg_tok, ours_jump, xg_jump = [], [], [], []
    subset, forced_same, choices_total, tokens_total = True, 0, 0, 0
    for text in texts:
        ids = tokenizer.encode(text, add_special_tokens=False)
        state = ours.new_state()
        matcher = xgr.GrammarMatcher(compiled, terminate_without_stop_token=True)
        i = 0
        while i < len(ids):
            tok = ids[i]
            t0 = time.perf_counter()
            allowed = state.allowed_tokens()
            state.advance(tok)
            t1 = time.perf_counter()
            matcher.fill_next_token_bitmask(bitmask)
            matcher.accept_token(tok)
            t2 = time.perf_counter()
            ours_tok.append(t1 - t0)
            xg_tok.append(t2 - t1)
            tokens_total += 1
            i += 1
            if len(allowed) > 1:  # a genuine choice: compare what each engine forces next
                choices_total += 1
                subset &= set(allowed) <= set(allowed_ids(bitmask, info.vocab_size).tolist())
                t3 = time.perf_counter()
                forced = state.forced_tokens()
                t4 = time.perf_counter()
                jump = matcher.find_jump_forward_string()
                jump_ids = tokenizer.encode(jump, add_special_tokens=False) if jump else []
                t5 = time.perf_counter()
                ours_jump.append(t4 - t3)
                xg_jump.append(t5 - t4)
                forced_same += jump_ids == forced
                for f in forced:  # keep the matcher in step with the tokens univlm forced
                    matcher.fill_next_token_bitmask(bitmask)
                    matcher.accept_token(f)
                i += len(forced)
        if not (state.complete and matcher.is_completed()):
            print("engines disagree on the end of an answer", file=sys.stderr)
            return 1
    us = 1e6
    print(f"{len(texts)} masks, {args.grid}x{args.grid}, {tokens_total} tokens, {choices_total} choices; vocab {len(tokenizer)}")
    print(f"compile: univlm {ours_compile * 1000:.1f} ms, XGrammar {xg_compile * 1000:.1f} ms")
    print(f"{'engine':<10}{'us/token (mask+advance)':>26}{'us/choice (jump-forward)':>28}")
    print(f"{'univlm':<10}{statistics.mean(ours_tok) * us:26.1f}{statistics.mean(ours_jump) * us:28.1f}")
    print(f"{'XGrammar':<10}{statistics.mean(xg_tok) * us:26.1f}{statistics.mean(xg_jump) * us:28.1f}")
    print(
        f"univlm allowed sets inside XGrammar's: {subset}; jump-forward tokens identical at "
        f"{forced_same}/{choices_total} choices"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
