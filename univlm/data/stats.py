"""Dataset statistics behind ``univlm data stats``: record counts and prompt+answer lengths.

Lengths are measured on the rendered chat (the tokenizer's chat template, all turns) when a
tokenizer is given, and in characters of the concatenated turns otherwise. ``<image>`` counts as its
text here; the model later expands each placeholder into the vision tokens of one image.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np


def _summary(lengths: Sequence[int]) -> dict[str, float]:
    if not lengths:
        return {"n": 0}
    arr = np.asarray(lengths)
    return {"n": int(arr.size), "min": int(arr.min()), "median": float(np.median(arr)),
            "p95": float(np.percentile(arr, 95)), "max": int(arr.max())}


def record_length(record: Mapping[str, Any], tokenizer=None) -> int:
    """Token count of the rendered chat with ``tokenizer``, else character count of all turns."""
    messages = [{"role": m["role"], "content": m["content"]} for m in record["messages"]]
    if tokenizer is None:
        return sum(len(m["content"]) for m in messages)
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def compute_stats(records: Iterable[Mapping[str, Any]], tokenizer=None) -> dict[str, Any]:
    """Counts per task, granularity and source, and length summaries overall and per task.

    Args:
        records: Records (schema of docs/DATA.md).
        tokenizer: A ``transformers`` tokenizer with a chat template; character lengths when None.

    Returns:
        ``{"records", "tasks", "granularities", "sources", "unit", "lengths", "lengths_by_task"}``;
        each length summary has n, min, median, p95 and max.
    """
    tasks: Counter = Counter()
    grans: Counter = Counter()
    sources: Counter = Counter()
    lengths: list[int] = []
    by_task: dict[str, list[int]] = defaultdict(list)
    for rec in records:
        tasks[rec.get("task")] += 1
        grans[rec.get("granularity")] += 1
        sources[rec.get("source")] += 1
        n = record_length(rec, tokenizer)
        lengths.append(n)
        by_task[rec.get("task")].append(n)
    return {
        "records": len(lengths),
        "tasks": dict(sorted(tasks.items())),
        "granularities": dict(sorted(grans.items())),
        "sources": dict(sorted(sources.items())),
        "unit": "tokens" if tokenizer is not None else "characters",
        "lengths": _summary(lengths),
        "lengths_by_task": {t: _summary(v) for t, v in sorted(by_task.items())},
    }


def format_stats(stats: Mapping[str, Any]) -> str:
    """Human-readable text of :func:`compute_stats` output."""
    lines = [f"records: {stats['records']}"]
    for key in ("tasks", "granularities", "sources"):
        lines.append(f"{key}:")
        lines += [f"  {name}: {count}" for name, count in stats[key].items()]

    def row(name: str, s: Mapping[str, float]) -> str:
        if not s.get("n"):
            return f"  {name:8} n=0"
        return (f"  {name:8} n={s['n']:<6} min={s['min']:<5} median={s['median']:<7g} p95={s['p95']:<7g} "
                f"max={s['max']}")

    lines.append(f"length ({stats['unit']}):")
    lines.append(row("all", stats["lengths"]))
    lines += [row(t, s) for t, s in stats["lengths_by_task"].items()]
    return "\n".join(lines)
