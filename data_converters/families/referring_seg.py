"""Referring segmentation from COCO-style instance masks with referring text (RRSIS-D, GeoPixInstruct).

Two native forms:
- **RefCOCO style** (RRSIS-D): ``instances.json`` (COCO: ``images``, ``annotations`` with
  ``segmentation`` as RLE or polygons, ``categories``) plus ``refs(unc).p``, a list of refs
  ``{ref_id, ann_id, image_id, split, sentences: [{raw, sent}, ...]}``. Each sentence yields one
  ``[SEG]`` record: ``seg_prompt(sentence)``, a binary answer labelled ``["others", category]`` and
  ``targets.mask_rle`` (the annotation's mask as COCO RLE at the image's size).
- **Multi-referring COCO** (GeoPixInstruct / SAMRS subsets): one COCO JSON per split whose
  annotations carry a ``description``. An image's instances are grouped (up to ``group_size``,
  distinct descriptions per group) into ``[SEG] Please segment the a and the b in this image.``
  records whose answer labels each instance by its description; ``targets.instances`` keeps
  ``{description, rle}`` per instance (the schema's multi-referring form). Where instances overlap,
  the later one wins in the answer, exactly as ``univlm data validate`` rebuilds the index mask.

Design choices:
- ``refs(unc).p`` is a Python pickle (RefCOCO's format). It is read with an unpickler that refuses
  every global, so only plain containers, strings and numbers load -- no code can run. A JSON export
  of the same list (``refs(unc).json``) is preferred when present.
- Descriptions used as mask labels are cleaned of the characters the mask text reserves
  (``| * < >`` and newlines); instances invisible on the 24 x 24 grid are skipped and counted.
- A leading "the" is dropped from expressions and descriptions, because the SEG prompts supply their
  own ("Can you segment the {expression} ...").
- Training prompts use seeded RSUniVLM SEG variants; val/test use the canonical first variant.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

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
from data_converters.families.semantic_seg import BACKGROUND, GRID, grid_classes, record_rng
from univlm.codecs import encode_mask, mask_to_coco_rle
from univlm.data.templates import multi_seg_prompt, seg_prompt

_RESERVED = ("|", "*", "<", ">", "\n", "\r", "\t")


class _PlainUnpickler(pickle.Unpickler):
    """Unpickler for data-only pickles: any class or function reference is refused."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only plain data is accepted")


def load_refs(path: Path) -> list[dict[str, Any]]:
    """RefCOCO-style refs from ``refs(*).json`` or the data-only pickle ``refs(*).p``.

    Raises:
        ValueError: Naming the file when it is not a list of refs or holds anything but plain data.
    """
    if path.suffix == ".json":
        refs = read_json(path)
    else:
        try:
            # Python 2 pickles store str as bytes; latin1 maps them 1:1 (as RefCOCO loaders do).
            refs = _PlainUnpickler(io.BytesIO(path.read_bytes()), encoding="latin1").load()
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as err:
            raise ValueError(f"{path}: not a data-only refs pickle: {err}") from None
    if not isinstance(refs, list) or not all(isinstance(r, dict) for r in refs):
        raise ValueError(f"{path}: expected a list of ref objects, got {type(refs).__name__}")
    return refs


def decode_segmentation(seg: Any, height: int, width: int) -> np.ndarray:
    """A COCO ``segmentation`` (polygons, RLE, uncompressed RLE, or a list of RLEs) as an ``(H, W)`` bool mask.

    Raises:
        ValueError: For a malformed segmentation or one whose size differs from ``(height, width)``.
    """
    # pycocotools is an optional extra (``eval``); only polygon annotations need it.
    from pycocotools import mask as mask_utils

    if isinstance(seg, dict):
        parts = [seg]
    elif isinstance(seg, list) and seg and all(isinstance(s, dict) for s in seg):
        parts = seg
    elif isinstance(seg, list) and seg and all(isinstance(s, list) for s in seg):
        polys = [[float(v) for v in poly] for poly in seg if len(poly) >= 6]
        if not polys:
            raise ValueError("polygon segmentation without a polygon of >= 3 points")
        rle = mask_utils.merge(mask_utils.frPyObjects(polys, height, width))
        return mask_utils.decode(rle).astype(bool)
    else:
        raise ValueError(f"unsupported segmentation {str(seg)[:60]!r}")
    out = np.zeros((height, width), dtype=bool)
    for part in parts:
        size = part.get("size")
        if not (isinstance(size, list) and [int(v) for v in size] == [height, width]):
            raise ValueError(f"RLE size {size} differs from the image's [H, W] = {[height, width]}")
        counts = part.get("counts")
        if isinstance(counts, list):
            part = mask_utils.frPyObjects(part, height, width)
        elif isinstance(counts, str):
            part = {"size": [height, width], "counts": counts.encode("ascii")}
        out |= mask_utils.decode(part).astype(bool)
    return out


