"""``univlm export-dense``: write one G-MoE expert as a plain ``llava_onevision`` checkpoint.

The output loads with ``LlavaOnevisionForConditionalGeneration.from_pretrained`` (stock transformers,
no univlm import) and reproduces the UniVLM model's logits for prompts routed to that expert, so any
LLaVA-OneVision server can host one granularity. Tokenizer files found next to the model are copied.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

# Tokenizer files a LLaVA-OneVision server needs; the univlm processor config is not one of them.
_TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "merges.txt",
    "chat_template.jinja",
)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``univlm export-dense``."""
    parser = argparse.ArgumentParser(
        prog="univlm export-dense",
        description="Write one expert of a UniVLM checkpoint as a plain llava_onevision checkpoint.",
    )
    parser.add_argument("--expert", required=True, help="expert name (image, region, pixel) or id")
    parser.add_argument("model", help="UniVLM checkpoint directory (save_pretrained output)")
    parser.add_argument("out", help="output directory (must not exist or be empty)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``univlm export-dense``.

    Args:
        argv: Arguments without the program name.

    Returns:
        0 on success, 1 on a bad model directory, expert or output path.
    """
    args = build_parser().parse_args(argv)
    import univlm.models  # noqa: F401  (registers the Auto* classes)
    from univlm.models.conversion import export_dense
    from univlm.models.modeling_univlm import UniVLMForConditionalGeneration

    model_dir = Path(args.model)
    if not (model_dir / "config.json").is_file():
        print(f"univlm export-dense: {model_dir}: no config.json (expected a UniVLM checkpoint)", file=sys.stderr)
        return 1
    try:
        model = UniVLMForConditionalGeneration.from_pretrained(model_dir)
        expert = int(args.expert) if args.expert.isdigit() else args.expert
        extra = [model_dir / name for name in _TOKENIZER_FILES if (model_dir / name).is_file()]
        out = export_dense(model, expert, args.out, extra_files=extra)
    except (ValueError, FileExistsError, OSError) as err:
        print(f"univlm export-dense: {err}", file=sys.stderr)
        return 1
    name = model.config.expert_names[expert] if isinstance(expert, int) else expert
    print(f"wrote expert {name!r} of {model_dir} as llava_onevision to {out}")
    if model.config.image_mode == "pad":
        print(
            "note: pad mode; pass batch_num_images != 1 to the stock model "
            "(univlm.models.conversion.llava_onevision_inputs) so every image is one crop"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
