"""``univlm info``: parameter counts of a preset or checkpoint config, built on the meta device.

Usage: ``univlm info --model DIR | --preset NAME [--json]`` (``--config NAME_OR_PATH`` is the hidden,
deprecated spelling of either). Exit codes follow docs/CLI.md: 0 printed, 2 a usage or input error
(unknown preset, no config in the directory, an unreadable config), as one line
``univlm info: error: ...``. torch and transformers are imported inside the functions that need them.

Counts (tied embeddings counted once):

- ``total``: the model as configured (dense unless ``use_gmoe``);
- ``total_gmoe``: after upcycling to ``num_experts`` experts;
- ``runtime``: parameters a token runs through (hard routing: one expert per token), equal to the
  dense model's total;
- ``expert_ffn``: one expert's FFNs over all G-MoE layers (RSUniVLM's "313M trainable");
- ``trainable_stage1``: stage 1 fine-tunes the dense model fully (vision tower, projector, LLM);
- ``trainable_stage2``: stage 2 trains only the experts' FFNs (all experts; each sample updates one).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from collections.abc import Sequence
from typing import Any

from univlm.cli._common import CommandParser, UsageError

PROG = "univlm info"


def parameter_counts(config: Any) -> dict[str, Any]:
    """Count parameters of a UniVLM config without allocating memory (meta device).

    Args:
        config: A :class:`univlm.models.configuration_univlm.UniVLMConfig`.

    Returns:
        A dict of integer counts (see the module docstring) and a per-component ``breakdown``.
    """
    import torch

    from univlm.models.modeling_univlm import (
        UniVLMForConditionalGeneration,
        expert_parameters,
        upcycle_to_gmoe,
    )

    dense_config = copy.deepcopy(config)
    dense_config.use_gmoe = False
    with torch.device("meta"):
        model = UniVLMForConditionalGeneration(dense_config)
    dense_total = sum(p.numel() for p in model.parameters())
    base = model.model
    breakdown = {
        "vision_tower": sum(p.numel() for p in base.vision_tower.parameters()),
        "projector": sum(p.numel() for p in base.multi_modal_projector.parameters()),
        "image_newline": base.image_newline.numel(),
        "language_model": sum(p.numel() for p in base.language_model.parameters()),
    }
    tied = model.lm_head.weight is base.language_model.embed_tokens.weight
    breakdown["lm_head"] = 0 if tied else model.lm_head.weight.numel()
    with torch.device("meta"):
        upcycle_to_gmoe(model)
    gmoe_total = sum(p.numel() for p in model.parameters())
    expert_ffn = sum(p.numel() for p in expert_parameters(model, 0).values())
    num_experts = config.num_experts
    return {
        "total": gmoe_total if config.use_gmoe else dense_total,
        "total_dense": dense_total,
        "total_gmoe": gmoe_total,
        "runtime": gmoe_total - (num_experts - 1) * expert_ffn,
        "expert_ffn": expert_ffn,
        "num_experts": num_experts,
        "gmoe_layers": len(config.gmoe_layer_indices),
        "trainable_stage1": dense_total,
        "trainable_stage2": num_experts * expert_ffn,
        "tied_embeddings": tied,
        "breakdown": breakdown,
    }


def _fmt(n: int) -> str:
    return f"{n / 1e6:,.1f}M ({n:,})"


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``univlm info`` (imports the preset table for ``choices``)."""
    from univlm.models.presets import preset_names  # transformers-heavy; only when the command runs

    parser = CommandParser(prog=PROG, description="Parameter counts of a UniVLM preset or checkpoint (meta device).")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", metavar="DIR", help="checkpoint directory (or its config.json)")
    source.add_argument("--preset", choices=preset_names(), help="a shipped preset")
    source.add_argument("--config", help=argparse.SUPPRESS)  # deprecated: a preset name or a path
    parser.add_argument("--json", action="store_true", help="print the counts as one JSON document")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``univlm info``.

    Args:
        argv: Arguments without the program name.

    Returns:
        0 on success, 2 on a usage or input error.
    """
    from univlm.models.presets import load_config

    try:
        args = build_parser().parse_args(argv)
        source = args.preset or args.model or args.config
        try:
            config = load_config(source)
        except (FileNotFoundError, ValueError, TypeError, OSError) as err:
            raise UsageError(str(err).splitlines()[0]) from None
    except UsageError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    counts = parameter_counts(config)
    if args.json:
        print(json.dumps({"source": str(source), **counts}, indent=2))
        return 0
    names = ", ".join(config.expert_names)
    print(f"{source} ({'G-MoE' if config.use_gmoe else 'dense'}; experts: {names})")
    rows = [
        ("total (as configured)", counts["total"]),
        ("total after upcycling", counts["total_gmoe"]),
        ("runtime (active per token)", counts["runtime"]),
        (f"one expert's FFNs ({counts['gmoe_layers']} layers)", counts["expert_ffn"]),
        ("trainable, stage 1 (all)", counts["trainable_stage1"]),
        ("trainable, stage 2 (experts)", counts["trainable_stage2"]),
    ]
    rows += [(f"  {part}", n) for part, n in counts["breakdown"].items()]
    width = max(len(label) for label, _ in rows)
    for label, n in rows:
        print(f"{label.ljust(width)}  {_fmt(n)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
