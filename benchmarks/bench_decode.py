"""Decode speed at batch 1 against the memory-bandwidth bound, univlm vs stock transformers.

Usage (from the repository root)::

    python benchmarks/bench_decode.py                 # real size, 800-token prompt, 1 thread: ~4 min
    python benchmarks/bench_decode.py --quick         # 4 layers, short prompt: a smoke run

Real-size ``rsunivlm-0.5b`` weights (random), CPU. Decoding one token reads every language-model
weight once, so its speed is bounded by bytes per token over memory bandwidth. In one run, side by
side, it measures:

- ``bandwidth``: GB/s of a streaming read (``torch.sum`` over a 1 GiB buffer), and the bound it
  gives: bandwidth / language-model bytes per token;
- ``matvec``: the bare ceiling: one ``F.linear`` per language-model weight matrix (and the LM head)
  at batch 1, no attention, no Python model code;
- ``matvec input-major``: the same products with each weight stored ``(in, out)`` (``x @ W_t``), the
  layout MKL's fp32 matrix-vector product reads fastest on a CPU;
- ``stock fp32``: transformers' ``LlavaOnevisionForConditionalGeneration`` on the same tensors;
- ``univlm fp32``: the G-MoE model (3 experts, one used) through univlm's decode loop, weights as
  loaded (``nn.Linear``);
- ``univlm static``: the same with transformers' ``StaticCache``;
- ``univlm fp32 input-major``: after ``transpose_linear_weights`` (what ``Predictor.from_pretrained``
  does on a CPU in fp32), with the dynamic and the static cache;
- ``+ decode attention``: also ``univlm_decode_sdpa`` (``use_decode_attention``, also the CPU default
  of ``Predictor.from_pretrained``); the int4 rows are timed with and without it;
- ``univlm bf16`` and ``univlm int8``: bfloat16 weights, and int8 weight-only with bf16 activations
  (``Predictor(quantize="int8")``);
- ``univlm int4``: 4-bit group-wise weight-only (``Predictor(quantize="int4")``), dynamic cache, and
  with ``--compile`` also static cache + ``torch.compile`` (``Predictor(quantize="int4",
  cache="static", compile=True)``; compiling takes minutes on 2 cores, not counted in tok/s);
- ``matvec int4``: the int4 kernel's own ceiling, one call per weight matrix.

Each is timed as the best of ``--repeats`` runs of ``--steps`` greedy decode steps after an
``--prompt-tokens`` prefill. It prints tok/s, each as a share of the bound and of the matvec ceiling,
and whether univlm fp32 (either layout) and stock fp32 produced the same tokens.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_gmoe import build_models  # noqa: E402

from univlm.inference.acceleration import (  # noqa: E402
    Int4WeightOnlyLinear,
    make_cache,
    quantize_int4_weight_only,
    quantize_int8_weight_only,
    transpose_linear_weights,
)
from univlm.inference.decode_attention import use_decode_attention  # noqa: E402
from univlm.models.compat import cache_kwarg, output_cache  # noqa: E402
from univlm.models.conversion import llava_onevision_inputs  # noqa: E402


def bandwidth_gbs(gib: float = 1.0, repeats: int = 5) -> float:
    """Streaming read bandwidth in GB/s (best of ``repeats``)."""
    buf = torch.ones(int(gib * 2**30) // 4, dtype=torch.float32)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        buf.sum()
        best = min(best, time.perf_counter() - start)
    return buf.numel() * 4 / best / 1e9


def lm_matrices(model: torch.nn.Module) -> list[torch.Tensor]:
    """Weight matrices one decode step of the language model reads (one expert's FFN per layer)."""
    mats = []
    for name, param in model.named_parameters():
        if param.dim() != 2 or "language_model" not in name and not name.startswith("lm_head"):
            continue
        if "embed_tokens" in name:  # gathered, not read whole
            continue
        if ".experts." in name and ".experts.1." not in name:  # the sample uses expert 1 only
            continue
        mats.append(param.detach())
    head = model.get_output_embeddings().weight  # tied to the input embeddings in Qwen2-0.5B
    if not any(head is m or head.data_ptr() == m.data_ptr() for m in mats):
        mats.append(head.detach())
    return mats


def matvec_tok_s(mats: list[torch.Tensor], repeats: int) -> float:
    """Tokens/s of a bare matrix-vector pass over ``mats`` (best of ``repeats``)."""
    best = float("inf")
    for _ in range(repeats + 1):
        start = time.perf_counter()
        for w in mats:
            F.linear(torch.ones(1, w.shape[1], dtype=w.dtype), w)
        best = min(best, time.perf_counter() - start)
    return 1.0 / best


def matvec_input_major_tok_s(mats: list[torch.Tensor], repeats: int) -> float:
    """Tokens/s of the same pass with every matrix stored ``(in, out)``: ``x @ W_t`` (best of ``repeats``)."""
    transposed = [w.t().contiguous() for w in mats]  # a temporary copy, freed on return
    best = float("inf")
    for _ in range(repeats + 1):
        start = time.perf_counter()
        for w in transposed:
            torch.ones(1, w.shape[0], dtype=w.dtype) @ w
        best = min(best, time.perf_counter() - start)
    return 1.0 / best


@torch.no_grad()
def matvec_int4_tok_s(model: torch.nn.Module, repeats: int) -> float:
    """Tokens/s of one int4 kernel call per quantized layer of ``model`` (best of ``repeats``)."""
    layers = [m for m in model.modules() if isinstance(m, Int4WeightOnlyLinear)]
    inputs = {m.in_features: torch.ones(1, m.in_features, dtype=torch.bfloat16) for m in layers}
    best = float("inf")
    for _ in range(repeats + 1):
        start = time.perf_counter()
        for m in layers:
            torch.ops.aten._weight_int4pack_mm_for_cpu(inputs[m.in_features], m.weight_int4, m.group_size, m.scales_and_zeros)
        best = min(best, time.perf_counter() - start)
    return 1.0 / best


@torch.no_grad()
def decode_tok_s(model, prefill: dict, extra: dict, steps: int, repeats: int, cache_kind: str = "dynamic"):
    """Best tok/s over ``repeats`` runs of ``steps`` greedy steps after a prefill; also the tokens."""
    best, tokens = float("inf"), []
    length = prefill["input_ids"].shape[1] + steps + 1
    for _ in range(repeats + 1):
        cache = make_cache(model, cache_kind, length)
        out = model(**prefill, **{cache_kwarg(): cache}, use_cache=True, logits_to_keep=1)
        cache, token = output_cache(out), out.logits[:, -1:].argmax(-1)
        tokens = [int(token)]
        start = time.perf_counter()
        for _ in range(steps):
            out = model(input_ids=token, use_cache=True, logits_to_keep=1, **{cache_kwarg(): cache}, **extra)
            cache, token = output_cache(out), out.logits[:, -1:].argmax(-1)
            tokens.append(int(token))
        best = min(best, time.perf_counter() - start)
    return steps / best, tokens


def main(argv=None) -> int:
    """Run the measurements and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompt-tokens", type=int, default=800)
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--group-size", type=int, default=64, help="int4 group size (default 64)")
    parser.add_argument("--compile", action="store_true", help="also time int4 + static cache + torch.compile")
    parser.add_argument("--quick", action="store_true", help="4-layer towers, 64-token prompt, 8 steps")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.quick:
        args.prompt_tokens, args.steps, args.repeats = 64, 8, 1
    preset_overrides = {"text_config": {"num_hidden_layers": 4}} if args.quick else {}
    gmoe, dense, stock = build_models(overrides=preset_overrides)
    del dense
    ids = torch.randint(0, 151000, (1, args.prompt_tokens), generator=torch.Generator().manual_seed(0))
    routing = {"expert_ids": torch.tensor([1])}
    mats = lm_matrices(gmoe)
    lm_bytes = sum(w.numel() * w.element_size() for w in mats)

    gbs = bandwidth_gbs()
    bound = gbs * 1e9 / lm_bytes
    rows: list[tuple[str, float]] = [
        ("matvec fp32 (ceiling)", matvec_tok_s(mats, args.repeats)),
        ("matvec fp32 input-major", matvec_input_major_tok_s(mats, args.repeats)),
    ]
    del mats  # the models keep their own references
    stock_tps, stock_tokens = decode_tok_s(stock, llava_onevision_inputs({"input_ids": ids}), {}, args.steps, args.repeats)
    rows.append(("stock fp32", stock_tps))
    ours_tps, ours_tokens = decode_tok_s(gmoe, {"input_ids": ids, **routing}, routing, args.steps, args.repeats)
    rows.append(("univlm fp32", ours_tps))
    static_tps, static_tokens = decode_tok_s(
        gmoe, {"input_ids": ids, **routing}, routing, args.steps, args.repeats, cache_kind="static"
    )
    rows.append(("univlm fp32 static cache", static_tps))
    del stock
    low = copy.deepcopy(gmoe).to(torch.bfloat16)
    transpose_linear_weights(gmoe)
    major_tps, major_tokens = decode_tok_s(gmoe, {"input_ids": ids, **routing}, routing, args.steps, args.repeats)
    rows.append(("univlm fp32 input-major", major_tps))
    rows.append(("univlm fp32 input-major static", decode_tok_s(
        gmoe, {"input_ids": ids, **routing}, routing, args.steps, args.repeats, cache_kind="static"
    )[0]))
    use_decode_attention(gmoe)
    fast_tps, fast_tokens = decode_tok_s(gmoe, {"input_ids": ids, **routing}, routing, args.steps, args.repeats)
    rows.append(("univlm fp32 input-major + dec. attn", fast_tps))
    del gmoe
    rows.append(("univlm bf16", decode_tok_s(low, {"input_ids": ids, **routing}, routing, args.steps, args.repeats)[0]))
    int4 = copy.deepcopy(low)
    quantize_int8_weight_only(low)
    int8_tps, int8_tokens = decode_tok_s(low, {"input_ids": ids, **routing}, routing, args.steps, args.repeats)
    rows.append(("univlm int8 weight-only", int8_tps))
    del low
    quantize_int4_weight_only(int4, group_size=args.group_size)
    rows.append((f"matvec int4/g{args.group_size}", matvec_int4_tok_s(int4, args.repeats)))
    int4_tps, int4_tokens = decode_tok_s(int4, {"input_ids": ids, **routing}, routing, args.steps, args.repeats)
    rows.append((f"univlm int4/g{args.group_size}", int4_tps))
    use_decode_attention(int4)
    int4_fast_tps = decode_tok_s(int4, {"input_ids": ids, **routing}, routing, args.steps, args.repeats)[0]
    rows.append((f"univlm int4/g{args.group_size} + dec. attn", int4_fast_tps))
    compiled_tokens = None
    if args.compile:
        int4.forward = torch.compile(int4.forward, dynamic=False)
        start = time.perf_counter()
        decode_tok_s(int4, {"input_ids": ids, **routing}, routing, 2, 0, cache_kind="static")  # compile
        print(f"torch.compile warm-up: {time.perf_counter() - start:.0f} s", flush=True)
        comp_tps, compiled_tokens = decode_tok_s(
            int4, {"input_ids": ids, **routing}, routing, args.steps, args.repeats, cache_kind="static"
        )
        rows.append((f"univlm int4/g{args.group_size} static+compile", comp_tps))

    print(
        f"threads {torch.get_num_threads()}, prompt {args.prompt_tokens} tokens, {args.steps} steps, "
        f"best of {args.repeats}; bandwidth {gbs:.1f} GB/s; LM bytes/token (fp32) {lm_bytes / 1e9:.2f} GB; "
        f"fp32 bound {bound:.1f} tok/s"
    )
    ceiling, major_ceiling = rows[0][1], rows[1][1]
    print(f"{'path':<38}{'tok/s':>8}{'/ fp32 bound':>14}{'/ matvec':>10}{'/ matvec in-major':>19}")
    for name, tps in rows:
        print(f"{name:<38}{tps:8.2f}{tps / bound:14.2f}{tps / ceiling:10.2f}{tps / major_ceiling:19.2f}")
    print(
        f"univlm fp32 / stock fp32: {ours_tps / stock_tps:.3f}; input-major / as loaded: {major_tps / ours_tps:.3f}; "
        f"+ decode attention / as loaded: {fast_tps / ours_tps:.3f}; int8 / fp32: {int8_tps / ours_tps:.2f}x"
    )
    print(
        f"identical greedy tokens: univlm vs stock {ours_tokens == stock_tokens}, static vs dynamic "
        f"{static_tokens == ours_tokens}, input-major vs stock {major_tokens == stock_tokens}, "
        f"+ decode attention vs stock {fast_tokens == stock_tokens}"
    )
    for name, toks in (("int8", int8_tokens), ("int4", int4_tokens), ("int4 compiled", compiled_tokens)):
        if toks is not None:
            print(f"{name} tokens equal to fp32 on {sum(a == b for a, b in zip(toks, ours_tokens))}/{len(ours_tokens)} steps")
    if compiled_tokens is not None:
        print(f"int4 compiled tokens equal to int4 eager: {compiled_tokens == int4_tokens}")
    print(f"int4 / fp32: {int4_tps / ours_tps:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
