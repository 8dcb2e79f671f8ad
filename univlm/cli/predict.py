"""``univlm predict --model DIR IMAGE [IMAGE2] --prompt "[VG] the largest building"``.

Prints the answer (or, with ``--json``, the whole parsed result), and with ``--save-overlay`` draws
its boxes and masks on the first image with a legend. A prompt without a task tag is answered by
the router's default expert; a note saying so goes to stderr so ``--json`` output stays parseable.
``[SEG]`` and ``[VG]`` answers are grammar-constrained unless ``--no-constrained`` is given.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from univlm.cli._common import CommandParser, error_line
from univlm.tasks import DEFAULT_GRID

PROG = "univlm predict"


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``predict`` and ``chat``: model, device and generation flags."""
    parser.add_argument(
        "--model", required=True, metavar="DIR", help="saved univlm model + processor directory"
    )
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="one image, or two for change tasks")
    parser.add_argument(
        "--max-new-tokens", type=int, help="token budget (default: 256; a full mask/box when constrained)"
    )
    parser.add_argument("--temperature", type=float, default=0.0, help="0 decodes greedily (default)")
    parser.add_argument("--top-k", type=int, default=0, help="with sampling, keep the k most likely tokens")
    parser.add_argument("--seed", type=int, help="seed for sampling")
    parser.add_argument(
        "--no-constrained", dest="no_constrain", action="store_true",
        help="do not grammar-constrain [SEG]/[VG] answers",
    )
    parser.add_argument("--no-constrain", dest="no_constrain", action="store_true", help=argparse.SUPPRESS)  # old spelling
    parser.add_argument("--grid", type=int, default=DEFAULT_GRID, help="mask grid side G the model was trained with")
    parser.add_argument("--device", help="cpu, cuda, cuda:1, ... (default: CUDA when available)")
    parser.add_argument(
        "--dtype", choices=("float32", "bfloat16", "float16"), help="default: bf16 on CUDA, fp32 on CPU"
    )
    parser.add_argument(
        "--quantize", choices=("none", "int8", "int4"), default="none",
        help="weight-only language model with bf16 activations: int8, or int4 (CPU only, fastest; docs/INFERENCE.md)",
    )
    parser.add_argument(
        "--cache", choices=("dynamic", "static"), default="dynamic", help="KV cache kind (default dynamic)"
    )
    parser.add_argument("--compile", action="store_true", help="torch.compile the decode step (slow first call)")


def check_images(parser: argparse.ArgumentParser, images: Sequence[str]) -> None:
    """Exit with a usage error unless there are one or two existing image files."""
    import os

    if len(images) > 2:
        parser.error(f"expected 1 or 2 images, got {len(images)}")
    for path in images:
        if not os.path.isfile(path):
            parser.error(f"image not found: {path}")


def load_predictor(args: argparse.Namespace) -> Any:
    """A :class:`~univlm.inference.Predictor` from the parsed model options."""
    from univlm.inference import Predictor

    return Predictor.from_pretrained(
        args.model,
        device=args.device,
        dtype=args.dtype,
        constrained=not args.no_constrain,
        grid=args.grid,
        quantize=args.quantize,
        cache=args.cache,
        compile=args.compile,
    )


def parse_and_load(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None
) -> tuple[argparse.Namespace, Any | None]:
    """Parse the arguments of ``predict`` or ``chat``, check the images and load the predictor.

    Args:
        parser: The command's parser (with :func:`add_model_arguments`); its ``prog`` prefixes errors.
        argv: Arguments without the program name; ``sys.argv[1:]`` when None.

    Returns:
        The parsed arguments and the predictor, or None in its place when the model cannot be loaded
        (the reason is printed to stderr).

    Raises:
        SystemExit: On usage errors (argparse exits with code 2).
    """
    args = parser.parse_args(argv)
    check_images(parser, args.images)
    try:
        return args, load_predictor(args)
    except (OSError, ValueError) as err:
        print(error_line(parser.prog, f"cannot load model from {args.model}: {err}"), file=sys.stderr)
        return args, None


def generation_options(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments of ``Predictor.predict`` taken from the parsed flags."""
    return {
        "max_new_tokens": args.max_new_tokens,
        "temperature": args.temperature,
        "top_k": args.top_k,
        "seed": args.seed,
    }


def routing_note(result: Any, default_expert: str) -> str | None:
    """The note printed when a prompt carried no task tag."""
    if result.task is not None:
        return None
    return (
        "note: the prompt has no task tag ([VG], [SEG], [CAP], ...); "
        f"the router's default expert {default_expert!r} answered"
    )


def _parser() -> argparse.ArgumentParser:
    parser = CommandParser(prog=PROG, description="Answer one prompt about one or two images.")
    add_model_arguments(parser)
    parser.add_argument("--prompt", required=True, help='e.g. "[VG] the largest building"')
    parser.add_argument(
        "--labels", help="comma-separated mask labels for [SEG] (default: read from the prompt)"
    )
    parser.add_argument("--json", action="store_true", help="print the parsed result as JSON")
    parser.add_argument("--save-overlay", metavar="PATH", help="draw boxes and masks on the first image")
    # GeoTIFF scenes: flags and the tiled path live in univlm.geo.cli (rasterio is imported lazily there).
    from univlm.geo.cli import add_scene_arguments

    add_scene_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``univlm predict``.

    Args:
        argv: Arguments without the program name; ``sys.argv[1:]`` when None.

    Returns:
        0 on success, 1 when the model directory cannot be loaded, 2 on usage errors.
    """
    parser = _parser()
    from univlm.geo.cli import run_predict_scene, wants_scene

    scene_args = parser.parse_args(argv)
    if wants_scene(scene_args):  # a GeoTIFF or a GIS flag: tiled inference, georeferenced outputs
        return run_predict_scene(scene_args, PROG, load_predictor, generation_options(scene_args))
    args, predictor = parse_and_load(parser, argv)
    if predictor is None:
        return 1
    labels = [x.strip() for x in args.labels.split(",") if x.strip()] if args.labels else None
    result = predictor.predict(args.images, args.prompt, labels=labels, **generation_options(args))
    note = routing_note(result, predictor.model.config.default_expert)
    if note:
        print(note, file=sys.stderr)
    if args.save_overlay:
        from univlm.inference.overlay import result_overlay, save_image_atomic

        save_image_atomic(result_overlay(args.images[0], result), args.save_overlay)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(result.text)
        if result.boxes_px:
            sizes = "x".join(str(v) for v in result.image_size)
            for box in result.boxes_px:
                print(f"box (pixels of the {sizes} image): [{', '.join(f'{v:.1f}' for v in box)}]")
        for k, mask in enumerate(result.masks):
            counts = ", ".join(f"{name}: {n}" for name, n in mask.counts().items())
            print(f"mask {k}: {mask.grid_size}x{mask.grid_size} cells ({counts})")
        for problem in result.problems:
            print(f"problem: {problem}", file=sys.stderr)
    if args.save_overlay:
        print(f"overlay written to {args.save_overlay}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
