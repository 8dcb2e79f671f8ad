"""Stage-2 resampling: exact ratios, pools, determinism, upsampling, bad ratios."""

from __future__ import annotations

import pytest

from univlm.data.resample import (
    DEFAULT_STAGE2_RATIOS,
    GRANULARITY_POOLS,
    expand_ratios,
    resample,
    resample_with_report,
)
from univlm.models.router import TASKS


def _records(counts):
    return [{"id": f"{t}-{i}", "task": t} for t, n in counts.items() for i in range(n)]


RECORDS = _records({"CAP": 50, "CLS": 50, "VQA": 50, "CCD": 50, "VG": 80, "REF": 60, "SEG": 300})


def test_default_ratios_are_achieved_exactly():
    out, report = resample_with_report(RECORDS, total=500, seed=0)
    assert len(out) == 500
    for task, share in DEFAULT_STAGE2_RATIOS.items():
        assert report.counts[task] == round(500 * share)
        assert report.achieved[task] == pytest.approx(share)
    assert report.pools == pytest.approx({"image": 0.4, "region": 0.3, "pixel": 0.3})
    assert report.upsampled == {"VG": 20}
    assert "pools: image 40.0%" in report.format()


def test_pool_keys_and_rounding_sum_to_total():
    out, report = resample_with_report(RECORDS, {"image": 1, "region": 1, "pixel": 1}, total=101, seed=3)
    assert len(out) == 101
    assert report.requested["CAP"] == pytest.approx(1 / 12)
    assert report.requested["SEG"] == pytest.approx(1 / 3)
    assert sum(report.counts.values()) == 101


def test_deterministic_and_seed_sensitive():
    ids = [r["id"] for r in resample(RECORDS, total=200, seed=5)]
    assert ids == [r["id"] for r in resample(RECORDS, total=200, seed=5)]
    assert ids != [r["id"] for r in resample(RECORDS, total=200, seed=6)]


def test_one_tasks_sample_is_stable_when_another_ratio_changes():
    a = resample(RECORDS, {"SEG": 0.5, "VG": 0.5}, total=100, seed=1)
    b = resample(RECORDS, {"SEG": 0.5, "VG": 0.25, "CAP": 0.25}, total=100, seed=1)
    assert sorted(r["id"] for r in a if r["task"] == "SEG") == sorted(r["id"] for r in b if r["task"] == "SEG")


def test_no_duplicates_without_upsampling_and_missing_tasks_reported():
    few = _records({"VG": 10, "SEG": 10})
    out, report = resample_with_report(few, total=10, seed=0)
    assert len({r["id"] for r in out}) == 10
    assert set(report.missing) == {"CAP", "CLS", "VQA", "CCD", "REF"}
    assert report.requested == pytest.approx({"VG": 0.4, "SEG": 0.6})


def test_bad_ratios():
    with pytest.raises(ValueError, match="unknown ratio key 'DET'"):
        resample(RECORDS, {"DET": 1.0})
    with pytest.raises(ValueError, match=">= 0"):
        resample(RECORDS, {"VG": -1.0})
    with pytest.raises(ValueError, match="no positive ratio"):
        resample(_records({"VG": 3}), {"SEG": 1.0})
    with pytest.raises(ValueError, match="unknown task"):
        resample([{"id": "x", "task": "DET"}])


def test_pools_cover_every_task_once():
    assert sorted(t for pool in GRANULARITY_POOLS.values() for t in pool) == sorted(TASKS)
    assert expand_ratios({"region": 2.0}, ["VG", "REF", "SEG"]) == {"VG": 0.5, "REF": 0.5}


def test_resample_by_granularity_matches_resample():
    from univlm.data.resample import resample_by_granularity

    a = resample_by_granularity(RECORDS, seed=4, ratios={"pixel": 1, "region": 1}, total=50)
    assert a == resample(RECORDS, {"pixel": 1, "region": 1}, 50, 4)
    assert {r["task"] for r in a} == {"SEG", "VG", "REF"}
