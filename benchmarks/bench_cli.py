"""Start-up cost of the codec commands, side by side with the numpy + Pillow floor (issue #13).

Usage (from the repository root)::

    python benchmarks/bench_cli.py [--repeats 7]

Each command runs ``--repeats`` times in a fresh interpreter, interleaved so that machine load hits
every row alike; the table gives the median and the best wall time and each median's ratio to the
floor, ``python -c "import numpy, PIL"``. Goal: ``decode-mask`` within 2x of the floor.

Rows:

- ``import numpy, PIL`` (the floor) and ``import numpy, PIL.Image`` (what an image command needs);
- ``univlm decode-mask --help``;
- ``univlm decode-mask`` of one 24x24 answer to a 1024x1024 PNG;
- ``univlm encode-mask`` of that PNG back to text.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from univlm.codecs import encode_mask  # noqa: E402


def _univlm() -> list[str]:
    """The installed ``univlm`` console script, else ``python -m univlm.cli``."""
    script = shutil.which("univlm", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "univlm.cli"]


def _answer(folder: Path) -> Path:
    mask = np.zeros((1024, 1024), dtype=np.uint8)
    mask[200:700, 300:900] = 1
    mask[750:1000, 50:400] = 2
    path = folder / "answer.txt"
    path.write_text(
        "Here it is: " + encode_mask(mask, ["others", "building", "road"]) + "\n", encoding="utf-8"
    )
    return path


def _time(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="runs per command (default 7)")
    args = parser.parse_args()
    univlm = _univlm()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        answer = _answer(folder)
        png = folder / "mask.png"
        rows = {
            'python -c "import numpy, PIL"  (floor)': [sys.executable, "-c", "import numpy, PIL"],
            'python -c "import numpy, PIL.Image"': [sys.executable, "-c", "import numpy, PIL.Image"],
            "univlm decode-mask --help": [*univlm, "decode-mask", "--help"],
            "univlm decode-mask 24x24 -> 1024x1024 PNG": [
                *univlm,
                "decode-mask",
                str(answer),
                "--size",
                "1024x1024",
                "-o",
                str(png),
                "--quiet",
            ],
            "univlm encode-mask 1024x1024 PNG -> text": [*univlm, "encode-mask", str(png)],
        }
        for cmd in rows.values():  # warm the file-system cache once
            _time(cmd)
        times: dict[str, list[float]] = {name: [] for name in rows}
        for _ in range(args.repeats):
            for name, cmd in rows.items():
                times[name].append(_time(cmd))
    floor = statistics.median(next(iter(times.values())))
    width = max(len(name) for name in rows)
    print(f"{'command'.ljust(width)}  median s   best s   x floor")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name.ljust(width)}  {median:8.3f}  {min(values):7.3f}  {median / floor:8.2f}")
    print(f"({args.repeats} interleaved runs each; {univlm[0]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
