"""VRSBench: captions, object referring and VQA on 512 x 512 px DOTA-v2 / DIOR patches.

Released files (https://huggingface.co/datasets/xiang709/VRSBench):
- ``val`` (the benchmark): ``VRSBench_EVAL_Cap.json``, ``VRSBench_EVAL_referring.json``,
  ``VRSBench_EVAL_vqa.json`` - JSON lists of ``{"image_id", "question", "ground_truth",
  "question_id", "type", ...}``; referring ground truth is ``"{<x1><y1><x2><y2>}"`` on a 0..100 grid
  (the authors' ``int(v * 100)`` of normalised corners); images in ``Images_val/``.
- ``train``: one JSON per image in ``Annotations_train/`` with ``"image"``, ``"caption"``,
  ``"objects": [{"obj_cls", "obj_corner": [x1, y1, ..., x4, y4] (normalised 0..1),
  "referring_sentence", "is_unique", ...}]`` and ``"qa_pairs": [{"question", "answer", "type"}]``;
  images in ``Images_train/``.

Design choices: referring boxes become pixel boxes of the image file read (0..100 grid values
scaled by the size; train corners' axis-aligned envelope clamped to 0..1, as the authors do).
VQA types map to the schema's answer types (``object existence`` -> presence, ``object quantity``
-> count, ``rural or urban`` -> rural_urban, else other).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from data_converters.base import ConvertContext, Converter, DatasetCard, Record, Skip, read_json, slug
from data_converters.families.captions import caption_records, unique_sentences
from data_converters.families.grounding_voc import grounding_records
from data_converters.families.vqa_json import vqa_record
from univlm.codecs.boxes import parse_boxes

VRSBENCH_URL = "https://huggingface.co/datasets/xiang709/VRSBench"
VRSBENCH_CITATION = (
    "@inproceedings{li2024vrsbench, title={VRSBench: A versatile vision-language benchmark dataset for "
    "remote sensing image understanding}, author={Li, Xiang and Ding, Jian and Elhoseiny, Mohamed}, "
    "booktitle={NeurIPS Datasets and Benchmarks}, year={2024}}"
)
EVAL_FILES = {
    "cap": "VRSBench_EVAL_Cap.json",
    "ref": "VRSBench_EVAL_referring.json",
    "vqa": "VRSBench_EVAL_vqa.json",
}
VQA_TYPES = {"object existence": "presence", "object quantity": "count", "rural or urban": "rural_urban"}
LAYOUT = """\
<src>/
  VRSBench_EVAL_Cap.json, VRSBench_EVAL_referring.json, VRSBench_EVAL_vqa.json   (val = benchmark)
  Images_val/<image_id>.png                                                      (512x512)
  Annotations_train/<image>.json   ({"image", "caption", "objects": [...], "qa_pairs": [...]})
  Images_train/<image>.png
