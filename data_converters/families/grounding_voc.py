"""VOC-style XML visual grounding with one description per object (DIOR-RSVG, OPT-RSVG).

Native format: one ``<annotation>`` XML per image with ``<filename>``, ``<size>`` and several
``<object>`` elements, each holding ``<name>``, ``<bndbox>`` (``xmin ymin xmax ymax``, pixels) and
the referring expression (``<description>``). Split files list *global object indices*: objects are
numbered across all XML files in file-name order, as the datasets' own loaders count them.

Design choices:
- Every object yields one ``[VG]`` record (description -> box) and, on request, one ``[REF]`` record
  (box -> description, region captioning).
- Box corners are kept exactly as the XML gives them and treated as continuous pixel edges, which is
  how the datasets' official evaluation computes IoU; they are normalised against the size of the
  image file actually read (the XML ``<size>``, when present, must agree, else the item is skipped).
- An XML file that cannot be parsed is skipped object by object: its ``<object>`` tags are still
  counted in the raw text so later global indices stay aligned with the split file.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from pathlib import Path

from data_converters.base import (
    ConvertContext,
    Converter,
    DatasetCard,
    ImageInfo,
    Record,
    Skip,
    make_record,
    slug,
)
from univlm.codecs.boxes import format_box, normalize_box
from univlm.data.templates import ref_prompt, vg_prompt

_OBJECT_TAG = re.compile(rb"<object[\s>]")
GROUNDING_SPLITS: tuple[str, ...] = ("train", "val", "test")


def read_index_file(path: Path) -> set[int]:
    """The set of integers listed one per line in a split file.

    Raises:
        ValueError: Naming file and line of a non-integer entry.
    """
    out: set[int] = set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        text = line.strip()
        if not text:
            continue
        try:
            out.add(int(text))
        except ValueError:
            raise ValueError(f"{path}:{number}: expected an object index (integer), got {text!r}") from None
    return out


def grounding_records(
    *,
    name: str,
    ctx: ConvertContext,
    key: str,
    info: ImageInfo,
    box_px: Sequence[float],
    text: str,
) -> Iterator[Record]:
    """The ``[VG]`` and ``[REF]`` records of one (image, box, expression) triple.

    Args:
        name: Dataset name (id prefix and source).
        ctx: Conversion context (split; tasks decide which records are built).
        key: Unique key of the object within the split (goes into the id).
        info: The image read from disk.
        box_px: ``(x1, y1, x2, y2)`` in pixels of that image (clamped to it).
        text: The referring expression.
    """
    # Annotations sometimes overshoot the border by a pixel; clamp so targets stay inside the image.
    x1, y1, x2, y2 = (float(v) for v in box_px)
    box = [min(max(x1, 0.0), info.width), min(max(y1, 0.0), info.height)]
    box += [min(max(x2, 0.0), info.width), min(max(y2, 0.0), info.height)]
    norm = normalize_box(box, info.width, info.height)
    size = [info.width, info.height]
    source = f"{name}/{ctx.split}"
    if "VG" in ctx.tasks:
        yield make_record(
            rid=f"{name}-{ctx.split}-{key}-vg",
            images=[info.rel],
            task="VG",
            prompt=vg_prompt(text),
            answer=format_box(norm),
            source=source,
            targets={"boxes": [box], "image_size": size},
        )
    if "REF" in ctx.tasks:
        yield make_record(
            rid=f"{name}-{ctx.split}-{key}-ref",
            images=[info.rel],
            task="REF",
            prompt=ref_prompt(norm),
            answer=text,
            source=source,
            targets={"boxes": [box], "image_size": size, "references": [text]},
        )


def _object_fields(obj: ET.Element, text_tag: str) -> tuple[list[float], str] | str:
    """``(box, text)`` of one ``<object>``, or a reason string when a field is missing."""
    bnd = obj.find("bndbox")
    if bnd is None:
        return "object without <bndbox>"
    try:
        box = [float(bnd.findtext(tag, "")) for tag in ("xmin", "ymin", "xmax", "ymax")]
    except ValueError:
        return "object with a non-numeric <bndbox> corner"
    text = " ".join((obj.findtext(text_tag) or "").split())
    if not text:
        return f"object without <{text_tag}>"
    if box[2] <= box[0] or box[3] <= box[1]:
        return "empty box (xmax <= xmin or ymax <= ymin)"
    return box, text


def voc_grounding(
    card: DatasetCard, *, ann_dir: str, img_dir: str, split_file: str, text_tag: str = "description"
) -> Converter:
    """Build the converter of a VOC-XML grounding dataset.

    Args:
        card: The dataset's facts (name, link, citation, layout, notes).
        ann_dir: Folder of the XML files under ``--src``.
        img_dir: Folder of the images under ``--src``.
        split_file: Split-file path under ``--src`` with ``{split}`` (global object indices).
        text_tag: Child element of ``<object>`` holding the expression.

    Returns:
        The :class:`Converter`.
    """

    def parse(ctx: ConvertContext) -> Iterator[Record | Skip]:
        wanted = read_index_file(ctx.src / split_file.format(split=ctx.split))
        index = 0
        for xml_path in sorted((ctx.src / ann_dir).glob("*.xml")):
            try:
                root = ET.parse(xml_path).getroot()
            except ET.ParseError as err:
                count = len(_OBJECT_TAG.findall(xml_path.read_bytes()))
                for _ in range(count):
                    if index in wanted:
                        yield Skip("unreadable annotation", str(xml_path), str(err))
                    index += 1
                continue
            objects = root.findall("object")
            chosen = [(index + i, obj) for i, obj in enumerate(objects) if index + i in wanted]
            index += len(objects)
            if not chosen:
                continue
            filename = root.findtext("filename") or f"{xml_path.stem}.jpg"
            info = ctx.image(ctx.src / img_dir / filename)
            if isinstance(info, Skip):
                yield from (info for _ in chosen)
                continue
            declared = (root.findtext("size/width"), root.findtext("size/height"))
            if all(declared) and (int(float(declared[0])), int(float(declared[1]))) != info.size:
                for _ in chosen:
                    yield Skip(
                        "image size differs from annotation",
                        str(xml_path),
                        f"<size> {declared[0]}x{declared[1]}, image {info.width}x{info.height}",
                    )
                continue
            for obj_index, obj in chosen:
                fields = _object_fields(obj, text_tag)
                if isinstance(fields, str):
                    yield Skip(fields, f"{xml_path}#object{obj_index}")
                    continue
                box, text = fields
                yield from grounding_records(
                    name=card.name,
                    ctx=ctx,
                    key=f"{slug(xml_path.stem)}-{obj_index}",
                    info=info,
                    box_px=box,
                    text=text,
                )

    return Converter(
        card,
        tasks=("VG", "REF"),
        default_tasks=("VG",),
        splits=GROUNDING_SPLITS,
        required=(f"{ann_dir}/", f"{img_dir}/", split_file),
        parse=parse,
    )
