"""The built-in synthetic remote-sensing instruction dataset (``univlm synth``).

Every scene yields one record per task (ids ``synth-{split}-{index:06d}-{suffix}``):

====== ======= ===========================================================================
suffix task    content
====== ======= ===========================================================================
cls    CLS     scene type (residential, industrial, farmland, waterfront, ...)
vqa    VQA     presence / count / comparison / rural-urban question with an exact answer
cap    CAP     template caption saying what is where
vg     VG      unique referring expression -> box
ref    REF     box -> description
seg    SEG     semantic mask of one class (binary index PNG under ``masks/``)
mref   SEG     multi-referring: several objects, one label each, instance masks as COCO RLE
ccd    CCD     change caption of a before/after pair
cd     SEG     change-detection mask of a pair (index PNG under ``masks/``)
====== ======= ===========================================================================

Design choices:
- ``n`` counts scenes, not records: a scene yields 9 records (fewer when a task finds no valid
  target; those are counted in the manifest's ``skipped``).
- Each scene draws all its randomness from ``numpy.random.default_rng([seed, split, index])``, so
  any scene (and the whole dataset) is reproducible regardless of ``n`` or generation order.
- The dataset is generated into a temporary sibling directory and renamed into place, so a reader
  sees either nothing or a complete dataset; ``synth.json`` (the manifest) marks completeness.
- Instance masks use *uncompressed* COCO RLE (list counts): valid COCO RLE that needs no
  pycocotools to write; :func:`univlm.codecs.masks.coco_rle_to_mask` reads both forms.
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from univlm.codecs.boxes import format_box, normalize_box
from univlm.codecs.masks import downsample_mask, encode_mask
from univlm.data import templates as T
from univlm.data.schema import write_jsonl_atomic
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
from univlm.models.router import TASK_GRANULARITY

logger = logging.getLogger(__name__)

GENERATOR_VERSION = 1
MANIFEST = "synth.json"
SPLITS: tuple[str, ...] = ("train", "val", "test")
RECORD_SUFFIXES: tuple[str, ...] = ("cls", "vqa", "cap", "vg", "ref", "seg", "mref", "ccd", "cd")
GRID = 24
_NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
_REGIONS = (("upper left", "top", "upper right"), ("left", "center", "right"), ("lower left", "bottom", "lower right"))
_REFERABLE = ("building", "vehicle", "water", "vegetation", "bare land")


def _number(n: int) -> str:
    return _NUMBER_WORDS[n] if n < len(_NUMBER_WORDS) else str(n)


def _noun(cls: str, n: int = 1) -> str:
    return NOUNS[cls][0 if n == 1 else 1]


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def region_name(box: Sequence[float], size: int) -> str:
    """3 x 3 region ("upper left", "center", ...) holding the centre of a pixel box."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    col = min(2, int(3 * cx / size))
    row = min(2, int(3 * cy / size))
    return _REGIONS[row][col]


def where(box: Sequence[float], size: int) -> str:
    """Region phrase with its preposition: "in the upper left", "at the top", "on the left"."""
    region = region_name(box, size)
    if region in ("top", "bottom"):
        return f"at the {region}"
    if region in ("left", "right"):
        return f"on the {region}"
    return f"in the {region}"


def uncompressed_rle(binary: np.ndarray) -> dict[str, Any]:
    """COCO uncompressed RLE of a binary (H, W) mask: column-major runs, starting with a 0-run."""
    flat = np.asarray(binary, dtype=bool).flatten(order="F")  # (H*W,) column-major as COCO
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], change, [flat.size]))
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        counts = [0] + counts
    return {"size": [int(binary.shape[0]), int(binary.shape[1])], "counts": [int(c) for c in counts]}


def unique_expressions(target: Instance, instances: Sequence[Instance], size: int, verbose: bool) -> list[str]:
    """Referring expressions that pick out ``target`` alone among ``instances``, simplest first."""
    same = [i for i in instances if i.cls == target.cls]
    others = [i for i in same if i is not target]
    noun = _noun(target.cls)
    out: list[str] = []
    if not others:
        return [f"the {noun}"]
    if target.cls == "building" and all(o.color_name != target.color_name for o in others):
        out.append(f"the building with the {target.color_name} roof")
    areas = sorted((o.area for o in others), reverse=True)
    if target.area >= 1.3 * areas[0]:
        out.append(f"the largest {noun}")
    if verbose and target.area * 1.3 <= areas[-1]:
        out.append(f"the smallest {noun}")
    pair = len(same) == 2
    if target.box[2] <= min(o.box[0] for o in others):
        out.append(f"the {noun} on the left" if pair else f"the leftmost {noun}")
    if target.box[0] >= max(o.box[2] for o in others):
        out.append(f"the {noun} on the right" if pair else f"the rightmost {noun}")
    if target.box[3] <= min(o.box[1] for o in others):
        out.append(f"the {noun} at the top" if pair else f"the topmost {noun}")
    if target.box[1] >= max(o.box[3] for o in others):
        out.append(f"the {noun} at the bottom" if pair else f"the bottommost {noun}")
    if verbose and target.cls == "building":
        region = region_name(target.box, size)
        rivals = [o for o in others if o.color_name == target.color_name and region_name(o.box, size) == region]
        if not rivals and any(o.color_name == target.color_name for o in others):
            out.append(f"the {target.color_name} roof in the {region}")
    return out


