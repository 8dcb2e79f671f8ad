"""Reports of :func:`univlm.evaluation.score` results: ``results.json`` and a markdown table per task."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from univlm.fileio import atomic_write_text


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value * 100:.2f}"
    return str(value)


def results_markdown(results: Sequence[Mapping[str, Any]]) -> str:
    """Render results of :func:`~univlm.evaluation.score` as markdown (every score shown x100, as papers do).

    Args:
        results: One result dict per task.

    Returns:
        Markdown text: one table row per task, plus missing/skipped/rejected counts and notes.
    """
    lines = ["# univlm evaluation", ""]
    for res in results:
        scores = res["scores"]
        lines.append(f"## {res['task']} — protocol `{res['protocol']}` ({res['metric']})")
        if res.get("description"):
            lines += ["", res["description"]]
        lines.append("")
        lines.append("| " + " | ".join(scores) + " |")
        lines.append("|" + "---|" * len(scores))
        lines.append("| " + " | ".join(_fmt(v) for v in scores.values()) + " |")
        lines.append("")
        counts = res["counts"]
        lines.append(
            f"Records {counts['records']}, scored {counts['scored']}, missing predictions {counts['missing']}, "
            f"unparsable {counts['unparsable']}, skipped {counts['skipped']}, "
            f"unused predictions {counts['unused_predictions']}, "
            f"rejected prediction lines {counts.get('rejected_predictions', 0)}."
        )
        for reason, n in res.get("skipped", {}).items():
            lines.append(f"- skipped {n}: {reason}")
        for problem in res.get("rejected", []):
            lines.append(f"- rejected: {problem}")
        for note in res.get("details", {}).get("notes", []):
            lines.append(f"- note: {note}")
        lines.append("")
    lines.append(
        "Scores are shown x100, as in published tables (CIDEr too); results.json holds the raw values."
    )
    return "\n".join(lines) + "\n"


def write_results(out_dir: str | os.PathLike[str], results: Sequence[Mapping[str, Any]]) -> tuple[Path, Path]:
    """Write ``results.json`` and ``results.md`` atomically.

    Args:
        out_dir: Output directory (created if missing).
        results: Result dicts of :func:`~univlm.evaluation.score`.

    Returns:
        Paths of the JSON and markdown files.
    """
    out = Path(out_dir)
    json_path, md_path = out / "results.json", out / "results.md"
    atomic_write_text(json_path, json.dumps({"results": list(results)}, indent=2, ensure_ascii=False) + "\n")
    atomic_write_text(md_path, results_markdown(results))
    return json_path, md_path
