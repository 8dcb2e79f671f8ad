"""LLaVA-format instruction JSON with GeoChat task tags and boxes (GeoChat-Instruct).

Native format: one JSON list of ``{"id", "image", "conversations": [{"from": "human"|"gpt",
"value": str}, ...]}``. GeoChat marks tasks with a leading tag in the human turn (``[refer]``,
``[identify]``, ``[grounding]``; untagged turns are VQA, description or chat), writes boxes as
``{<x1><y1><x2><y2>|<theta>}`` on a 0..100 grid relative to the image, joins several boxes with
``<delim>`` and wraps grounded phrases in ``<p>...</p>``.

Design choices:
- Tags map onto ours: ``[refer]`` (expression -> box) and ``[grounding]`` (grounded description)
  -> ``[VG]``; ``[identify]`` (box -> description) -> ``[REF]``; an untagged turn asking to
  describe the image -> ``[CAP]``; any other untagged turn -> ``[VQA]``. The rest of GeoChat's
  wording is kept.
- Boxes are rewritten with our codec as ``[x1, y1, x2, y2]``; ``<delim>`` becomes ``", "`` and the
  ``<p>`` markers are dropped (the phrase stays). GeoChat's angle is dropped: the four numbers
  already bound the object axis-aligned (GeoChat writes ``|<90>`` for unrotated boxes).
- Pixel boxes in ``targets`` are the 0..100 values scaled by the size of the image file read.
- A conversation whose turns all map to one task becomes one multi-turn record; otherwise every
  (human, gpt) pair becomes its own record, so each record has exactly one task tag to route on.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

from data_converters.base import (
    ConvertContext,
    Converter,
    DatasetCard,
    ImageInfo,
    Record,
    Skip,
    make_record,
    read_json,
    slug,
)
from univlm.codecs.boxes import format_box, parse_boxes
from univlm.data.templates import IMAGE_PLACEHOLDER

GEOCHAT_TAGS: dict[str, str] = {"refer": "VG", "grounding": "VG", "identify": "REF"}
_TAG_RE = re.compile(r"^\s*\[([a-zA-Z_]+)\]\s*")
_DESCRIBE_RE = re.compile(r"\b(describe|description|caption)\b", re.IGNORECASE)
_P_RE = re.compile(r"</?p>")
_DELIM_RE = re.compile(r"\s*<delim>\s*")
_SPACES_RE = re.compile(r"[ \t]{2,}")


def convert_geochat_text(text: str) -> tuple[str, list[tuple[int, int, int, int]]]:
    """Rewrite GeoChat boxes in ``text`` as ``[x1, y1, x2, y2]`` and drop ``<p>``/``<delim>`` markup.

    Args:
        text: A GeoChat turn.

    Returns:
        ``(converted text, boxes)`` with boxes as 0..100 int tuples in reading order.

    Raises:
        ValueError: When a GeoChat box cannot be read (wrong arity, non-numeric values).
    """
    parsed = parse_boxes(text)
    geochat = [b for b in parsed.boxes if b.form == "geochat"]
    bad = [p for p in parsed.problems if "GeoChat" in p or "{" in p]
    if bad:
        raise ValueError("; ".join(bad))
    pieces: list[str] = []
    boxes: list[tuple[int, int, int, int]] = []
    last = 0
    for b in geochat:
        box = tuple(min(100, max(0, round(float(v)))) for v in b.box)
        boxes.append(box)  # type: ignore[arg-type]
        pieces.append(text[last : b.span[0]])
        pieces.append(format_box(box))
        last = b.span[1]
    pieces.append(text[last:])
    out = _DELIM_RE.sub(", ", "".join(pieces))
    out = _P_RE.sub("", out)
    return _SPACES_RE.sub(" ", out.replace(" ,", ",")).strip(), boxes


def _turn_task(prompt: str, tag_map: dict[str, str]) -> tuple[str, str]:
    """``(task, prompt without the dataset tag)`` of one human turn."""
    m = _TAG_RE.match(prompt)
    if m and m.group(1).lower() in tag_map:
        return tag_map[m.group(1).lower()], prompt[m.end() :]
    if m and m.group(1).lower() == "vqa":
        return "VQA", prompt[m.end() :]
    return ("CAP" if _DESCRIBE_RE.search(prompt) else "VQA"), prompt


def _targets(
    task: str, info: ImageInfo, question_boxes: list, answer: str, answer_boxes: list
) -> dict[str, Any]:
    size = [info.width, info.height]

    def px(box: Sequence[int]) -> list[float]:
        return [
            box[0] * info.width / 100,
            box[1] * info.height / 100,
            box[2] * info.width / 100,
            box[3] * info.height / 100,
        ]

    if task == "VG":
        return {"boxes": [px(b) for b in answer_boxes], "image_size": size}
    if task == "REF":
        return {"boxes": [px(b) for b in question_boxes], "image_size": size, "references": [answer]}
    if task == "CAP":
        return {"references": [answer]}
    return {"answer": answer, "answer_type": "other"}


def llava_instructions(
    card: DatasetCard,
    *,
    json_file: str,
    image_dir: str,
    splits: tuple[str, ...] = ("train",),
    tag_map: dict[str, str] | None = None,
) -> Converter:
    """Build the converter of a GeoChat-style LLaVA instruction file.

    Args:
        card: The dataset's facts (name, link, citation, layout, notes).
        json_file: The instruction JSON under ``--src``.
        image_dir: Image folder under ``--src``.
        splits: Accepted split names (the file is one split).
        tag_map: Dataset tag (lower case, no brackets) -> our task; GeoChat's by default.

    Returns:
        The :class:`Converter`.
    """
    name = card.name
    tags = dict(GEOCHAT_TAGS if tag_map is None else tag_map)

    def parse(ctx: ConvertContext) -> Iterator[Record | Skip]:
        path = ctx.src / json_file
        data = read_json(path)
        if not isinstance(data, list):
            raise ValueError(f"{path}: expected a JSON list of conversations, got {type(data).__name__}")
        for n, item in enumerate(data):
            where = f"{path.name}#{item.get('id', n)}" if isinstance(item, dict) else f"{path.name}[{n}]"
            if not isinstance(item, dict) or not item.get("image") or not item.get("conversations"):
                yield Skip("entry without image or conversations", where)
                continue
            turns = item["conversations"]
            if len(turns) % 2 or any(
                t.get("from") != ("human" if i % 2 == 0 else "gpt") for i, t in enumerate(turns)
            ):
                yield Skip("conversation not alternating human/gpt", where)
                continue
            try:
                pairs = []
                for i in range(0, len(turns), 2):
                    raw_q = str(turns[i]["value"]).replace(IMAGE_PLACEHOLDER, "").strip()
                    task, q_text = _turn_task(raw_q, tags)
                    q_conv, q_boxes = convert_geochat_text(q_text)
                    a_conv, a_boxes = convert_geochat_text(str(turns[i + 1]["value"]))
                    pairs.append((task, f"[{task}] {q_conv}", a_conv, q_boxes, a_boxes))
            except ValueError as err:
                yield Skip("unreadable GeoChat box", where, str(err))
                continue
            bad = [p for p in pairs if (p[0] == "VG" and not p[4]) or (p[0] == "REF" and not p[3])]
            if bad:
                yield Skip("region task without a box", where)
                continue
            info = ctx.image(ctx.src / image_dir / str(item["image"]))
            if isinstance(info, Skip):
                yield info
                continue
            key = slug(str(item.get("id", n)))
            groups = [pairs] if len({p[0] for p in pairs}) == 1 else [[p] for p in pairs]
            for g, group in enumerate(groups):
                task, prompt, answer, q_boxes, a_boxes = group[0]
                suffix = "" if len(groups) == 1 else f"-{g}"
                yield make_record(
                    rid=f"{name}-{ctx.split}-{n}-{key}{suffix}-{task.lower()}",
                    images=[info.rel],
                    task=task,
                    prompt=prompt,
                    answer=answer,
                    source=f"{name}/{ctx.split}",
                    targets=_targets(task, info, q_boxes, answer, a_boxes),
                    extra_turns=[(p[1], p[2]) for p in group[1:]],
                )

    return Converter(
        card,
        tasks=("VQA", "CAP", "VG", "REF"),
        splits=splits,
        required=(json_file, f"{image_dir}/"),
        parse=parse,
    )
