"""Record building of the synthetic dataset: one scene -> up to nine instruction records.

Every scene yields one record per task (ids ``synth-{split}-{index:06d}-{suffix}``, see
:mod:`univlm.data.synth` for the table of suffixes).

Design choices:
- Each scene draws all its randomness from ``numpy.random.default_rng([seed, split, index])``, so
  any scene (and the whole dataset) is reproducible regardless of ``n`` or generation order.
- A task without a valid target in a scene (no referable object, no mask of at least 2 cells, no
  room for a change) yields no record; the suffix is returned as skipped and counted in the manifest.
- Instance masks use *uncompressed* COCO RLE (list counts) from :mod:`univlm.codecs.coco_rle`:
  valid COCO RLE that needs no pycocotools to write or read.
- PNGs are written with a fixed compression level and no metadata, so equal arrays give equal bytes.
"""

from __future__ import annotations

import os
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image

from univlm.codecs import downsample_mask, encode_mask, format_box, normalize_box
from univlm.codecs.coco_rle import uncompressed_rle
from univlm.data import templates as T
from univlm.data.synth_scene import (
    CLASS_INDEX,
    DIFFICULTIES,
    NOUNS,
    RURAL_SCENES,
    URBAN_SCENES,
    Difficulty,
    Instance,
    Rendered,
    change_scene,
    make_scene,
    render,
)
from univlm.data.synth_text import article, describe, noun, number_word, unique_expressions, where
from univlm.tasks import DEFAULT_GRID, TASK_GRANULARITY

__all__ = ["GRID", "RECORD_SUFFIXES", "SPLITS", "scene_records"]

SPLITS: tuple[str, ...] = ("train", "val", "test")
RECORD_SUFFIXES: tuple[str, ...] = ("cls", "vqa", "cap", "vg", "ref", "seg", "mref", "ccd", "cd")
GRID = DEFAULT_GRID
_REFERABLE = ("building", "vehicle", "water", "vegetation", "bare land")


@dataclass
class _Ctx:
    """Everything one scene's record builders share."""

    split: str
    index: int
    size: int
    d: Difficulty
    rng: random.Random
    rendered: Rendered
    scene_type: str
    image: str

    def rid(self, suffix: str) -> str:
        return f"synth-{self.split}-{self.index:06d}-{suffix}"

    def record(self, suffix: str, task: str, prompt: str, answer: str, targets: dict, images=None) -> dict:
        images = images or [self.image]
        return {
            "id": self.rid(suffix),
            "images": list(images),
            "messages": [
                {"role": "user", "content": T.user_content(prompt, len(images))},
                {"role": "assistant", "content": answer},
            ],
            "task": task,
            "granularity": TASK_GRANULARITY[task],
            "source": f"synthetic/{self.split}",
            "targets": targets,
        }


def _cls_record(c: _Ctx) -> dict:
    classes = list(c.d.scene_types)
    prompt = T.cls_prompt(classes, c.rng if c.d.verbose_text else None)
    return c.record("cls", "CLS", prompt, c.scene_type, {"label": c.scene_type, "classes": classes})


def _counts(c: _Ctx) -> Counter:
    return Counter(i.cls for i in c.rendered.instances)


def _vqa_record(c: _Ctx) -> dict:
    counts = _counts(c)
    kinds = ["presence", "count", "comparison"]
    if c.scene_type in URBAN_SCENES or c.scene_type in RURAL_SCENES:
        kinds.append("rural_urban")
    kind = kinds[c.rng.randrange(len(kinds))]
    if kind == "presence":
        present = [k for k in NOUNS if counts[k]]
        absent = [k for k in NOUNS if not counts[k]]
        want_yes = bool(c.rng.randrange(2)) if present and absent else bool(present)
        cls = c.rng.choice(present if want_yes else absent)
        thing = f"any {cls}" if cls in ("vegetation", "bare land") else f"{article(noun(cls))} {noun(cls)}"
        question, answer = f"Is there {thing} in the image?", "yes" if want_yes else "no"
    elif kind == "count":
        countable = ["building", "vehicle"] + (["water", "vegetation"] if c.d.verbose_text else [])
        cls = c.rng.choice(countable)
        question, answer = f"How many {noun(cls, 2)} are there in the image?", str(counts[cls])
    elif kind == "comparison":
        a, b = ("building", "vehicle") if c.rng.randrange(2) else ("vehicle", "building")
        question = f"Are there more {noun(a, 2)} than {noun(b, 2)} in the image?"
        answer = "yes" if counts[a] > counts[b] else "no"
    else:
        question = "Is this a rural or urban area?"
        answer = "urban" if c.scene_type in URBAN_SCENES else "rural"
    return c.record("vqa", "VQA", T.vqa_prompt(question), answer, {"answer": answer, "answer_type": kind})


