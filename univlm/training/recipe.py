"""The command-line body shared by ``recipes/stage1_sft.py`` and ``recipes/stage2_gmoe.py``.

Parse (``univlm.training.config.parse_args``), check the stage, configure logging, run
(``univlm.training.pipeline.run``) and print the closing report. Errors follow the CLI grammar of
docs/CLI.md: one line ``PROG: error: ...`` on stderr; exit code 2 for a usage or configuration error,
1 when the work failed (a bad record without ``--skip-bad``), 0 on success.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from univlm.training.config import parse_args
from univlm.training.dataset import BadRecordError
from univlm.training.pipeline import format_report, quiet_progress_bars, run

logger = logging.getLogger(__name__)

_OTHER = {1: "recipes/stage2_gmoe.py", 2: "recipes/stage1_sft.py"}


def run_recipe(
    argv: Sequence[str] | None, *, stage: int, prog: str, description: str, default_config: str | Path
) -> int:
    """Run one stage from the command line; returns the process exit code.

    Args:
        argv: Command-line arguments (None = ``sys.argv[1:]``).
        stage: The stage this recipe runs (1 or 2); a config for the other stage is a usage error.
        prog: Program name for messages.
        description: One-line description for ``--help``.
        default_config: YAML used when ``--config`` is not given.
    """
    try:
        args, training_args = parse_args(argv, prog=prog, description=description, default_config=default_config)
    except ValueError as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
    if args.stage != stage:
        print(f"{prog}: error: config has stage={args.stage}; use {_OTHER[stage]}", file=sys.stderr)
        return 2
    if stage == 2 and (not args.init_from or not (Path(args.init_from) / "config.json").is_file()):
        print(
            f"{prog}: error: no stage-1 model at {args.init_from!r}; run recipes/stage1_sft.py first "
            "or pass --init_from DIR",
            file=sys.stderr,
        )
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if training_args.disable_tqdm:
        quiet_progress_bars()
    try:
        result = run(args, training_args)
    except BadRecordError as err:
        print(f"{prog}: error: bad training record {err} (use --skip-bad to skip and list them)", file=sys.stderr)
        return 1
    except (FileNotFoundError, ValueError) as err:  # missing data, inconsistent configuration
        logger.debug("%s failed", prog, exc_info=True)
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
    print(format_report(result))
    return 0