def clean_label(text: str) -> str:
    """A description usable as a mask label: reserved characters replaced, whitespace collapsed."""
    for ch in _RESERVED:
        text = text.replace(ch, " ")
    return " ".join(text.split())


def drop_article(text: str) -> str:
    """``"the airplane on the left"`` -> ``"airplane on the left"``: the prompts add their own "the"."""
    return text[4:] if text[:4].lower() == "the " and len(text) > 4 else text


def _coco_index(path: Path, data: Any) -> tuple[dict[int, dict], dict[int, dict], dict[int, str]]:
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise ValueError(f"{path}: expected a COCO object with 'images' and 'annotations' lists")
    images = {int(im["id"]): im for im in data["images"]}
    anns = {int(a["id"]): a for a in data.get("annotations", [])}
    cats = {int(c["id"]): str(c.get("name", "target")) for c in data.get("categories", [])}
    return images, anns, cats


def _mask(ann: dict, info: ImageInfo, where: str) -> np.ndarray | Skip:
    try:
        binary = decode_segmentation(ann.get("segmentation"), info.height, info.width)
    except (ValueError, TypeError, KeyError) as err:
        return Skip("bad segmentation", where, str(err))
    return binary


def refcoco_style(
    card: DatasetCard,
    *,
    instances_file: str,
    refs_files: Sequence[str],
    image_dir: str,
    splits: tuple[str, ...],
) -> Converter:
    """Build the converter of a RefCOCO-style referring-segmentation dataset.

    Args:
        card: The dataset's facts (name, link, citation, layout, notes).
        instances_file: COCO instances JSON under ``--src``.
        refs_files: Candidate refs files under ``--src``, first existing wins (JSON before pickle).
        image_dir: Image folder under ``--src``.
        splits: Split names used in the refs' ``split`` field.

    Returns:
        The :class:`Converter`.
    """
    name = card.name

    def parse(ctx: ConvertContext) -> Iterator[Record | Skip]:
        refs_path = next(ctx.src / f for f in refs_files if (ctx.src / f).is_file())
        refs = load_refs(refs_path)
        ann_path = ctx.src / instances_file
        images, anns, cats = _coco_index(ann_path, read_json(ann_path))
        for ref in refs:
            if ref.get("split") != ctx.split:
                continue
            ref_id = ref.get("ref_id", ref.get("ann_id"))
            where = f"{refs_path.name}#ref{ref_id}"
            ann = anns.get(int(ref.get("ann_id", -1)))
            image = images.get(int(ref.get("image_id", -1)))
            if ann is None or image is None:
                yield Skip("ref without annotation or image", where)
                continue
            sentences = [s for s in (" ".join(str(x.get("raw") or x.get("sent") or "").split())
                                     for x in ref.get("sentences", [])) if s]
            if not sentences:
                yield Skip("ref without sentences", where)
                continue
            info = ctx.image(ctx.src / image_dir / image["file_name"])
            if isinstance(info, Skip):
                yield info
                continue
            binary = _mask(ann, info, where)
            if isinstance(binary, Skip):
                yield binary
                continue
            if not grid_classes(binary.astype(np.uint8)):
                yield Skip("instance not visible at 24x24", where)
                continue
            cls = clean_label(cats.get(int(ann.get("category_id", -1)), "")) or "target"
            rle = mask_to_coco_rle(binary)
            answer = encode_mask(binary, [BACKGROUND, cls], grid=GRID)
            for i, sentence in enumerate(sentences):
                rid = f"{name}-{ctx.split}-{slug(str(ref_id))}-{i}-rseg"
                yield make_record(
                    rid=rid,
                    images=[info.rel],
                    task="SEG",
                    prompt=seg_prompt(drop_article(sentence), record_rng(rid) if ctx.split == "train" else None),
                    answer=answer,
                    source=f"{name}/{ctx.split}",
                    targets={"mask_rle": rle, "labels": [BACKGROUND, cls], "image_size": list(info.size)},
                )

    return Converter(
        card,
        tasks=("SEG",),
        splits=splits,
        required=(instances_file, "|".join(refs_files), f"{image_dir}/"),
        parse=parse,
    )


