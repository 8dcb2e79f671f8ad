"""Seeded fuzz over ``eval --predictions`` files: every mutated file is read and scored without an exception.

Each case mutates a valid predictions file (byte flips, invalid UTF-8, deep nesting, huge integers,
truncation, repeated lines, stray bytes) and checks that :func:`read_predictions` accounts for every
non-blank line (kept or rejected, never both, never lost), stays within a memory bound, and that
:func:`score` runs on what was kept.
"""

import json
import random
import tracemalloc

import pytest

from tests.evaluation import minidata
from tests.fuzz._mutations import mutate_jsonl_bytes
from univlm.evaluation.predictions import read_predictions
from univlm.evaluation.runner import score

CASES = 300
SEED = 1234
PEAK_BYTES = 64 * 1024 * 1024  # generous: the largest mutated file is well under 1 MB


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzzdata")
    _, records = minidata.build(root)
    return root, records


def test_mutated_prediction_files_never_raise(tmp_path, dataset):
    root, records = dataset
    answers = minidata.reference_answers(records)
    valid = b"".join(json.dumps({"id": i, "text": t}).encode() + b"\n" for i, t in answers.items())
    rng = random.Random(SEED)
    rejected_total = 0
    for case in range(CASES):
        data = mutate_jsonl_bytes(rng, valid)
        path = tmp_path / f"p{case % 4}.jsonl"
        path.write_bytes(data)
        tracemalloc.start()
        preds = read_predictions(path)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < PEAK_BYTES, (case, peak)
        lines = [line for line in data.split(b"\n") if line.strip()]
        assert len(preds) + preds.rejected == len(lines), case
        rejected_total += preds.rejected
        for task in ("vg_pixel", "refseg_lisa", "change_detection"):
            res = score(task, preds, records, root)
            assert res["counts"]["rejected_predictions"] == preds.rejected
    assert rejected_total > CASES  # the mutations do reach the rejection paths
