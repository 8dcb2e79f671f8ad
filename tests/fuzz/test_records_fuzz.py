"""Seeded fuzz over the JSONL record reader and the record checker (issue #15 §4, §9).

Two families of cases, both from valid synthetic records:

- *value* mutations replace, delete or nest one field anywhere in a record with a hostile value (NaN,
  infinities, huge or negative sizes, strings for numbers, lists for strings, deep nesting, ...);
  :func:`check_record` must return located problems and never raise;
- *byte* mutations (:func:`tests.fuzz._mutations.mutate_jsonl_bytes`: bit flips, invalid UTF-8, deep
  nesting, 20,000-digit integers, truncation) corrupt a JSONL file; :func:`validate_file` must account for every non-blank line and never raise, and
  :func:`read_jsonl` may raise only :class:`RecordError` naming the file and line.

Memory is bounded with ``tracemalloc`` (no timed assertions: speed belongs in benchmarks).
"""

from __future__ import annotations

import copy
import json
import math
import random
import tracemalloc

import pytest

from tests.fuzz._mutations import mutate_jsonl_bytes
from univlm.data.schema import Problem, RecordError, read_jsonl, read_records
from univlm.data.synth import generate_synthetic
from univlm.data.validate import PROBLEM_KINDS, check_record, validate_file

SEED = 20261203
VALUE_CASES = 400
BYTE_CASES = 100
PEAK_BYTES = 256 * 1024 * 1024  # a 200000 x 200000 RLE would need 37 GiB; nothing may come near

HOSTILE = (
    None,
    True,
    False,
    0,
    -1,
    1.5,
    math.nan,
    math.inf,
    -math.inf,
    10**40,
    "",
    "x",
    "CLS",
    "[CLS]",
    "../../etc/passwd",
    "/abs/path.png",
    "\u0130stanbul",
    "\x00",
    "a" * 300,
    [],
    [None],
    ["CLS"],
    [1, 2],
    [200000, 200000],
    ["64", "64"],
    [math.nan, 0, 1, 2],
    {},
    {"size": [200000, 200000], "counts": [1]},
    {"size": [2, 2], "counts": "\x7f"},
    {"a": {"b": {"c": []}}},
    [[[[[]]]]],
)


def _paths(value, prefix=()):
    """Every (container, key) pair inside a JSON value, for in-place mutation."""
    if isinstance(value, dict):
        for key in list(value):
            yield value, key
            yield from _paths(value[key], (*prefix, key))
    elif isinstance(value, list):
        for i in range(len(value)):
            yield value, i
            yield from _paths(value[i], (*prefix, i))


def _mutate_value(rng: random.Random, record: dict) -> dict:
    rec = copy.deepcopy(record)
    for _ in range(rng.randint(1, 3)):
        places = list(_paths(rec))
        container, key = rng.choice(places)
        op = rng.randrange(4)
        if op == 0 and isinstance(container, dict):
            del container[key]
        elif op == 1:
            container[key] = [container[key]] if rng.randrange(2) else {"x": container[key]}
        else:
            container[key] = copy.deepcopy(rng.choice(HOSTILE))
    return rec


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz_records") / "synth"
    generate_synthetic(root, n=2, size=48, seed=4, val_frac=0.0, test_frac=0.0)
    return root, read_records(root / "train.jsonl")


def _assert_problems(problems, line):
    assert isinstance(problems, list)
    for p in problems:
        assert isinstance(p, Problem) and p.kind in PROBLEM_KINDS and p.field and p.message
        assert p.line == line


def test_mutated_records_give_located_problems(dataset):
    root, records = dataset
    rng = random.Random(SEED)
    cache: dict = {}
    failing = 0
    tracemalloc.start()
    try:
        for case in range(VALUE_CASES):
            rec = _mutate_value(rng, rng.choice(records))
            problems = check_record(rec, root=root, line=case + 1, cache=cache)
            _assert_problems(problems, case + 1)
            failing += bool(problems)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < PEAK_BYTES
    assert failing > VALUE_CASES // 2  # the mutations do hit checked fields


def test_mutated_files_are_read_line_by_line(dataset, tmp_path):
    root, _ = dataset
    lines = (root / "train.jsonl").read_bytes().splitlines(keepends=True)
    original = b"".join(lines[:3] + lines[5:8])  # six records of the first scene, SEG ones included
    rng = random.Random(SEED + 1)
    tracemalloc.start()
    try:
        for case in range(BYTE_CASES):
            data = mutate_jsonl_bytes(rng, original)
            path = tmp_path / f"case{case}.jsonl"
            path.write_bytes(data)
            report = validate_file(path, root=root)
            assert report.records == sum(1 for line in data.split(b"\n") if line.strip())
            assert all(p.file == str(path) and p.line >= 1 for p in report.problems)
            try:
                for _ in read_jsonl(path):
                    pass
            except RecordError as exc:
                assert str(exc).startswith(f"{path}:{exc.line}: ")
            path.unlink()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < PEAK_BYTES


def test_every_original_record_is_clean(dataset):
    """The fuzz starts from records that pass, so every problem above comes from a mutation."""
    root, records = dataset
    assert all(check_record(json.loads(json.dumps(r)), root=root) == [] for r in records)
