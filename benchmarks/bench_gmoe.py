"""G-MoE latency benchmark on the real-size preset (random weights, CPU).

Usage (from the repository root)::

    python benchmarks/bench_gmoe.py            # 64-token prompt, 8 steps, 3 repeats: ~2-3 min on 2 cores
    python benchmarks/bench_gmoe.py --quick    # shorter prompt, fewer steps and repeats
    python benchmarks/bench_gmoe.py --image    # prefill with one 384x384 image (730 more tokens)

Three models share one set of random weights (``rsunivlm-0.5b``, float32, sdpa):

- ``gmoe``: UniVLM upcycled to 3 experts, the sample routed to expert 1 (not the first one);
- ``dense``: the same UniVLM kept dense (stage 1);
- ``stock``: transformers' ``LlavaOnevisionForConditionalGeneration`` holding the same tensors.

Each repeat times, for every model in turn, one prefill forward (with KV cache) and ``--steps``
greedy decode steps, so all three see the same machine load. It prints the best (minimum) latency of
each model over the repeats -- on a shared machine the minimum is the least noisy estimate of the
model's own cost -- the median for reference, and the ratios gmoe/dense (goal <= 1.02) and
dense/stock (goal <= 1.0) of the minima, plus the largest logit differences as a sanity check
(G-MoE with copied experts and our dense model must match the stock model).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from univlm.models import get_preset  # noqa: E402
from univlm.models.compat import cache_kwarg, output_cache  # noqa: E402
from univlm.models.conversion import llava_onevision_config, llava_onevision_inputs  # noqa: E402
from univlm.models.modeling_univlm import UniVLMForConditionalGeneration  # noqa: E402


def _share(module_from: torch.nn.Module, module_to: torch.nn.Module, state_dict: dict[str, torch.Tensor]) -> None:
    """Give a meta-built ``module_to`` the tensors of ``state_dict`` and the buffers of ``module_from``."""
    result = module_to.load_state_dict(state_dict, strict=False, assign=True)
    missing = [k for k in result.missing_keys if k != "lm_head.weight"]
    if missing or result.unexpected_keys:
        raise RuntimeError(f"weight sharing failed: missing {missing}, unexpected {result.unexpected_keys}")
    source = dict(module_from.named_buffers())
    for name, buffer in list(module_to.named_buffers()):
        if buffer.is_meta:
            owner_name, _, attr = name.rpartition(".")
            owner = module_to.get_submodule(owner_name)
            owner._buffers[attr] = source[name]
    module_to.tie_weights()


@torch.no_grad()
def _fill_random(model: torch.nn.Module, seed: int) -> None:
    """Cheap random weights: N(0, 0.02) matrices, unit norm scales, zero biases."""
    gen = torch.Generator().manual_seed(seed)
    for name, param in model.named_parameters():
        if param.dim() > 1 or name.endswith("image_newline"):
            param.normal_(0.0, 0.02, generator=gen)
        elif "norm" in name and name.endswith("weight"):
            param.fill_(1.0)
        else:
            param.zero_()


def build_models(seed: int = 0, preset: str = "rsunivlm-0.5b", overrides: dict | None = None):
    """Return ``(gmoe, dense, stock)`` sharing one set of random weights (extra memory: 2 expert copies)."""
    from transformers.initialization import no_init_weights

    overrides = overrides or {}
    config = get_preset(preset, **overrides)
    with no_init_weights():  # transformers' own switch: allocate only, we fill the weights below
        dense = UniVLMForConditionalGeneration(config).eval()
    dense.tie_weights()  # no_init_weights also skips tying
    _fill_random(dense, seed)
    dense_sd = dense.state_dict()

    from transformers import LlavaOnevisionForConditionalGeneration

    with torch.device("meta"):
        stock = LlavaOnevisionForConditionalGeneration(llava_onevision_config(config))
    _share(dense, stock, dense_sd)

    gmoe_config = get_preset(preset, use_gmoe=True, **overrides)
    with torch.device("meta"):
        gmoe = UniVLMForConditionalGeneration(gmoe_config)
    gmoe_sd = {}
    for key, value in dense_sd.items():
        if ".mlp." in key and ".language_model." in key:
            head, tail = key.split(".mlp.")
            for e in range(gmoe_config.num_experts):
                # Expert 0 shares the dense tensor; the others are copies (upcycling).
                gmoe_sd[f"{head}.mlp.experts.{e}.{tail}"] = value if e == 0 else value.clone()
        else:
            gmoe_sd[key] = value
    _share(dense, gmoe, gmoe_sd)
    return gmoe.eval(), dense, stock.eval()


@torch.no_grad()
def time_generation(model, prefill: dict, decode_extra: dict, steps: int) -> tuple[float, float, torch.Tensor]:
    """Time one prefill and ``steps`` cached greedy decode steps; return (prefill s, s/token, first logits)."""
    start = time.perf_counter()
    out = model(**prefill, use_cache=True, logits_to_keep=1)  # as generate() does
    mid = time.perf_counter()
    cache, token = output_cache(out), out.logits[:, -1:].argmax(-1)
    first = out.logits[:, -1].clone()  # (B, V)
    for _ in range(steps):
        out = model(input_ids=token, use_cache=True, **{cache_kwarg(): cache}, **decode_extra)
        cache, token = output_cache(out), out.logits[:, -1:].argmax(-1)
    end = time.perf_counter()
    return mid - start, (end - mid) / max(steps, 1), first


def mixed_workload(gmoe, steps: int, repeats: int) -> None:
    """Six prompts, two per expert, batch size 2: grouped by expert vs input order vs one expert only.

    Prints each workload's best wall time and the ratios to the single-expert workload (goal for the
    grouped mixed workload: <= 1.05), and whether grouping changed any answer.
    """
    from tokenizer_ext import resize_embeddings_for
    from univlm.inference import Predictor
    from univlm.models import UniVLMProcessor
    from univlm.testing import build_tiny_qwen2_tokenizer

    tokenizer = build_tiny_qwen2_tokenizer()
    processor = UniVLMProcessor.from_tokenizer(tokenizer, image_size=384, patch_size=14)
    resize_embeddings_for(gmoe, tokenizer)
    predictor = Predictor(gmoe, processor, constrained=False, max_new_tokens=steps)
    text = "the large grey building next to the road junction near the river bank"
    mixed = [(None, f"[{tag}] {text} {k}") for k in range(2) for tag in ("CAP", "VG", "SEG")]  # image, region, pixel
    single = [(None, f"[VG] {text} {k}") for k in range(6)]
    runs = {
        "single expert": (single, True),
        "mixed, grouped": (mixed, True),
        "mixed, input order": (mixed, False),
    }
    best, answers = {}, {}
    for _ in range(repeats + 1):
        for name, (items, grouped) in runs.items():
            start = time.perf_counter()
            results = predictor.predict_batch(items, batch_size=2, group_by_expert=grouped)
            best[name] = min(best.get(name, float("inf")), time.perf_counter() - start)
            answers[name] = [r.text for r in results]
    print(f"mixed workload: 6 prompts (2 per expert), batch size 2, {steps} new tokens each, best of {repeats}")
    for name in runs:
        print(f"  {name:<20}{best[name]:8.2f} s  ratio to single expert {best[name] / best['single expert']:.3f}")
    print("  goal: mixed, grouped <= 1.05; "
          f"answers identical grouped vs input order: {answers['mixed, grouped'] == answers['mixed, input order']}")


def main(argv=None) -> int:
    """Run the benchmark and print latencies and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompt-tokens", type=int, default=64, help="text tokens in the prompt")
    parser.add_argument("--steps", type=int, default=8, help="decode steps")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats (after one warm-up)")
    parser.add_argument("--image", action="store_true", help="add one 384x384 image (730 tokens) to the prompt")
    parser.add_argument("--quick", action="store_true", help="32-token prompt, 4 steps, 2 repeats")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 keeps the default)")
    parser.add_argument("--mixed", action="store_true", help="also run the mixed-expert batch workload")
    args = parser.parse_args(argv)
    if args.quick:
        args.prompt_tokens, args.steps, args.repeats = 32, 4, 2
    if args.threads:
        torch.set_num_threads(args.threads)

    t0 = time.perf_counter()
    gmoe, dense, stock = build_models()
    config = dense.config
    print(f"built 3 models sharing weights in {time.perf_counter() - t0:.1f}s; torch threads {torch.get_num_threads()}")

    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 151000, (1, args.prompt_tokens), generator=gen)
    batch = {"input_ids": ids}
    if args.image:
        size = config.vision_config.image_size
        n_img = (size // config.vision_config.patch_size) ** 2 + 1
        image_ids = torch.full((1, n_img), config.image_token_id)
        batch = {
            "input_ids": torch.cat([ids[:, :4], image_ids, ids[:, 4:]], dim=1),
            "pixel_values": torch.randn(1, 1, 3, size, size, generator=gen),
            "image_sizes": torch.tensor([[size, size]]),
        }
    routing = {"expert_ids": torch.tensor([1])}
    runs = {
        "gmoe": (gmoe, {**batch, **routing}, routing),
        "dense": (dense, batch, {}),
        "stock": (stock, llava_onevision_inputs(batch), {}),
    }
    print(
        f"prompt {batch['input_ids'].shape[1]} tokens ({'with' if args.image else 'no'} image), "
        f"{args.steps} decode steps, {args.repeats} repeats + 1 warm-up"
    )
    results: dict[str, dict[str, list[float]]] = {name: {"prefill": [], "decode": []} for name in runs}
    logits = {}
    for repeat in range(args.repeats + 1):
        for name, (model, prefill, extra) in runs.items():
            pre, dec, first = time_generation(model, prefill, extra, args.steps)
            logits[name] = first
            if repeat:  # the first round warms up allocators and kernels
                results[name]["prefill"].append(pre)
                results[name]["decode"].append(dec)
    best = {name: {k: min(v) for k, v in r.items()} for name, r in results.items()}
    med = {name: {k: statistics.median(v) for k, v in r.items()} for name, r in results.items()}
    print(f"{'model':<8}{'prefill min/median (s)':>26}{'decode min/median (ms/token)':>32}")
    for name in runs:
        b, m = best[name], med[name]
        prefill = f"{b['prefill']:.3f} / {m['prefill']:.3f}"
        decode = f"{b['decode'] * 1000:.1f} / {m['decode'] * 1000:.1f}"
        print(f"{name:<8}{prefill:>26}{decode:>32}")
    for num, den, goal in (("gmoe", "dense", 1.02), ("dense", "stock", 1.0)):
        pre = best[num]["prefill"] / best[den]["prefill"]
        dec = best[num]["decode"] / best[den]["decode"]
        print(f"{num}/{den}: prefill {pre:.3f}, decode {dec:.3f} (goal <= {goal})")
    print(
        "max |logit diff| of the first generated position: "
        f"gmoe vs dense {(logits['gmoe'] - logits['dense']).abs().max().item():.2e}, "
        f"dense vs stock {(logits['dense'] - logits['stock']).abs().max().item():.2e}"
    )
    if args.mixed:
        del runs, stock
        mixed_workload(gmoe, args.steps, args.repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
