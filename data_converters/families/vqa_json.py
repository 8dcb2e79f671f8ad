"""Visual question answering from JSON annotations (RSVQA-LR, RSVQA-HR; VRSBench-VQA uses the helper).

RSVQA ships three JSON files per split, ``<prefix>_split_<split>_{questions,answers,images}.json``:
- ``{"images": [{"id", "questions_ids": [...], "active": bool}, ...]}``
- ``{"questions": [{"id", "img_id", "type", "question", "answers_ids": [...], "active"}, ...]}``
- ``{"answers": [{"id", "question_id", "answer", "active"}, ...]}``
and one image ``<image dir>/<img_id>.tif`` per image id. Entries whose ``active`` flag is false were
withdrawn by the authors; they are counted as skipped (reason ``inactive``), as is a question whose
answer is missing.

Design choices:
- The answer is the first active answer of the question, verbatim (RSVQA scores exact matches).
- RSVQA question types map onto the schema's answer types: ``comp`` -> ``comparison``, ``presence``,
  ``count``, ``rural_urban``, ``area``; anything else -> ``other``. The original type is kept in
  ``targets.question_type``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
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
)
from univlm.data.templates import vqa_prompt

RSVQA_CITATION = (
    "@article{lobry2020rsvqa, title={RSVQA: Visual question answering for remote sensing data}, "
    "author={Lobry, Sylvain and Marcos, Diego and Murray, Jesse and Tuia, Devis}, journal={IEEE TGRS}, "
    "volume={58}, number={12}, pages={8555--8566}, year={2020}}"
)
ANSWER_TYPES: dict[str, str] = {
    "presence": "presence",
    "count": "count",
    "comp": "comparison",
    "comparison": "comparison",
    "rural_urban": "rural_urban",
    "area": "area",
}


def answer_type(question_type: str, table: Mapping[str, str] = ANSWER_TYPES) -> str:
    """Schema answer type (``presence|count|comparison|rural_urban|area|other``) of a dataset type."""
    return table.get(question_type.strip().lower(), "other")


def vqa_record(
    *,
    name: str,
    ctx: ConvertContext,
    key: str,
    info: ImageInfo,
    question: str,
    answer: str,
    question_type: str,
    table: Mapping[str, str] = ANSWER_TYPES,
) -> Record:
    """One ``[VQA]`` record."""
    return make_record(
        rid=f"{name}-{ctx.split}-{key}-vqa",
        images=[info.rel],
        task="VQA",
        prompt=vqa_prompt(question.strip()),
        answer=str(answer).strip(),
        source=f"{name}/{ctx.split}",
        targets={
            "answer": str(answer).strip(),
            "answer_type": answer_type(question_type, table),
            "question_type": question_type,
        },
    )


def _by_id(items: Any, what: str, path: str) -> dict[int, dict]:
    if not isinstance(items, list):
        raise ValueError(f"{path}: expected a list under {what!r}, got {type(items).__name__}")
    return {int(item["id"]): item for item in items}


def rsvqa(
    card: DatasetCard, *, prefix: str, image_dir: str, splits: tuple[str, ...], image_ext: str = ".tif"
) -> Converter:
    """Build an RSVQA-style converter.

    Args:
        card: The dataset's facts (name, link, citation, layout, notes).
        prefix: File prefix (``"LR"`` or ``"USGS"``).
        image_dir: Image folder under ``--src``.
        splits: Split names as they appear in the file names.
        image_ext: Image file extension.

    Returns:
        The :class:`Converter`.
    """
    files = {kind: f"{prefix}_split_{{split}}_{kind}.json" for kind in ("questions", "answers", "images")}

    def parse(ctx: ConvertContext) -> Iterator[Record | Skip]:
        paths = {kind: ctx.src / pattern.format(split=ctx.split) for kind, pattern in files.items()}
        questions = _by_id(
            read_json(paths["questions"]).get("questions"), "questions", str(paths["questions"])
        )
        answers = _by_id(read_json(paths["answers"]).get("answers"), "answers", str(paths["answers"]))
        images = read_json(paths["images"]).get("images")
        if not isinstance(images, list):
            raise ValueError(f"{paths['images']}: expected a list under 'images'")
        for image in images:
            img_id = int(image["id"])
            qids = image.get("questions_ids", [])
            if not image.get("active", True):
                for qid in qids:
                    yield Skip("inactive", f"{paths['images'].name}#image{img_id}/question{qid}")
                continue
            active_q = []
            for qid in qids:
                q = questions.get(int(qid))
                if q is None:
                    yield Skip("question id not found", f"{paths['questions'].name}#{qid}")
                elif not q.get("active", True):
                    yield Skip("inactive", f"{paths['questions'].name}#{qid}")
                else:
                    active_q.append(q)
            if not active_q:
                continue
            info = ctx.image(ctx.src / image_dir / f"{img_id}{image_ext}")
            if isinstance(info, Skip):
                yield from (info for _ in active_q)
                continue
            for q in active_q:
                found = [answers.get(int(a)) for a in q.get("answers_ids", [])]
                live = [a for a in found if a is not None and a.get("active", True)]
                if not live:
                    yield Skip("no active answer", f"{paths['questions'].name}#{q['id']}")
                    continue
                yield vqa_record(
                    name=card.name,
                    ctx=ctx,
                    key=f"{img_id}-{q['id']}",
                    info=info,
                    question=q["question"],
                    answer=live[0]["answer"],
                    question_type=q.get("type", "other"),
                )

    return Converter(
        card, tasks=("VQA",), splits=splits, required=(f"{image_dir}/", *files.values()), parse=parse
    )