def _groups(items: list[tuple[str, np.ndarray]], size: int) -> list[list[tuple[str, np.ndarray]]]:
    groups: list[list[tuple[str, np.ndarray]]] = []
    for item in items:
        target = next((g for g in groups if len(g) < size and all(d != item[0] for d, _ in g)), None)
        if target is None:
            groups.append([item])
        else:
            target.append(item)
    return groups


def multi_referring_coco(
    card: DatasetCard,
    *,
    annotation_file: Callable[[str], str],
    image_dir: Callable[[str], str],
    splits: tuple[str, ...],
    description_key: str = "description",
    group_size: int = 3,
) -> Converter:
    """Build the converter of a COCO-JSON dataset with a description per instance (multi-referring SEG).

    Args:
        card: The dataset's facts (name, link, citation, layout, notes).
        annotation_file: ``split -> path`` of the split's COCO JSON under ``--src``.
        image_dir: ``split -> image folder`` under ``--src``.
        splits: Splits.
        description_key: Annotation field holding the instance's description.
        group_size: Most instances per record.

    Returns:
        The :class:`Converter`.
    """
    name = card.name

    def parse(ctx: ConvertContext) -> Iterator[Record | Skip]:
        ann_path = ctx.src / annotation_file(ctx.split)
        images, anns, _ = _coco_index(ann_path, read_json(ann_path))
        per_image: dict[int, list[dict]] = {}
        for ann in anns.values():
            per_image.setdefault(int(ann.get("image_id", -1)), []).append(ann)
        for image_id in sorted(per_image):
            image = images.get(image_id)
            if image is None:
                for ann in per_image[image_id]:
                    yield Skip("annotation without image", f"{ann_path.name}#ann{ann.get('id')}")
                continue
            info = ctx.image(ctx.src / image_dir(ctx.split) / image["file_name"])
            if isinstance(info, Skip):
                yield info
                continue
            usable: list[tuple[str, np.ndarray]] = []
            for ann in sorted(per_image[image_id], key=lambda a: int(a["id"])):
                where = f"{ann_path.name}#ann{ann['id']}"
                desc = drop_article(clean_label(str(ann.get(description_key) or "")))
                if not desc or desc == BACKGROUND:
                    yield Skip("instance without description", where)
                    continue
                binary = _mask(ann, info, where)
                if isinstance(binary, Skip):
                    yield binary
                elif not grid_classes(binary.astype(np.uint8)):
                    yield Skip("instance not visible at 24x24", where)
                else:
                    usable.append((desc, binary))
            for g, group in enumerate(_groups(usable, group_size)):
                labels = [BACKGROUND, *(d for d, _ in group)]
                index = np.zeros((info.height, info.width), dtype=np.uint8)  # (H, W) k -> labels[k]
                for k, (_, binary) in enumerate(group, start=1):
                    index[binary] = k
                yield make_record(
                    rid=f"{name}-{ctx.split}-{image_id}-{g}-mref",
                    images=[info.rel],
                    task="SEG",
                    prompt=multi_seg_prompt(labels[1:]),
                    answer=encode_mask(index, labels, grid=GRID),
                    source=f"{name}/{ctx.split}",
                    targets={
                        "instances": [{"description": d, "rle": mask_to_coco_rle(b)} for d, b in group],
                        "labels": labels,
                        "image_size": list(info.size),
                    },
                )

    return Converter(
        card,
        tasks=("SEG",),
        splits=splits,
        required=lambda split: (annotation_file(split), f"{image_dir(split)}/"),
        parse=parse,
    )

