"""Stage 1: supervised fine-tuning of the dense univlm model (vision tower, projector and LLM all train).

Launch (embedded default: tiny model on CPU, synthetic data generated under ./data/synthetic if absent,
output in ./outputs/stage1, val scores printed at the end)::

    accelerate launch recipes/stage1_sft.py
    python recipes/stage1_sft.py                      # same, without accelerate

Real size (LLaVA-OneVision-0.5B initialisation, the paper's settings), e.g. 8 GPUs::

    accelerate launch --config_file recipes/accelerate/multi_gpu.yaml recipes/stage1_sft.py \\
        --config recipes/configs/stage1_rsunivlm.yaml --model /path/to/llava-onevision-qwen2-0.5b-si-hf

Any config field can be overridden: ``--learning_rate 2e-5 --max_steps 100``; ``--resume`` continues
from the latest complete checkpoint; ``--skip-bad`` skips (and lists) bad records. See docs/TRAINING.md.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path

DEFAULT_CONFIG = Path(__file__).resolve().parent / "configs" / "stage1_cpu.yaml"


def main(argv: Sequence[str] | None = None) -> int:
    """Run stage 1; returns 0 on success (the process exit code)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
    from univlm.training.config import parse_args
    from univlm.training.dataset import BadRecordError
    from univlm.training.pipeline import format_report, run

    cfg = parse_args(
        argv, prog="stage1_sft.py", description=__doc__.splitlines()[0], default_config=DEFAULT_CONFIG
    )
    if cfg.stage != 1:
        print(f"stage1_sft.py: config has stage={cfg.stage}; use recipes/stage2_gmoe.py", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        result = run(cfg)
    except BadRecordError as err:
        print(f"stage1_sft.py: {err}", file=sys.stderr)
        return 1
    print(format_report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
