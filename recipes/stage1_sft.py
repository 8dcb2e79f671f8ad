"""Stage 1: supervised fine-tuning of the dense univlm model (vision tower, projector and LLM all train).

Launch (embedded default: tiny model on CPU, synthetic data generated under ./data/synthetic if absent,
output in ./outputs/stage1, val scores printed at the end)::

    accelerate launch recipes/stage1_sft.py
    python recipes/stage1_sft.py                      # same, without accelerate

Real size (LLaVA-OneVision-0.5B initialisation, the paper's settings), e.g. 8 GPUs::

    accelerate launch --config_file recipes/accelerate/multi_gpu.yaml recipes/stage1_sft.py \\
        --config recipes/configs/stage1_rsunivlm.yaml --model /path/to/llava-onevision-qwen2-0.5b-si-hf

Any field of the YAML, univlm's or TRL's ``SFTConfig``'s, can be overridden: ``--learning_rate 2e-5
--max_steps 100 --eval_tasks CLS VG``; ``--resume`` continues from the latest complete checkpoint (a
finished run has nothing to do); ``--skip-bad`` skips (and lists) bad records. See docs/TRAINING.md.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

DEFAULT_CONFIG = Path(__file__).resolve().parent / "configs" / "stage1_cpu.yaml"


def main(argv: Sequence[str] | None = None) -> int:
    """Run stage 1; returns the process exit code (0 ok, 1 a bad record, 2 a usage or config error)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
    from univlm.training.recipe import run_recipe  # after the path insert; loads torch and TRL

    return run_recipe(
        argv, stage=1, prog="stage1_sft.py", description=__doc__.splitlines()[0], default_config=DEFAULT_CONFIG
    )


if __name__ == "__main__":
    sys.exit(main())
