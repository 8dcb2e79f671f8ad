"""``univlm eval``: generate predictions with a model and/or score them under a named protocol.

Examples::

    univlm eval --task vg_vrsbench --task vg_pixel --predictions preds.jsonl --data test.jsonl
    univlm eval --task scene_cls --model ckpt/ --data aid_test.jsonl -o runs/aid
    accelerate launch -m univlm.cli.eval --task rsvqa_lr --model ckpt/ --data lr_test.jsonl --json

With ``--model``, prompts are split across ``accelerate`` processes by process index, each process
generates its share (grouped by expert, see :func:`univlm.evaluation.generate`), the main process
gathers them, writes ``predictions.jsonl`` and scores. Results go to ``OUT/results.json`` and
``OUT/results.md`` (written atomically), each naming its protocol.

Exit codes (docs/CLI.md): 0 scored; 1 a score could not be computed (no Java for a COCO caption
protocol, semantic records without one class list, no usable line in the predictions file); 2 usage
or input error (unknown task, missing file, malformed data file). Errors are one line on stderr.
Bad lines of a predictions file are not errors: they are rejected, named ``FILE:LINE`` in a warning,
counted in the results, and the rest is scored.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from univlm.cli._common import CommandParser, error_line, fail, guarded
from univlm.data.schema import RecordError, read_jsonl
from univlm.evaluation.ground_truth import ClassListError
from univlm.evaluation.metrics.caption import JavaNotFoundError
from univlm.evaluation.predictions import (
    PredictionSet,
    as_prediction_map,
    read_predictions,
    write_predictions,
)
from univlm.evaluation.registry import TaskSpecError, builtin_tasks, get_task
from univlm.evaluation.report import results_markdown, write_results
from univlm.evaluation.requests import Request, build_requests, generate
from univlm.evaluation.runner import score

PROG = "univlm eval"
DTYPES = ("float32", "bfloat16", "float16")


def _parser() -> argparse.ArgumentParser:
    p = CommandParser(
        prog=PROG,
        description="Generate predictions with a model and/or score them under a named evaluation protocol.",
    )
    p.add_argument(
        "--task",
        action="append",
        default=[],
        metavar="NAME",
        help="task name (see --list-tasks) or a task YAML file; repeat to score several tasks",
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument("--model", metavar="DIR", help="checkpoint directory to generate predictions with")
    src.add_argument(
        "--predictions", metavar="FILE", help='existing predictions JSONL ({"id": ..., "text": ...} per line)'
    )
    p.add_argument("--data", metavar="FILE", help="records JSONL with ground truth (schema: docs/DATA.md)")
    p.add_argument(
        "--root", metavar="DIR", help="data root for images and masks (default: the data file's folder)"
    )
    p.add_argument(
        "--allow-outside-root",
        action="store_true",
        help="read image paths that leave the data root (absolute or '../' paths); refused by default",
    )
    p.add_argument("-o", "--out", metavar="DIR", help="output folder (default: eval_results/<tasks>)")
    p.add_argument("--limit", type=int, metavar="N", help="score only the first N records the tasks apply to")
    p.add_argument("--batch-size", type=int, default=1, metavar="B", help="prompts per generation batch")
    p.add_argument("--max-new-tokens", type=int, metavar="T", help="generation length limit")
    p.add_argument(
        "--no-constrained",
        action="store_true",
        help="turn off grammar-constrained decoding of masks and boxes",
    )
    p.add_argument("--device", help="torch device for generation (default: accelerate's device)")
    p.add_argument("--dtype", choices=DTYPES, help="model dtype for generation")
    p.add_argument(
        "--quantize", choices=("none", "int8", "int4"), default="none",
        help="weight-only language model with bf16 activations: int8, or int4 (CPU only, fastest; docs/INFERENCE.md)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar and no informational lines")
    p.add_argument("--json", action="store_true", help="print the results as one JSON document on stdout")
    p.add_argument("--list-tasks", action="store_true", help="list the built-in tasks and exit")
    return p


def _fail(message: str) -> int:
    return fail(PROG, message)


def _list_tasks(as_json: bool) -> None:
    tasks = builtin_tasks()
    if as_json:
        rows = [
            {"name": n, "record_task": s.record_task, "metric": s.metric, "protocol": s.protocol,
             "parser": s.parser, "description": s.description}
            for n, s in tasks.items()
        ]  # fmt: skip
        print(json.dumps(rows, indent=2))
        return
    width = max(len(n) for n in tasks)
    for name, spec in tasks.items():
        print(f"{name.ljust(width)}  {spec.record_task:<4} {spec.metric}/{spec.protocol}  {spec.description}")


def _generate(
    args: argparse.Namespace, requests: list[Request], root: Path, failures: list[str]
) -> list[dict] | None:
    """Generate on this process's shard; return all rows on the main process (None elsewhere).

    Prompts whose images cannot be loaded get no row; ``failures`` receives why (main process: all).
    """
    # accelerate and the inference stack load torch and transformers: only a --model run pays for them.
    from accelerate import PartialState
    from accelerate.utils import gather_object

    from univlm.inference import Predictor

    state = PartialState()
    kwargs: dict[str, Any] = {"device": args.device or str(state.device), "dtype": args.dtype}
    if args.no_constrained:
        kwargs["constrained"] = False
    predictor = Predictor.from_pretrained(args.model, quantize=args.quantize, **kwargs)
    indices = list(range(state.process_index, len(requests), state.num_processes))
    gen = {} if args.max_new_tokens is None else {"max_new_tokens": args.max_new_tokens}
    progress = not args.quiet and state.is_local_main_process
    mine: list[str] = []
    rows = generate(
        predictor,
        [requests[i] for i in indices],
        root,
        batch_size=args.batch_size,
        progress=progress,
        allow_outside_root=args.allow_outside_root,
        failures=mine,
        **gen,
    )
    position = {requests[i].key(): i for i in indices}  # keys are unique: _requests deduplicates them
    for row in rows:
        row["_index"] = position[(row["id"], row.get("label"))]
    gathered = gather_object(rows) if state.num_processes > 1 else rows
    failures.extend(gather_object(mine) if state.num_processes > 1 else mine)
    if not state.is_main_process:
        return None
    gathered = sorted(gathered, key=lambda r: r["_index"])
    for row in gathered:
        del row["_index"]
    return gathered


def _requests(specs: list, records: list) -> list[Request]:
    """Every distinct prompt the tasks ask; raises ValueError when two tasks ask one record differently."""
    requests, by_key = [], {}
    for spec in specs:
        for req in build_requests(spec, records)[0]:
            seen = by_key.get(req.key())
            if seen is None:
                by_key[req.key()] = req
                requests.append(req)
            elif seen.prompt != req.prompt:
                raise ValueError(f"tasks ask different prompts for record {req.id!r}; run them separately")
    return requests


def _warn(results: list[dict], predictions: PredictionSet) -> None:
    for problem in predictions.problems:
        print(f"warning: rejected {problem}", file=sys.stderr)
    if predictions.rejected > len(predictions.problems):
        print(f"warning: {predictions.rejected} prediction lines rejected in all", file=sys.stderr)
    for res in results:
        if res["counts"]["missing"]:
            print(
                f"warning: {res['task']}: {res['counts']['missing']} record(s) had no prediction "
                f"and were scored as wrong, e.g. {json.dumps(res['missing_ids'][:5])}",
                file=sys.stderr,
            )


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``univlm eval``.

    Args:
        argv: Arguments without the program name; ``sys.argv[1:]`` when None.

    Returns:
        0 when every task was scored, 1 when a score could not be computed, 2 on a usage or input error.
    """
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # --help (0), or a usage error already printed as one line (2)
        return int(exc.code or 0)
    if args.list_tasks:
        _list_tasks(args.json)
        return 0
    if not args.task or not args.data or not (args.model or args.predictions):
        return _fail("--task, --data and one of --model/--predictions are required")
    try:
        specs = [get_task(name) for name in args.task]
        records = [rec for _, rec in read_jsonl(args.data)]
        predictions = None if args.model else read_predictions(args.predictions)
    except KeyError as exc:
        return _fail(exc.args[0] if exc.args else str(exc))
    except (TaskSpecError, RecordError, OSError) as exc:
        return _fail(str(exc))
    root = Path(args.root) if args.root else Path(args.data).resolve().parent
    if args.limit is not None:
        records = [r for r in records if any(r.get("task") == s.record_task for s in specs)][: args.limit]
    out = Path(args.out) if args.out else Path("eval_results") / "+".join(s.name for s in specs)
    say = (lambda *a: None) if (args.quiet or args.json) else print

    if predictions is None:
        try:
            requests = _requests(specs, records)
        except ValueError as exc:
            return _fail(str(exc))
        failures: list[str] = []
        rows = _generate(args, requests, root, failures)
        if rows is None:  # a non-main accelerate process: the main one scores
            return 0
        for failure in failures[:20]:
            print(f"warning: not generated (scored as missing): {failure}", file=sys.stderr)
        if len(failures) > 20:
            print(f"warning: {len(failures)} prompts not generated in all", file=sys.stderr)
        pred_path = out / "predictions.jsonl"
        write_predictions(pred_path, rows)
        say(f"wrote {len(rows)} predictions to {pred_path}")
        predictions = as_prediction_map(rows)  # keeps head masks (mask_decoder "head") with the text
    elif predictions.rejected and not predictions:
        print(
            f"{PROG}: error: no usable line in {args.predictions}: {predictions.problems[0]}", file=sys.stderr
        )
        return 1

    results = []
    for spec in specs:
        try:
            results.append(score(spec, predictions, records, root))
        except (JavaNotFoundError, ClassListError) as exc:
            print(error_line(PROG, f"task {spec.name}: {exc}"), file=sys.stderr)
            return 1
    json_path, md_path = write_results(out, results)
    if args.json:
        print(json.dumps({"results": results, "files": [str(json_path), str(md_path)]}, ensure_ascii=False))
    else:
        say(results_markdown(results))
    _warn(results, predictions)
    say(f"results: {json_path} and {md_path}")
    return 0


if __name__ == "__main__":  # e.g. `accelerate launch -m univlm.cli.eval`: the dispatcher's net too
    raise SystemExit(guarded(PROG, main, sys.argv[1:]))
