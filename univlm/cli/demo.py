"""``univlm demo --model DIR``: the web demo on http://127.0.0.1:7860 (needs ``pip install univlm[demo]``).

Safe by default: it binds 127.0.0.1 (``--host 0.0.0.0`` to serve a network, at your own risk), opens
no public share link unless ``--share`` is given, and refuses uploads over ``--max-upload-mb``.
Without ``--model`` it serves ``outputs/stage1`` when that exists, and otherwise says how to train it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from univlm.cli._common import CommandParser, error_line
from univlm.demo.app import DEFAULT_HOST, DEFAULT_MAX_UPLOAD_MB, DEFAULT_PORT

PROG = "univlm demo"


def build_parser() -> argparse.ArgumentParser:
    """The ``univlm demo`` argument parser."""
    parser = CommandParser(prog=PROG, description="Serve the univlm web demo (Gradio).")
    parser.add_argument(
        "--model", metavar="DIR", help="saved univlm model + processor directory (default: outputs/stage1)"
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"bind address (default {DEFAULT_HOST}: this machine only)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"TCP port (default {DEFAULT_PORT})")
    parser.add_argument("--share", action="store_true", help="also open a public Gradio share link (off by default)")
    parser.add_argument(
        "--max-upload-mb", type=float, default=DEFAULT_MAX_UPLOAD_MB,
        help=f"refuse uploads larger than this (default {DEFAULT_MAX_UPLOAD_MB})",
    )
    parser.add_argument("--device", help="cpu, cuda, cuda:1, ... (default: CUDA when available, else CPU)")
    parser.add_argument(
        "--dtype", choices=("float32", "bfloat16", "float16"), help="default: bf16 on CUDA, fp32 on CPU"
    )
    parser.add_argument(
        "--no-constrained", dest="no_constrain", action="store_true",
        help="do not grammar-constrain [SEG]/[VG] answers",
    )
    parser.add_argument("--grid", type=int, default=24, help="mask grid side G the model was trained with")
    parser.add_argument("--quiet", action="store_true", help="do not print the address line")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``univlm demo``.

    Args:
        argv: Arguments without the program name; ``sys.argv[1:]`` when None.

    Returns:
        0 when the server stops, 1 when the model or Gradio cannot be loaded, 2 on usage errors
        (including a missing model, with the command that trains one).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if not 0 < args.port < 65536:
        parser.error(f"--port must be 1..65535, got {args.port}")
    if args.max_upload_mb <= 0:
        parser.error(f"--max-upload-mb must be positive, got {args.max_upload_mb}")
    from univlm.demo.tasks import DemoInputError, resolve_model_dir

    try:
        model_dir = resolve_model_dir(args.model)
    except DemoInputError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    # Heavy imports (gradio, torch, transformers) stay here so `univlm --help` stays fast.
    from univlm.demo.app import DemoDependencyError, build_demo, import_gradio, launch
    from univlm.inference import Predictor

    try:
        import_gradio()
    except DemoDependencyError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 1
    try:
        predictor = Predictor.from_pretrained(
            model_dir, device=args.device, dtype=args.dtype, constrained=not args.no_constrain, grid=args.grid
        )
    except (OSError, ValueError) as err:
        print(error_line(PROG, f"cannot load model from {model_dir}: {err}"), file=sys.stderr)
        return 1
    demo = build_demo(predictor, max_upload_mb=args.max_upload_mb, title=f"univlm demo: {model_dir}")
    if args.share:
        print(f"{PROG}: warning: --share publishes this demo on a public gradio.live URL", file=sys.stderr)
    # Gradio's own banner suggests share=True; print ours and then serve until Ctrl+C.
    url = launch(demo, host=args.host, port=args.port, share=args.share, max_upload_mb=args.max_upload_mb,
                 block=False, quiet=True)
    if not args.quiet:
        device = predictor.info()
        print(f"univlm demo: serving {model_dir} on {url} ({device['device']}, {device['dtype']}); Ctrl+C stops")
    try:
        demo.block_thread()
    finally:
        demo.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