"""


def _image_name(image_id: str) -> str:
    return image_id if Path(image_id).suffix else f"{image_id}.png"


def _eval_items(ctx: ConvertContext, kind: str) -> list[dict[str, Any]]:
    path = ctx.src / EVAL_FILES[kind]
    data = read_json(path)
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of items, got {type(data).__name__}")
    return data


def _train_items(ctx: ConvertContext) -> Iterator[tuple[Path, dict[str, Any] | None, str]]:
    for path in sorted((ctx.src / "Annotations_train").glob("*.json")):
        try:
            yield path, read_json(path), ""
        except ValueError as err:
            yield path, None, str(err)


def _box_from_grid(text: str) -> tuple[int, int, int, int] | None:
    boxes = parse_boxes(str(text)).boxes
    return tuple(int(v) for v in boxes[0].box) if len(boxes) == 1 else None  # type: ignore[return-value]


def _envelope(corners: Any) -> tuple[float, float, float, float] | None:
    try:
        values = [float(v) for v in corners]
    except (TypeError, ValueError):
        return None
    if len(values) != 8:
        return None
    xs, ys = values[0::2], values[1::2]
    box = (max(min(xs), 0.0), max(min(ys), 0.0), min(max(xs), 1.0), min(max(ys), 1.0))
    return box if box[2] > box[0] and box[3] > box[1] else None


def parse_task(ctx: ConvertContext, kind: str, name: str) -> Iterator[Record | Skip]:
    """Records of one VRSBench task (``kind`` in ``cap``, ``ref``, ``vqa``) for ``ctx.split``."""
    img_dir = ctx.src / ("Images_val" if ctx.split == "val" else "Images_train")
    if ctx.split == "val":
        for n, item in enumerate(_eval_items(ctx, kind)):
            where = f"{EVAL_FILES[kind]}#{item.get('question_id', n)}"
            info = ctx.image(img_dir / _image_name(str(item.get("image_id", ""))))
            if isinstance(info, Skip):
                yield info
                continue
            key = slug(str(item.get("question_id", n)))
            truth = item.get("ground_truth")
            if kind == "cap":
                refs = unique_sentences([str(truth or "")])
                if not refs:
                    yield Skip("empty caption", where)
                    continue
                yield from caption_records(
                    name=name, ctx=ctx, key=key, info=info, references=refs, per_sentence=False
                )
            elif kind == "ref":
                grid = _box_from_grid(str(truth))
                if grid is None:
                    yield Skip("unreadable ground-truth box", where, str(truth))
                    continue
                px = [grid[0] * info.width / 100, grid[1] * info.height / 100]
                px += [grid[2] * info.width / 100, grid[3] * info.height / 100]
                yield from grounding_records(
                    name=name,
                    ctx=ctx,
                    key=key,
                    info=info,
                    box_px=px,
                    text=str(item.get("question", "")).strip(),
                )
            else:
                yield vqa_record(
                    name=name,
                    ctx=ctx,
                    key=key,
                    info=info,
                    question=str(item.get("question", "")),
                    answer=str(truth),
                    question_type=str(item.get("type", "other")),
                    table=VQA_TYPES,
                )
        return
    for path, data, error in _train_items(ctx):
        if data is None:
            yield Skip("unreadable annotation", str(path), error)
            continue
        info = ctx.image(img_dir / _image_name(str(data.get("image", path.stem))))
        if isinstance(info, Skip):
            yield info
            continue
        key = slug(path.stem)
        if kind == "cap":
            refs = unique_sentences([str(data.get("caption", ""))])
            if refs:
                yield from caption_records(
                    name=name, ctx=ctx, key=key, info=info, references=refs, per_sentence=True
                )
            else:
                yield Skip("empty caption", str(path))
        elif kind == "ref":
            for k, obj in enumerate(data.get("objects", [])):
                box = _envelope(obj.get("obj_corner"))
                text = " ".join(str(obj.get("referring_sentence", "")).split())
                if box is None or not text:
                    yield Skip("object without box or sentence", f"{path}#object{k}")
                    continue
                px = [box[0] * info.width, box[1] * info.height, box[2] * info.width, box[3] * info.height]
                yield from grounding_records(
                    name=name, ctx=ctx, key=f"{key}-{k}", info=info, box_px=px, text=text
                )
        else:
            for k, qa in enumerate(data.get("qa_pairs", [])):
                if not qa.get("question") or qa.get("answer") in (None, ""):
                    yield Skip("qa pair without question or answer", f"{path}#qa{k}")
                    continue
                yield vqa_record(
                    name=name,
                    ctx=ctx,
                    key=f"{key}-{k}",
                    info=info,
                    question=str(qa["question"]),
                    answer=str(qa["answer"]),
                    question_type=str(qa.get("type", "other")).strip().lower(),
                    table=VQA_TYPES,
                )


def vrsbench(
    kind: str, *, name: str, title: str, tasks: tuple[str, ...], default_tasks: tuple[str, ...] = ()
) -> Converter:
    """Build one VRSBench converter (``kind``: ``cap``, ``ref`` or ``vqa``)."""

    def parse(ctx: ConvertContext) -> Iterator[Record | Skip]:
        return parse_task(ctx, kind, name)

    card = DatasetCard(
        name=name,
        title=title,
        url=VRSBENCH_URL,
        citation=VRSBENCH_CITATION,
        layout=LAYOUT,
        notes="val = the released benchmark (EVAL files); train = per-image annotation JSONs.",
    )
    return Converter(
        card,
        tasks=tasks,
        default_tasks=default_tasks,
        splits=("val", "train"),
        required=lambda split: (
            EVAL_FILES[kind] if split == "val" else "Annotations_train/",
            f"Images_{split}/",
        ),
        parse=parse,
    )
