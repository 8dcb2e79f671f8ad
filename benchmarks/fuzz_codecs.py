"""The 100k-answer fuzz of the codecs, the box parser and ``decode-mask`` (issue #15), outside the suite.

Usage (from the repository root)::

    python benchmarks/fuzz_codecs.py [--answers 100000] [--seed 20251203]

Runs every probe of ``tests/fuzz/test_codecs_fuzz.py`` and ``tests/fuzz/test_boxes_fuzz.py`` in a
memory-limited subprocess (``RLIMIT_AS``, see ``tests/fuzz/conftest.py``) and prints one row per
probe: inputs, crashes (exceptions other than the documented types), hangs (inputs past the time
bound) and silent losses (a wrong result with nothing reported). The two model-answer probes of the
mask decoder get ``--answers`` inputs each; the others a fifth of that (the CLI probe, which writes
files, a fiftieth).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fuzz import test_boxes_fuzz, test_codecs_fuzz  # noqa: E402
from tests.fuzz.conftest import run_probes  # noqa: E402

FULL = ("mask decoder: random text", "mask decoder: mutated answers")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=100_000, help="inputs of each model-answer probe")
    parser.add_argument("--seed", type=int, default=20251203)
    args = parser.parse_args()

    def cases(name: str) -> int:
        if name in FULL:
            return args.answers
        return max(1, args.answers // (50 if name.startswith("decode-mask") else 5))

    rows = []
    start = time.perf_counter()
    for module in (test_codecs_fuzz, test_boxes_fuzz):
        names = list(module.PROBES)
        rows += run_probes(module.__name__, names, args.seed, {n: cases(n) for n in names})
    print("| probe | inputs | crashes | hangs | silent losses |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['probe']} | {r['inputs']:,} | {r['crashes']} | {r['hangs']} | {r['silent_losses']} |")
    total = sum(r["inputs"] for r in rows)
    print(f"\n{total:,} inputs in {time.perf_counter() - start:.0f} s (seed {args.seed})")
    for r in rows:
        for example in r["examples"]:
            print(f"  {r['probe']}: {example}")
    return 1 if any(r["crashes"] or r["hangs"] or r["silent_losses"] for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