def describe(inst: Instance, size: int, verbose: bool) -> str:
    """Non-unique description of one object for REF answers."""
    if inst.cls == "building":
        text = f"a building with a {inst.color_name} roof"
    elif inst.cls in ("vegetation", "bare land"):
        text = f"a patch of {inst.cls}"
    else:
        text = f"a {_noun(inst.cls)}"
    return f"{text} {where(inst.box, size)}" if verbose else text


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
        thing = f"any {cls}" if cls in ("vegetation", "bare land") else f"{_article(_noun(cls))} {_noun(cls)}"
        question, answer = f"Is there {thing} in the image?", "yes" if want_yes else "no"
    elif kind == "count":
        countable = ["building", "vehicle"] + (["water", "vegetation"] if c.d.verbose_text else [])
        cls = c.rng.choice(countable)
        question, answer = f"How many {_noun(cls, 2)} are there in the image?", str(counts[cls])
    elif kind == "comparison":
        a, b = ("building", "vehicle") if c.rng.randrange(2) else ("vehicle", "building")
        question = f"Are there more {_noun(a, 2)} than {_noun(b, 2)} in the image?"
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
            parts.append(f"{_number(n) if n > 1 else _article(_noun(cls))} {_noun(cls, n)}")
    listing = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    head = f"{_article(c.scene_type)} {c.scene_type} area with {listing}."
    located = []
    for cls in ("building", "water") if c.d.verbose_text else ("building",):
        insts = [i for i in c.rendered.instances if i.cls == cls]
        if insts:
            big = max(insts, key=lambda i: i.area)
            word = "largest " if len(insts) > 1 else ""
            located.append(f"the {word}{_noun(cls)} is {where(big.box, c.size)}.")
    caption = " ".join([head, *located])
    return caption, [caption, head, f"{_article(c.scene_type)} {c.scene_type} area."]


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
    n = _number(count)
    if kind == "added":
        caption = f"{n} new {_noun('building', count)} {'has' if count == 1 else 'have'} been built"
        alt = f"{n} {_noun('building', count)} {'appears' if count == 1 else 'appear'} in the second image."
    else:
        caption = f"{n} {_noun('building', count)} {'has' if count == 1 else 'have'} been removed"
        alt = f"{n} {_noun('building', count)} {'disappears' if count == 1 else 'disappear'} in the second image."
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


def split_sizes(n: int, val_frac: float, test_frac: float) -> dict[str, int]:
    """Scenes per split: val and test get ``round(n * frac)`` each, train the rest.

    Raises:
        ValueError: If a fraction is outside [0, 1) or train would be empty.
    """
    for name, frac in (("val_frac", val_frac), ("test_frac", test_frac)):
        if not 0.0 <= frac < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {frac}")
    n_val, n_test = round(n * val_frac), round(n * test_frac)
    n_train = n - n_val - n_test
    if n_train < 1:
        raise ValueError(f"n={n} with val_frac={val_frac}, test_frac={test_frac} leaves no training scene")
    return {"train": n_train, "val": n_val, "test": n_test}


def _params(
    n: int, size: int, seed: int, difficulty: str, val_frac: float, test_frac: float, lattice: int = 0
) -> dict:
    return {"version": GENERATOR_VERSION, "n": n, "size": size, "seed": seed, "difficulty": difficulty,
            "val_frac": val_frac, "test_frac": test_frac, "lattice": lattice}


# Generation parameters added after the first release, with the value older manifests imply.
_LATER_PARAMS: dict[str, Any] = {"lattice": 0}


def manifest_param(manifest: dict, key: str) -> Any:
    """A generation parameter of a manifest; a parameter added later reads as its old behaviour."""
    return manifest.get(key, _LATER_PARAMS.get(key))


def read_manifest(root: str | os.PathLike[str]) -> dict | None:
    """The manifest of a complete synthetic dataset at ``root``, or None if there is none."""
    path = Path(root) / MANIFEST
    if not path.is_file():
        return None
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def _build(tmp: Path, params: dict) -> dict:
    d = DIFFICULTIES[params["difficulty"]]
    sizes = split_sizes(params["n"], params["val_frac"], params["test_frac"])
    summary: dict[str, Any] = {"splits": {}, "skipped": {}}
    start = time.perf_counter()
    for split, count in sizes.items():
        (tmp / "images" / split).mkdir(parents=True, exist_ok=True)
        (tmp / "masks" / split).mkdir(parents=True, exist_ok=True)
        records: list[dict] = []
        skipped: Counter = Counter()
        for index in range(count):
            recs, skip = scene_records(tmp, split, index, params["size"], params["seed"], d,
                                       lattice=params["lattice"])
            records.extend(recs)
            skipped.update(skip)
        write_jsonl_atomic(tmp / f"{split}.jsonl", records)
        summary["splits"][split] = {"scenes": count, "records": len(records),
                                    "tasks": dict(sorted(Counter(r["task"] for r in records).items()))}
        summary["skipped"][split] = dict(sorted(skipped.items()))
        logger.info("synth: %s: %d scenes -> %d records (%d skipped)", split, count, len(records),
                    sum(skipped.values()))
    summary["seconds"] = round(time.perf_counter() - start, 3)
    return summary


