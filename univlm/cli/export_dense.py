"""``univlm export-dense``: write one G-MoE expert as a plain ``llava_onevision`` checkpoint.

Usage: ``univlm export-dense --model DIR (--expert NAME | --all) -o OUT [--json] [--quiet]``.

With ``--all`` every expert goes to ``OUT/<expert>/``, next to a routing manifest ``OUT/routing.json``
and the grammar files ``OUT/grammars/`` (:mod:`univlm.serving`; docs/SERVING.md).

The output loads with ``LlavaOnevisionForConditionalGeneration.from_pretrained`` (stock transformers,
no univlm import) and holds the configs of a stock ``LlavaOnevisionProcessor``; tokenizer files found
next to the model are copied. The command says which image mode the model was trained with: under
``anyres_max_N`` the stock processor and model reproduce univlm's logits; under ``pad`` they do for
multi-image samples, and a lone image needs univlm's processor (``conversion.llava_onevision_inputs``),
which the command warns about, naming the stock-compatible mode.

Design choices:

- Exit codes follow docs/CLI.md: 0 written, 1 the export failed (unreadable weights, an incomplete
  mapping, a failed write), 2 usage or input error (no checkpoint, unknown expert, non-empty output).
  Every error is one line ``univlm export-dense: error: ...``.
- torch and transformers are imported inside :func:`main`, after the arguments are checked, so
  ``--help`` and usage errors stay fast.
- :func:`export_one` exports one expert and returns its summary, so an ``--all`` option is a loop.
- The positional form ``export-dense --expert NAME MODEL OUT`` of earlier releases still works (hidden
  and deprecated).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from univlm.cli._common import CommandParser, UsageError

PROG = "univlm export-dense"
# Tokenizer files a LLaVA-OneVision server needs; the univlm processor config is not one of them.
TOKENIZER_FILES = (
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
    parser = CommandParser(
        prog=PROG, description="Write one expert of a UniVLM checkpoint as a plain llava_onevision checkpoint."
    )
    parser.add_argument("--model", metavar="DIR", help="UniVLM checkpoint directory (save_pretrained output)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--expert", help="expert name (e.g. image, region, pixel) or id")
    which.add_argument(
        "--all", action="store_true",
        help="every expert into OUT/<name>/, plus OUT/routing.json and OUT/grammars/ (docs/SERVING.md)",
    )
    parser.add_argument("-o", "--out", metavar="DIR", help="output directory (must not exist or be empty)")
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON document")
    parser.add_argument("--quiet", action="store_true", help="print nothing on success")
    parser.add_argument("legacy", nargs="*", help=argparse.SUPPRESS)  # deprecated: MODEL OUT
    return parser


def _resolve_paths(args: argparse.Namespace) -> tuple[Path, Path]:
    if args.legacy:
        if len(args.legacy) != 2 or args.model or args.out:
            raise UsageError("give --model DIR and -o/--out DIR (the positional form takes exactly MODEL OUT)")
        print(f"{PROG}: warning: 'MODEL OUT' is deprecated; use --model MODEL -o OUT", file=sys.stderr)
        return Path(args.legacy[0]), Path(args.legacy[1])
    if not args.model or not args.out:
        raise UsageError("the following arguments are required: --model, -o/--out")
    return Path(args.model), Path(args.out)


def _expert_id(expert: str, names: Sequence[str]) -> int:
    if expert.isdigit() and int(expert) < len(names):
        return int(expert)
    if expert in names:
        return list(names).index(expert)
    raise UsageError(f"--expert {expert!r}: expected one of {', '.join(names)} or an id 0..{len(names) - 1}")


def export_one(model: Any, model_dir: Path, expert_id: int, out_dir: Path) -> dict[str, Any]:
    """Export expert ``expert_id`` of a loaded model to ``out_dir`` and return the command's summary.

    Args:
        model: The loaded ``UniVLMForConditionalGeneration``.
        model_dir: Its checkpoint directory (tokenizer files there are copied).
        expert_id: The expert to export.
        out_dir: The output directory.

    Returns:
        A JSON-ready summary: model, expert, out and the image-mode report.
    """
    from univlm.models.conversion import export_dense

    extra = [model_dir / name for name in TOKENIZER_FILES if (model_dir / name).is_file()]
    mode = export_dense(model, expert_id, out_dir, extra_files=extra)
    return {
        "model": str(model_dir),
        "expert": model.config.expert_names[expert_id],
        "expert_id": expert_id,
        "out": str(out_dir),
        "image_mode": mode.trained,
        "stock_vision_aspect_ratio": mode.stock,
        "lone_image_stock_compatible": mode.lone_image_compatible,
        "note": mode.note,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``univlm export-dense``.

    Args:
        argv: Arguments without the program name.

    Returns:
        0 on success, 1 if the export failed, 2 on a usage or input error.
    """
    try:
        args = build_parser().parse_args(argv)
        model_dir, out_dir = _resolve_paths(args)
        config_file = model_dir / "config.json"
        if not config_file.is_file():
            raise UsageError(f"{model_dir}: no config.json (expected a UniVLM checkpoint directory)")
        try:
            raw = json.loads(config_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise UsageError(f"{config_file}: not readable JSON ({err})") from None
        if raw.get("model_type") != "univlm":
            raise UsageError(f"{config_file}: model_type is {raw.get('model_type')!r}, expected 'univlm'")
        names = raw.get("expert_names") or ["image", "region", "pixel"][: int(raw.get("num_experts", 3))]
        if args.all == (args.expert is not None):
            raise UsageError("give exactly one of --expert NAME and --all")
        expert_ids = list(range(len(names))) if args.all else [_expert_id(args.expert, names)]
        if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
            raise UsageError(f"{out_dir}: exists and is not an empty directory")
    except UsageError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    # Heavy imports only now that the arguments are valid.
    from safetensors import SafetensorError
    from transformers.utils import logging as hf_logging

    import univlm.models  # noqa: F401  (registers the Auto* classes)
    from univlm.models.modeling_univlm import UniVLMForConditionalGeneration
    from univlm.serving import write_serving_bundle

    bars = hf_logging.is_progress_bar_enabled()
    if args.quiet or args.json:
        hf_logging.disable_progress_bar()  # keep stderr to warnings and errors
    try:
        model = UniVLMForConditionalGeneration.from_pretrained(model_dir)
        if args.all:
            summaries = [export_one(model, model_dir, e, out_dir / names[e]) for e in expert_ids]
            manifest = write_serving_bundle(out_dir, model.config, {names[e]: names[e] for e in expert_ids})
            summary = {**summaries[0], "expert": "all", "out": str(out_dir), "manifest": str(manifest),
                       "experts": summaries}  # fmt: skip
        else:
            summary = export_one(model, model_dir, expert_ids[0], out_dir)
    except (ValueError, RuntimeError, OSError, SafetensorError) as err:
        print(f"{PROG}: error: {str(err).splitlines()[0] if str(err) else type(err).__name__}", file=sys.stderr)
        return 1
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    if args.json:
        print(json.dumps(summary, indent=2))
    elif not args.quiet:
        if args.all:
            print(f"wrote experts {', '.join(names)} of {model_dir} as llava_onevision to {out_dir}/<expert>")
            print(f"routing manifest: {summary['manifest']}; grammars: {out_dir / 'grammars'}")
        else:
            print(f"wrote expert {summary['expert']!r} of {model_dir} as llava_onevision to {out_dir}")
        print(f"image mode: {summary['image_mode']} (stock processor: vision_aspect_ratio={summary['stock_vision_aspect_ratio']})")
    if summary["note"]:  # a warning, not an informational line: --quiet keeps it
        print(f"{PROG}: warning: {summary['note']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
