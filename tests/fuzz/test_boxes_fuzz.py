"""Seeded fuzz of the box parser (issue #15): it never raises, never hangs, and reads back every box
written by :func:`format_box` whatever prose surrounds it."""

from __future__ import annotations

import random
from typing import Any

from tests.fuzz.conftest import fuzz_loop, run_probes
from univlm.codecs import format_box, format_boxes, format_geochat_box, parse_boxes

ALPHABET = "[]{}<>|,.-+ 0123456789eE\n\tabcxyz()İ\u2028"
TOKENS = ["[", "]", ",", "{", "}", "<", ">", "|", "-", ".", "1e309", "nan", "inf", "9" * 400, "[" * 50,
          "<1>" * 30, "\n", "İ", "0.5", "-0", "+"]  # fmt: skip
PROSE = ["", "The box is", "İİ", "Found it:", "ſ ß K", "(see image)", "ok."]


def _box(rng: random.Random) -> tuple[int, int, int, int]:
    x1, x2 = sorted(rng.randint(0, 100) for _ in range(2))
    y1, y2 = sorted(rng.randint(0, 100) for _ in range(2))
    return x1, y1, x2, y2


def _valid_text(rng: random.Random) -> str:
    boxes = [_box(rng) for _ in range(rng.randint(1, 4))]
    text = rng.choice([format_boxes(boxes), format_geochat_box(boxes[0], rng.randint(-90, 90))])
    return f"{rng.choice(PROSE)} {text} {rng.choice(PROSE)}"


def _mutate(text: str, rng: random.Random) -> str:
    chars = list(text)
    for _ in range(rng.randint(1, 10)):
        pos = rng.randrange(len(chars) + 1)
        op = rng.random()
        if op < 0.35 and chars:
            del chars[pos : pos + rng.randint(1, 8)]
        elif op < 0.8:
            chars[pos:pos] = list(rng.choice(TOKENS))
        else:
            chars[pos:pos] = chars[pos : pos + rng.randint(1, 100)] * rng.randint(2, 50)
    return "".join(chars)


def _check_never_raises(text: Any) -> bool:
    result = parse_boxes(text)
    for parsed in result.boxes:
        assert len(parsed.box) == 4 and parsed.box[0] <= parsed.box[2] and parsed.box[1] <= parsed.box[3]
    assert all(isinstance(p, str) and p for p in result.problems)
    return True


def _gen_random(rng: random.Random) -> Any:
    if rng.random() < 0.02:
        return rng.choice([None, 42, b"[1, 2, 3, 4]", ["[1, 2, 3, 4]"]])
    return "".join(rng.choices(ALPHABET, k=rng.randint(0, 300)))


def _gen_mutated(rng: random.Random) -> str:
    return _mutate(_valid_text(rng), rng)


def _gen_written(rng: random.Random) -> tuple[tuple[int, int, int, int], str]:
    box = _box(rng)
    text = format_box(box)
    if rng.random() < 0.3:
        text = text.replace(", ", rng.choice([",", " , ", ",  "]))
    return box, f"{rng.choice(PROSE)} {text} {rng.choice(PROSE)}"


def _check_written(case: tuple[tuple[int, int, int, int], str]) -> bool:
    box, text = case
    result = parse_boxes(text)
    return [b.box for b in result.boxes] == [box] and result.problems == []


PROBES: dict[str, tuple[Any, Any]] = {
    "box parser: random text": (_gen_random, _check_never_raises),
    "box parser: mutated answers": (_gen_mutated, _check_never_raises),
    "box parser: boxes in prose": (_gen_written, _check_written),
}
SUITE_CASES = 800


def run_probe(name: str, seed: int, n: int, hang_s: float) -> dict[str, Any]:
    """Run ``n`` cases of probe ``name`` (the subprocess entry point)."""
    generate, check = PROBES[name]
    return fuzz_loop(name, generate, check, seed, n, hang_s)


def test_probes_have_no_crash_hang_or_silent_loss():
    results = run_probes("tests.fuzz.test_boxes_fuzz", list(PROBES), seed=20251203, n=SUITE_CASES)
    assert [r["probe"] for r in results] == list(PROBES)
    for stats in results:
        assert stats["inputs"] == SUITE_CASES
        assert (stats["crashes"], stats["hangs"], stats["silent_losses"]) == (0, 0, 0), stats
