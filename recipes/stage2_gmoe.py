"""Stage 2: upcycle the stage-1 model to the granularity MoE (G-MoE) and train only the experts' FFNs.

Launch (embedded default: reads ./outputs/stage1, writes ./outputs/stage2, val scores printed)::

    accelerate launch recipes/stage2_gmoe.py
    python recipes/stage2_gmoe.py                      # same, without accelerate

Real size, e.g. 8 GPUs with ZeRO-3 (G-MoE blocks are ZeRO-3 leaf modules, see docs/TRAINING.md)::

    accelerate launch --config_file recipes/accelerate/zero3.yaml recipes/stage2_gmoe.py \\
        --config recipes/configs/stage2_rsunivlm.yaml --init_from outputs/stage1_rsunivlm

Every dense FFN is copied into the image / region / pixel experts; each sample is routed by its task
tag; everything except the experts is frozen. Overrides, ``--resume`` and ``--skip-bad`` work as in
stage 1.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path

DEFAULT_CONFIG = Path(__file__).resolve().parent / "configs" / "stage2_cpu.yaml"


def main(argv: Sequence[str] | None = None) -> int:
    """Run stage 2; returns 0 on success (the process exit code)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
    from univlm.training.config import parse_args
    from univlm.training.dataset import BadRecordError
    from univlm.training.pipeline import format_report, run

    cfg = parse_args(
        argv, prog="stage2_gmoe.py", description=__doc__.splitlines()[0], default_config=DEFAULT_CONFIG
    )
    if cfg.stage != 2:
        print(f"stage2_gmoe.py: config has stage={cfg.stage}; use recipes/stage1_sft.py", file=sys.stderr)
        return 2
    if not cfg.init_from or not (Path(cfg.init_from) / "config.json").is_file():
        print(
            f"stage2_gmoe.py: no stage-1 model at {cfg.init_from!r}; run recipes/stage1_sft.py first "
            "or pass --init_from DIR",
            file=sys.stderr,
        )
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        result = run(cfg)
    except BadRecordError as err:
        print(f"stage2_gmoe.py: {err}", file=sys.stderr)
        return 1
    print(format_report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
