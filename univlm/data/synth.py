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
- Instance masks use *uncompressed* COCO RLE (list counts) written by
  :func:`univlm.codecs.coco_rle.uncompressed_rle`; :func:`univlm.codecs.coco_rle_to_mask` reads both forms.
- Same arguments, same bytes (issue #14 §7): every file, ``synth.json`` included, is a function of
  the parameters alone. Wall time goes to the log, never into the manifest.
- The module is split by job: :mod:`~univlm.data.synth_scene` draws scenes,
  :mod:`~univlm.data.synth_text` phrases them, :mod:`~univlm.data.synth_records` builds one scene's
  records, and this module drives splits, the manifest and the atomic directory swap.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from univlm.codecs.coco_rle import uncompressed_rle
from univlm.data.schema import write_jsonl_atomic
from univlm.data.synth_records import GRID, RECORD_SUFFIXES, SPLITS, scene_records
from univlm.data.synth_scene import DIFFICULTIES
from univlm.data.synth_text import describe, region_name, unique_expressions, where
from univlm.fileio import atomic_replace_dir, atomic_write_text

logger = logging.getLogger(__name__)

# Re-exported: these names were defined here before the module was split (issue #13).
__all__ = [
    "GENERATOR_VERSION",
    "GRID",
    "MANIFEST",
    "RECORD_SUFFIXES",
    "SPLITS",
    "describe",
    "ensure_synthetic",
    "generate_synthetic",
    "manifest_param",
    "read_manifest",
    "region_name",
    "scene_records",
    "split_sizes",
    "uncompressed_rle",
    "unique_expressions",
    "where",
]

GENERATOR_VERSION = 1
MANIFEST = "synth.json"


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
    # Timing goes to the log only: the manifest must be byte-identical for identical arguments.
    logger.info("synth: generated %d scenes in %.1f s", params["n"], time.perf_counter() - start)
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
        The manifest written to ``out/synth.json`` (parameters, per-split counts, skipped tasks); it
        holds no wall time, so the same arguments give the same bytes.

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
        atomic_write_text(tmp / MANIFEST, json.dumps(manifest, indent=2) + "\n")
        if out.exists() and not any(out.iterdir()):
            out.rmdir()
        atomic_replace_dir(tmp, out)
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
