"""Granularity-aware resampling for stage-2 training.

RSUniVLM trains the G-MoE in a second stage whose data is grouped into three pools by granularity
(image: CAP, CLS, VQA, CCD; region: VG, REF; pixel: SEG — the router table's task -> expert map),
each feeding one expert. Its public material gives no exact per-task mixture, so
:data:`DEFAULT_STAGE2_RATIOS` is our assumption: 40 % image, 30 % region, 30 % pixel, split evenly
within a pool except that VG outweighs REF (grounding is the harder region task). Override it with
any mapping; keys may be task names (``"VG"``) or pool names (``"pixel"``, shared evenly by that
pool's tasks present in the data).

Determinism: each task draws from ``random.Random(f"{seed}:{task}")`` and the final order from
``random.Random(seed)``, so a task's sample does not change when another task's ratio does.
A task asked for more records than it has is upsampled (whole copies, then a sample of the rest)
and the report says so.

Curriculum: ``lead`` moves a share of some tasks' drawn records to the front of the run, in their
shuffled order, ahead of everything else (also shuffled). It changes the order only, never the mix,
so the trainer must read the list in order (``train_sampling_strategy: sequential``, which the
training pipeline sets when ``lead`` is given).
"""

from __future__ import annotations

import logging
import random
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from univlm.models.router import TASK_GRANULARITY, TASKS

logger = logging.getLogger(__name__)

GRANULARITY_POOLS: dict[str, tuple[str, ...]] = {
    pool: tuple(t for t in TASKS if TASK_GRANULARITY[t] == pool) for pool in ("image", "region", "pixel")
}
DEFAULT_STAGE2_RATIOS: dict[str, float] = {
    "CAP": 0.10, "CLS": 0.10, "VQA": 0.10, "CCD": 0.10,
    "VG": 0.20, "REF": 0.10,
    "SEG": 0.30,
}


@dataclass
class ResampleReport:
    """What :func:`resample_with_report` asked for and achieved.

    Attributes:
        requested: Normalised target share per task (tasks present in the data only).
        achieved: Achieved share per task.
        pools: Achieved share per granularity pool.
        counts: Records drawn per task.
        available: Records available per task.
        upsampled: Tasks drawn more often than they have records (value: extra draws).
        missing: Tasks with a positive ratio but no records (their share went to the others).
        lead: Records per task moved to the front of the run (``lead``), in the order they open it.
    """

    requested: dict[str, float] = field(default_factory=dict)
    achieved: dict[str, float] = field(default_factory=dict)
    pools: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    available: dict[str, int] = field(default_factory=dict)
    upsampled: dict[str, int] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    lead: dict[str, int] = field(default_factory=dict)

    def format(self) -> str:
        """A small text table: task, pool, available, drawn, requested %, achieved %."""
        lines = [f"{'task':5} {'pool':7} {'have':>7} {'drawn':>7} {'want%':>6} {'got%':>6}"]
        for task, share in self.requested.items():
            lines.append(f"{task:5} {TASK_GRANULARITY[task]:7} {self.available[task]:7d} {self.counts[task]:7d} "
                         f"{100 * share:6.1f} {100 * self.achieved.get(task, 0.0):6.1f}")
        lines.append("pools: " + ", ".join(f"{k} {100 * v:.1f}%" for k, v in self.pools.items()))
        if self.upsampled:
            lines.append("upsampled: " + ", ".join(f"{k} +{v}" for k, v in self.upsampled.items()))
        if self.missing:
            lines.append("missing (share redistributed): " + ", ".join(self.missing))
        if self.lead:
            lines.append("leading the run: " + ", ".join(f"{k} {v}" for k, v in self.lead.items())
                         + f" records ({sum(self.lead.values())} in all), the rest shuffled after them")
        return "\n".join(lines)


def expand_ratios(ratios: Mapping[str, float], present: Sequence[str]) -> dict[str, float]:
    """Turn task/pool weights into normalised per-task shares over the tasks ``present``.

    Raises:
        ValueError: On an unknown key, a negative weight, or no positive weight left.
    """
    weights: dict[str, float] = defaultdict(float)
    for key, value in ratios.items():
        if value < 0:
            raise ValueError(f"ratio for {key!r} must be >= 0, got {value}")
        if key in TASK_GRANULARITY:
            weights[key] += float(value)
        elif key in GRANULARITY_POOLS:
            members = [t for t in GRANULARITY_POOLS[key] if t in present]
            for t in members:
                weights[t] += float(value) / len(members)
        else:
            raise ValueError(f"unknown ratio key {key!r}: expected a task {list(TASKS)} or a pool "
                             f"{list(GRANULARITY_POOLS)}")
    kept = {t: w for t, w in weights.items() if w > 0 and t in present}
    total = sum(kept.values())
    if total <= 0:
        raise ValueError(f"no positive ratio for the tasks present in the data ({sorted(present)})")
    return {t: kept[t] / total for t in TASKS if t in kept}


def _quotas(shares: Mapping[str, float], total: int) -> dict[str, int]:
    """Largest-remainder rounding: quotas sum to ``total`` exactly."""
    raw = {t: s * total for t, s in shares.items()}
    quotas = {t: int(v) for t, v in raw.items()}
    left = total - sum(quotas.values())
    for t in sorted(raw, key=lambda t: (-(raw[t] - quotas[t]), t))[:left]:
        quotas[t] += 1
    return quotas


def achieved_ratios(records: Sequence[Mapping[str, Any]]) -> tuple[dict[str, float], dict[str, float]]:
    """Share of each task and of each granularity pool in ``records``."""
    n = max(1, len(records))
    tasks = Counter(r["task"] for r in records)
    pools = Counter(TASK_GRANULARITY[r["task"]] for r in records)
    return ({t: tasks[t] / n for t in TASKS if tasks[t]},
            {p: pools[p] / n for p in GRANULARITY_POOLS if pools[p]})


