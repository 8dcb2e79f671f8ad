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

import sys
from collections.abc import Sequence
from pathlib import Path

DEFAULT_CONFIG = Path(__file__).resolve().parent / "configs" / "stage2_cpu.yaml"


def main(argv: Sequence[str] | None = None) -> int:
    """Run stage 2; returns the process exit code (0 ok, 1 a bad record, 2 a usage or config error)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
    from univlm.training.recipe import run_recipe  # after the path insert; loads torch and TRL

    return run_recipe(
        argv, stage=2, prog="stage2_gmoe.py", description=__doc__.splitlines()[0], default_config=DEFAULT_CONFIG
    )


if __name__ == "__main__":
    sys.exit(main())
