"""Stage-2 resampling: exact ratios, pools, determinism, upsampling, bad ratios, the ``lead`` curriculum."""

from __future__ import annotations

import pytest

from univlm.data.resample import (
    DEFAULT_STAGE2_RATIOS,
    GRANULARITY_POOLS,
    expand_ratios,
    lead_order,
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


def test_lead_moves_a_share_to_the_front_and_keeps_the_mix():
    plain, _ = resample_with_report(RECORDS, total=500, seed=2)
    led, report = resample_with_report(RECORDS, total=500, seed=2, lead={"VG": 0.5, "SEG": 0.1})
    assert sorted(r["id"] for r in led) == sorted(r["id"] for r in plain)  # same multiset: order only
    assert report.lead == {"VG": 50, "SEG": 15}
    n = {"VG": 100, "SEG": 150}  # drawn per task
    quota, seen, head, tail = {"VG": 50, "SEG": 15}, {"VG": 0, "SEG": 0}, [], []
    for r in plain:  # expected: evenly spaced picks (every 2nd VG, every 10th SEG), orders kept
        t = r["task"]
        if t in quota:
            i = seen[t]
            seen[t] += 1
            if (i + 1) * quota[t] // n[t] > i * quota[t] // n[t]:
                head.append(r)
                continue
        tail.append(r)
    assert led == head + tail
    # What stays behind is spread over the rest of the run, not bunched at its end.
    later = [i for i, r in enumerate(tail) if r["task"] == "VG"]
    assert len(later) == 50 and later[0] < 60 and later[-1] > len(tail) - 60
    assert {r["task"] for r in led[:65]} == {"VG", "SEG"}
    assert "leading the run: VG 50, SEG 15 records (65 in all)" in report.format()
    assert led == resample(RECORDS, None, 500, 2, {"VG": 0.5, "SEG": 0.1})  # deterministic


def test_lead_edges_and_errors():
    recs = _records({"VG": 4, "CLS": 4})
    out, moved = lead_order(recs, {"CLS": 1.0})
    assert [r["task"] for r in out] == ["CLS"] * 4 + ["VG"] * 4 and moved == {"CLS": 4}
    assert lead_order(recs, {"SEG": 0.5}) == (recs, {})  # a task with no records moves nothing
    assert lead_order(recs, {"VG": 0.0}) == (recs, {})
    with pytest.raises(ValueError, match="lead: unknown task 'XX'"):
        lead_order(recs, {"XX": 0.5})
    with pytest.raises(ValueError, match=r"share of 'VG' must be in \[0, 1\], got 1.5"):
        lead_order(recs, {"VG": 1.5})
