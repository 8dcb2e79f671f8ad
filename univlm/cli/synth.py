"""``univlm synth -o DIR [--n 2000] [--size 224] [--seed 0] [--difficulty easy] [--lattice N]``: the synthetic dataset.

``--n`` counts scenes; each scene yields up to 9 records (one per task variant, see docs/DATA.md).
The same arguments always write byte-identical files (``synth.json`` included); the wall time is
printed and logged, never stored.

Exit codes: 0 written (or already present with these parameters), 1 the dataset could not be
written, 2 a bad value or an ``--out`` that holds something else (one line
``univlm synth: error: ...`` on stderr).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence

# Light on purpose: the generator needs numpy and PIL only, never torch or transformers.
from univlm.cli._common import EXIT_FAILED, CommandParser, fail
from univlm.data.synth import generate_synthetic, manifest_param, read_manifest
from univlm.data.synth_scene import DIFFICULTIES

PROG = "univlm synth"


def _parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog=PROG, description="Generate the synthetic remote-sensing instruction dataset."
    )
    parser.add_argument("-o", "--out", required=True, help="dataset directory to create")
    parser.add_argument("--n", type=int, default=2000, help="number of scenes over all splits (default 2000)")
    parser.add_argument("--size", type=int, default=224, help="image side in pixels (default 224)")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed (default 0)")
    parser.add_argument("--difficulty", choices=sorted(DIFFICULTIES), default="easy", help="default easy")
    parser.add_argument("--val-frac", type=float, default=0.1, help="fraction of scenes for val (default 0.1)")
    parser.add_argument("--test-frac", type=float, default=0.1, help="fraction of scenes for test (default 0.1)")
    parser.add_argument("--lattice", type=int, default=0,
                        help="lay buildings, fields, roads and shores on an N x N grid, N >= 3 dividing --size "
                             "(default 0: free placement)")
    parser.add_argument("--force", action="store_true", help="replace an existing dataset at --out")
    parser.add_argument("--quiet", action="store_true", help="print nothing on success")
    parser.add_argument("--json", action="store_true", help="print the manifest as one JSON document")
    return parser


def _error(message: str) -> int:
    return fail(PROG, message)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``univlm synth``; returns the exit code."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # --help (0), or a usage error already printed as one line (2)
        return int(exc.code or 0)
    params = {"n": args.n, "size": args.size, "seed": args.seed, "difficulty": args.difficulty,
              "val_frac": args.val_frac, "test_frac": args.test_frac, "lattice": args.lattice}
    try:
        manifest = read_manifest(args.out)
    except (OSError, ValueError) as exc:
        return _error(f"cannot read the manifest in {args.out}: {exc}")
    if manifest is not None and not args.force and all(manifest_param(manifest, k) == v for k, v in params.items()):
        if args.json:
            print(json.dumps({**manifest, "generated": False}))
        elif not args.quiet:
            print(f"{args.out}: complete synthetic dataset with these parameters already present; nothing to do")
        return 0
    start = time.perf_counter()
    try:
        manifest = generate_synthetic(args.out, overwrite=args.force, **params)
    except ValueError as exc:
        return _error(str(exc))
    except OSError as exc:  # the work failed (disk full, permissions): 1, not a usage error
        return fail(PROG, f"cannot write {args.out}: {exc}", EXIT_FAILED)
    seconds = time.perf_counter() - start
    if args.json:
        print(json.dumps({**manifest, "generated": True}))
        return 0
    if args.quiet:
        return 0
    records = sum(s["records"] for s in manifest["splits"].values())
    for split, s in manifest["splits"].items():
        skipped = sum(manifest["skipped"][split].values())
        print(f"{split}: {s['scenes']} scenes, {s['records']} records ({skipped} skipped) {s['tasks']}")
    print(f"wrote {args.out} in {seconds:.1f} s ({1000 * seconds / max(1, records):.2f} s per 1000 records)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