def _caption(c: _Ctx) -> tuple[str, list[str]]:
    counts = _counts(c)
    parts = []
    for cls in ("building", "road", "vehicle", "water", "vegetation", "bare land"):
        n = counts[cls]
        if not n:
            continue
        if cls in ("vegetation", "bare land"):
            parts.append(f"some {cls}")
        else:
            parts.append(f"{number_word(n) if n > 1 else article(noun(cls))} {noun(cls, n)}")
    listing = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    head = f"{article(c.scene_type)} {c.scene_type} area with {listing}."
    located = []
    for cls in ("building", "water") if c.d.verbose_text else ("building",):
        insts = [i for i in c.rendered.instances if i.cls == cls]
        if insts:
            big = max(insts, key=lambda i: i.area)
            word = "largest " if len(insts) > 1 else ""
            located.append(f"the {word}{noun(cls)} is {where(big.box, c.size)}.")
    caption = " ".join([head, *located])
    return caption, [caption, head, f"{article(c.scene_type)} {c.scene_type} area."]


def _cap_record(c: _Ctx) -> dict:
    caption, refs = _caption(c)
    return c.record("cap", "CAP", T.cap_prompt(c.rng), caption, {"references": refs})


def _targetable(c: _Ctx, classes: Sequence[str]) -> tuple[str, ...]:
    """``classes`` that a record may target: on a lattice a vehicle, smaller than one cell, stays scenery."""
    return tuple(k for k in classes if not (c.d.lattice and k == "vehicle"))


def _referable(c: _Ctx) -> list[tuple[Instance, list[str]]]:
    classes = _targetable(c, _REFERABLE if c.d.verbose_text else ("building", "vehicle", "water"))
    out = []
    for inst in c.rendered.instances:
        if inst.cls in classes:
            exprs = unique_expressions(inst, c.rendered.instances, c.size, c.d.verbose_text)
            if exprs:
                out.append((inst, exprs))
    return out


def _pick_expression(c: _Ctx, exprs: list[str]) -> str:
    return exprs[c.rng.randrange(len(exprs))] if c.d.verbose_text else exprs[0]


def _vg_record(c: _Ctx, referable) -> dict | None:
    if not referable:
        return None
    inst, exprs = referable[c.rng.randrange(len(referable))]
    expr = _pick_expression(c, exprs)
    answer = format_box(normalize_box(inst.box, c.size, c.size))
    targets = {"boxes": [list(inst.box)], "image_size": [c.size, c.size]}
    return c.record("vg", "VG", T.vg_prompt(expr), answer, targets)


def _ref_record(c: _Ctx) -> dict | None:
    classes = _targetable(c, _REFERABLE)
    insts = [i for i in c.rendered.instances if i.cls in classes]
    if not insts:
        return None
    inst = insts[c.rng.randrange(len(insts))]
    text = describe(inst, c.size, c.d.verbose_text)
    targets = {"boxes": [list(inst.box)], "image_size": [c.size, c.size], "references": [text]}
    return c.record("ref", "REF", T.ref_prompt(normalize_box(inst.box, c.size, c.size)), text, targets)


def _cells(binary: np.ndarray) -> int:
    return int(downsample_mask(binary, GRID).sum())


def _seg_record(c: _Ctx, out: Path) -> dict | None:
    labels = c.rendered.labels
    present = [name for name in _targetable(c, NOUNS) if _cells(labels == CLASS_INDEX[name]) >= 2]
    if not present:
        return None
    cls = present[c.rng.randrange(len(present))]
    binary = (labels == CLASS_INDEX[cls]).astype(np.uint8)  # (S, S) 0/1
    rel = f"masks/{c.split}/{c.index:06d}_seg.png"
    Image.fromarray(binary, mode="L").save(out / rel, compress_level=1)
    answer = encode_mask(binary, ["others", cls], grid=GRID)
    targets = {"mask": rel, "labels": ["others", cls], "image_size": [c.size, c.size]}
    return c.record("seg", "SEG", T.seg_prompt(cls, c.rng), answer, targets)