def generate_synthetic(
    out: str | os.PathLike[str],
    n: int = 2000,
    size: int = 224,
    seed: int = 0,
    difficulty: str = "easy",
    val_frac: float = 0.1,
    test_frac: float = 0.1,
    overwrite: bool = False,
    lattice: int = 0,
) -> dict:
    """Generate the synthetic dataset at ``out`` atomically.

    Args:
        out: Dataset root to create (``train.jsonl``, ``val.jsonl``, ``test.jsonl``, ``images/``,
            ``masks/``, ``synth.json``).
        n: Number of scenes over all splits (each yields up to 9 records).
        size: Image side in pixels.
        seed: Dataset seed.
        difficulty: ``easy``, ``medium`` or ``hard``.
        val_frac: Fraction of scenes for validation.
        test_frac: Fraction of scenes for test.
        overwrite: Replace an existing non-empty ``out``.
        lattice: When > 0 (then at least 3: a road takes an inner row or column), buildings, crop
            fields, roads and shorelines are axis-aligned with edges on a ``lattice`` x ``lattice``
            grid, and vehicles (smaller than a cell) are never a record's target. With
            ``lattice`` equal to the model's patches per side, every box edge is a patch edge: the
            CPU default uses it so a from-scratch toy model can learn grounding in minutes.

    Returns:
        The manifest written to ``out/synth.json`` (parameters, per-split counts, skipped tasks, seconds).

    Raises:
        ValueError: On bad parameters, or if ``out`` exists, is not empty and ``overwrite`` is False.
    """
    if difficulty not in DIFFICULTIES:
        raise ValueError(f"difficulty must be one of {sorted(DIFFICULTIES)}, got {difficulty!r}")
    if size < 32:
        raise ValueError(f"size must be >= 32 pixels, got {size}")
    if lattice and (lattice < 3 or size % lattice):
        raise ValueError(f"lattice must be 0 or a divisor of size={size} that is at least 3, got {lattice}")
    split_sizes(n, val_frac, test_frac)
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise ValueError(f"{out} exists and is not empty; pass overwrite=True (--force) to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        params = _params(n, size, seed, difficulty, val_frac, test_frac, lattice)
        manifest = {"generator": "univlm.data.synth", **params, **_build(tmp, params)}
        with open(tmp / MANIFEST, "w", encoding="utf-8") as fh:
            json.dump(manifest, fh, indent=2)
            fh.write("\n")
        if out.exists() and any(out.iterdir()):
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
            os.replace(out, old / "d")
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            if out.exists():
                out.rmdir()
            os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return manifest


def ensure_synthetic(
    root: str | os.PathLike[str],
    n: int = 2000,
    size: int = 224,
    seed: int = 0,
    difficulty: str = "easy",
    val_frac: float = 0.1,
    test_frac: float = 0.1,
    lattice: int = 0,
) -> Path:
    """Generate the synthetic dataset at ``root`` unless a complete one with these parameters is there.

    Safe to call from several processes at once (e.g. every rank of ``accelerate launch``): each
    generates into its own temp dir; the first rename wins and the others discard their copy.

    Args:
        root: Dataset root.
        n, size, seed, difficulty, val_frac, test_frac, lattice: See :func:`generate_synthetic`.

    Returns:
        ``root`` as a Path.

    Raises:
        ValueError: If ``root`` holds a synthetic dataset with other parameters, or other files.
    """
    root = Path(root)
    want = _params(n, size, seed, difficulty, val_frac, test_frac, lattice)

    def check() -> bool:
        manifest = read_manifest(root)
        if manifest is None:
            return False
        have = {k: manifest_param(manifest, k) for k in want}
        if have != want:
            diff = {k: (have[k], want[k]) for k in want if have[k] != want[k]}
            raise ValueError(f"{root} holds a synthetic dataset with other parameters (have, want): {diff}; "
                             "use another directory or delete it")
        return True

    if check():
        return root
    if root.exists() and any(root.iterdir()):
        raise ValueError(f"{root} exists, is not empty and has no {MANIFEST}: not a complete synthetic dataset")
    try:
        generate_synthetic(root, n, size, seed, difficulty, val_frac, test_frac, lattice=lattice)
    except (OSError, ValueError):
        if not check():  # another process may have finished first
            raise
    return root
