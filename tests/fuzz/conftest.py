"""The fuzz harness: a seeded loop that counts crashes, hangs and silent losses, run in a subprocess.

Design choices:

- Every probe is a pair ``generate(rng) -> case`` and ``check(case) -> bool`` (False: a silent loss,
  i.e. a wrong result with no repair or problem reported). ``check`` catches the documented error
  types itself; any other exception is a crash.
- Time per input is bounded by a real-time interval timer (``signal.setitimer``): an input that
  runs past ``hang_s`` is interrupted and counted as a hang. This detects hangs; it is not a speed
  assertion (the bound is far above the typical millisecond).
- Memory is bounded by running the loop in a fresh interpreter under ``resource.setrlimit(RLIMIT_AS)``;
  a ``MemoryError`` is a crash, and a process killed by the limit fails the test.
- ``benchmarks/fuzz_codecs.py`` runs the same probes with 100k inputs outside the test suite.
"""

from __future__ import annotations

import json
import random
import resource
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
MEMORY_LIMIT_MB = 1536
HANG_S = 5.0


class Hang(Exception):
    """Raised by the interval timer inside an input that ran past the time bound."""


def _alarm(signum: int, frame: Any) -> None:
    raise Hang


def fuzz_loop(
    probe: str,
    generate: Callable[[random.Random], Any],
    check: Callable[[Any], bool],
    seed: int,
    n: int,
    hang_s: float = HANG_S,
) -> dict[str, Any]:
    """Run ``n`` seeded cases of one probe; return its counts and the first few failing inputs."""
    rng = random.Random(seed)
    stats: dict[str, Any] = {"probe": probe, "inputs": 0, "crashes": 0, "hangs": 0, "silent_losses": 0}
    examples: list[str] = []
    previous = signal.signal(signal.SIGALRM, _alarm)
    try:
        for _ in range(n):
            case = generate(rng)
            stats["inputs"] += 1
            signal.setitimer(signal.ITIMER_REAL, hang_s)
            try:
                if not check(case):
                    stats["silent_losses"] += 1
                    examples.append(f"silent loss: {case!r:.300}")
            except Hang:
                stats["hangs"] += 1
                examples.append(f"hang: {case!r:.300}")
            except Exception as exc:  # noqa: BLE001 - counting undocumented exceptions is the point
                stats["crashes"] += 1
                examples.append(f"crash {type(exc).__name__}: {exc!s:.200} on {case!r:.300}")
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
    finally:
        signal.signal(signal.SIGALRM, previous)
    stats["examples"] = examples[:5]
    return stats


def _limit_memory(megabytes: int) -> Callable[[], None]:
    def apply() -> None:
        limit = megabytes * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return apply


def run_probes(
    module: str,
    probes: list[str],
    seed: int,
    n: int | dict[str, int],
    memory_mb: int = MEMORY_LIMIT_MB,
    hang_s: float = HANG_S,
) -> list[dict[str, Any]]:
    """Run probes of ``module`` (which defines ``run_probe(name, seed, n, hang_s)``) in a fresh,
    memory-limited interpreter and return one stats dict per probe.

    Args:
        module: Dotted module name, importable from the repository root.
        probes: Probe names, run in this order.
        seed: Seed of every probe's generator.
        n: Cases per probe, or a probe -> cases mapping.
        memory_mb: Address-space limit of the subprocess.
        hang_s: Time bound per input.

    Raises:
        RuntimeError: If the subprocess fails (e.g. killed at the memory limit).
    """
    counts = n if isinstance(n, dict) else dict.fromkeys(probes, n)
    code = (
        "import json\n"
        f"from {module} import run_probe\n"
        f"cases = {counts!r}\n"
        f"for name in {probes!r}:\n"
        f"    print(json.dumps(run_probe(name, {seed}, cases[name], {hang_s})), flush=True)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        preexec_fn=_limit_memory(memory_mb),
        check=False,
    )
    if run.returncode != 0:
        raise RuntimeError(f"fuzz subprocess exited {run.returncode}: {run.stderr[-2000:]}")
    return [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