def lead_order(
    records: Sequence[Mapping[str, Any]], lead: Mapping[str, float]
) -> tuple[list[Mapping[str, Any]], dict[str, int]]:
    """Move ``round(share * count)`` records of each ``lead`` task to the front, every order kept.

    The moved records are spread evenly over that task's records (every other one for a share of 0.5),
    so the task's remaining records stay spread over the rest of the run instead of leaving a gap.

    Args:
        records: Records with a ``task`` field, already in their run order.
        lead: Task -> share in [0, 1] of that task's records to put first, e.g. ``{"VG": 0.5}``.

    Returns:
        The reordered records (same multiset) and the number moved per task.

    Raises:
        ValueError: On an unknown task or a share outside [0, 1].
    """
    shares: dict[str, float] = {}
    for task, share in lead.items():
        if task not in TASK_GRANULARITY:
            raise ValueError(f"lead: unknown task {task!r}: expected one of {list(TASKS)}")
        if not 0.0 <= float(share) <= 1.0:
            raise ValueError(f"lead: share of {task!r} must be in [0, 1], got {share}")
        shares[task] = float(share)
    counts = Counter(r["task"] for r in records)
    quota = {t: round(s * counts[t]) for t, s in shares.items()}
    seen: Counter = Counter()
    first: list[Mapping[str, Any]] = []
    rest: list[Mapping[str, Any]] = []
    for rec in records:
        task = rec["task"]
        i, seen[task] = seen[task], seen[task] + 1
        # The i-th record of a task leads when the running quota i * q / n steps up: q of n, evenly spaced.
        if task in quota and (i + 1) * quota[task] // counts[task] > i * quota[task] // counts[task]:
            first.append(rec)
        else:
            rest.append(rec)
    moved = Counter(r["task"] for r in first)
    return first + rest, {t: moved[t] for t in TASKS if moved[t]}


def resample_with_report(
    records: Sequence[Mapping[str, Any]],
    ratios: Mapping[str, float] | None = None,
    total: int | None = None,
    seed: int = 0,
    lead: Mapping[str, float] | None = None,
) -> tuple[list[Mapping[str, Any]], ResampleReport]:
    """Draw ``total`` records with per-task shares given by ``ratios``.

    Args:
        records: Records with a ``task`` field.
        ratios: Task or pool weights (need not sum to 1); :data:`DEFAULT_STAGE2_RATIOS` when None.
        total: Number of records to return; ``len(records)`` when None.
        seed: Sampling seed.
        lead: Optional curriculum, task -> share of its drawn records that open the run
            (:func:`lead_order`); the order then matters, so read the result sequentially.

    Returns:
        The drawn records (shuffled, then ``lead`` first) and a :class:`ResampleReport`.

    Raises:
        ValueError: On bad ratios, a negative total, a bad ``lead``, or a record whose task is unknown.
    """
    ratios = DEFAULT_STAGE2_RATIOS if ratios is None else ratios
    total = len(records) if total is None else total
    if total < 0:
        raise ValueError(f"total must be >= 0, got {total}")
    by_task: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for i, rec in enumerate(records):
        task = rec.get("task")
        if task not in TASK_GRANULARITY:
            raise ValueError(f"record {i} ({rec.get('id')!r}) has unknown task {task!r}")
        by_task[task].append(rec)
    report = ResampleReport()
    wanted = [t for t in TASKS if t in expand_ratios(ratios, TASKS)]
    report.missing = [t for t in wanted if t not in by_task]
    shares = expand_ratios(ratios, list(by_task))
    report.requested = shares
    quotas = _quotas(shares, total)
    out: list[Mapping[str, Any]] = []
    for task in TASKS:
        if task not in quotas:
            continue
        pool, quota = by_task[task], quotas[task]
        rng = random.Random(f"{seed}:{task}")
        copies, rest = divmod(quota, len(pool))
        drawn = list(pool) * copies + rng.sample(pool, rest)
        if quota > len(pool):
            report.upsampled[task] = quota - len(pool)
        report.counts[task] = quota
        report.available[task] = len(pool)
        out.extend(drawn)
    random.Random(seed).shuffle(out)
    if lead:
        out, report.lead = lead_order(out, lead)
    report.achieved, report.pools = achieved_ratios(out)
    if report.upsampled:
        logger.warning("resample: upsampled %s (fewer records than their share)", report.upsampled)
    if report.missing:
        logger.warning("resample: no records for %s; their share went to the other tasks", report.missing)
    return out, report


def resample(
    records: Sequence[Mapping[str, Any]],
    ratios: Mapping[str, float] | None = None,
    total: int | None = None,
    seed: int = 0,
    lead: Mapping[str, float] | None = None,
) -> list[Mapping[str, Any]]:
    """Like :func:`resample_with_report`, returning only the records."""
    return resample_with_report(records, ratios, total, seed, lead)[0]


def resample_by_granularity(
    records: Sequence[Mapping[str, Any]],
    seed: int = 0,
    ratios: Mapping[str, float] | None = None,
    total: int | None = None,
    lead: Mapping[str, float] | None = None,
) -> list[Mapping[str, Any]]:
    """Stage-2 entry point used by the training pipeline (``resample:`` options pass through).

    Same as :func:`resample`; logs the achieved ratios.
    """
    out, report = resample_with_report(records, ratios, total, seed, lead)
    logger.info("granularity resampling: %d -> %d records\n%s", len(records), len(out), report.format())
    return out
