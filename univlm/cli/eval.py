"""``univlm eval``: generate predictions with a model and/or score them under a named protocol.

Examples::

    univlm eval --task vg_vrsbench --task vg_pixel --predictions preds.jsonl --data test.jsonl
    univlm eval --task scene_cls --model ckpt/ --data aid_test.jsonl --out runs/aid
    accelerate launch -m univlm.cli.eval --task rsvqa_lr --model ckpt/ --data lr_test.jsonl

With ``--model``, prompts are split across ``accelerate`` processes by process index, each process
generates its share, the main process gathers them, writes ``predictions.jsonl`` and scores. Results go
to ``OUT/results.json`` and ``OUT/results.md`` (written atomically), each naming its protocol.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="univlm eval",
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
        "--predictions",
        metavar="FILE",
        help='existing predictions JSONL ({"id": ..., "text": ...} per line) to score',
    )
    p.add_argument("--data", metavar="FILE", help="records JSONL with ground truth (schema: docs/DATA.md)")
    p.add_argument(
        "--root", metavar="DIR", help="data root for images and masks (default: the data file's folder)"
    )
    p.add_argument("--out", metavar="DIR", help="output folder (default: eval_results/<tasks>)")
    p.add_argument("--limit", type=int, metavar="N", help="score only the first N records the tasks apply to")
    p.add_argument("--batch-size", type=int, default=1, metavar="B", help="prompts per generation batch")
    p.add_argument("--max-new-tokens", type=int, metavar="T", help="generation length limit")
    p.add_argument(
        "--no-constrained",
        action="store_true",
        help="turn off grammar-constrained decoding of masks and boxes",
    )
    p.add_argument("--device", help="torch device for generation (default: accelerate's device)")
    p.add_argument("--dtype", help="model dtype for generation, e.g. float32 or bfloat16")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--list-tasks", action="store_true", help="list the built-in tasks and exit")
    return p


def _list_tasks() -> None:
    from univlm.evaluation.registry import builtin_tasks

    tasks = builtin_tasks()
    width = max(len(n) for n in tasks)
    for name, spec in tasks.items():
        print(f"{name.ljust(width)}  {spec.record_task:<4} {spec.metric}/{spec.protocol}  {spec.description}")


def _generate(args: argparse.Namespace, requests: list, root: Path) -> list[dict]:
    """Generate on this process's shard; return all rows on the main process (None elsewhere)."""
    from accelerate import PartialState
    from accelerate.utils import gather_object

    from univlm.evaluation.runner import generate
    from univlm.inference import Predictor

    state = PartialState()
    kwargs = {"device": args.device or str(state.device), "dtype": args.dtype}
    if args.no_constrained:
        kwargs["constrained"] = False
    predictor = Predictor.from_pretrained(args.model, **kwargs)
    indices = list(range(state.process_index, len(requests), state.num_processes))
    gen = {} if args.max_new_tokens is None else {"max_new_tokens": args.max_new_tokens}
    rows = generate(
        predictor,
        [requests[i] for i in indices],
        root,
        batch_size=args.batch_size,
        progress=not args.quiet and state.is_local_main_process,
        **gen,
    )
    for i, row in zip(indices, rows):
        row["_index"] = i
    gathered = gather_object(rows) if state.num_processes > 1 else rows
    if not state.is_main_process:
        return None
    gathered = sorted(gathered, key=lambda r: r["_index"])
    for row in gathered:
        del row["_index"]
    return gathered


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``univlm eval``.

    Args:
        argv: Arguments without the program name; ``sys.argv[1:]`` when None.

    Returns:
        0 on success, 2 on bad arguments or input files.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if args.list_tasks:
        _list_tasks()
        return 0
    if not args.task or not args.data or not (args.model or args.predictions):
        parser.print_usage(sys.stderr)
        print(
            "univlm eval: error: --task, --data and one of --model/--predictions are required",
            file=sys.stderr,
        )
        return 2

    from univlm.data.schema import RecordError, read_jsonl
    from univlm.evaluation.metrics.caption import JavaNotFoundError
    from univlm.evaluation.registry import TaskSpecError, get_task
    from univlm.evaluation.runner import (
        PredictionsError,
        build_requests,
        read_predictions,
        results_markdown,
        score,
        write_predictions,
        write_results,
    )

    try:
        specs = [get_task(name) for name in args.task]
        records = [rec for _, rec in read_jsonl(args.data)]
    except (KeyError, TaskSpecError, RecordError, FileNotFoundError) as exc:
        print(f"univlm eval: error: {exc}", file=sys.stderr)
        return 2
    root = Path(args.root) if args.root else Path(args.data).resolve().parent
    if args.limit is not None:
        applies = [r for r in records if any(r.get("task") == s.record_task for s in specs)]
        records = applies[: args.limit]
    out = Path(args.out) if args.out else Path("eval_results") / "+".join(s.name for s in specs)

    if args.model:
        requests, by_key = [], {}
        for spec in specs:
            for req in build_requests(spec, records)[0]:
                seen = by_key.get(req.key())
                if seen is None:
                    by_key[req.key()] = req
                    requests.append(req)
                elif seen.prompt != req.prompt:
                    print(
                        f"univlm eval: error: tasks ask different prompts for record {req.id!r}; "
                        "run them separately",
                        file=sys.stderr,
                    )
                    return 2
        rows = _generate(args, requests, root)
        if rows is None:  # a non-main accelerate process: the main one scores
            return 0
        pred_path = out / "predictions.jsonl"
        write_predictions(pred_path, rows)
        print(f"wrote {len(rows)} predictions to {pred_path}")
        predictions = {(r["id"], r.get("label")): r["text"] for r in rows}
    else:
        try:
            predictions = read_predictions(args.predictions)
        except (PredictionsError, FileNotFoundError) as exc:
            print(f"univlm eval: error: {exc}", file=sys.stderr)
            return 2

    results = []
    for spec in specs:
        try:
            results.append(score(spec, predictions, records, root))
        except JavaNotFoundError as exc:
            print(f"univlm eval: error: task {spec.name}: {exc}", file=sys.stderr)
            return 2
    json_path, md_path = write_results(out, results)
    print(results_markdown(results))
    for res in results:
        if res["counts"]["missing"]:
            print(
                f"warning: {res['task']}: {res['counts']['missing']} record(s) had no prediction "
                f"and were scored as wrong, e.g. {json.dumps(res['missing_ids'][:5])}",
                file=sys.stderr,
            )
    print(f"results: {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