def _mref_record(c: _Ctx, referable) -> dict | None:
    ids = c.rendered.instance_ids
    usable = [(i, e) for i, e in referable if _cells(ids == i.index + 1) >= 1]
    if not usable:
        return None
    want = 2 if not c.d.verbose_text else 2 + c.rng.randrange(2)
    c.rng.shuffle(usable)
    chosen = usable[:want]
    chosen.sort(key=lambda ie: ie[0].index)
    descriptions = [_pick_expression(c, e).removeprefix("the ") for _, e in chosen]
    index_mask = np.zeros(ids.shape, dtype=np.uint8)  # (S, S) value k -> descriptions[k - 1]
    instances = []
    for k, ((inst, _), desc) in enumerate(zip(chosen, descriptions), start=1):
        binary = ids == inst.index + 1
        index_mask[binary] = k
        instances.append({"description": desc, "box": list(inst.box), "rle": uncompressed_rle(binary)})
    labels = ["others", *descriptions]
    answer = encode_mask(index_mask, labels, grid=GRID)
    targets = {"instances": instances, "labels": labels, "image_size": [c.size, c.size]}
    return c.record("mref", "SEG", T.multi_seg_prompt(descriptions), answer, targets)


def _change_records(c: _Ctx, gen: np.random.Generator, scene, out: Path) -> list[dict | None]:
    change = change_scene(gen, scene, c.d)
    if change is None:  # a crowded scene without buildings: no pair, both records skipped
        return [None, None]
    after, kind, changed, count = change
    rendered_b = render(after, c.d)
    image_b = f"images/{c.split}/{c.index:06d}_b.png"
    Image.fromarray(rendered_b.rgb).save(out / image_b, compress_level=1)
    building = CLASS_INDEX["building"]
    change = ((c.rendered.labels == building) != (rendered_b.labels == building)).astype(np.uint8)  # (S, S)
    n = number_word(count)
    if kind == "added":
        caption = f"{n} new {noun('building', count)} {'has' if count == 1 else 'have'} been built"
        alt = f"{n} {noun('building', count)} {'appears' if count == 1 else 'appear'} in the second image."
    else:
        caption = f"{n} {noun('building', count)} {'has' if count == 1 else 'have'} been removed"
        alt = f"{n} {noun('building', count)} {'disappears' if count == 1 else 'disappear'} in the second image."
    if c.d.verbose_text and count == 1:
        src = rendered_b if kind == "added" else c.rendered
        inst = next(i for i in src.instances if i.index == changed[0])
        caption += f" {where(inst.box, c.size)}"
    caption += "."
    pair = [c.image, image_b]
    ccd = c.record("ccd", "CCD", T.ccd_prompt(c.rng), caption, {"references": [caption, alt]}, images=pair)
    rel = f"masks/{c.split}/{c.index:06d}_change.png"
    Image.fromarray(change, mode="L").save(out / rel, compress_level=1)
    answer = encode_mask(change, ["others", "building"], grid=GRID)
    targets = {"mask": rel, "labels": ["others", "building"], "image_size": [c.size, c.size]}
    cd = c.record("cd", "SEG", T.change_seg_prompt("building"), answer, targets, images=pair)
    return [ccd, cd]


def scene_records(
    out: str | os.PathLike[str],
    split: str,
    index: int,
    size: int,
    seed: int,
    difficulty: str | Difficulty,
    lattice: int = 0,
) -> tuple[list[dict], list[str]]:
    """Generate one scene's images and masks under ``out`` and return its records.

    Args:
        out: Dataset root; ``images/{split}`` and ``masks/{split}`` must exist.
        split: ``train``, ``val`` or ``test``.
        index: Scene index within the split.
        size: Image side in pixels.
        seed: Dataset seed.
        difficulty: A name of ``DIFFICULTIES`` or a :class:`Difficulty`.
        lattice: When > 0, overrides the difficulty's ``lattice`` (see :func:`generate_synthetic`).

    Returns:
        ``(records, skipped)``: the records in ``RECORD_SUFFIXES`` order and the suffixes of tasks
        this scene had no valid target for.
    """
    d = DIFFICULTIES[difficulty] if isinstance(difficulty, str) else difficulty
    if lattice:
        d = replace(d, lattice=lattice)
    out = Path(out)
    gen = np.random.default_rng([seed, SPLITS.index(split), index])
    rng = random.Random(int(gen.integers(2**62)))
    scene = make_scene(gen, size, d)
    rendered = render(scene, d)
    image = f"images/{split}/{index:06d}.png"
    Image.fromarray(rendered.rgb).save(out / image, compress_level=1)
    c = _Ctx(split, index, size, d, rng, rendered, scene.scene_type, image)
    referable = _referable(c)
    built = {
        "cls": _cls_record(c),
        "vqa": _vqa_record(c),
        "cap": _cap_record(c),
        "vg": _vg_record(c, referable),
        "ref": _ref_record(c),
        "seg": _seg_record(c, out),
        "mref": _mref_record(c, referable),
    }
    built["ccd"], built["cd"] = _change_records(c, gen, scene, out)
    records = [built[s] for s in RECORD_SUFFIXES if built[s] is not None]
    skipped = [s for s in RECORD_SUFFIXES if built[s] is None]
    return records, skipped

