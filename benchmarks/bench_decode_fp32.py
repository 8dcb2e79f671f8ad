"""fp32 decode at batch 1, interleaved: the layouts and attentions of univlm's CPU path, and their ceilings.

Usage (from the repository root)::

    python benchmarks/bench_decode_fp32.py                # real size, 800-token prompt, 1 thread: ~6 min
    python benchmarks/bench_decode_fp32.py --threads 2
    python benchmarks/bench_decode_fp32.py --quick        # 4 layers, 64-token prompt

``bench_decode.py`` times each path once after the other; on a shared VM whose speed drifts over
minutes that order alone can move a row by 20%. Here every contender is timed once per round, in
turn, for ``--rounds`` rounds, and the table gives each one's median and best. The contenders:

- ``matvec`` / ``matvec input-major``: one product per language-model weight matrix and the LM head,
  weights ``(out, in)`` through ``F.linear``, or ``(in, out)`` as ``x @ W_t``: the bare ceilings;
- ``stock fp32``: transformers' ``LlavaOnevisionForConditionalGeneration`` on the same weights;
- ``univlm as loaded``: the G-MoE model (one expert used), ``nn.Linear`` weights, stock ``sdpa``;
- ``univlm input-major``: after ``transpose_linear_weights``;
- ``univlm input-major + decode attention``: also ``univlm_decode_sdpa``: what
  ``Predictor.from_pretrained`` runs on a CPU in fp32.

Each model is prefilled once; every round then decodes ``--steps`` greedy tokens and crops its KV
cache back to the prompt, so rounds cost decode time only. Greedy tokens are compared with stock's.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_decode import lm_matrices  # noqa: E402
from bench_gmoe import build_models  # noqa: E402

from univlm.inference.acceleration import transpose_linear_weights  # noqa: E402
from univlm.inference.decode_attention import DECODE_SDPA, use_decode_attention  # noqa: E402
from univlm.models.compat import cache_kwarg, output_cache  # noqa: E402
from univlm.models.conversion import llava_onevision_inputs  # noqa: E402


class Decoder:
    """One model, prefilled once; :meth:`run` decodes ``steps`` tokens and crops the cache back."""

    def __init__(self, model, prefill: dict, extra: dict, attn: str | None = None) -> None:
        self.model, self.extra, self.attn = model, extra, attn
        self._use_attn()
        with torch.no_grad():
            out = model(**prefill, use_cache=True, logits_to_keep=1)
        self.cache, self.first = output_cache(out), out.logits[:, -1:].argmax(-1)
        self.prompt_len = prefill["input_ids"].shape[1]
        self.tokens: list[int] = []

    def _use_attn(self) -> None:
        if self.attn is not None and self.model.config._attn_implementation != self.attn:
            self.model.set_attn_implementation(self.attn)

    @torch.no_grad()
    def run(self, steps: int) -> float:
        """Seconds for ``steps`` decode steps."""
        self._use_attn()  # two contenders share one model and differ in attention only
        token, tokens = self.first, [int(self.first)]
        start = time.perf_counter()
        for _ in range(steps):
            out = self.model(input_ids=token, use_cache=True, logits_to_keep=1, **{cache_kwarg(): self.cache}, **self.extra)
            self.cache, token = output_cache(out), out.logits[:, -1:].argmax(-1)
            tokens.append(int(token))
        elapsed = time.perf_counter() - start
        self.cache.crop(-steps)  # back to the prompt: every round decodes the same positions
        self.tokens = tokens
        return elapsed


def matvec_s(mats: list[torch.Tensor], input_major: bool) -> float:
    """Seconds of one bare pass over ``mats`` (already stored in the layout named)."""
    start = time.perf_counter()
    for w in mats:
        if input_major:
            torch.ones(1, w.shape[0], dtype=w.dtype) @ w
        else:
            torch.nn.functional.linear(torch.ones(1, w.shape[1], dtype=w.dtype), w)
    return time.perf_counter() - start


def main(argv=None) -> int:
    """Run the rounds and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompt-tokens", type=int, default=800)
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="4-layer towers, 64-token prompt, 3 rounds")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.quick:
        args.prompt_tokens, args.steps, args.rounds = 64, 8, 3
    overrides = {"text_config": {"num_hidden_layers": 4}} if args.quick else {}
    gmoe, dense, stock = build_models(overrides=overrides)
    del dense
    _, major, _ = build_models(overrides=overrides)  # a second copy of the same seeded weights
    transpose_linear_weights(major)
    use_decode_attention(major)  # registers the implementation; each Decoder picks its own below
    ids = torch.randint(0, 151000, (1, args.prompt_tokens), generator=torch.Generator().manual_seed(0))
    routing = {"expert_ids": torch.tensor([1])}
    mats = lm_matrices(gmoe)
    mats_t = [w.t().contiguous() for w in mats]
    per_token = args.steps
    contenders = {
        "matvec (F.linear, out x in)": lambda: matvec_s(mats, False) * per_token,
        "matvec input-major (x @ W_t)": lambda: matvec_s(mats_t, True) * per_token,
    }
    decoders = {
        "stock fp32": Decoder(stock, llava_onevision_inputs({"input_ids": ids}), {}),
        "univlm as loaded": Decoder(gmoe, {"input_ids": ids, **routing}, routing),
        "univlm input-major": Decoder(major, {"input_ids": ids, **routing}, routing, attn="sdpa"),
        "univlm input-major + decode attention": Decoder(major, {"input_ids": ids, **routing}, routing, attn=DECODE_SDPA),
    }
    contenders.update({name: (lambda d=d: d.run(args.steps)) for name, d in decoders.items()})
    for fn in contenders.values():  # warm-up round, not counted
        fn()
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(args.rounds):
        for name, fn in contenders.items():
            times[name].append(fn())
    rates = {name: [args.steps / t for t in ts] for name, ts in times.items()}
    ceiling = statistics.median(rates["matvec (F.linear, out x in)"])
    major_ceiling = statistics.median(rates["matvec input-major (x @ W_t)"])
    print(f"threads {torch.get_num_threads()}, prompt {args.prompt_tokens} tokens, {args.steps} steps, {args.rounds} rounds")
    print(f"{'contender':<40}{'median tok/s':>13}{'best':>8}{'/ matvec':>10}{'/ in-major matvec':>19}")
    for name, r in rates.items():
        med = statistics.median(r)
        print(f"{name:<40}{med:13.2f}{max(r):8.2f}{med / ceiling:10.2f}{med / major_ceiling:19.2f}")
    stock_tokens = decoders["stock fp32"].tokens
    same = {name: d.tokens == stock_tokens for name, d in decoders.items() if name != "stock fp32"}
    print("greedy tokens identical to stock: " + ", ".join(f"{k} {v}" for k, v in same.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
